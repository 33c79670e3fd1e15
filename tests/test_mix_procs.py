"""The mix on worker processes (`mix_procs`): the same results as one thread, and Ctrl-C stops every worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fixtures.rpp_factory import ItemSpec, ProjectSpec, TrackSpec, make_project
from gainstager import mix, mix_procs, pipeline, render, routing
from gainstager.audio import write
from gainstager.media import resolve_media
from tests.test_predict import POLICIES, session

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the mix uses processes on Linux only")


def test_two_processes_play_exactly_what_one_thread_plays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Folders, a resampled and a stretched clip, overlapping items, a muted track: every level, gain and the
    predicted master are the same to the last bit, whether the parts play on processes or all on one thread."""
    path = session(tmp_path)
    calls: list[int] = []
    run = mix_procs.run

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(len(args[1]))  # the parts
        return run(*args, **kwargs)

    monkeypatch.setattr(mix_procs, "run", counted)
    monkeypatch.setattr(mix_procs, "MIN_PLAYED_S", 0.0)  # a short session, played on processes all the same
    for policy in (POLICIES["keep"], POLICIES["unity-cut"]):
        one = pipeline.analyze(pipeline.load(str(path)), policy, threads=1)
        assert not calls  # one thread: no process
        two = pipeline.analyze(pipeline.load(str(path)), policy, threads=2)
        assert calls and all(n == 2 for n in calls)  # the first pass (and any re-render) on two processes
        calls.clear()
        assert repr(two) == repr(one)


def _children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_ctrl_c_stops_the_mix_and_its_workers(tmp_path: Path) -> None:
    """SIGINT to the process group, as a terminal sends it, while two workers play: exit 130 within 2 s, one line
    and no traceback, and no worker left running."""
    media = tmp_path / "media"
    media.mkdir()
    rng = np.random.default_rng(3)
    for k in range(6):  # 11 minutes of track audio: long enough for processes (`mix_procs.MIN_PLAYED_S`)
        write(str(media / f"t{k}.wav"), (0.1 * rng.standard_normal(48000 * 110)).astype(np.float32), 48000)
    tracks = [TrackSpec(f"T{k}", items=[ItemSpec(f"media/t{k}.wav", 0.0, 110.0)]) for k in range(6)]
    path = tmp_path / "long.rpp"
    path.write_bytes(make_project(ProjectSpec(tracks, sample_rate_hz=48000)))
    command = [sys.executable, "-m", "gainstager", "analyze", str(path), "--no-cache"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    workers: set[int] = set()
    deadline = time.monotonic() + 60
    while len(workers) < 2 and time.monotonic() < deadline and proc.poll() is None:
        workers = _children(proc.pid)
        time.sleep(0.02)
    assert len(workers) >= 2, "the workers never started"
    time.sleep(0.3)
    sent = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and time.monotonic() - sent < 2.0
    assert b"Traceback" not in err and len(err.decode().strip().splitlines()) <= 1
    time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers)


def test_a_short_mix_stays_on_threads() -> None:
    """Starting processes costs more than it gains on a short session; a long one, or a few blocks, not."""
    assert not mix_procs.worth_it(8, mix_procs.MIN_PLAYED_S / 2)
    assert mix_procs.worth_it(8, mix_procs.MIN_PLAYED_S) == sys.platform.startswith("linux")
    assert mix_procs.worth_it(500, mix_procs.MIN_PLAYED_S) == sys.platform.startswith("linux")  # slots per part
    assert not mix_procs.worth_it(0, 10 * mix_procs.MIN_PLAYED_S)
    on_a_thread: list[bool] = []  # e.g. a task of a Dask worker: never forks
    worker = threading.Thread(target=lambda: on_a_thread.append(mix_procs.worth_it(8, 10 * mix_procs.MIN_PLAYED_S)))
    worker.start()
    worker.join()
    assert on_a_thread == [False]


def test_the_parts_keep_each_top_level_subtree_whole() -> None:
    """A folder and everything under it play in one part; the parts are balanced by the frames they play."""
    path = Path(__file__).resolve().parent.parent / "fixtures" / "demo" / "demo.rpp"
    loaded = pipeline.load(str(path))
    session_ = loaded.session
    media = resolve_media(session_)
    playables = [render.Playable(m.clip, m.path, m.info, session_.sample_rate_hz) for m in media if m.info and m.path]
    r = routing.routing(session_, playables)
    parts = mix_procs.parts(r, 2)
    assert len(parts) == 2 and set().union(*parts) == set(r.order) and not parts[0] & parts[1]
    for t, parent in r.bus.items():
        if parent is not None:
            assert any(t in p and parent in p for p in parts)  # a child plays where its folder does


@pytest.mark.parametrize("tops", [3, 40, 129, 1000])
def test_the_master_sum_is_exact_in_any_grouping(tops: int) -> None:
    """`mix.fixed_sum` of top-level outputs spanning 240 dB, up to the +96 dBFS limit: the same bits however
    the tops are split into parts and in whatever order the parts are added, and within one grid step per top of
    the exact sum (Python's `math.fsum`, an independent exact summation)."""
    import math

    rng = np.random.default_rng(tops)
    count = 257
    levels = 10.0 ** rng.uniform(-12, 0, size=(tops, 1, 1))
    signal = (rng.standard_normal((tops, 2, count)) * levels).astype(np.float32)
    signal[0, 0, 5] = mix.FIXED_LIMIT
    scale = mix.fixed_scale(tops)
    outs = np.trunc(signal * np.float32(scale))  # as `_Mixer._master_sum` makes them: a power of two, then truncated
    whole = mix.fixed_sum(list(outs), count)
    assert whole is not None
    for cut in (1, tops // 3, tops - 1):
        first = mix.fixed_sum(list(outs[:cut]), count)
        second = mix.fixed_sum(list(outs[cut:][::-1]), count)
        assert first is not None and second is not None
        assert np.array_equal(second + first, whole) and np.array_equal(first + second, whole)
    for ch, i in [(0, 5), (1, 0), (0, 100), (1, 256)]:
        exact = math.fsum(signal[:, ch, i].astype(np.float64))
        assert abs(whole[ch, i] / scale - exact) <= tops / scale
    assert tops * mix.FIXED_LIMIT * scale <= 2.0**53  # every partial sum is an integer float64 holds exactly
