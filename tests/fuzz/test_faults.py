"""Faults no fuzzer reaches, each run on the real command line in child processes, on a project with audio:

* `kill -9` during `apply --in-place`, at 32 random moments and before every step of the write protocol:
  afterwards the session holds the original or the new bytes, a backup holds the original whenever the session
  changed, and no temporary or half-written file is left;
* a read-only output folder, and a full disk (RLIMIT_FSIZE): one line naming the file, exit 1, nothing written;
* two `apply --in-place` on one session at once: one wins, the other fails cleanly; never a mixed file or a lost
  backup;
* Ctrl-C (SIGINT to the process group, as a terminal sends it) during `batch`: exit 130, the sessions already
  written are complete, no partial file.
"""

from __future__ import annotations

import ctypes
import os
import random
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fixtures.rpp_factory import ItemSpec, ProjectSpec, TrackSpec, make_project
from tests.fuzz.generate import fixture_bases, wav_bytes

SEED = 20261128
KILLS = 32


MEDIA = {"media/a.wav", "media/b.wav", "media/c.wav"}


def project(folder: Path) -> Path:
    """The fuzz corpus's factory project (four tracks, loops, fades, an envelope) with its 16 kHz audio."""
    base = next(b for b in fixture_bases() if b.name == "fx-rpp")
    folder.mkdir(parents=True, exist_ok=True)
    for rel, content in base.files().items():
        assert isinstance(content, bytes)
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(content)
    return folder / base.session


def gainstager(
    *args: str, preexec: Callable[[], None] | None = None, new_session: bool = False
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gainstager", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec,
        start_new_session=new_session,
    )


def finish(proc: subprocess.Popen[str], timeout_s: float = 120.0) -> tuple[int, str]:
    """(exit code, stderr); a child still running after `timeout_s` is a hang: killed (with its group) and failed."""
    try:
        _, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        if os.getpgid(proc.pid) == proc.pid:  # a batch in its own session: its workers too
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
        proc.communicate()
        pytest.fail(f"{proc.args!r} still running after {timeout_s} s")
    return proc.returncode, err


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """(original, staged) bytes of the project: what a complete `apply` writes."""
    session = project(tmp_path_factory.mktemp("reference"))
    code, err = finish(gainstager("apply", str(session), "-o", str(session.with_name("staged.rpp"))))
    assert code == 0, err
    original, new = session.read_bytes(), session.with_name("staged.rpp").read_bytes()
    assert new != original  # the fixture is not staged yet: every fault below interrupts a real change
    return original, new


