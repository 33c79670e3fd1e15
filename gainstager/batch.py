"""Batch: many sessions, each analysed and written on its own; one failing never stops the others.

`run` processes sessions on a pool of worker processes and yields a typed `BatchItem` per session as it
finishes. Each worker keeps one level cache for all the sessions it processes, so a sample shared by several
projects is measured once per worker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from . import parsers
from .errors import GainstagerError
from .output import write
from .pipeline import LevelCache, analyze, load
from .plan import Policy
from .policy_file import Policies
from .report import BatchItem, session_report


def find_sessions(paths: Sequence[str]) -> Iterator[str]:
    """Session files under `paths` (files given directly are always included), sorted, no backups or outputs."""
    suffixes = parsers.suffixes()
    for root in paths:
        if os.path.isfile(root):
            yield root
            continue
        found = []
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in files:
                low = name.lower()
                if low.endswith(suffixes) and ".gainstaged." not in low:
                    found.append(os.path.join(folder, name))
        yield from sorted(found)


# One level cache per batch worker process: a sample shared by several projects is measured once.
_WORKER_CACHE: LevelCache | None = None


def process(path: str, policy: Policy | Policies, dry_run: bool) -> BatchItem:
    """One session of a batch (in a worker process): analyse, verify, write unless unchanged. Never raises."""
    global _WORKER_CACHE
    if _WORKER_CACHE is None:
        _WORKER_CACHE = LevelCache()
    try:
        a = analyze(load(path), policy, cache=_WORKER_CACHE)
        written = write(a, dry_run=dry_run, skip_unchanged=True)
        return BatchItem(path, session_report(a, written, dry_run=dry_run))
    except GainstagerError as exc:
        return BatchItem(path, None, str(exc))
    except Exception as exc:  # a bug on one session must not stop the others
        return BatchItem(path, None, f"{path}: internal error ({type(exc).__name__}: {exc})")


def run(paths: Sequence[str], policy: Policy | Policies, *, dry_run: bool, jobs: int) -> Iterator[BatchItem]:
    """Process `paths` on `jobs` worker processes; yield each item as it finishes (not in input order)."""
    if jobs <= 1 or len(paths) <= 1:
        for p in paths:
            yield process(p, policy, dry_run)
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_ignore_interrupts)
    try:
        futures = [pool.submit(process, p, policy, dry_run) for p in paths]
        for fut in as_completed(futures):
            yield fut.result()
    except BaseException:  # Ctrl-C: stop now. Writes are atomic, so a stopped session leaves nothing behind.
        for worker in list(pool._processes.values()):  # no public way to stop running workers
            worker.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the parent: one interrupted inside the task queue's lock hangs the pool."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
