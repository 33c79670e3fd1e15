"""Python warnings become report notes (gainstager/notices.py): none reaches the terminal as a Python warning, in
any command, batch workers included."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

from fixtures.scenario import Clip, Scenario, Track, build, media_folder
from gainstager.audio import write
from gainstager.notices import MAX_NOTES, recorded

REPO = Path(__file__).resolve().parent.parent
RATE = 48000


def test_recorded_keeps_one_line_per_distinct_warning_with_its_count() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # what a caller set outside does not matter inside
        with recorded() as notes:
            for _ in range(3):
                warnings.warn("divide by zero\nsecond line", RuntimeWarning, stacklevel=1)
            np.log(np.zeros(1))  # numpy's own RuntimeWarning, raised in C
            warnings.warn("x" * 500, UserWarning, stacklevel=1)
        assert notes == [
            "Python warning (RuntimeWarning): divide by zero (3 times)",
            "Python warning (RuntimeWarning): divide by zero encountered in log",
            f"Python warning (UserWarning): {'x' * 199}…",
        ]
        with pytest.raises(RuntimeWarning):  # the filters are back as they were
            warnings.warn("outside", RuntimeWarning, stacklevel=1)


def test_recorded_catches_other_threads_and_bounds_the_notes() -> None:
    def noisy(k: int) -> None:
        warnings.warn(f"kind {k}", RuntimeWarning, stacklevel=1)

    with recorded() as notes:
        threads = [threading.Thread(target=noisy, args=(k,)) for k in range(MAX_NOTES + 5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(notes) == MAX_NOTES + 1 and notes[-1] == "Python warnings: 5 more of other kinds"
    assert all(n.startswith("Python warning (RuntimeWarning): kind ") for n in notes[:-1])


# Loaded first in every Python process of the command line (its batch workers too, through PYTHONPATH): a
# warning while reading the session (outside any analysis), while planning (inside one) and while metering.
SITECUSTOMIZE = '''
import functools, warnings
import gainstager.files, gainstager.meters, gainstager.plan

def warning(text, fn):
    @functools.wraps(fn)
    def noisy(*args, **kwargs):
        warnings.warn(text, RuntimeWarning, stacklevel=1)
        return fn(*args, **kwargs)
    return noisy

gainstager.files.read_regular = warning("odd read", gainstager.files.read_regular)
gainstager.plan.plan = warning("odd plan", gainstager.plan.plan)
gainstager.meters.Meter.result = warning("odd meter", gainstager.meters.Meter.result)
'''
PYTHON_WARNING = re.compile(r"\w+Warning: |warnings\.warn\(")  # Python's own "file.py:12: RuntimeWarning: ..."


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    hooks = tmp_path / "hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hooks), str(REPO)])}
    env.pop("PYTHONWARNINGS", None)
    result = subprocess.run(
        [sys.executable, "-m", "gainstager", *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert not PYTHON_WARNING.search(result.stderr), result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_no_command_prints_a_python_warning(tmp_path: Path) -> None:
    x = 0.1 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE).astype(np.float32)
    write(str(media_folder(tmp_path / "a", "rpp") / "a.wav"), x[:, None], RATE, subtype="FLOAT")
    write(str(media_folder(tmp_path / "b", "als") / "a.wav"), x[:, None], RATE, subtype="FLOAT")
    scenario = Scenario((Track("Vox", clips=(Clip("a.wav", 0.0, 1.0),)),))
    sessions = [build(scenario, "rpp", 11, tmp_path / "a"), build(scenario, "als", 11, tmp_path / "b")]
    planned = "Python warning (RuntimeWarning): odd plan"
    read = "note: Python warning (RuntimeWarning): odd read"
    for command in ("analyze", "apply"):
        result = _run(tmp_path, command, str(sessions[0]), "--json")
        assert result.returncode == 0 and read in result.stderr.splitlines(), result.stderr
        assert planned in json.loads(result.stdout)["notes"]
    assert _run(tmp_path, "check", str(sessions[0]), "--json").returncode in (0, 1)
    batch = _run(tmp_path, "batch", str(tmp_path / "a"), str(tmp_path / "b"), "--json", "--jobs", "2", "--dry-run")
    assert batch.returncode == 0, batch.stderr
    reports = [s["report"] for s in json.loads(batch.stdout)["sessions"]]
    assert len(reports) == 2 and all(planned in r["notes"] for r in reports)  # analysed in worker processes
    audio = str(media_folder(tmp_path / "a", "rpp") / "a.wav")
    measured = _run(tmp_path, "measure", audio, "--json")
    assert measured.returncode == 0 and measured.stderr == ""
    assert json.loads(measured.stdout)["notes"] == ["Python warning (RuntimeWarning): odd meter"]
    table = _run(tmp_path, "measure", audio)
    assert table.stdout.splitlines()[-1] == "note: Python warning (RuntimeWarning): odd meter"
