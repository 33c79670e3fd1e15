"""One worker process, and the parent's handle on it: a child interpreter (`python -c`) that runs one function
on the items sent down one pipe and replies up another, born with SIGINT blocked, stopped with SIGTERM then
SIGKILL, and stopping itself when its parent dies. `workers` runs many of them, locally or under Dask; see its
docstring for the guarantees. POSIX only (signal masks, fd passing).
"""

from __future__ import annotations

import contextlib
import math
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from multiprocessing.connection import Connection
from types import FrameType
from typing import Any, Generic, TypeVar

from . import heap
from .notices import as_note_lines

T = TypeVar("T")
R = TypeVar("R")

GRACE_S = 0.5  # how long a stopped worker gets to unwind (remove its temporary files) before SIGKILL
_WATCH_S = 0.5  # how often a worker checks that its parent is alive
_TERMINATED = 128 + signal.SIGTERM  # a worker's exit code when it stopped on SIGTERM
_BOOT = "from gainstager.worker_process import _child_main; _child_main()"


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


# ---------------------------------------------------------------- in the worker process


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
    heap.keep_freed_memory()  # a batch worker is ours (see `heap`)
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
