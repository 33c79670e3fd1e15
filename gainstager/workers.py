"""Running one function over many items on worker processes that the user stays in control of.

`run(fn, items, jobs=N, timeout_s=T)` yields an `Outcome` per item as it finishes (the caller re-orders by
`Outcome.index`). `fn` must be a module-level function (it is pickled by reference) and should return its
own failures as results; an exception it raises is reported as `Failure.ERROR`, and the run goes on.

Local workers are child interpreters (`python -c`) talking over two pipes, not `multiprocessing` or
`concurrent.futures` pools: a pool cannot lose one worker without breaking, and a Dask worker, being a daemon
process, may not start `multiprocessing` children. The same worker class serves both paths.

- **Time limit.** Each item runs on a worker of its own for at most `timeout_s`; over it, the worker is
  stopped (SIGTERM, then SIGKILL after `worker_process.GRACE_S`) and replaced, the item reported as `Failure.TIMEOUT`
  ("timed out after N s"), and the other items go on. A stuck read of a FIFO or a dead network drive only
  costs its own item. The clock starts when the item is handed to its worker, so a fresh worker's start-up
  (an interpreter and its imports, well under a second) counts against its first item.
- **Ctrl-C.** The terminal sends SIGINT to the whole foreground process group. Workers are born with SIGINT
  blocked (the mask is inherited through fork and exec, so there is no window before they can ignore it),
  then ignore it: they never see KeyboardInterrupt and never print a traceback. The parent catches SIGINT
  (and SIGTERM) while it runs, cancels what is pending, stops the workers (SIGTERM lets a worker unwind its
  `finally` blocks, so an atomic write removes its temporary file; SIGKILL after `worker_process.GRACE_S`), reaps them,
  hands back the results that had already arrived, and raises `Interrupted` (a KeyboardInterrupt) with the
  counts, so the caller can write its journal and exit 130. A worker that exits on a SIGTERM it did not get
  from us (someone stopping the whole group) is taken as the same request to stop.
- **No orphans.** Every worker is reaped before `run` returns or raises. A worker whose parent dies
  (kill -9) notices within half a second, since it is re-parented, and stops itself.
- **Dask.** With `scheduler=ADDRESS`, items go to a dask.distributed cluster through `Client.get_executor()`.
  Each task hands its item to a worker process of the same kind, one per Dask worker thread, kept between
  tasks (so per-process caches still work) and replaced when an item runs over the limit; the time limit is
  therefore enforced the same way on the cluster, and results come back as the same `Outcome` records.
  At Ctrl-C the client cancels pending tasks, sets a Dask `Event` that running tasks check twice a second
  (they stop their worker processes, with the same SIGTERM-then-SIGKILL), and returns.

POSIX only (signal masks, fd passing).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import pickle
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import wait
from types import FrameType
from typing import Any, TypeVar

from .errors import GainstagerError
from .worker_process import _TERMINATED, Failure, Outcome, _Reply, _stop, _timed_out, _Worker

# The interface: `run` and what it yields or raises (Failure and Outcome live with the worker process).
__all__ = ["Failure", "Interrupted", "Outcome", "run"]

T = TypeVar("T")
R = TypeVar("R")

CONNECT_TIMEOUT_S = 10.0  # to reach a Dask scheduler


class Interrupted(KeyboardInterrupt):
    """The run was stopped by SIGINT or SIGTERM; the outcomes already yielded are all there is."""

    def __init__(self, signum: int, finished: int, total: int, in_flight: tuple[Any, ...]) -> None:
        super().__init__(f"interrupted: {finished} of {total} done")
        self.signum = signum
        self.finished = finished  # outcomes yielded by this run
        self.total = total
        # items whose local workers were stopped mid-way: a worker that needed SIGKILL may have left a temporary
        # file, which `tempfiles.remove_stale` in their output folders removes. Empty on Dask, where a running
        # item is stopped by its own task, on the worker, after the client has returned.
        self.in_flight = in_flight

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def run(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    jobs: int = 1,
    timeout_s: float | None = None,
    scheduler: str | None = None,
) -> Iterator[Outcome[T, R]]:
    """Yield `Outcome(fn(item))` for every item, in the order they finish; raise `Interrupted` on Ctrl-C.

    `jobs`: local worker processes (ignored with `scheduler`). `timeout_s`: the limit per item, None for none.
    `scheduler`: the address of a dask.distributed scheduler (needs the `cluster` extra)."""
    if timeout_s is not None and not timeout_s > 0:
        raise ValueError(f"timeout_s must be positive ({timeout_s})")
    pickle.dumps(fn)  # a lambda or a local function fails here, before any process starts
    if scheduler is not None:
        return _run_dask(fn, items, timeout_s, scheduler)
    return _run_local(fn, items, max(1, jobs), timeout_s)


class _StopSignals:
    """While active (main thread only), SIGINT and SIGTERM set `signum` and wake `wait` instead of raising."""

    def __init__(self) -> None:
        self.signum = 0
        self.wakeup_r, self._wakeup_w = os.pipe()
        os.set_blocking(self._wakeup_w, False)
        self._old: dict[int, Any] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.signum = self.signum or signum
        with contextlib.suppress(OSError):  # the pipe is full: it is awake anyway
            os.write(self._wakeup_w, b"\0")

    def __enter__(self) -> _StopSignals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                if signal.getsignal(sig) is not signal.SIG_IGN:  # nohup / a background job: stay as we are
                    self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        os.close(self.wakeup_r)
        os.close(self._wakeup_w)


def _run_local(
    fn: Callable[[T], R], items: Sequence[T], jobs: int, timeout_s: float | None
) -> Iterator[Outcome[T, R]]:
    pending = deque(enumerate(items))
    workers: list[_Worker] = []
    finished = 0
    lost: list[T] = []  # items whose worker was stopped from outside
    with _StopSignals() as stop:
        try:
            while pending or any(w.task for w in workers):
                if stop.signum:
                    raise KeyboardInterrupt
                while pending and len(workers) < jobs:
                    workers.append(_Worker(fn))
                for w in workers:
                    if w.task is None and pending:
                        w.give(*pending.popleft())
                busy = [w for w in workers if w.task]
                deadline = min(w.task[2] for w in busy if w.task) + timeout_s if timeout_s and busy else None
                wait_s = None if deadline is None else max(0.0, deadline - time.monotonic())
                ready = set(wait([*(w.res for w in busy), stop.wakeup_r], wait_s))
                now = time.monotonic()
                for w in busy:
                    assert w.task is not None
                    index, item, started = w.task
                    if w.res in ready:
                        reply = w.receive()
                        if reply.failure == Failure.CRASHED and w.proc.returncode in (_TERMINATED, -signal.SIGTERM):
                            stop.signum = stop.signum or signal.SIGTERM  # the group is being stopped
                            lost.append(item)
                            continue
                    elif timeout_s and now - started >= timeout_s:
                        _stop([w])
                        reply = _timed_out(timeout_s, started)
                    else:
                        continue
                    if reply.failure in (Failure.CRASHED, Failure.TIMEOUT):
                        workers.remove(w)  # stopped or dead, and reaped: a fresh one takes its place
                        w.close()
                    finished += 1
                    yield reply.outcome(index, item)
        except KeyboardInterrupt:  # our handler's flag, or a real one where no handler could be installed
            in_flight = lost
            for w in workers:
                if w.task is None:
                    continue
                index, item, _ = w.task
                if w.res.poll(0) and (reply := w.receive()).failure != Failure.CRASHED:  # finished just now
                    finished += 1
                    yield reply.outcome(index, item)
                else:
                    in_flight.append(item)
            _stop(workers)
            workers = []
            raise Interrupted(stop.signum or signal.SIGINT, finished, len(items), tuple(in_flight)) from None
        finally:
            _stop(workers)


# ---------------------------------------------------------------- Dask


_THREAD = threading.local()  # in a Dask worker: the worker process of each of its threads


def _dask_task(fn: Callable[[Any], Any], item: Any, timeout_s: float | None, stop_event: str) -> _Reply:
    """One item on a Dask worker thread, run by that thread's own worker process, within the time limit; the
    client sets the Dask event `stop_event` at Ctrl-C, and the item's worker process is stopped then."""
    from distributed import Event

    w: _Worker | None = getattr(_THREAD, "worker", None)
    # Every task brings its own unpickled copy of `fn` (a functools.partial is a new object each time): the same
    # job is recognised by its pickled form, so the thread's worker process, and its caches, serve every task.
    job = pickle.dumps(fn)
    if w is None or getattr(_THREAD, "job", None) != job or w.proc.poll() is not None:
        if w is not None:
            _stop([w])
        w = _THREAD.worker = _Worker(fn)
        _THREAD.job = job
    reply = w.call(item, timeout_s, Event(stop_event).is_set)  # type: ignore[no-untyped-call]
    if reply.failure in (Failure.TIMEOUT, Failure.CRASHED):
        _THREAD.worker = None  # stopped or dead: the next task starts a fresh one
    return reply


