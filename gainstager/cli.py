"""The command line: the only module that prints or exits.

Results go to stdout (a table, or versioned JSON with --json); progress, warnings and errors go to stderr,
progress only when stderr is a terminal. Exit codes: 0 ok, 1 error (bad input, a failed session), 2 usage,
3 done but some clips were skipped for missing or unreadable audio (only with --strict), 130 Ctrl-C.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import os
import sys
import time
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from . import __version__
from .cache import CacheOptions
from .check import DEFAULT_TOLERANCE_DB
from .errors import GainstagerError
from .plan import Policy
from .policy_file import Policies
from .policy_options import OPTIONS, shown
from .schema import SCHEMA_VERSION

if TYPE_CHECKING:
    from .output import WriteResult
    from .pipeline import Analysis
    from .progress import BatchProgress

# The session pipeline (parsers and lxml, the renderer), the batch with its process pool and the reports are
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

# ---------------------------------------------------------------- options

# The help of each Policy field's option; its name comes from policy_options.OPTIONS (the one place that names the
# options, for the command line and the policy file alike), its type and default from Policy itself.
POLICY_HELP: dict[str, str] = {
    "meter": "Level the target refers to: rms = gated RMS in dBFS (400 ms blocks, silence and quiet gaps left out), "
    "lufs = BS.1770 integrated loudness, peak = sample peak dBFS, true-peak = dBTP (4x oversampled).",
    "target_db": "Target level in dB on the chosen meter (-60..0).",
    "peak_ceiling_dbtp": "No clip or track is raised above this true peak, in dBTP (-60..0).",
    "per": "track: one gain for all clips of a track, keeping their relative levels (measured as one long item); "
    "clip: each clip its own gain.",
    "faders": "keep: each fader moves opposite to its track's clip-gain change, so the pre-FX mix balance is "
    "unchanged; unity: faders at 0 dB.",
    "headroom_dbfs": "Highest predicted master sample peak after the plan, in dBFS (-60..0); above it, every track "
    "feeding the master comes down by the same amount. One value per session, whatever the tracks' roles.",
    "max_boost_db": "Highest clip gain the plan may set by boosting, in dB (0..48): a near-silent clip is never "
    "raised past it to reach the target (a clip already above it is not raised further).",
    "sample_rate_hz": "Project rate in Hz that clips are measured and summed at, for sessions that do not force one "
    "(the session's own: 48000 for Live sets, which store none; a REAPER project's SAMPLERATE). A rate the REAPER "
    "project forces always wins. The report says which rate was used.",
}
POLICY_FILE_HELP = (
    "A TOML policy file: any of the options below, plus roles by track-name pattern with their own meter, target and "
    "ceiling, and per-track overrides (see the README). Options given here override the file; the file overrides "
    "the defaults."
)


def policy_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` one option per Policy field (types from Policy; not given: None) and --policy FILE, and
    hand it one `policy` argument: the policy file and the options actually given, checked (a bad value or a bad
    file exits 2 with one line naming it)."""
    hints = typing.get_type_hints(Policy)
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "policy"]
    kind = inspect.Parameter.KEYWORD_ONLY
    file_option = typer.Option("--policy", help=POLICY_FILE_HELP, metavar="FILE")
    added = [inspect.Parameter("policy_file", kind, default=None, annotation=Annotated[str | None, file_option])]
    options = {field: option for option, field in OPTIONS.items()}
    for f in dataclasses.fields(Policy):
        option = options[f.name]
        help_ = f"{POLICY_HELP[f.name]} (default: {shown(option, f.default)}, or the policy file's value)"
        flag = typer.Option(f"--{option}", help=help_, case_sensitive=False, show_default=False)
        added.append(inspect.Parameter(f.name, kind, default=None, annotation=Annotated[hints[f.name] | None, flag]))

    @functools.wraps(command)
    def with_policy(**kwargs: Any) -> None:
        given = {o: v for o, f in OPTIONS.items() if (v := kwargs.pop(f)) is not None}
        path = kwargs.pop("policy_file")
        command(policy=_run(lambda: Policies.read(path, given)), **kwargs)

    with_policy.__dict__["__signature__"] = inspect.Signature(own + added)
    return with_policy


CACHE_HELP = (
    "Use the lasting measurement cache, so that audio measured once (in any session) is not measured again; "
    "--no-cache measures everything and keeps nothing."
)
CACHE_DIR_HELP = "Where the measurement cache lives (default: $GAINSTAGER_CACHE_DIR, else the user's cache directory)."
CacheDirOpt = Annotated[str | None, typer.Option("--cache-dir", help=CACHE_DIR_HELP, metavar="DIR")]


