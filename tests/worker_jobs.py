"""Jobs for the worker tests, and small programs the tests run in their own process (groups).

Jobs live in a module of their own, importable by worker processes (the executor pickles them by
reference), with nothing heavy to import.

    python -m tests.worker_jobs write FOLDER [SCHEDULER]  a batch of atomic writes, 4 fast then 4 slow, on 2
                                                          workers (local, or a Dask cluster's)
    python -m tests.worker_jobs hold FOLDER     start an atomic write, print its temporary file, wait
    python -m tests.worker_jobs append JOURNAL SESSION   record the same session in a journal, forever
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable

from gainstager import tempfiles
from gainstager.journal import Identity, Journal
from gainstager.workers import Interrupted, run

HANG = "hang"
BOOM = "boom"


def digest(item: str) -> str:
    """sha256 of the item; raises for BOOM, never returns for HANG."""
    if item == BOOM:
        raise ValueError(f"cannot digest {item!r}")
    if item == HANG:
        time.sleep(3600)
    return hashlib.sha256(item.encode()).hexdigest()


def pid_of_worker(item: str) -> int:
    time.sleep(0.05)
    return os.getpid()


def write_slowly(job: tuple[str, str, float]) -> str:
    """Write `name` in `folder` atomically, pausing `delay_s` with half of it in the temporary file."""
    folder, name, delay_s = job
    fd, tmp = tempfiles.create(folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(b"first half;")
            f.flush()
            time.sleep(delay_s)
            f.write(b"second half")
        os.replace(tmp, os.path.join(folder, name))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return name


def _say(line: str) -> None:
    """A line on stdout for the test that runs this program, sent at once."""
    sys.stdout.write(f"{line}\n")
    sys.stdout.flush()


def _write(folder: str, scheduler: str | None = None) -> int:
    from tests.worker_jobs import write_slowly as job  # by its importable name, not as __main__'s

    jobs = [(folder, f"out{i}.txt", 0.0 if i < 4 else 60.0) for i in range(8)]
    try:
        for outcome in run(job, jobs, jobs=2, scheduler=scheduler):
            _say(f"done {outcome.index} {outcome.result or outcome.reason}")
    except Interrupted as exc:
        _say(f"interrupted {exc.finished} of {exc.total}, {len(exc.in_flight)} in flight")
        return exc.exit_code
    return 0


def _hold(folder: str) -> int:
    fd, tmp = tempfiles.create(folder)
    os.write(fd, b"half")
    _say(tmp)
    time.sleep(3600)
    return 0


def _append(journal: str, session: str) -> int:
    with Journal.open(journal, {"policy": "test"}) as j:
        identity = Identity.of(session)
        _say("appending")
        n = 0
        while True:
            n += 1
            j.record(identity, {"n": n, "padding": "x" * 2000})


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    programs: dict[str, Callable[..., int]] = {"write": _write, "hold": _hold, "append": _append}
    sys.exit(programs[mode](*args))
