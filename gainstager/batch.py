"""Batch: every session of an archive, each analysed and written on its own; one failing never stops the others.

`Batch.open` takes what discovery found (`discover`: backups, our outputs and the DAW's own folders left out),
opens the resume journal (`journal`, not for a dry run: a dry run must not mark anything done) and splits the
sessions into those done by an earlier run of the same command, reused as that run recorded them, and the rest.
`Batch.run` processes the rest on local worker processes or a Dask cluster (`workers`), each session within
the time limit, records every finished session in the journal as soon as it is back, and yields a typed
`BatchItem` per session as it finishes.

The session, not the file, is the unit of work: a session's plan needs all of its clips' levels at once, and
its output is written by the worker that measured it, so only the session's report travels back. Each worker
process opens the lasting measurement cache once (`cache.open`) for all the sessions it processes, so a sample
shared by several projects is measured once, whichever worker gets to it first (the others wait for its levels
rather than measure it again), and not at all by a later batch.

What the journal keeps: sessions written or left unchanged, and sessions that timed out (a new run would wait
the whole limit again; they are tried again when the new limit is longer than the time they were given). A
failed session is not kept, so the next run tries it again: its cause (a full disk, an unplugged drive, a
damaged file since replaced) may be gone.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from . import __version__, cache, report, report_json, tempfiles, workers
from .cache import CacheOptions, MeasurementCache
from .discover import Discovery
from .errors import GainstagerError
from .journal import Identity, Journal, JournalState, journal_path
from .output import write
from .pipeline import analyze, load
from .policy_file import Policies
from .report import BatchItem, BatchReport, BatchStatus

_RECORDED = (BatchStatus.WRITTEN, BatchStatus.UNCHANGED, BatchStatus.TIMED_OUT)

# The measurement cache of this worker process, opened on its first session.
_WORKER_CACHE: tuple[CacheOptions, MeasurementCache] | None = None


@dataclass(frozen=True, slots=True)
class Processed:
    """What a worker sends back for one session: the input's identity as it was read, and the summary row."""

    identity: Identity | None  # None when the file could not even be looked at
    item: BatchItem


def worker_cache(options: CacheOptions) -> MeasurementCache:
    """This process's measurement cache for `options` (opened once, kept for the sessions that follow)."""
    global _WORKER_CACHE
    if _WORKER_CACHE is None or _WORKER_CACHE[0] != options:
        if _WORKER_CACHE is not None:
            _WORKER_CACHE[1].close()
        _WORKER_CACHE = (options, cache.open(options.directory, enabled=options.enabled))
    return _WORKER_CACHE[1]


def process(
    path: str, *, policy: Policies, dry_run: bool, cache_options: CacheOptions | None = None, threads: int = 1
) -> Processed:
    """One session of a batch (in a worker process): analyse, verify, write unless unchanged. Never raises.
    `threads` render its tracks (the batch gives each of its workers a share of the cores)."""
    started = time.perf_counter()
    identity = None
    try:
        identity = Identity.of(path)  # before reading: an edit made meanwhile is not recorded as done
        a = analyze(load(path), policy, cache=worker_cache(cache_options or CacheOptions()), threads=threads)
        written = write(a, dry_run=dry_run, skip_unchanged=True)
        r = report.session_report(a, written, dry_run=dry_run)
        return Processed(identity, report.batch_item(path, r, time.perf_counter() - started))
    except GainstagerError as exc:
        error = str(exc)
    except OSError as exc:
        error = f"{path}: cannot read ({exc.strerror or exc})"
    except Exception as exc:  # a bug on one session must not stop the others
        error = f"{path}: internal error ({type(exc).__name__}: {exc})"
    return Processed(identity, report.failed_item(path, error, duration_s=time.perf_counter() - started))


def journal_settings(policy: Policies) -> dict[str, Any]:
    """What must match for a journal's records to be reused: whatever changes the outputs (the tool's version,
    the policy file's content and the options given)."""
    return {"version": __version__, "policy": dataclasses.asdict(policy)}