def _run_dask(
    fn: Callable[[T], R], items: Sequence[T], timeout_s: float | None, scheduler: str
) -> Iterator[Outcome[T, R]]:
    try:
        from distributed import Client, Event  # the optional `cluster` extra; imported only when asked for
    except ImportError:
        raise GainstagerError(
            f"{scheduler}: running on a Dask cluster needs the cluster extra (pip install 'gainstager[cluster]')"
        ) from None
    try:
        client = Client(scheduler, set_as_default=False, timeout=CONNECT_TIMEOUT_S)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise GainstagerError(f"{scheduler}: cannot reach the Dask scheduler ({exc})") from None
    finished = 0
    stop_event = f"gainstager-stop-{uuid.uuid4().hex}"
    with _StopSignals() as stop, client:
        executor = client.get_executor(pure=False)  # type: ignore[no-untyped-call]  # equal items stay two tasks
        index = {executor.submit(_dask_task, fn, item, timeout_s, stop_event): i for i, item in enumerate(items)}
        waiting = set(index)
        try:
            while waiting:
                if stop.signum:
                    raise KeyboardInterrupt
                done, waiting = concurrent.futures.wait(
                    waiting, timeout=0.2, return_when=concurrent.futures.FIRST_COMPLETED
                )
                for future in sorted(done, key=index.__getitem__):
                    i = index[future]
                    try:
                        reply = future.result()
                    except Exception as exc:  # the cluster lost the task (a worker died more than once...)
                        reply = _Reply(None, Failure.CRASHED, f"cluster task failed ({type(exc).__name__}: {exc})")
                    finished += 1
                    yield reply.outcome(i, items[i])
        except KeyboardInterrupt:
            event = Event(stop_event, client=client)  # type: ignore[no-untyped-call]
            event.set()  # type: ignore[no-untyped-call]  # the running items' worker processes stop
            executor.shutdown(wait=False)  # cancels what has not started
            raise Interrupted(stop.signum or signal.SIGINT, finished, len(items), ()) from None
