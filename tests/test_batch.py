"""Batch over a generated archive, as a user runs it (real processes): discovery, resume, Ctrl-C, kill -9, the
per-session time limit, the litter of a killed writer, Dask, the summary and the progress bar.

The archive (fixtures/archive.py) has 200 small REAPER and Live projects with their DAWs' backups and a shared
library of 50 samples. One uninterrupted local run of it is the reference that the interrupted, resumed and
Dask runs must reproduce: the same output bytes and the same JSON, but for times and paths.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import soundfile as sf

from fixtures import rpp_factory
from fixtures.archive import Archive, make_archive
from gainstager import report, report_json, schema
from gainstager.batch import Batch, journal_settings
from gainstager.discover import discover
from gainstager.journal import JOURNAL_NAME, Identity, Journal, journal_path
from gainstager.policy_file import Policies
from tests.conftest import assert_local

REPO = Path(__file__).resolve().parent.parent
TEMPORARY = re.compile(r"\.gainstager-.*\.tmp")
RESUME_LINE = re.compile(r"(\d+) of (\d+) sessions done; run the same command again to resume")


# ---------------------------------------------------------------- helpers


def batch_command(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "gainstager", "batch", str(root), "--json", *args]


def run_batch(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(batch_command(root, *args), capture_output=True, text=True, cwd=REPO, timeout=600)


def start_batch(root: Path, *args: str) -> subprocess.Popen[str]:
    """The batch in its own process group (as a terminal's foreground job), SIGINT at its default."""
    return subprocess.Popen(
        batch_command(root, *args),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for_records(proc: subprocess.Popen[str], journal: Path, count: int) -> None:
    """Back once the journal holds `count` finished sessions (the batch still running)."""
    deadline = time.monotonic() + 120
    while not journal.exists() or journal.read_bytes().count(b"\n") - 1 < count:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the batch did not get that far"
        time.sleep(0.02)


def group_gone(pgid: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def tree(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under `root`: relative path -> (sha256, mtime in ns)."""
    return {
        str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def outputs(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.gainstaged.*"))}


def temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if TEMPORARY.fullmatch(p.name)]


def normal(doc: dict[str, Any], root: Path) -> dict[str, Any]:
    """A batch document without what differs from run to run: where the archive is, times, resumed flags, what
    this run measured, and what discovery skipped (a resumed run also skips the outputs of the first)."""
    out: dict[str, Any] = json.loads(json.dumps(doc).replace(str(root), "ARCHIVE"))
    del out["skipped"]
    for s in out["sessions"]:
        del s["duration_s"], s["resumed"]
    for key in ("wall_s", "processed", "resumed", "regions_measured", "regions_cached"):  # what this run did
        del out["totals"][key]
    return out


def copy_of(archive: Archive, dest: Path) -> Path:
    shutil.copytree(archive.root, dest, symlinks=True)
    return dest


def in_copy(archive: Archive, root: Path, path: Path) -> Path:
    return root / path.relative_to(archive.root)


def small_copy(archive: Archive, root: Path, projects: int) -> Path:
    """The library and the first `projects` projects of the archive, under `root`."""
    shutil.copytree(archive.root / "Library", root / "Library")
    for p in archive.sessions[:projects]:
        shutil.copytree(p.parent, in_copy(archive, root, p.parent))
    return root


def output_of(session: Path) -> Path:
    return session.with_name(f"{session.stem}.gainstaged{session.suffix}")


@dataclass(frozen=True)
class Reference:
    root: Path
    before: dict[str, tuple[str, int]]
    proc: subprocess.CompletedProcess[str]
    doc: dict[str, Any]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    """The pristine archive: tests work on copies of it."""
    return make_archive(tmp_path_factory.mktemp("pristine") / "archive")


@pytest.fixture(scope="module")
def reference(archive: Archive, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """One uninterrupted batch over a copy of the archive, on two local workers."""
    root = copy_of(archive, tmp_path_factory.mktemp("reference") / "archive")
    before = tree(root)
    proc = run_batch(root, "-j", "2")
    return Reference(root, before, proc, json.loads(proc.stdout))


def assert_same_results(root: Path, doc: dict[str, Any], ref: Reference) -> None:
    assert normal(doc, root) == normal(ref.doc, ref.root)
    assert outputs(root) == outputs(ref.root)


def sample_rms_dbfs(path: Path) -> float:
    """The independent reference: the direct formula on the samples as soundfile decodes them."""
    x = sf.read(str(path), dtype="float64")[0]
    return float(10 * np.log10(np.mean(x**2)))


# ---------------------------------------------------------------- the archive


def test_first_run_stages_every_project_and_leaves_the_backups_alone(archive: Archive, reference: Reference) -> None:
    ref = reference
    proc, doc, root = ref.proc, ref.doc, ref.root
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # nothing on a pipe but errors: no progress bar, no resume line
    jsonschema.validate(doc, schema.BATCH)
    sessions = [str(in_copy(archive, root, p)) for p in archive.sessions]
    assert [s["path"] for s in doc["sessions"]] == sessions
    assert {s["status"] for s in doc["sessions"]} == {"written"} and doc["failed"] == 0
    assert {s["format"] for s in doc["sessions"]} == {"rpp", "als"}
    skipped = {s["kind"]: s["count"] for s in doc["skipped"]}
    # 100 Live Backup/ folders; 100 REAPER *.rpp-bak beside the projects and 100 Backups/ folders
    assert skipped == {"live-backup": 100, "reaper-backup": 200, "project-info": 100}
    after = tree(root)
    written = {str(output_of(p).relative_to(archive.root)) for p in archive.sessions}
    assert set(after) == set(ref.before) | written | {JOURNAL_NAME}
    assert {k: v for k, v in after.items() if k in ref.before} == ref.before  # inputs, backups, samples untouched
    for p in archive.sessions:
        new = in_copy(archive, root, output_of(p))
        assert_local(p.suffix[1:], p.read_bytes(), new.read_bytes())  # only gains and faders changed
    levels = {s.name: sample_rms_dbfs(s) for s in archive.samples}
    for s in doc["sessions"]:
        for clip in s["report"]["clips"]:
            level = levels[Path(clip["file"]).name]
            assert clip["levels"]["rms_dbfs"] == pytest.approx(level, abs=0.01)
            if clip["bound_by"] == "target":  # the default target: -18 dBFS gated RMS (a steady tone's RMS)
                assert level + clip["new_clip_gain_db"] - clip["clip_gain_db"] == pytest.approx(-18.0, abs=0.02)


def test_second_run_processes_nothing_and_changes_no_byte(reference: Reference) -> None:
    root = reference.root
    before = tree(root)
    proc = run_batch(root)
    assert proc.returncode == 0 and proc.stderr == "resuming: 200 of 200 sessions already done\n"
    doc = json.loads(proc.stdout)
    jsonschema.validate(doc, schema.BATCH)
    assert (doc["totals"]["processed"], doc["totals"]["resumed"]) == (0, 200)
    assert all(s["resumed"] for s in doc["sessions"])
    skipped = {s["kind"]: s["count"] for s in doc["skipped"]}
    assert skipped == {"live-backup": 100, "reaper-backup": 200, "output": 200, "project-info": 100}
    assert normal(doc, root) == normal(reference.doc, root)
    assert tree(root) == before  # not one byte, not one mtime (the journal included)


def test_first_run_measures_each_sample_region_once(reference: Reference) -> None:
    """Every track plays one whole library sample: 50 regions, 600 clips. Issue 9's lasting cache counts the
    regions each run measured and took from the cache; the batch adds them up over its sessions."""
    totals = reference.doc["totals"]
    assert (totals["regions_measured"], totals["regions_cached"]) == (50, 600 - 50)


def test_a_session_changed_since_or_whose_output_went_is_done_again(archive: Archive, tmp_path: Path) -> None:
    root = small_copy(archive, tmp_path / "archive", 4)
    assert run_batch(root, "-j", "2").returncode == 0
    sessions = [in_copy(archive, root, p) for p in archive.sessions[:4]]
    edited = sessions[0]
    edited.write_bytes(edited.read_bytes().replace(b"MASTER_VOLUME 1 ", b"MASTER_VOLUME 0.9 "))
    output_of(sessions[1]).unlink()
    untouched = output_of(sessions[2]).stat().st_mtime_ns
    again = run_batch(root, "-j", "2")
    assert again.returncode == 0 and again.stderr == "resuming: 2 of 4 sessions already done\n"
    doc = json.loads(again.stdout)
    assert [s["resumed"] for s in doc["sessions"]] == [False, False, True, True]
    assert output_of(sessions[1]).exists() and output_of(sessions[2]).stat().st_mtime_ns == untouched
    restarted = run_batch(root, "-j", "2", "--restart")
    assert restarted.stderr == "" and json.loads(restarted.stdout)["totals"]["processed"] == 4


# ---------------------------------------------------------------- interrupted runs


@pytest.mark.parametrize("how", ["kill -9", "ctrl-c"])
def test_interrupted_batch_resumes_to_the_same_results(
    archive: Archive, reference: Reference, tmp_path: Path, how: str
) -> None:
    root = copy_of(archive, tmp_path / "archive")
    proc = start_batch(root, "-j", "2")
    wait_for_records(proc, root / JOURNAL_NAME, 60)
    start = time.monotonic()
    said = None
    if how == "kill -9":
        proc.kill()  # the batch process only: its workers notice and stop by themselves
        proc.communicate(timeout=10)
    else:
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal does: the whole foreground group
        out, err = proc.communicate(timeout=10)
        assert time.monotonic() - start < 2.0 and proc.returncode == 130
        assert out == "" and "Traceback" not in err
        (line,) = err.splitlines()
        m = RESUME_LINE.fullmatch(line)
        assert m is not None and int(m[2]) == 200, line
        said = int(m[1])
    assert group_gone(proc.pid)  # every worker stopped and reaped: no orphan
    assert temporaries(root) == []  # stopped workers removed their temporary files
    done = root.joinpath(JOURNAL_NAME).read_bytes().count(b"\n") - 1
    assert 60 <= done < 200 and said in (None, done)  # what Ctrl-C said is what was recorded
    resumed = run_batch(root, "-j", "2")
    assert resumed.returncode == 0
    assert resumed.stderr == f"resuming: {done} of 200 sessions already done\n"
    doc = json.loads(resumed.stdout)
    assert (doc["totals"]["processed"], doc["totals"]["resumed"]) == (200 - done, done)
    assert_same_results(root, doc, reference)
    assert temporaries(root) == []


def slow_session(folder: Path, name: str, media: Path, tracks: int) -> Path:
    """A REAPER project of `tracks` tracks, each playing 55 s of `media` from its own offset (so that no level
    is reused from a cache): several seconds of work."""
    items = [[rpp_factory.ItemSpec(str(media), 0.0, 55.0, soffs_s=0.25 * t)] for t in range(tracks)]
    spec = [rpp_factory.TrackSpec(f"T{t}", items[t]) for t in range(tracks)]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.rpp"
    path.write_bytes(rpp_factory.make_project(spec))
    return path


@pytest.fixture
def slow_folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(7)
    media = tmp_path / "media" / "take.wav"
    media.parent.mkdir()
    sf.write(str(media), (0.05 * rng.standard_normal(60 * 48000)).astype(np.float32), 48000, subtype="PCM_16")
    for name, tracks in (("a", 1), ("b", 1), ("c", 12), ("d", 12)):  # two quick ones, then two slow ones
        slow_session(tmp_path / "projects" / name, name, media, tracks)
    return tmp_path / "projects"


def test_ctrl_c_stops_slow_sessions_within_2_s_then_the_same_command_finishes(slow_folder: Path) -> None:
    proc = start_batch(slow_folder, "-j", "2")
    wait_for_records(proc, slow_folder / JOURNAL_NAME, 2)  # the quick ones: the slow ones are now under way
    time.sleep(0.5)
    start = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert time.monotonic() - start < 2.0
    assert proc.returncode == 130 and out == ""
    assert err.splitlines() == ["2 of 4 sessions done; run the same command again to resume"]  # no traceback
    assert group_gone(proc.pid)
    names = sorted(p.name for p in slow_folder.rglob("*") if p.is_file())  # no partial output, no temporary file
    assert names == sorted([JOURNAL_NAME, *(f"{n}.rpp" for n in "abcd"), "a.gainstaged.rpp", "b.gainstaged.rpp"])
    resumed = run_batch(slow_folder, "-j", "2")
    assert resumed.returncode == 0 and resumed.stderr == "resuming: 2 of 4 sessions already done\n"
    doc = json.loads(resumed.stdout)
    assert [(Path(s["path"]).stem, s["status"], s["resumed"]) for s in doc["sessions"]] == [
        ("a", "written", True),
        ("b", "written", True),
        ("c", "written", False),
        ("d", "written", False),
    ]


def test_hanging_session_times_out_and_the_others_are_staged(archive: Archive, tmp_path: Path) -> None:
    """The stuck project's first clip is a FIFO in its media folder (opening it blocks while the media layer
    opens FIFOs); its second loops a 1 s file for ten hours (minutes of work, for when FIFOs are refused)."""
    root = small_copy(archive, tmp_path / "archive", 4)
    stuck = root / "Projects" / "stuck"
    (stuck / "media").mkdir(parents=True)
    os.mkfifo(stuck / "media" / "hang.wav")
    shutil.copy(archive.samples[0], stuck / "media" / "loop.wav")
    tracks = [
        rpp_factory.TrackSpec("FIFO", [rpp_factory.ItemSpec("media/hang.wav", 0.0, 1.0)]),
        rpp_factory.TrackSpec("Endless", [rpp_factory.ItemSpec("media/loop.wav", 0.0, 36000.0, loop=True)]),
    ]
    (stuck / "stuck.rpp").write_bytes(rpp_factory.make_project(tracks))
    start = time.monotonic()
    proc = run_batch(root, "-j", "2", "--session-timeout", "5")
    assert time.monotonic() - start < 60
    assert proc.returncode == 1  # a session failed
    doc = json.loads(proc.stdout)
    jsonschema.validate(doc, schema.BATCH)
    status = {Path(s["path"]).stem: (s["status"], s["error"]) for s in doc["sessions"]}
    stuck_path = str(stuck / "stuck.rpp")
    assert status.pop("stuck") == ("timed-out", f"{stuck_path}: timed out after 5 s")
    assert set(status.values()) == {("written", None)} and len(status) == 4
    assert proc.stderr == f"error: {stuck_path}: timed out after 5 s\n"
    assert doc["failed"] == 1 and doc["totals"]["timed_out"] == 1
    # recorded: the same command does not wait for it again (a longer limit would try it again)
    again = run_batch(root, "-j", "2", "--session-timeout", "5")
    assert again.returncode == 1 and json.loads(again.stdout)["totals"]["processed"] == 0


def test_kill_9_mid_write_then_the_next_batch_leaves_no_temporary_file(archive: Archive, tmp_path: Path) -> None:
    root = small_copy(archive, tmp_path / "archive", 1)
    session = in_copy(archive, root, archive.sessions[0])
    folder = session.parent
    holder = subprocess.Popen(
        [sys.executable, "-m", "tests.worker_jobs", "hold", str(folder)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    litter = Path(holder.stdout.readline().strip())
    holder.kill()  # kill -9, half-way through an atomic write
    holder.wait()
    assert litter.parent == folder and litter.read_bytes() == b"half"
    proc = run_batch(root)
    assert proc.returncode == 0, proc.stderr
    assert temporaries(root) == [] and output_of(session).exists()


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Dask cluster on this machine, started as the README says (`dask scheduler`, then `dask worker` with two
    worker processes of one thread each), in processes of their own: its address."""
    pytest.importorskip("distributed")
    dask = str(Path(sys.executable).with_name("dask"))
    info = tmp_path_factory.mktemp("dask") / "scheduler.json"
    common = ["--scheduler-file", str(info), "--no-dashboard"]
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", *common], **_QUIET)]
    try:
        procs.append(subprocess.Popen([dask, "worker", "--nworkers", "2", "--nthreads", "1", *common], **_QUIET))
        deadline = time.monotonic() + 60
        while not info.exists() or not info.read_text().strip():
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "dask did not start"
            time.sleep(0.1)
        yield str(json.loads(info.read_text())["address"])
    finally:
        for p in reversed(procs):
            os.killpg(p.pid, signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


_QUIET: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}


def test_dask_cluster_gives_the_same_results_as_the_local_workers(
    archive: Archive, reference: Reference, tmp_path: Path, scheduler: str
) -> None:
    root = copy_of(archive, tmp_path / "archive")
    proc = run_batch(root, "--scheduler", scheduler)
    assert proc.returncode == 0, proc.stderr
    assert_same_results(root, json.loads(proc.stdout), reference)


# ---------------------------------------------------------------- options and output


def test_list_prints_the_sessions_and_the_skips_and_writes_nothing(archive: Archive) -> None:
    before = tree(archive.root)
    proc = subprocess.run(
        [sys.executable, "-m", "gainstager", "batch", str(archive.root), "--list"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == [str(p) for p in archive.sessions]
    assert proc.stderr.splitlines()[0] == "sessions found: 200"
    assert "skipped: 100 Live Backup/ folder" in proc.stderr and "skipped: 200 REAPER backup" in proc.stderr
    with_backups = subprocess.run(
        [sys.executable, "-m", "gainstager", "batch", str(archive.root), "--list", "--include-backups"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert sorted(with_backups.stdout.splitlines()) == sorted(str(p) for p in (*archive.sessions, *archive.backups))
    assert tree(archive.root) == before


def test_summary_table_totals_failures_and_skips(archive: Archive, tmp_path: Path) -> None:
    root = small_copy(archive, tmp_path / "archive", 2)
    junk = root / "Projects" / "junk" / "junk.rpp"
    junk.parent.mkdir()
    junk.write_bytes(b"<REAPER_PROJECT\n<TRACK\n")
    proc = subprocess.run(
        [sys.executable, "-m", "gainstager", "batch", str(root), "-j", "2"], capture_output=True, text=True, cwd=REPO
    )
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    spans = [(m.start(), m.end()) for m in re.finditer(r"-+", lines[1])]  # the rule under the header
    header, *rows = ([line[a:b].strip() for a, b in spans] for line in [lines[0], *lines[2:5]])
    assert header == ["session", "fmt", "status", "clips staged", "edits", "master pk", "after", "time"]
    by_name = {Path(row[0]).name: row for row in rows}
    assert set(by_name) == {"000 Mix.rpp", "001 Song.als", "junk.rpp"}
    assert by_name["000 Mix.rpp"][1:4] == ["rpp", "written", "3/3"]
    assert by_name["001 Song.als"][1:4] == ["als", "written", "3/3"]
    assert by_name["junk.rpp"][1:4] == ["-", "failed", ""]
    assert "3 sessions: 2 written, 1 failed" in lines
    assert any(line.startswith("clips staged: 6 of 6; edits: ") for line in lines)
    assert any(line.startswith("skipped: 1 Live Backup/ folder") for line in lines)
    assert lines[-2] == "failed: 1" and lines[-1].startswith(f"  {junk}:2: truncated file")
    assert proc.stderr.count("error:") == 1 and str(junk) in proc.stderr


def test_progress_bar_on_a_terminal_only(archive: Archive, tmp_path: Path) -> None:
    root = small_copy(archive, tmp_path / "archive", 4)
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gainstager", "batch", str(root), "-j", "2"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=follower,
        env={**os.environ, "TERM": "xterm", "COLUMNS": "120"},
        text=True,
    )
    os.close(follower)
    screen = bytearray()
    reader = threading.Thread(target=_drain, args=(leader, screen))
    reader.start()
    out, _ = proc.communicate(timeout=120)
    reader.join(10)
    assert proc.returncode == 0
    drawn = screen.decode(errors="replace")
    assert "sessions" in drawn and "clips measured" in drawn and "ETA" in drawn
    assert "\x1b[" not in out and out.splitlines()[0].startswith("session")  # the table alone on stdout


def _drain(fd: int, into: bytearray) -> None:
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        into.extend(chunk)
    os.close(fd)


def test_dry_run_records_nothing(archive: Archive, tmp_path: Path) -> None:
    root = small_copy(archive, tmp_path / "archive", 2)
    before = tree(root)
    proc = run_batch(root, "--dry-run", "-j", "1")
    assert proc.returncode == 0 and proc.stderr == ""
    assert {s["status"] for s in json.loads(proc.stdout)["sessions"]} == {"dry-run"}
    assert tree(root) == before  # no output, no journal: a dry run must not mark anything done


def test_a_timed_out_session_is_tried_again_under_a_longer_limit(archive: Archive, tmp_path: Path) -> None:
    root = small_copy(archive, tmp_path / "archive", 1)
    session = str(in_copy(archive, root, archive.sessions[0]))
    found = discover([str(root)])
    settings = journal_settings(Policies())
    timed_out = report.failed_item(session, f"{session}: timed out after 5 s", report.BatchStatus.TIMED_OUT, 5.01)
    with Journal.open(journal_path([str(root)]), settings) as j:
        j.record(Identity.of(session), report_json.batch_session_json(timed_out))
    for limit_s, reused in ((5.0, True), (4.0, True), (6.0, False), (None, False)):
        with Batch.open([str(root)], found, Policies(), timeout_s=limit_s) as b:
            assert ([i.status for i in b.resumed], b.todo) == (([timed_out.status], []) if reused else ([], [session]))
