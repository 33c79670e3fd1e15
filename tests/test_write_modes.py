"""Written sessions and backups keep the input's permission bits, and the rename reaches the disk (issue 7 §4)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from fixtures.rpp_factory import ItemSpec, TrackSpec, make_project
from gainstager import output
from gainstager.audio import write
from tests.conftest import cli


def session(tmp_path: Path, mode: int) -> Path:
    x = 0.05 * np.sin(2 * np.pi * 440 * np.arange(48000) / 48000)  # far under the target: a gain is planned
    write(str(tmp_path / "a.wav"), x[:, None].astype(np.float32), 48000, subtype="FLOAT")
    path = tmp_path / "song.rpp"
    path.write_bytes(make_project([TrackSpec("A", items=[ItemSpec("a.wav", length_s=1.0)])]))
    path.chmod(mode)
    return path


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o660])
def test_new_output_keeps_the_input_mode(tmp_path: Path, mode: int) -> None:
    path = session(tmp_path, mode)
    proc = cli("apply", str(path))
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "song.gainstaged.rpp"
    assert out.read_bytes() != path.read_bytes()
    assert mode_of(out) == mode


def test_in_place_keeps_the_mode_of_the_file_and_its_backup(tmp_path: Path) -> None:
    path = session(tmp_path, 0o640)
    original = path.read_bytes()
    proc = cli("apply", str(path), "--in-place")
    assert proc.returncode == 0, proc.stderr
    backup = tmp_path / "song.rpp.bak"
    assert backup.read_bytes() == original and path.read_bytes() != original
    assert (mode_of(path), mode_of(backup)) == (0o640, 0o640)


def test_an_existing_output_takes_the_input_mode(tmp_path: Path) -> None:
    path = session(tmp_path, 0o644)
    out = tmp_path / "out.rpp"
    out.write_bytes(b"old")
    out.chmod(0o600)
    assert cli("apply", str(path), "-o", str(out)).returncode == 0
    assert mode_of(out) == 0o644


def test_the_folder_is_fsynced_after_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[Path] = []
    real_fsync = os.fsync

    def record(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", record)
    target = tmp_path / "sub" / "x.rpp"
    target.parent.mkdir()
    output.write_atomic(str(target), b"data", mode=0o644)
    assert target.read_bytes() == b"data" and mode_of(target) == 0o644
    assert synced == [target.parent]
