"""gainstager: gain-stage DAW sessions offline.

Layers, each importing only from the ones below it:

    cli                   the only module that prints or exits; its options come from plan.Policy
    batch                 many sessions on worker processes, typed results
    report, schema        typed reports rendered as tables or versioned JSON; the JSON shapes
    output                verified render, atomic write, backup, default names
    pipeline              one session: load, resolve media, measure, plan, predict the master
    media, verify         finding and probing audio; the pure check of written bytes
    measure               file-level metering (reads audio through `audio`)
    render, plan          timeline rendering of clips and sums; the pure planner
    meters                (frames, channels) float arrays -> Levels (loudness, kweighting, truepeak below it)
    parsers.*             bytes <-> session model + document, one module per DAW; never open files
    audio                 the only module that imports soundfile
    model, units, errors
"""

__version__ = "0.1.0"
