"""gainstager: gain-stage DAW sessions offline.

Layers, each importing only from the ones below it:

    cli                   the only module that prints or exits; its options come from plan.Policy (__main__:
                          the entry point, which guards the import of cli against Ctrl-C)
    batch                 many sessions on worker processes, typed results; the batch engine below it:
                          discover, journal, workers, progress, tempfiles
    tables                the text tables
    report, schema        typed reports and their versioned JSON; the JSON shapes
    html_report, check    the HTML page (svg: its drawing); per-track verdicts and JUnit XML
    output                verified render, atomic write, backup, default names
    pipeline              one session: load, resolve media, measure, plan, predict the master
    media, verify         finding and probing audio; the pure check of written bytes
    measure               file-level metering (reads audio through `audio`)
    mix                   track, folder and master sums; what the prediction covers
    render, plan          what a clip plays (resample below it); the pure planner (policy_file: TOML policies)
    meters                (frames, channels) float arrays -> Levels (loudness, kweighting, truepeak below it)
    parsers.*             bytes <-> session model + document, one module per DAW; never open files
    audio                 the only module that imports soundfile
    model, units, errors  (notices: Python warnings as report notes; files: reading regular files under a cap)
"""

__version__ = "0.1.0"
