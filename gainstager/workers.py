"""Running one function over many items on worker processes that the user stays in control of.

`run(fn, items, jobs=N, timeout_s=T)` yields an `Outcome` per item as it finishes (the caller re-orders by
`Outcome.index`). `fn` must be a module-level function (it is pickled by reference) and should return its
own failures as results; an exception it raises is reported as `Failure.ERROR`, and the run goes on.

Local workers are child interpreters (`python -c`) talking over two pipes, not `multiprocessing` or
`concurrent.futures` pools: a pool cannot lose one worker without breaking, and a Dask worker, being a daemon
process, may not start `multiprocessing` children. The same worker class serves both paths.

- **Time limit.** Each item runs on a worker of its own for at most `timeout_s`; over it, the worker is
  stopped (SIGTERM, then SIGKILL after `GRACE_S`) and replaced, the item reported as `Failure.TIMEOUT`
  ("timed out after N s"), and the other items go on. A stuck read of a FIFO or a dead network drive only
  costs its own item. The clock starts when the item is handed to its worker, so a fresh worker's start-up
  (an interpreter and its imports, well under a second) counts against its first item.
- **Ctrl-C.** The terminal sends SIGINT to the whole foreground process group. Workers are born with SIGINT
  blocked (the mask is inherited through fork and exec, so there is no window before they can ignore it),
  then ignore it: they never see KeyboardInterrupt and never print a traceback. The parent catches SIGINT
  (and SIGTERM) while it runs, cancels what is pending, stops the workers (SIGTERM lets a worker unwind its
  `finally` blocks, so an atomic write removes its temporary file; SIGKILL after `GRACE_S`), reaps them,
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
import math
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from multiprocessing.connection import Connection, wait
from types import FrameType
from typing import Any, Generic, TypeVar

from .errors import GainstagerError
from .notices import as_note_lines

T = TypeVar("T")
R = TypeVar("R")

GRACE_S = 0.5  # how long a stopped worker gets to unwind (remove its temporary files) before SIGKILL
_WATCH_S = 0.5  # how often a worker checks that its parent is alive
_TERMINATED = 128 + signal.SIGTERM  # a worker's exit code when it stopped on SIGTERM
CONNECT_TIMEOUT_S = 10.0  # to reach a Dask scheduler
_BOOT = "from gainstager.workers import _child_main; _child_main()"


class Failure(StrEnum):
    ERROR = "error"  # the function raised
    TIMEOUT = "timeout"  # over the time limit: its worker was stopped and replaced
    CRASHED = "crashed"  # its worker died under it (a signal, out of memory), or the cluster lost it


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T, R]):
    index: int  # the item's position in the input
    item: T
    result: R | None  # fn(item), None on failure
    failure: Failure | None = None
    reason: str = ""  # one line, for a failure
    duration_s: float = 0.0  # wall time of the item on its worker

    @property
    def ok(self) -> bool:
        return self.failure is None


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


@dataclass(frozen=True, slots=True)
class _Reply:
    result: Any
    failure: Failure | None = None
    reason: str = ""
    duration_s: float = 0.0

    def outcome(self, index: int, item: Any) -> Outcome[Any, Any]:
        return Outcome(index, item, self.result, self.failure, self.reason, self.duration_s)


def _timed_out(timeout_s: float, started: float) -> _Reply:
    return _Reply(None, Failure.TIMEOUT, f"timed out after {timeout_s:g} s", time.monotonic() - started)


class _Worker:
    """One worker process: items go down one pipe, replies come up another."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn
        cmd_r, cmd_w = os.pipe()
        res_r, res_w = os.pipe()
        try:
            # Born with SIGINT blocked: the child inherits this thread's mask through fork and exec, and
            # unblocks it only once it ignores it. A Ctrl-C meanwhile stays pending here, then runs our handler.
            old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
            try:
                self.proc = subprocess.Popen(
                    [sys.executable, "-c", _BOOT, str(cmd_r), str(res_w)],
                    pass_fds=(cmd_r, res_w),
                    stdin=subprocess.DEVNULL,
                )
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, old)
        except BaseException:
            for fd in (cmd_r, cmd_w, res_r, res_w):
                os.close(fd)
            raise
        os.close(cmd_r)
        os.close(res_w)
        self.cmd = Connection(cmd_w, readable=False)
        self.res = Connection(res_r, writable=False)
        self.task: tuple[int, Any, float] | None = None  # (index, item, started) while busy
        with contextlib.suppress(OSError):  # died at once: the first item finds out, and reports why
            self.cmd.send(list(sys.path))  # before the function, which the child must import from the same places
            self.cmd.send(fn)

    def give(self, index: int, item: Any) -> None:
        self.task = (index, item, time.monotonic())
        with contextlib.suppress(OSError):  # dead: its result pipe says so
            self.cmd.send((index, item))

    def receive(self) -> _Reply:
        """The reply to the current item (call when `res` is readable); CRASHED if the worker died."""
        try:
            ok, payload, duration_s = self.res.recv()
        except (EOFError, OSError):
            code = self.proc.wait()
            why = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            return _Reply(None, Failure.CRASHED, f"worker process died ({why})")
        finally:
            self.task = None
        return _Reply(payload, None, "", duration_s) if ok else _Reply(None, Failure.ERROR, payload, duration_s)

    def call(self, item: Any, timeout_s: float | None, stopped: Callable[[], bool]) -> _Reply:
        """Run one item and wait for it, checking `stopped()` every `_WATCH_S` (the Dask path)."""
        self.give(0, item)
        started = time.monotonic()
        end = math.inf if timeout_s is None else started + timeout_s
        while not self.res.poll(min(_WATCH_S, max(0.0, end - time.monotonic()))):
            if time.monotonic() >= end:
                _stop([self])
                return _timed_out(timeout_s or 0.0, started)
            if stopped():
                _stop([self])
                return _Reply(None, Failure.CRASHED, "stopped: the batch was interrupted")
        return self.receive()

    def close(self) -> None:
        self.cmd.close()
        self.res.close()


