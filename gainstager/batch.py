"""Batch: many sessions, each analysed and written on its own; one failing never stops the others.

`run` processes sessions on a pool of worker processes and yields a typed `BatchItem` per session as it
finishes. Each worker opens the lasting measurement cache once (`cache.open`), so a sample shared by several
projects is measured once, whichever worker gets to it first (the others wait for its levels).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from . import cache, parsers
from .cache import CacheOptions, MeasurementCache
from .errors import GainstagerError
from .output import write
from .pipeline import analyze, load
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


# The measurement cache of this worker process, opened on its first session.
_WORKER_CACHE: tuple[CacheOptions, MeasurementCache] | None = None


def worker_cache(options: CacheOptions) -> MeasurementCache:
    """This process's measurement cache for `options` (opened once, kept for the sessions that follow)."""
    global _WORKER_CACHE
    if _WORKER_CACHE is None or _WORKER_CACHE[0] != options:
        if _WORKER_CACHE is not None:
            _WORKER_CACHE[1].close()
        _WORKER_CACHE = (options, cache.open(options.directory, enabled=options.enabled))
    return _WORKER_CACHE[1]


def process(
    path: str, policy: Policy | Policies, dry_run: bool, cache_options: CacheOptions, threads: int = 1
) -> BatchItem:
    """One session of a batch (in a worker process): analyse, verify, write unless unchanged. Never raises."""
    try:
        a = analyze(load(path), policy, cache=worker_cache(cache_options), threads=threads)
        written = write(a, dry_run=dry_run, skip_unchanged=True)
        return BatchItem(path, session_report(a, written, dry_run=dry_run))
    except GainstagerError as exc:
        return BatchItem(path, None, str(exc))
    except Exception as exc:  # a bug on one session must not stop the others
        return BatchItem(path, None, f"{path}: internal error ({type(exc).__name__}: {exc})")


def run(
    paths: Sequence[str],
    policy: Policy | Policies,
    *,
    dry_run: bool,
    jobs: int,
    cache_options: CacheOptions | None = None,
) -> Iterator[BatchItem]:
    """Process `paths` on `jobs` worker processes; yield each item as it finishes (not in input order). The cores
    are shared: each session renders on cpu_count // jobs threads."""
    options = cache_options or CacheOptions()
    threads = max(1, (os.cpu_count() or 1) // max(jobs, 1))
    if jobs <= 1 or len(paths) <= 1:
        for p in paths:
            yield process(p, policy, dry_run, options, threads)
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_ignore_interrupts)
    try:
        futures = [pool.submit(process, p, policy, dry_run, options, threads) for p in paths]
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
