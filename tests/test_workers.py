"""The batch executor: per-item time limit, Ctrl-C as a terminal delivers it, no processes left, and the
same records from a Dask cluster as from the local workers."""

from __future__ import annotations

import hashlib
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gainstager import workers
from gainstager.errors import GainstagerError
from gainstager.workers import Failure, Outcome, run
from tests.worker_jobs import BOOM, HANG, digest, pid_of_worker

REPO = Path(__file__).resolve().parent.parent
ITEMS = ["a", "bb", BOOM, "ccc", "dddd", "e"]


def _expected(item: str) -> tuple[str | None, Failure | None]:
    if item == BOOM:
        return None, Failure.ERROR
    return hashlib.sha256(item.encode()).hexdigest(), None


def _by_index(outcomes: Iterator[Outcome[str, str]]) -> list[Outcome[str, str]]:
    got = sorted(outcomes, key=lambda o: o.index)
    assert [o.index for o in got] == list(range(len(got)))
    return got


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def _no_children() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_every_item_once_and_a_raising_item_is_a_failure() -> None:
    got = _by_index(run(digest, ITEMS, jobs=2))
    assert [(o.item, o.result, o.failure) for o in got] == [(i, *_expected(i)) for i in ITEMS]
    boom = got[ITEMS.index(BOOM)]
    assert boom.reason == f"ValueError: cannot digest {BOOM!r}"
    assert _no_children()  # every worker reaped: no zombie


def test_workers_are_reused_and_as_many_as_jobs() -> None:
    got = list(run(pid_of_worker, [str(i) for i in range(8)], jobs=2))
    assert len({o.result for o in got}) == 2 and os.getpid() not in {o.result for o in got}


def test_hanging_item_times_out_and_the_rest_finish() -> None:
    items = ["a", HANG, "bb", "ccc", "dddd"]
    start = time.monotonic()
    got = _by_index(run(digest, items, jobs=2, timeout_s=5))
    elapsed = time.monotonic() - start
    hung = got[1]
    assert (hung.failure, hung.reason, hung.result) == (Failure.TIMEOUT, "timed out after 5 s", None)
    assert 5 <= hung.duration_s < 7 and elapsed < 9
    assert [(o.result, o.failure) for i, o in enumerate(got) if i != 1] == [
        _expected(x) for i, x in enumerate(items) if i != 1
    ]
    assert _no_children()  # the stopped worker and its replacement were reaped


def test_unpicklable_function_is_refused_before_any_process_starts() -> None:
    with pytest.raises((pickle.PicklingError, AttributeError)):
        list(run(lambda x: x, ["a"], jobs=1))
    assert _no_children()


def _start_batch(folder: Path, *scheduler: str) -> tuple[subprocess.Popen[str], list[str]]:
    """The batch program in its own process group, SIGINT at its default; back when 4 items are done and both
    workers are half-way through a slow atomic write."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.worker_jobs", "write", str(folder), *scheduler],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    watchdog = threading.Timer(30, os.killpg, (proc.pid, signal.SIGKILL))  # a stuck start fails, never hangs
    watchdog.start()
    lines = [proc.stdout.readline().strip() for _ in range(4)]
    watchdog.cancel()
    deadline = time.monotonic() + 20
    while len([p for p in folder.iterdir() if p.name.startswith(".gainstager-")]) < 2:
        assert time.monotonic() < deadline and proc.poll() is None, lines
        time.sleep(0.02)
    return proc, lines


def test_ctrl_c_stops_within_2_s_keeps_finished_and_leaves_nothing(tmp_path: Path) -> None:
    proc, lines = _start_batch(tmp_path)
    assert sorted(lines) == [f"done {i} out{i}.txt" for i in range(4)]
    start = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal does on Ctrl-C: the whole foreground group
    out, err = proc.communicate(timeout=10)
    assert time.monotonic() - start < 2.0
    assert proc.returncode == 130
    assert out.strip().splitlines() == ["interrupted 4 of 8, 2 in flight"]
    assert err == ""  # no traceback from any worker, and nothing else
    assert _group_gone(proc.pid)  # every worker reaped: no orphan, no zombie
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"out{i}.txt" for i in range(4)]
    assert all(p.read_bytes() == b"first half;second half" for p in tmp_path.iterdir())


def test_killed_parent_leaves_no_orphan(tmp_path: Path) -> None:
    proc, _ = _start_batch(tmp_path)
    proc.kill()
    proc.communicate(timeout=10)
    deadline = time.monotonic() + 5
    while not _group_gone(proc.pid):
        assert time.monotonic() < deadline, "workers outlived their killed parent"
        time.sleep(0.05)
    # they stopped through SIGTERM, so their half-written files went with them
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"out{i}.txt" for i in range(4)]


def test_sigterm_to_the_group_is_an_interruption(tmp_path: Path) -> None:
    proc, _ = _start_batch(tmp_path)
    os.killpg(proc.pid, signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 128 + signal.SIGTERM and err == ""
    assert out.strip().splitlines() == ["interrupted 4 of 8, 2 in flight"]
    assert _group_gone(proc.pid)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"out{i}.txt" for i in range(4)]


# ---------------------------------------------------------------- Dask


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    ) as cluster:
        yield cluster.scheduler_address


def test_dask_gives_the_same_records_as_the_local_workers(scheduler: str) -> None:
    local = _by_index(run(digest, ITEMS, jobs=2, timeout_s=30))
    remote = _by_index(run(digest, ITEMS, scheduler=scheduler, timeout_s=30))
    assert [(o.index, o.item, o.result, o.failure, o.reason) for o in remote] == [
        (o.index, o.item, o.result, o.failure, o.reason) for o in local
    ]
    assert [(o.result, o.failure) for o in remote] == [_expected(i) for i in ITEMS]


def test_dask_time_limit(scheduler: str) -> None:
    items = ["a", HANG, "bb", "ccc"]
    got = _by_index(run(digest, items, scheduler=scheduler, timeout_s=2))
    assert (got[1].failure, got[1].reason) == (Failure.TIMEOUT, "timed out after 2 s")
    assert [(o.result, o.failure) for i, o in enumerate(got) if i != 1] == [
        _expected(x) for i, x in enumerate(items) if i != 1
    ]


def test_unreachable_scheduler_is_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "CONNECT_TIMEOUT_S", 1.0)
    with pytest.raises(GainstagerError, match=r"127\.0\.0\.1:9: cannot reach the Dask scheduler"):
        list(run(digest, ["a"], scheduler="tcp://127.0.0.1:9"))


def test_engine_imports_neither_dask_nor_rich() -> None:
    code = (
        "import sys, gainstager.workers, gainstager.discover, gainstager.journal, gainstager.tempfiles; "
        "print(sorted(m for m in ('distributed', 'dask', 'rich') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_dask_ctrl_c_stops_the_running_items_too(scheduler: str, tmp_path: Path) -> None:
    proc, lines = _start_batch(tmp_path, scheduler)
    assert sorted(lines) == [f"done {i} out{i}.txt" for i in range(4)]
    start = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert time.monotonic() - start < 2.0 and proc.returncode == 130
    assert out.strip().splitlines()[-1] == "interrupted 4 of 8, 0 in flight" and "Traceback" not in err
    # on the cluster, the two slow writes are stopped (and unwind, removing their temporary files)
    deadline = time.monotonic() + 5
    while sorted(p.name for p in tmp_path.iterdir()) != [f"out{i}.txt" for i in range(4)]:
        assert time.monotonic() < deadline, sorted(p.name for p in tmp_path.iterdir())
        time.sleep(0.05)
