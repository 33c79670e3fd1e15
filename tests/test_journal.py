"""The resume journal: what is done stays done across a kill -9, what changed is done again, and a journal
from other settings or a --restart is not reused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gainstager.errors import WriteError
from gainstager.journal import JOURNAL_NAME, Identity, Journal, JournalState, journal_path

REPO = Path(__file__).resolve().parent.parent
SETTINGS = {"policy": {"meter": "rms", "target_db": -18.0}, "version": "0.1.0"}


@pytest.fixture
def session(tmp_path: Path) -> Path:
    p = tmp_path / "Song.rpp"
    p.write_bytes(b"<REAPER_PROJECT\n>\n")
    return p


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_records_are_reused_when_nothing_changed(tmp_path: Path, session: Path) -> None:
    out = tmp_path / "Song.gainstaged.rpp"
    out.write_bytes(b"new")
    path = tmp_path / JOURNAL_NAME
    with Journal.open(str(path), SETTINGS) as j:
        assert j.state == JournalState.NEW and j.done(str(session)) is None
        j.record(Identity.of(str(session)), {"status": "written", "edits": (1, 2)}, outputs=[str(out)])
    header, record = _lines(path)
    assert header == {"tool": "gainstager", "schema": 1, "settings": SETTINGS}
    st = session.stat()
    assert record["input"] == {"path": str(session.resolve()), "size_bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
    with Journal.open(str(path), SETTINGS) as j:
        entry = j.done(str(session))
        assert j.state == JournalState.RESUMED and entry is not None
        assert entry.outcome == {"status": "written", "edits": [1, 2]}


def test_changed_input_or_output_is_done_again(tmp_path: Path, session: Path) -> None:
    out = tmp_path / "Song.gainstaged.rpp"
    out.write_bytes(b"new")
    path = str(tmp_path / JOURNAL_NAME)
    with Journal.open(path, SETTINGS) as j:
        j.record(Identity.of(str(session)), "ok", outputs=[str(out)])
    st = session.stat()
    os.utime(session, ns=(st.st_atime_ns, st.st_mtime_ns + 1))  # same size, touched
    with Journal.open(path, SETTINGS) as j:
        assert j.done(str(session)) is None
        j.record(Identity.of(str(session)), "again", outputs=[str(out)])
    with Journal.open(path, SETTINGS) as j:
        entry = j.done(str(session))
        assert entry is not None and entry.outcome == "again"  # the later record wins
    out.unlink()  # the user deleted the output: it must be made again
    with Journal.open(path, SETTINGS) as j:
        assert j.done(str(session)) is None


def test_other_settings_restart_and_junk_are_not_reused(tmp_path: Path, session: Path) -> None:
    path = tmp_path / JOURNAL_NAME
    with Journal.open(str(path), SETTINGS) as j:
        j.record(Identity.of(str(session)), "ok")
    other = {**SETTINGS, "policy": {"meter": "lufs", "target_db": -23.0}}
    with Journal.open(str(path), other) as j:
        assert j.state == JournalState.SETTINGS_CHANGED and j.done(str(session)) is None
    assert _lines(path) == [{"tool": "gainstager", "schema": 1, "settings": other}]  # replaced
    with Journal.open(str(path), other) as j:
        j.record(Identity.of(str(session)), "ok")
    with Journal.open(str(path), other, restart=True) as j:
        assert j.state == JournalState.RESTARTED and j.done(str(session)) is None
    assert len(_lines(path)) == 1
    path.write_bytes(b"not a journal\n")
    with Journal.open(str(path), SETTINGS) as j:
        assert j.state == JournalState.UNREADABLE
    assert _lines(path)[0]["tool"] == "gainstager"


def test_kill_9_while_appending_then_a_torn_line(tmp_path: Path, session: Path) -> None:
    path = tmp_path / JOURNAL_NAME
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.worker_jobs", "append", str(path), str(session)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "appending"
    time.sleep(0.3)
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    whole = [json.loads(line) for line in path.read_bytes().split(b"\n")[1:] if line.strip()]
    assert len(whole) > 1
    last = whole[-1]["outcome"]
    with path.open("ab") as f:  # what a power cut mid-write leaves: a line without its end
        f.write(b'{"input":{"path":"' + str(session).encode() + b'","size_')
    with Journal.open(str(path), {"policy": "test"}) as j:
        assert j.state == JournalState.RESUMED
        entry = j.done(str(session))
        assert entry is not None and entry.outcome == last
        j.record(Identity.of(str(session)), {"n": "after"})
    assert path.read_bytes().endswith(b"\n")
    assert _lines(path)[-1]["outcome"] == {"n": "after"}  # every line parses: the torn one was cut
    assert len(_lines(path)) == len(whole) + 2


def test_a_second_batch_on_the_same_journal_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / JOURNAL_NAME)
    with Journal.open(path, SETTINGS), pytest.raises(WriteError, match="another batch is running"):
        Journal.open(path, SETTINGS)
    Journal.open(path, SETTINGS).close()  # free again once the first one closed


def test_journal_path(tmp_path: Path) -> None:
    a, b = tmp_path / "b-root", tmp_path / "a-root"
    a.mkdir()
    b.mkdir()
    (a / "x.rpp").write_bytes(b"")
    assert journal_path([str(a), str(b)]) == journal_path([str(b), str(a)]) == str(b.resolve() / JOURNAL_NAME)
    assert journal_path([str(a / "x.rpp")]) == str(a.resolve() / JOURNAL_NAME)
    assert journal_path([str(a)], output_dir=str(tmp_path / "out")) == str(tmp_path / "out" / JOURNAL_NAME)


def test_unwritable_location_is_a_write_error(tmp_path: Path) -> None:
    with pytest.raises(WriteError, match="cannot open the batch journal"):
        Journal.open(str(tmp_path / "no" / "such" / JOURNAL_NAME), SETTINGS)
