"""The command line: the only module that prints or exits.

Results go to stdout (a table, or versioned JSON with --json); progress, warnings and errors go to stderr,
progress only when stderr is a terminal. Exit codes: 0 ok, 1 error (bad input, a failed session), 2 usage,
3 done but some clips were skipped for missing or unreadable audio (only with --strict), 130 Ctrl-C.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from . import __version__
from .errors import GainstagerError
from .model import ClipStatus
from .plan import Faders, MeterKind, Per, Policy

if TYPE_CHECKING:
    from . import pipeline

# The session pipeline (parsers, renderer), the report (which imports the pipeline) and the process pool are
# imported inside the commands that use them, so that `gainstager measure` and `--help` start quickly.

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_SKIPPED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Gain-stage DAW sessions offline: measure every clip a REAPER (.rpp) or Ableton Live (.als) session "
    "plays, then write a new session whose clip gains put each track at a target level, with the faders "
    "keeping the mix balance (or at unity) and headroom on the master. Nothing else in the file changes.",
)

T = TypeVar("T")

# ---------------------------------------------------------------- shared options

MeterOpt = Annotated[
    MeterKind,
    typer.Option(
        "--meter",
        help="Level the target refers to: rms = gated RMS in dBFS (400 ms blocks, silence and quiet gaps left "
        "out), lufs = BS.1770 integrated loudness, peak = sample peak dBFS, true-peak = dBTP (4x oversampled).",
        case_sensitive=False,
    ),
]
TargetOpt = Annotated[float, typer.Option("--target", help="Target level in dB on the chosen meter (-60..0).")]
CeilingOpt = Annotated[
    float, typer.Option("--peak-ceiling", help="No clip or track is raised above this true peak, in dBTP (-60..0).")
]
PerOpt = Annotated[
    Per,
    typer.Option(
        "--per",
        help="track: one gain for all clips of a track, keeping their relative levels "
        "(measured as one long item); clip: each clip its own gain.",
        case_sensitive=False,
    ),
]
FadersOpt = Annotated[
    Faders,
    typer.Option(
        "--faders",
        help="keep: each fader moves opposite to its track's clip-gain change, so the "
        "pre-FX mix balance is unchanged; unity: faders at 0 dB.",
        case_sensitive=False,
    ),
]
HeadroomOpt = Annotated[
    float,
    typer.Option(
        "--headroom",
        help="Highest predicted master sample peak after the plan, in dBFS (-60..0); "
        "above it, every track feeding the master comes down by the same amount.",
    ),
]
BoostOpt = Annotated[
    float,
    typer.Option(
        "--max-boost",
        help="Highest clip gain the plan may set by boosting, in dB (0..48): a near-silent clip is never raised "
        "past it to reach the target (a clip already above it is not raised further).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the versioned JSON report (schema 1) to stdout.")]
StrictOpt = Annotated[
    bool, typer.Option("--strict", help="Exit 3 when any clip was skipped because its audio is missing or unreadable.")
]


def _policy(
    meter: MeterKind, target: float, ceiling: float, per: Per, faders: Faders, headroom: float, boost: float
) -> Policy:
    return Policy(
        meter=meter,
        target_db=target,
        peak_ceiling_db=ceiling,
        per=per,
        faders=faders,
        headroom_db=headroom,
        max_boost_db=boost,
    )


# ---------------------------------------------------------------- plumbing


def _err(message: str) -> None:
    """One line, always: a newline that reached a message (a file name holds one) is shown escaped."""
    one_line = message.replace("\r", "\\r").replace("\n", "\\n")
    print(f"error: {one_line}", file=sys.stderr)


def _run(fn: Callable[[], T], path: str = "") -> T:
    """Turn errors into one line on stderr (naming `path` where the error itself cannot) and an exit code;
    Ctrl-C exits 130."""
    try:
        return fn()
    except GainstagerError as exc:
        _err(str(exc))
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except MemoryError:
        _err(f"{path}: out of memory" if path else "out of memory")
        raise typer.Exit(EXIT_ERROR) from None


class _Progress:
    """A one-line progress display on stderr, only when stderr is a terminal."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._last = 0.0

    def __call__(self, label: str, fraction: float) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < 0.1:
            return
        self._last = now
        print(f"\r\x1b[K{label[:60]} {fraction * 100:5.1f}%", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.enabled:
            print("\r\x1b[K", end="", file=sys.stderr, flush=True)


def _skipped(a: pipeline.Analysis) -> int:
    return sum(m.clip.status in (ClipStatus.MISSING, ClipStatus.UNREADABLE) for m in a.media)


def _emit(doc: Any, as_json: bool, text: str) -> None:
    print(json.dumps(doc, indent=2, ensure_ascii=False) if as_json else text)


# ---------------------------------------------------------------- commands


@app.command()
def analyze(
    session: Annotated[str, typer.Argument(help="A .rpp or .als session file.")],
    meter: MeterOpt = MeterKind.RMS,
    target: TargetOpt = -18.0,
    peak_ceiling: CeilingOpt = -6.0,
    per: PerOpt = Per.TRACK,
    faders: FadersOpt = Faders.KEEP,
    headroom: HeadroomOpt = -6.0,
    max_boost: BoostOpt = 24.0,
    as_json: JsonOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Measure the session and show the plan: levels, new gains and faders, predicted master. Writes nothing."""

    from . import pipeline, report

    def go() -> int:
        policy = _policy(meter, target, peak_ceiling, per, faders, headroom, max_boost)
        progress = _Progress()
        a = pipeline.analyze(pipeline.load(session), policy, progress=progress)
        progress.done()
        _emit(report.analysis_json(a), as_json, report.analysis_text(a))
        return EXIT_SKIPPED if strict and _skipped(a) else EXIT_OK

    raise typer.Exit(_run(go, session))


@app.command()
def apply(
    session: Annotated[str, typer.Argument(help="A .rpp or .als session file.")],
    output: Annotated[
        str | None,
        typer.Option(
            "-o",
            "--output",
            help="Where to write (default: NAME.gainstaged.EXT beside the input, so relative media paths stay valid).",
        ),
    ] = None,
    in_place: Annotated[
        bool, typer.Option("--in-place", help="Replace the input; a backup NAME.EXT.bak is kept.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Do everything, verification included, but write nothing.")
    ] = False,
    meter: MeterOpt = MeterKind.RMS,
    target: TargetOpt = -18.0,
    peak_ceiling: CeilingOpt = -6.0,
    per: PerOpt = Per.TRACK,
    faders: FadersOpt = Faders.KEEP,
    headroom: HeadroomOpt = -6.0,
    max_boost: BoostOpt = 24.0,
    as_json: JsonOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Gain-stage the session and write the new one (always written, byte-identical when nothing changes)."""
    if output and in_place:
        _err("use either -o/--output or --in-place, not both")
        raise typer.Exit(EXIT_USAGE)
    from . import pipeline, report

    def go() -> int:
        policy = _policy(meter, target, peak_ceiling, per, faders, headroom, max_boost)
        progress = _Progress()
        a = pipeline.analyze(pipeline.load(session), policy, progress=progress)
        progress.done()
        written = pipeline.write(a, output=output, in_place=in_place, dry_run=dry_run)
        _emit(
            report.analysis_json(a, written, dry_run=dry_run),
            as_json,
            report.analysis_text(a, written, dry_run=dry_run),
        )
        return EXIT_SKIPPED if strict and _skipped(a) else EXIT_OK

    raise typer.Exit(_run(go, session))


# One level cache per batch worker process: a sample shared by several projects is measured once.
_WORKER_CACHE: pipeline.LevelCache | None = None


def _batch_one(path: str, policy: Policy, dry_run: bool) -> dict[str, Any]:
    """One session of a batch, in a worker process: never raises, returns a summary."""
    from . import pipeline, report

    global _WORKER_CACHE
    if _WORKER_CACHE is None:
        _WORKER_CACHE = pipeline.LevelCache()
    try:
        a = pipeline.analyze(pipeline.load(path), policy, cache=_WORKER_CACHE)
        written = pipeline.write(a, dry_run=dry_run, skip_unchanged=True)
        doc = report.analysis_json(a, written, dry_run=dry_run)
        return {"path": path, "ok": True, "error": None, "skipped_clips": _skipped(a), "report": doc}
    except GainstagerError as exc:
        return {"path": path, "ok": False, "error": str(exc), "skipped_clips": 0, "report": None}
    except Exception as exc:  # a bug on one session must not stop the others
        return {
            "path": path,
            "ok": False,
            "error": f"{path}: internal error ({type(exc).__name__}: {exc})",
            "skipped_clips": 0,
            "report": None,
        }


def _ignore_interrupts() -> None:
    """Batch workers leave Ctrl-C to the parent: one interrupted inside the task queue's lock hangs the pool."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _batch_results(paths: list[str], policy: Policy, dry_run: bool, jobs: int) -> Iterator[dict[str, Any]]:
    if jobs <= 1 or len(paths) <= 1:
        for p in paths:
            yield _batch_one(p, policy, dry_run)
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_ignore_interrupts)
    try:
        futures = [pool.submit(_batch_one, p, policy, dry_run) for p in paths]
        for fut in as_completed(futures):
            yield fut.result()
    except BaseException:  # Ctrl-C: stop now. Writes are atomic, so a stopped session leaves nothing behind.
        for process in list(pool._processes.values()):  # no public way to stop running workers
            process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


@app.command()
def batch(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Session files or folders (searched recursively for "
            ".rpp and .als; *.gainstaged.* outputs are skipped)."
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Analyze and verify every session, write nothing.")
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs", "-j", min=0, max=64, help="Sessions processed in parallel (0, the default: one per CPU core)."
        ),
    ] = 0,
    meter: MeterOpt = MeterKind.RMS,
    target: TargetOpt = -18.0,
    peak_ceiling: CeilingOpt = -6.0,
    per: PerOpt = Per.TRACK,
    faders: FadersOpt = Faders.KEEP,
    headroom: HeadroomOpt = -6.0,
    max_boost: BoostOpt = 24.0,
    as_json: JsonOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Gain-stage every session under PATHS in parallel, each written beside its original as
    NAME.gainstaged.EXT. A failing session never stops the others; unchanged sessions are not rewritten.
    Exit 1 if any session failed."""
    from . import pipeline

    def go() -> int:
        policy = _policy(meter, target, peak_ceiling, per, faders, headroom, max_boost)
        found = list(pipeline.find_sessions(paths))
        missing = [p for p in paths if not os.path.exists(p)]
        for p in missing:
            _err(f"{p}: no such file or folder")
        progress = _Progress()
        results = []
        for i, r in enumerate(_batch_results(found, policy, dry_run, jobs or os.cpu_count() or 1), 1):
            progress(f"{i}/{len(found)} {os.path.basename(r['path'])}", i / max(len(found), 1))
            if not r["ok"]:
                _err(r["error"])
            results.append(r)
        progress.done()
        results.sort(key=lambda r: found.index(r["path"]))
        failed = sum(not r["ok"] for r in results) + len(missing)
        if as_json:
            print(json.dumps({"schema": 1, "sessions": results, "failed": failed}, indent=2, ensure_ascii=False))
        else:
            print(_batch_table(results, dry_run))
        if failed:
            return EXIT_ERROR
        return EXIT_SKIPPED if strict and any(r["skipped_clips"] for r in results) else EXIT_OK

    raise typer.Exit(_run(go))


def _batch_table(results: list[dict[str, Any]], dry_run: bool) -> str:
    from . import report

    rows = []
    for r in results:
        doc = r["report"]
        if doc is None:
            rows.append([r["path"], "-", "FAILED", "", "", "", ""])
            continue
        out = doc["output"]
        status = "dry run" if dry_run else ("written" if out["path"] else "unchanged")
        staged = sum(c["status"] == "active" for c in doc["clips"])
        m = doc["master"]
        rows.append(
            [
                r["path"],
                doc["session"]["format"],
                status,
                f"{staged}/{len(doc['clips'])}",
                str(doc["edits"]),
                report.db_text(m["predicted_peak_dbfs_before"]),
                report.db_text(m["predicted_peak_dbfs_after"]),
            ]
        )
    text = report.table(rows, ["session", "fmt", "result", "clips staged", "edits", "master pk", "after"])
    ok = sum(r["ok"] for r in results)
    return f"{text}\n\n{ok} of {len(results)} sessions done, {len(results) - ok} failed"


@app.command()
def measure(
    files: Annotated[list[str], typer.Argument(help="Audio files (WAV, AIFF, FLAC, OGG, MP3: what libsndfile reads).")],
    as_json: JsonOpt = False,
) -> None:
    """Measure audio files: sample peak (dBFS), true peak (dBTP, 4x oversampled), RMS and gated RMS (dBFS,
    averaged over channels), integrated loudness, maximum momentary and short-term loudness (LUFS, 10 ms
    steps) and loudness range (LU, EBU Tech 3342). Channels follow BS.1770: 1-4 channels are weighted 1.0;
    5 channels are L R C Ls Rs (surrounds 1.41); 6 channels are SMPTE L R C LFE Ls Rs, LFE left out."""
    from . import report
    from .measure import measure_files

    def go() -> int:
        results, failed = [], 0
        for r in measure_files(files):
            if isinstance(r, GainstagerError):
                _err(str(r))
                failed += 1
            else:
                results.append(r)
        if as_json:
            print(json.dumps({"schema": 1, "files": [report.file_levels_json(f) for f in results]}, indent=2))
        elif results:
            print(report.file_levels_text(results))
        return EXIT_ERROR if failed else EXIT_OK

    raise typer.Exit(_run(go))


def _version(value: bool) -> None:
    if value:
        print(f"gainstager {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    pass


def main() -> None:
    """Entry point: no traceback ever reaches the user unless GAINSTAGER_DEBUG is set."""
    try:
        app()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:
        if os.environ.get("GAINSTAGER_DEBUG"):
            raise
        _err(f"internal error ({type(exc).__name__}: {exc}); set GAINSTAGER_DEBUG=1 for details")
        sys.exit(EXIT_ERROR)
    finally:  # the work is over and the exit code set: a Ctrl-C while the interpreter shuts down must not undo it
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)
