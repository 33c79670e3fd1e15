"""The `batch` command: every session under the paths given, on worker processes (or a Dask cluster), with
discovery, the resume journal and a progress bar; `cli` registers it. Like `cli`, it prints and exits through
`cli_output`.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer

from .cache import CacheOptions
from .cli_options import HtmlOpt, JsonOpt, StrictOpt, cache_options, policy_options
from .cli_output import EXIT_ERROR, EXIT_OK, EXIT_SKIPPED, _emit, _err, _run, _write_report
from .policy_file import Policies

if TYPE_CHECKING:
    from .progress import BatchProgress


# 100 tracks of 10 minutes take about 2.5 minutes on one core (README: 32 tracks of 5 minutes in 23.5 s)
DEFAULT_SESSION_TIMEOUT_S = 600.0


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
    `*.rpp-bak`, `*.RPP-UNDO` and Backups/, our `*.gainstaged.*` outputs and hidden files; the summary counts each
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
