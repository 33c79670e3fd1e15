"""The command line, mostly in-process (typer's CliRunner): exit codes, what goes to stdout and stderr, the JSON
documents against their published schemas, the text tables, measure, --strict, write failures, and Ctrl-C in a
real process."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import numpy as np
import numpy.typing as npt
import pytest
from typer.testing import CliRunner, Result

from fixtures.scenario import Clip, Scenario, Track, build, media_folder
from gainstager import schema
from gainstager.audio import write
from gainstager.cli import app

RATE = 48000


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def sine(path: Path, seconds: float, rms_dbfs: float, freq: float = 440.0) -> npt.NDArray[np.float32]:
    t = np.arange(int(seconds * RATE)) / RATE
    x: npt.NDArray[np.float32] = (np.sqrt(2) * 10 ** (rms_dbfs / 20) * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    write(str(path), x[:, None], RATE, subtype="FLOAT")
    return x


def song(root: Path, fmt: str = "rpp", *, missing: bool = False) -> Path:
    sine(media_folder(root, fmt) / "a.wav", 2.0, -30.0)
    clips = (Clip("a.wav", 0.0, 2.0), *((Clip("gone.wav", 3.0, 1.0),) if missing else ()))
    return build(Scenario((Track("Vox", clips=clips, fader_db=-2.0),)), fmt, 11, root)


def test_analyze_and_apply_json_follow_the_schema(tmp_path: Path) -> None:
    path = song(tmp_path)
    analyzed = run("analyze", str(path), "--json")
    assert analyzed.exit_code == 0 and analyzed.stderr == ""
    doc = json.loads(analyzed.stdout)
    jsonschema.validate(doc, schema.SESSION)
    assert "output" not in doc and doc["schema"] == schema.SCHEMA_VERSION
    applied = run("apply", str(path), "--json", "--target", "-20", "--peak-ceiling", "-3", "--headroom", "-1")
    assert applied.exit_code == 0, applied.stderr
    doc = json.loads(applied.stdout)
    jsonschema.validate(doc, schema.SESSION)
    assert doc["policy"] == {
        "meter": "rms",
        "target_db": -20.0,
        "peak_ceiling_db": -3.0,
        "per": "track",
        "faders": "keep",
        "headroom_db": -1.0,
        "max_boost_db": 24.0,
        "file": None,
    }
    (vox,) = doc["tracks"]  # without a policy file: no role, the global policy's target
    assert (vox["role"], vox["rule"], vox["meter"], vox["target_db"]) == (None, "no policy file: global", "rms", -20.0)
    assert doc["output"]["path"] == str(path.with_name("song.gainstaged.rpp")) and doc["output"]["changed"]
    assert doc["clips"][0]["new_clip_gain_db"] == pytest.approx(10.0, abs=0.02)  # -30 dBFS to -20


def test_batch_json_follows_the_schema(tmp_path: Path) -> None:
    song(tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "junk.rpp").write_bytes(b"<REAPER_PROJECT\n")
    result = run("batch", str(tmp_path), str(tmp_path / "nowhere"), "--json", "-j", "1")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, schema.BATCH)
    assert [s["ok"] for s in doc["sessions"]] == [True, False] and doc["failed"] == 2  # junk + missing path
    assert result.stderr.count("error:") == 2 and "nowhere" in result.stderr


def test_measure_json_and_table_read_the_file(tmp_path: Path) -> None:
    x = sine(tmp_path / "tone.wav", 3.0, -20.0)
    result = run("measure", str(tmp_path / "tone.wav"), "--json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, schema.MEASURE)
    (f,) = doc["files"]
    # independent reference: the direct formulas on the samples
    assert f["rms_dbfs"] == pytest.approx(10 * math.log10(np.mean(x.astype(np.float64) ** 2)), abs=1e-3)
    assert f["sample_peak_dbfs"] == pytest.approx(20 * math.log10(np.abs(x).max()), abs=1e-3)
    assert (f["sample_rate_hz"], f["channels"], f["duration_s"]) == (RATE, 1, 3.0)
    table = run("measure", str(tmp_path / "tone.wav"), str(tmp_path / "missing.wav"))
    assert table.exit_code == 1 and "missing.wav" in table.stderr
    header, rule, row = table.stdout.splitlines()
    columns = ["file", "Hz", "ch", "s", "peak", "TP", "RMS", "gRMS", "LUFS-I", "M max", "S max", "LRA"]
    assert [c.strip() for c in header.split("  ") if c.strip()] == columns
    assert set(rule.replace(" ", "")) == {"-"}
    cells = row.split()
    assert cells[1:4] == ["48000", "1", "3.00"] and cells[6] == "-20.0"  # RMS column, one decimal


def test_analyze_text_tables(tmp_path: Path) -> None:
    path = song(tmp_path, missing=True)
    result = run("analyze", str(path))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"{path}  (rpp, 7.27/linux-x86_64)"
    assert lines[1] == "policy: rms target -18 dB, ceiling -6 dBTP, per track, faders keep, headroom -6 dBFS"
    clip_header = lines[3].split()
    assert clip_header[:4] == ["track", "clip", "status", "level"]
    active = next(line for line in lines if "active" in line)
    assert "-30.0" in active and "+12.0" in active and "target" in active  # level, new gain, bound by
    missing = next(line for line in lines if "missing" in line)
    assert "media not found" in missing
    track = next(line for line in lines if line.startswith("Vox ") and "audio" in line)
    # role (none), level, target on its meter, fader, new fader, action
    assert track.split()[2:] == ["-", "-30.0", "-18.0", "rms", "-2.0", "-14.0", "fader"]
    assert lines[-2] == "clips: 1 active, 1 missing; 2 edits"
    assert lines[-1] == "regions: 1 measured, 0 from the cache"
    again = run("analyze", str(path)).stdout.splitlines()
    assert again[:-1] == lines[:-1] and again[-1] == "regions: 0 measured, 1 from the cache"


@pytest.mark.parametrize("fmt", ["rpp", "als"])
def test_strict_exits_3_when_audio_is_missing(tmp_path: Path, fmt: str) -> None:
    path = song(tmp_path, fmt, missing=True)
    assert run("analyze", str(path)).exit_code == 0
    assert run("analyze", str(path), "--strict").exit_code == 3
    assert run("apply", str(path), "--strict", "--dry-run").exit_code == 3
    assert run("batch", str(path), "--strict", "--dry-run").exit_code == 3
    complete = song(tmp_path / "complete", fmt)
    assert run("analyze", str(complete), "--strict").exit_code == 0


def test_write_failures_exit_1_and_write_nothing(tmp_path: Path) -> None:
    path = song(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    nowhere = run("apply", str(path), "-o", str(tmp_path / "no" / "such" / "dir" / "out.rpp"))
    assert nowhere.exit_code == 1 and "cannot write" in nowhere.stderr and nowhere.stdout == ""
    (tmp_path / "taken.rpp").mkdir()  # the output name is a folder
    folder = run("apply", str(path), "-o", str(tmp_path / "taken.rpp"))
    assert folder.exit_code == 1 and "taken.rpp" in folder.stderr and "Traceback" not in folder.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "taken.rpp"])
    assert list((tmp_path / "taken.rpp").iterdir()) == []  # no temporary file left behind


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    path = song(tmp_path)
    both = run("apply", str(path), "-o", str(tmp_path / "x.rpp"), "--in-place")
    assert both.exit_code == 2 and "not both" in both.stderr
    for option, value in (("--peak-ceiling", "1"), ("--headroom", "-61"), ("--max-boost", "49")):
        result = run("analyze", str(path), option, value)
        assert result.exit_code == 2 and "expected" in result.stderr and result.stdout == ""


def test_ctrl_c_exits_130_in_a_real_process(tmp_path: Path) -> None:
    """SIGINT while measuring (many long files): exit 130, 'interrupted' on stderr, no traceback."""
    rng = np.random.default_rng(5)
    noise = (0.1 * rng.standard_normal((RATE * 60, 2))).astype(np.float32)
    write(str(tmp_path / "long.wav"), noise, RATE, subtype="FLOAT")
    files = [str(tmp_path / "long.wav")] * 40
    proc = subprocess.Popen(
        [sys.executable, "-m", "gainstager", "measure", *files],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    time.sleep(2.0)  # imports done, measuring under way
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "interrupted" and "Traceback" not in err and out == ""