def _stop(workers: Sequence[_Worker], grace_s: float = GRACE_S) -> None:
    """Stop and reap `workers`: idle ones are told to exit, busy ones get SIGTERM, then SIGKILL after grace."""
    for w in workers:
        if w.task is None:
            with contextlib.suppress(OSError):
                w.cmd.send(None)
        elif w.proc.poll() is None:
            w.proc.terminate()
    deadline = time.monotonic() + grace_s
    for w in workers:
        try:
            w.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            w.proc.kill()
            w.proc.wait()
        w.close()


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


# ---------------------------------------------------------------- the worker process


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Once: a second SIGTERM (the group's, then the parent's) must not interrupt the unwinding, where it would
    # print "Exception ignored in ..."; the parent's SIGKILL ends a worker that does not unwind in time.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(_TERMINATED)  # unwinds `finally` blocks: an atomic write removes its temporary file


def _watch_parent(ppid: int) -> None:
    """Stop this worker when its parent is gone (killed with -9): it has been re-parented then."""
    while os.getppid() == ppid:
        time.sleep(_WATCH_S)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(2 * GRACE_S)
    os._exit(_TERMINATED)


def _child_main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGTERM, _on_sigterm)
    cmd = Connection(int(sys.argv[1]), writable=False)
    res = Connection(int(sys.argv[2]), readable=False)
    os.dup2(2, 1)  # whatever the function prints goes to stderr; replies have their own pipe
    as_note_lines(sys.stderr)  # and a Python warning its work did not turn into a report note is one line there
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    try:
        sys.path[:] = cmd.recv()
        fn = cmd.recv()
        load_error = ""
    except EOFError:
        return
    except Exception as exc:  # the function cannot be imported here
        fn, load_error = None, f"cannot load the job in the worker ({type(exc).__name__}: {exc})"
    while True:
        try:
            msg = cmd.recv()
        except EOFError:
            return
        if msg is None:
            return
        started = time.perf_counter()
        try:
            if fn is None:
                raise RuntimeError(load_error)
            reply: tuple[bool, Any, float] = (True, fn(msg[1]), time.perf_counter() - started)
        except Exception as exc:
            reply = (False, f"{type(exc).__name__}: {exc}", time.perf_counter() - started)
        try:
            res.send(reply)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            res.send((False, f"the result cannot be sent back ({exc})", reply[2]))
