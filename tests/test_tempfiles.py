"""Litter from killed writers: after a kill -9 mid-write the next cleanup leaves no temporary file of ours,
and never removes a live writer's file or a file that is not exactly ours."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gainstager import tempfiles

REPO = Path(__file__).resolve().parent.parent
DAY_S = 24 * 3600


@pytest.fixture
def holders() -> Iterator[list[subprocess.Popen[str]]]:
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for p in procs:
        p.kill()
        p.wait()


def _hold(folder: Path, procs: list[subprocess.Popen[str]]) -> tuple[subprocess.Popen[str], Path]:
    """A writer process half-way through an atomic write in `folder`, and its temporary file."""
    p = subprocess.Popen(
        [sys.executable, "-m", "tests.worker_jobs", "hold", str(folder)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    procs.append(p)
    assert p.stdout is not None
    return p, Path(p.stdout.readline().strip())


def _age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_kill_9_mid_write_then_cleanup(tmp_path: Path, holders: list[subprocess.Popen[str]]) -> None:
    dead, dead_tmp = _hold(tmp_path, holders)
    live, live_tmp = _hold(tmp_path, holders)
    assert dead_tmp.parent == tmp_path and dead_tmp.read_bytes() == b"half"
    pattern = rf"\.gainstager-tmp\.[A-Za-z0-9-]+\.[0-9a-f]+\.{dead.pid}\.[0-9]+\.[0-9a-f]{{8}}\.tmp"
    assert re.fullmatch(pattern, dead_tmp.name)
    dead.send_signal(signal.SIGKILL)
    dead.wait()
    names = (".gainstager-notes.txt", "gainstager-tmp.x.tmp", "Song.rpp", dead_tmp.name + ".keep")
    users = [tmp_path / n for n in names]
    for u in users:
        u.write_bytes(b"mine")
        _age(u, 2 * DAY_S)
    (tmp_path / (dead_tmp.name[:-4] + ".d.tmp")).mkdir()  # a folder with almost our name: not a file
    assert tempfiles.remove_stale(str(tmp_path)) == (str(dead_tmp),)
    assert not dead_tmp.exists() and live_tmp.read_bytes() == b"half"
    assert all(u.read_bytes() == b"mine" for u in users)
    assert tempfiles.remove_stale(str(tmp_path)) == ()  # the live writer's file stays while it lives
    live.kill()
    live.wait()
    assert tempfiles.remove_stale(str(tmp_path)) == (str(live_tmp),)


def test_own_file_is_never_removed(tmp_path: Path) -> None:
    fd, tmp = tempfiles.create(str(tmp_path))
    os.close(fd)
    assert tempfiles.remove_stale(str(tmp_path)) == () and os.path.exists(tmp)
    assert os.stat(tmp).st_mode & 0o777 == 0o600


def _name(host: str, boot: str, pid: int, start: int) -> str:
    return f".gainstager-tmp.{host}.{boot}.{pid}.{start}.0123abcd.tmp"


def test_other_boot_other_host_reused_pid_and_old_names(tmp_path: Path) -> None:
    me = Path(tempfiles.create(str(tmp_path))[1]).name.split(".")
    host, boot, pid, start = me[2], me[3], int(me[4]), int(me[5])
    files = {
        "other boot": (_name(host, "f" * 32, pid, start), 0, boot != "0"),
        "pid reused": (_name(host, boot, pid, start + 1), 0, start != 0),
        "other host, fresh": (_name("elsewhere", boot, 1, 1), 0, False),
        "other host, old": (_name("elsewhere", boot, 2, 1), 2 * DAY_S, True),
        "mkstemp, fresh": (".gainstager-abcd_123.tmp", 0, False),
        "mkstemp, old": (".gainstager-abcd_124.tmp", 2 * DAY_S, True),
    }
    for name, age_s, _ in files.values():
        path = tmp_path / name
        path.write_bytes(b"x")
        _age(path, age_s)
    removed = {Path(p).name for p in tempfiles.remove_stale(str(tmp_path))}
    assert {what for what, (name, _, _) in files.items() if name in removed} == {
        what for what, (_, _, stale) in files.items() if stale
    }


def test_cleanup_once_per_folder(tmp_path: Path) -> None:
    old = tmp_path / ".gainstager-zzzz_999.tmp"
    old.write_bytes(b"x")
    _age(old, 2 * DAY_S)
    assert tempfiles.remove_stale_once(str(tmp_path)) == (str(old),)
    old.write_bytes(b"x")
    _age(old, 2 * DAY_S)
    assert tempfiles.remove_stale_once(str(tmp_path)) == ()  # this process listed that folder already
    assert tempfiles.remove_stale(str(tmp_path)) == (str(old),)