class Batch:
    """The sessions of one batch command, the journal, and the run. A context manager (it holds the journal)."""

    def __init__(
        self,
        discovery: Discovery,
        policy: Policies,
        *,
        dry_run: bool,
        timeout_s: float | None,
        journal: Journal | None,
        cache_options: CacheOptions | None = None,
    ) -> None:
        self.discovery = discovery
        self.cache_options = cache_options or CacheOptions()
        self.policy = policy
        self.dry_run = dry_run
        self.timeout_s = timeout_s
        self.journal = journal
        self.resumed: list[BatchItem] = []
        self.todo: list[str] = []
        for path in discovery.sessions:
            item = self._reusable(path)
            if item is None:
                self.todo.append(path)
            else:
                self.resumed.append(item)

    @classmethod
    def open(
        cls,
        roots: Sequence[str],
        discovery: Discovery,
        policy: Policies,
        *,
        dry_run: bool = False,
        restart: bool = False,
        timeout_s: float | None = None,
        cache_options: CacheOptions | None = None,
    ) -> Batch:
        """The batch of the sessions `discovery` found under `roots` (the paths the user gave); WriteError when
        the journal cannot be written or another batch holds it."""
        journal = None
        if discovery.sessions and not dry_run:
            found = [r for r in roots if r not in discovery.missing]
            journal = Journal.open(journal_path(found), journal_settings(policy), restart=restart)
        try:
            return cls(
                discovery, policy, dry_run=dry_run, timeout_s=timeout_s, journal=journal, cache_options=cache_options
            )
        except BaseException:
            if journal is not None:
                journal.close()
            raise

    @property
    def total(self) -> int:
        return len(self.discovery.sessions)

    @property
    def journal_replaced(self) -> bool:
        """A journal was there but could not be reused (other settings, or not ours)."""
        return self.journal is not None and self.journal.state in (
            JournalState.SETTINGS_CHANGED,
            JournalState.UNREADABLE,
        )

    def _reusable(self, path: str) -> BatchItem | None:
        entry = self.journal.done(path) if self.journal is not None else None
        if entry is None:
            return None
        try:
            item = report_json.batch_item_from_json(path, entry.outcome)
        except (KeyError, ValueError, TypeError):
            return None  # a record we cannot read: the session is simply done again
        if item.status is BatchStatus.TIMED_OUT and (self.timeout_s is None or self.timeout_s > item.duration_s):
            return None  # a longer limit than it was given: try again
        return item if item.status in _RECORDED else None

    def run(self, *, jobs: int, scheduler: str | None = None) -> Iterator[BatchItem]:
        """Process the sessions not done yet; yield each as it finishes. `workers.Interrupted` on Ctrl-C, once
        the temporary files of the sessions stopped mid-way are gone."""
        # Local workers share this machine's cores; a cluster's workers each have their own share.
        threads = 1 if scheduler else max(1, (os.cpu_count() or 1) // max(jobs, 1))
        job = functools.partial(
            process, policy=self.policy, dry_run=self.dry_run, cache_options=self.cache_options, threads=threads
        )
        try:
            for outcome in workers.run(job, self.todo, jobs=jobs, timeout_s=self.timeout_s, scheduler=scheduler):
                yield self._finished(outcome)
        except workers.Interrupted as exc:
            for path in exc.in_flight:  # a worker that needed SIGKILL could not remove its temporary file
                tempfiles.remove_stale(os.path.dirname(os.path.abspath(path)))
            raise

    def _finished(self, outcome: workers.Outcome[str, Processed]) -> BatchItem:
        path = outcome.item
        if outcome.result is not None:
            identity = outcome.result.identity
            item = dataclasses.replace(outcome.result.item, duration_s=outcome.duration_s)
        else:
            timed_out = outcome.failure is workers.Failure.TIMEOUT
            status = BatchStatus.TIMED_OUT if timed_out else BatchStatus.FAILED
            identity, item = None, report.failed_item(path, f"{path}: {outcome.reason}", status, outcome.duration_s)
        if self.journal is not None and item.status in _RECORDED:
            try:
                identity = identity or Identity.of(path)
            except OSError:
                return item  # gone meanwhile: nothing to record
            self.journal.record(
                identity, report_json.batch_session_json(item), outputs=[item.output] if item.output else []
            )
        return item

    def report(self, items: Sequence[BatchItem], wall_s: float) -> BatchReport:
        """The whole batch: the items of this run and the reused ones, in discovery order."""
        order = {p: i for i, p in enumerate(self.discovery.sessions)}
        every = sorted([*self.resumed, *items], key=lambda item: order[item.path])
        return BatchReport(tuple(every), self.discovery.skipped, self.discovery.missing, wall_s)

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
