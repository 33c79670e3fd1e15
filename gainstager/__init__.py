"""gainstager: gain-stage DAW sessions offline.

Layers, each importing only from the ones below it:

    cli            the only module that prints or exits
    pipeline       file I/O, media resolution, atomic writes, batch
    measure        file-level metering (reads audio through `audio`)
    render, plan   timeline rendering of clips and sums; the pure planner
    meters         (frames, channels) float arrays -> Levels
    parsers.*      bytes <-> session model + document; never open files
    audio          the only module that imports soundfile
    model, units, errors
"""

__version__ = "0.1.0"