def files_in(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _unnamed_files(folder: Path) -> bool:
    """Whether `folder`'s file system makes unnamed files (O_TMPFILE), as write_atomic prefers."""
    try:
        os.close(os.open(folder, os.O_TMPFILE | os.O_RDWR, 0o600))
    except (AttributeError, OSError):
        return False
    return True


def assert_intact_after_crash(folder: Path, session: Path, original: bytes, new: bytes, media: set[str]) -> bool:
    """The session is the original or complete; a backup holds the original when it is not; nothing else, except
    (killed in the microseconds between link and rename) a complete temporary file, which the next run removes.
    Returns whether such a file was found."""
    found = files_in(folder)
    strays = {k for k in found if re.fullmatch(r"\.gainstager-.*\.tmp", k)}
    rest = set(found) - media - strays - {session.name}
    backup = f"{session.name}.bak"
    assert rest <= {backup}, f"stray files after the crash: {sorted(rest)}"
    assert found[session.name] in (original, new), "the session is neither the original nor the complete output"
    if found[session.name] == new:
        assert found.get(backup) == original, "the session changed but no backup holds the original"
    if backup in found:
        assert found[backup] == original, "a backup that is not the original"
    for stray in strays:
        # where the file system has no O_TMPFILE the temporary file is named from the start: it may be partial
        assert found[stray] in (original, new) or not _unnamed_files(folder), f"a half-written temporary: {stray}"
    if strays:
        code, err = finish(gainstager("apply", str(session), "--in-place"))
        assert code == 0 and not [p for p in folder.iterdir() if p.name in strays], err
    return bool(strays)


def test_kill_9_at_random_moments_during_apply_in_place(tmp_path: Path, staged: tuple[bytes, bytes]) -> None:
    original, new = staged
    media = MEDIA
    start = time.monotonic()
    code, err = finish(gainstager("apply", str(project(tmp_path / "timing")), "--in-place"))
    duration = time.monotonic() - start
    assert code == 0, err
    rng = random.Random(SEED)
    outcomes = set()
    for k in range(KILLS):
        folder = tmp_path / f"kill-{k}"
        session = project(folder)
        # half the moments anywhere in the run, half in its last fifth, where the backup and the session are written
        delay = rng.uniform(0.0, duration * 1.05) if k % 2 else rng.uniform(duration * 0.8, duration * 1.05)
        proc = gainstager("apply", str(session), "--in-place")
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        assert_intact_after_crash(folder, session, original, new, media)
        outcomes.add((session.read_bytes() == new, (folder / f"{session.name}.bak").exists()))
    # a later run finds no stale lock and finishes the job
    code, err = finish(gainstager("apply", str(session), "--in-place"))
    assert code == 0 and session.read_bytes() == new, err
    assert (False, False) in outcomes  # some kills came before anything was written


# Kill the child right before its n-th call of a write-protocol step (flock, fsync, fchmod, link, replace, unlink).
_KILL_AT_STEP = """
import fcntl, os, runpy, signal, sys
at, calls = int(sys.argv.pop(1)), [0]
def hook(module, name):
    real = getattr(module, name)
    def step(*args, **kwargs):
        calls[0] += 1
        if calls[0] == at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    setattr(module, name, step)
for module, name in ((fcntl, "flock"), (os, "fsync"), (os, "fchmod"), (os, "link"), (os, "replace"), (os, "unlink")):
    hook(module, name)
sys.argv = ["gainstager", *sys.argv[1:]]
runpy.run_module("gainstager", run_name="__main__")
"""


def test_kill_9_before_every_step_of_the_write(tmp_path: Path, staged: tuple[bytes, bytes]) -> None:
    original, new = staged
    strays = []
    for step in range(1, 30):
        folder = tmp_path / f"step-{step}"
        session = project(folder)
        proc = subprocess.run(
            [sys.executable, "-c", _KILL_AT_STEP, str(step), "apply", str(session), "--in-place"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if assert_intact_after_crash(folder, session, original, new, MEDIA):
            strays.append(step)
        if proc.returncode == 0:  # ran past its last step
            assert session.read_bytes() == new and step > 4
            # only a kill right before a rename (backup, then session) can leave a (complete) temporary file
            assert len(strays) <= 2 or not _unnamed_files(folder), strays
            return
        assert proc.returncode == -signal.SIGKILL, proc.stderr
    pytest.fail("apply never finished: more write steps than expected")


def _without_file_powers() -> None:
    """preexec for root: drop the capabilities that ignore file permissions (PR_CAPBSET_DROP before exec)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
        if libc.prctl(24, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _permissions_enforced(folder: Path) -> Callable[[], None] | None:
    """A preexec that makes `folder`'s 0555 mode bind the child, or skip when this machine cannot."""
    preexec = _without_file_powers if os.geteuid() == 0 else None
    try:
        probe = subprocess.run(
            [sys.executable, "-c", f"open({str(folder / 'probe')!r}, 'w')"], capture_output=True, preexec_fn=preexec
        )
    except (subprocess.SubprocessError, OSError):  # prctl refused (no CAP_SETPCAP)
        pytest.skip("cannot drop the powers that ignore file permissions; a read-only folder cannot be simulated")
    if probe.returncode == 0:
        (folder / "probe").unlink()
        pytest.skip("running with powers that ignore file permissions; a read-only folder cannot be simulated")
    return preexec


def assert_one_line_error(code: int, err: str, names: Path) -> None:
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and str(names) in lines[0] and "Traceback" not in err, err


def test_read_only_output_folder(tmp_path: Path) -> None:
    session = project(tmp_path / "in")
    before = files_in(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    preexec = _permissions_enforced(out)
    code, err = finish(gainstager("apply", str(session), "-o", str(out / "x.rpp"), preexec=preexec))
    assert_one_line_error(code, err, out / "x.rpp")
    assert "Permission denied" in err and list(out.iterdir()) == []
    (tmp_path / "in").chmod(0o555)  # in place: not even the backup can be written
    code, err = finish(gainstager("apply", str(session), "--in-place", preexec=preexec))
    assert_one_line_error(code, err, session)
    assert files_in(tmp_path / "in") == before
    (tmp_path / "in").chmod(0o755)
    out.chmod(0o755)


def test_full_disk_rlimit_fsize(tmp_path: Path, staged: tuple[bytes, bytes]) -> None:
    original, _ = staged
    limit = len(original) // 2

    def small_disk() -> None:  # SIGXFSZ is ignored by Python, so a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    session = project(tmp_path / "p")
    before = files_in(tmp_path / "p")
    out = tmp_path / "p" / "out.rpp"
    code, err = finish(gainstager("apply", str(session), "-o", str(out), preexec=small_disk))
    assert_one_line_error(code, err, out)
    assert "File too large" in err and files_in(tmp_path / "p") == before
    code, err = finish(gainstager("apply", str(session), "--in-place", preexec=small_disk))
    assert_one_line_error(code, err, session)
    assert files_in(tmp_path / "p") == before


def test_two_apply_in_place_at_once(tmp_path: Path, staged: tuple[bytes, bytes]) -> None:
    original, new = staged
    for round_ in range(6):
        folder = tmp_path / f"round-{round_}"
        session = project(folder)
        first = gainstager("apply", str(session), "--in-place")
        second = gainstager("apply", str(session), "--in-place")
        results = [finish(first), finish(second)]
        assert any(code == 0 for code, _ in results), results
        for code, err in results:
            if code:
                assert_one_line_error(code, err, session)
                assert "locked" in err or "changed on disk" in err, err
        found = files_in(folder)
        assert found[session.name] == new
        backups = {k: v for k, v in found.items() if k.startswith(f"{session.name}.bak")}
        assert original in backups.values() and set(backups.values()) <= {original, new}
        assert not [k for k in found if k.startswith(".gainstager-")]


def _slow_project(folder: Path, seconds: float) -> Path:
    """A session whose analysis takes a while: three tracks of `seconds` of 48 kHz noise."""
    rng = np.random.default_rng(3)
    media = folder / "media"
    media.mkdir(parents=True)
    for name in ("a", "b", "c"):
        (media / f"{name}.wav").write_bytes(
            wav_bytes((rng.standard_normal((int(seconds * 48000), 2)) * 0.05).astype(np.float32), 48000)
        )
    tracks = [TrackSpec(n, [ItemSpec(f"media/{n}.wav", 0.0, seconds)]) for n in ("a", "b", "c")]
    session = folder / "song.rpp"
    session.write_bytes(make_project(ProjectSpec(tracks=tracks)))
    return session


def test_ctrl_c_during_batch(tmp_path: Path) -> None:
    sessions = [_slow_project(tmp_path / "batch" / f"s{k:02d}", 6.0) for k in range(10)]
    originals = {s: s.read_bytes() for s in sessions}
    code, err = finish(gainstager("apply", str(sessions[0]), "-o", str(tmp_path / "reference.rpp")))
    assert code == 0, err
    reference = (tmp_path / "reference.rpp").read_bytes()
    proc = gainstager("batch", str(tmp_path / "batch"), "--jobs", "2", new_session=True)
    deadline = time.monotonic() + 120
    outputs = [s.with_name("song.gainstaged.rpp") for s in sessions]
    while not any(o.exists() for o in outputs) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group gets it
    code, err = finish(proc)
    written = [o for o in outputs if o.exists()]
    assert code == 130, err
    last = err.strip().splitlines()[-1]  # the batch says how far it got and how to go on
    assert "Traceback" not in err
    assert re.fullmatch(r"\d+ of 10 sessions done; run the same command again to resume", last), err
    assert 1 <= len(written) < len(sessions), "the interrupt must come while sessions were still running"
    for o in written:
        assert o.read_bytes() == reference  # complete, never half-written
    for s in sessions:
        assert s.read_bytes() == originals[s]
        assert {p.name for p in s.parent.iterdir()} <= {"song.rpp", "song.gainstaged.rpp", "media"}


def test_sigint_to_the_batch_process_alone_stops_it(tmp_path: Path) -> None:
    sessions = [_slow_project(tmp_path / f"s{k:02d}", 6.0) for k in range(10)]
    proc = gainstager("batch", str(tmp_path), "--jobs", "2")
    outputs = [s.with_name("song.gainstaged.rpp") for s in sessions]
    deadline = time.monotonic() + 120
    while not any(o.exists() for o in outputs) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    code, err = finish(proc)
    assert code == 130, err
    assert sum(o.exists() for o in outputs) < len(sessions), "every session ran to the end after the interrupt"