def cache_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` --cache/--no-cache and --cache-dir DIR, and hand it one `cache` argument (`CacheOptions`)."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "cache"]
    kind = inspect.Parameter.KEYWORD_ONLY
    enabled = Annotated[bool, typer.Option("--cache/--no-cache", help=CACHE_HELP)]
    added = [
        inspect.Parameter("cache_enabled", kind, default=True, annotation=enabled),
        inspect.Parameter("cache_dir", kind, default=None, annotation=CacheDirOpt),
    ]

    @functools.wraps(command)
    def with_cache(**kwargs: Any) -> None:
        command(cache=CacheOptions(kwargs.pop("cache_enabled"), kwargs.pop("cache_dir")), **kwargs)

    with_cache.__dict__["__signature__"] = inspect.Signature(own + added)
    return with_cache


JsonOpt = Annotated[
    bool, typer.Option("--json", help=f"Print the versioned JSON report (schema {SCHEMA_VERSION}) to stdout.")
]
StrictOpt = Annotated[
    bool, typer.Option("--strict", help="Exit 3 when any clip was skipped because its audio is missing or unreadable.")
]
HtmlOpt = Annotated[
    str | None,
    typer.Option(
        "--html",
        metavar="FILE",
        help="Also write the report as one self-contained HTML page (inline SVG charts, nothing fetched): per "
        "track the level before and after against its target and ceiling, the master against the headroom.",
    ),
]


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


def _emit(doc: Any, as_json: bool, text: str) -> None:
    print(json.dumps(doc, indent=2, ensure_ascii=False) if as_json else text)


def _write_report(path: str | None, content: Callable[[], str | bytes]) -> None:
    """Write a report file (--html, --junit) atomically when asked for one; a WriteError names the file. A new
    file gets the permissions any new file gets (not the temporary file's owner-only ones)."""
    if path is None:
        return
    from .output import write_atomic

    data = content()
    umask = os.umask(0)
    os.umask(umask)
    mode = None if os.path.exists(path) else 0o666 & ~umask
    write_atomic(path, data.encode("utf-8") if isinstance(data, str) else data, mode=mode)


# ---------------------------------------------------------------- commands


def _one_session(
    path: str,
    policy: Policies,
    cache: CacheOptions,
    as_json: bool,
    strict: bool,
    write: Callable[[Analysis], WriteResult] | None = None,
    *,
    dry_run: bool = False,
    html: str | None = None,
) -> int:
    """analyze (no `write`) or apply one session, print its report (and write it as HTML); the exit code."""
    from . import cache as cache_
    from . import html_views, pipeline, report, report_json, tables

    progress = _Progress()
    store = cache_.open(cache.directory, enabled=cache.enabled)
    try:
        a = pipeline.analyze(pipeline.load(path), policy, progress=progress, cache=store)
    finally:
        store.close()
    progress.done()
    r = report.session_report(a, write(a) if write else None, dry_run=dry_run)
    _emit(report_json.session_json(r), as_json, tables.session_text(r))
    _write_report(html, lambda: html_views.session_page(r))
    return EXIT_SKIPPED if strict and r.skipped_clips else EXIT_OK


SessionArg = Annotated[str, typer.Argument(help="A .rpp or .als session file.")]


@app.command()
@policy_options
@cache_options
def analyze(
    session: SessionArg,
    policy: Policies,
    cache: CacheOptions,
    as_json: JsonOpt = False,
    strict: StrictOpt = False,
    html: HtmlOpt = None,
) -> None:
    """Measure the session and show the plan: levels, new gains and faders, predicted master. Writes no session."""
    raise typer.Exit(_run(lambda: _one_session(session, policy, cache, as_json, strict, html=html), session))


@app.command()
@policy_options
@cache_options
def apply(
    session: SessionArg,
    policy: Policies,
    cache: CacheOptions,
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
    as_json: JsonOpt = False,
    strict: StrictOpt = False,
    html: HtmlOpt = None,
) -> None:
    """Gain-stage the session and write the new one (always written, byte-identical when nothing changes)."""
    if output and in_place:
        _err("use either -o/--output or --in-place, not both")
        raise typer.Exit(EXIT_USAGE)
    from . import output as output_

    def write(a: Analysis) -> WriteResult:
        return output_.write(a, output=output, in_place=in_place, dry_run=dry_run)

    raise typer.Exit(
        _run(lambda: _one_session(session, policy, cache, as_json, strict, write, dry_run=dry_run, html=html), session)
    )


# 100 tracks of 10 minutes take about 2.5 minutes on one core (README: 32 tracks of 5 minutes in 23.5 s)
DEFAULT_SESSION_TIMEOUT_S = 600.0


@app.command()
@policy_options
@cache_options
def batch(
    paths: Annotated[
        list[str],
        typer.Argument(help="Session files or folders (searched recursively for .rpp and .als sessions)."),
    ],
    policy: Policies,
    cache: CacheOptions,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Analyze and verify every session, write nothing (and record nothing).")
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs", "-j", min=0, max=64, help="Sessions processed in parallel (0, the default: one per CPU core)."
        ),
    ] = 0,
    session_timeout: Annotated[
        float,
        typer.Option(
            "--session-timeout",
            min=0,
            metavar="SECONDS",
            help="Stop a session that runs longer than this, report it as timed out and go on (0: no limit). "
            "The default, 10 minutes, is several times what a large session takes (about 2.5 minutes on one "
            "core for 100 tracks of 10 minutes).",
        ),
    ] = DEFAULT_SESSION_TIMEOUT_S,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            metavar="ADDRESS",
            help="Run the sessions on a Dask cluster, e.g. tcp://HOST:8786, instead of local worker processes "
            "(needs gainstager's optional 'cluster' extra; see the README).",
        ),
    ] = None,
    include_backups: Annotated[
        bool,
        typer.Option(
            "--include-backups",
            help="Also process the DAWs' backup copies (Live Backup/ folders, REAPER *.rpp-bak and Backups/).",
        ),
    ] = False,
    restart: Annotated[
        bool, typer.Option("--restart", help="Ignore the resume journal: process every session again.")
    ] = False,
    list_only: Annotated[
        bool,
        typer.Option(
            "--list", help="Print the sessions found (one per line) and what was skipped, then exit; writes nothing."
        ),
    ] = False,
    as_json: JsonOpt = False,
    strict: StrictOpt = False,
    html: HtmlOpt = None,
) -> None:
    """Gain-stage every session under PATHS, each written beside its original as NAME.gainstaged.EXT (unchanged
    sessions are not rewritten). A failing session never stops the others.

    Discovery skips the DAWs' own copies and folders: Live's Backup/ folders and Ableton Project Info, REAPER's
    *.rpp-bak, *.RPP-UNDO and Backups/, our *.gainstaged.* outputs and hidden files; the summary counts each
    kind. Symlinked folders are followed once.

    Resume: finished sessions are recorded in .gainstager-batch.jsonl in the first folder given; after Ctrl-C, a
    kill or a crash, the same command goes on where it stopped. A session edited since, or whose output was
    changed or deleted, is done again; so is a failed one. Ctrl-C stops within 2 s (exit 130), keeping what was
    finished. Exit 1 if any session failed or timed out; 3 with --strict when clips were skipped."""
    from . import batch as batch_
    from . import html_views, report_json, tables, workers
    from .discover import discover

    def go() -> int:
        started = time.monotonic()
        found = discover(paths, include_backups=include_backups)
        if list_only:
            for p in found.sessions:
                print(p)
            for p in found.missing:
                _err(f"{p}: no such file or folder")
            print(f"sessions found: {len(found.sessions)}", file=sys.stderr)
            for line in tables.skipped_lines(found.skipped):
                print(line, file=sys.stderr)
            return EXIT_ERROR if found.missing else EXIT_OK
        for p in found.missing:
            _err(f"{p}: no such file or folder")
        timeout_s = session_timeout or None
        with batch_.Batch.open(
            paths, found, policy, dry_run=dry_run, restart=restart, timeout_s=timeout_s, cache_options=cache
        ) as b:
            if b.journal_replaced and b.journal is not None:
                print(f"{b.journal.path}: written with other settings; starting over", file=sys.stderr)
            if b.resumed:
                print(f"resuming: {len(b.resumed)} of {b.total} sessions already done", file=sys.stderr)
            items = []
            try:
                with _batch_progress(b.total, len(b.resumed)) as bar:
                    for item in b.run(jobs=jobs or os.cpu_count() or 1, scheduler=scheduler):
                        if item.error:
                            _err(item.error)
                        bar.advance(clips=item.clips_measured)
                        items.append(item)
            except workers.Interrupted as exc:
                done = f"{len(b.resumed) + exc.finished} of {b.total} sessions done"
                then = "dry run: nothing recorded" if dry_run else "run the same command again to resume"
                print(f"{done}; {then}", file=sys.stderr)
                return exc.exit_code
            summary = b.report(items, time.monotonic() - started)
        _emit(report_json.batch_json(summary), as_json, tables.batch_text(summary))
        _write_report(html, lambda: html_views.batch_page(summary.items))
        if summary.failed:
            return EXIT_ERROR
        return EXIT_SKIPPED if strict and summary.skipped_clips else EXIT_OK

    raise typer.Exit(_run(go))


def _batch_progress(total: int, done: int) -> BatchProgress:
    """The batch's progress bar on stderr (drawn only on a terminal); rich is imported only for a batch."""
    from rich.console import Console

    from .progress import BatchProgress

    return BatchProgress(Console(stderr=True), total, done=done)


@app.command()
@policy_options
@cache_options
def check(
    sessions: Annotated[list[str], typer.Argument(help="Session files (.rpp, .als) to check.")],
    policy: Policies,
    cache: CacheOptions,
    tolerance: Annotated[
        float,
        typer.Option(
            "--tolerance",
            min=0.0,
            max=24.0,
            help="How far a staged track may sit from its target and still pass, in dB either way (0..24).",
        ),
    ] = DEFAULT_TOLERANCE_DB,
    junit: Annotated[
        str | None,
        typer.Option(
            "--junit",
            metavar="FILE",
            help="Also write a JUnit XML report for CI: one test suite per session, one test case per staged "
            "track and one for the master.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check that sessions are gain-staged: exit 0 if so, else 1 with what is out and why. Writes no session.

    A staged track passes when it is within the tolerance of its own target, or held below it as apply would
    leave it (by its true-peak ceiling, the boost cap or a gain range); the master passes when its predicted
    peak is within the headroom. A session apply has just written passes with the same policy."""
    from . import cache as cache_
    from . import check as check_
    from . import pipeline, report, tables

    def go() -> int:
        results: list[check_.Checked] = []
        progress = _Progress()
        store = cache_.open(cache.directory, enabled=cache.enabled)
        try:
            for path in sessions:
                try:
                    a = pipeline.analyze(pipeline.load(path), policy, progress=progress, cache=store)
                except GainstagerError as exc:  # this session is not checked (and fails); the others still are
                    _err(str(exc))
                    results.append(check_.CheckError(path, str(exc)))
                    continue
                finally:
                    progress.done()
                results.append(check_.check_report(report.session_report(a), tolerance_db=tolerance))
        finally:
            store.close()
        _emit(check_.check_json(results, tolerance), as_json, tables.check_text(results))
        _write_report(junit, lambda: check_.junit_xml(results))
        return EXIT_OK if all(r.passed for r in results) else EXIT_ERROR

    raise typer.Exit(_run(go))


@app.command()
def measure(
    files: Annotated[list[str], typer.Argument(help="Audio files (WAV, AIFF, FLAC, OGG, MP3: what libsndfile reads).")],
    as_json: JsonOpt = False,
) -> None:
    """Measure audio files: sample peak (dBFS), true peak (dBTP, 4x oversampled), RMS and gated RMS (dBFS,
    averaged over channels), integrated loudness, maximum momentary and short-term loudness (LUFS, 10 ms
    steps) and loudness range (LU, EBU Tech 3342). Channels follow BS.1770: 1-4 channels are weighted 1.0;
    5 channels are L R C Ls Rs (surrounds 1.41); 6 channels are SMPTE L R C LFE Ls Rs, LFE left out."""
    from . import report_json, tables
    from .measure import measure_files
    from .notices import recorded

    def go() -> int:
        results, failed = [], 0
        with recorded() as notes:  # a Python warning while measuring becomes a note of the output
            for r in measure_files(files):
                if isinstance(r, GainstagerError):
                    _err(str(r))
                    failed += 1
                else:
                    results.append(r)
        if as_json:
            print(json.dumps(report_json.measure_json(results, notes), indent=2))
        elif results or notes:
            print(tables.file_levels_text(results, notes))
        return EXIT_ERROR if failed else EXIT_OK

    raise typer.Exit(_run(go))


cache_app = typer.Typer(
    no_args_is_help=True,
    help="The lasting measurement cache: audio measured once is not measured again. `info` shows where it is "
    "and what it holds; `clear` empties it.",
)
app.add_typer(cache_app, name="cache")


@cache_app.command("info")
def cache_info(directory: CacheDirOpt = None, as_json: JsonOpt = False) -> None:
    """Where the measurement cache is, how many entries it holds and their size."""
    from . import cache as cache_
    from . import report_json, tables

    def go() -> int:
        info = cache_.info(directory)
        _emit(report_json.cache_info_json(info), as_json, tables.cache_info_text(info))
        return EXIT_OK

    raise typer.Exit(_run(go))


@cache_app.command("clear")
def cache_clear(directory: CacheDirOpt = None) -> None:
    """Empty the measurement cache (the next analysis measures everything again)."""
    from . import cache as cache_

    def go() -> int:
        removed = cache_.clear(directory)
        print(f"removed {removed} entries from {cache_.directory(directory)}")
        return EXIT_OK

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
    """Entry point: no traceback ever reaches the user unless GAINSTAGER_DEBUG is set, and no Python warning
    (those of an analysis or a measurement are notes of its report; any other is one `note:` line on stderr)."""
    try:
        from .notices import as_note_lines

        as_note_lines(sys.stderr)
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
