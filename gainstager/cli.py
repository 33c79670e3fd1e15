"""The command line: the typer app and its commands. With its `cli_*` modules (`cli_output`: how it reports and
exits, `cli_options`: the shared options, `cli_batch`: the batch command), the only modules that print or exit.

Results go to stdout (a table, or versioned JSON with --json); progress, warnings and errors go to stderr,
progress only when stderr is a terminal. Exit codes: 0 ok, 1 error (bad input, a failed session), 2 usage,
3 done but some clips were skipped for missing or unreadable audio (only with --strict), 130 Ctrl-C.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from . import __version__
from .cache import CacheOptions
from .check import DEFAULT_TOLERANCE_DB
from .cli_batch import batch
from .cli_options import CacheDirOpt, HtmlOpt, JsonOpt, StrictOpt, cache_options, policy_options
from .cli_output import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SKIPPED,
    EXIT_USAGE,
    _emit,
    _err,
    _Progress,
    _run,
    _write_report,
)
from .errors import GainstagerError
from .policy_file import Policies

if TYPE_CHECKING:
    from .output import WriteResult
    from .pipeline import Analysis

# The session pipeline (parsers and lxml, the renderer), the batch with its process pool and the reports are
# imported inside the commands that use them, so that `gainstager measure` and `--help` start quickly.

# Markdown help: a docstring's paragraphs are re-wrapped to the terminal, not broken where the source lines end.
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    help="Gain-stage DAW sessions offline: measure every clip a REAPER (.rpp) or Ableton Live (.als) session "
    "plays, then write a new session whose clip gains put each track at a target level, with the faders "
    "keeping the mix balance (or at unity) and headroom on the master. Nothing else in the file changes.",
)


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


app.command()(batch)  # defined in cli_batch, registered here to keep the commands' order in --help


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
    rich_markup_mode="markdown",
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
        from .heap import keep_freed_memory  # (ctypes only: no cost at start-up)

        keep_freed_memory()
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
