"""Archive discovery on a generated tree laid out as Live and REAPER lay out projects, with the traps of a
real drive: backups, our own outputs, hidden folders, a symlink loop, a second link, a FIFO, a broken link."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from gainstager.discover import Discovery, SkipKind, discover

SUFFIXES = (".rpp", ".als")


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    root = tmp_path / "archive"
    live = root / "Song Project"
    _touch(live / "Song.als")
    _touch(live / "Song.gainstaged.als")
    _touch(live / "._Song.als")  # macOS resource fork on an exFAT drive
    _touch(live / "Backup" / "Song [2021-03-04 101112].als")
    _touch(live / "Backup" / "Song [2021-03-05 090000].als")
    _touch(live / "Ableton Project Info" / "Template.als")
    _touch(live / "Samples" / "Recorded" / "kick.wav")
    reaper = root / "Reaper" / "Mix"
    _touch(reaper / "Mix.RPP")
    _touch(reaper / "Mix.rpp-bak")
    _touch(reaper / "Mix.RPP-UNDO")
    _touch(reaper / "Backups" / "Mix-2020-01-01_1200.rpp-bak")
    _touch(reaper / "Mix.gainstaged.RPP")
    _touch(root / ".git" / "old.rpp")
    _touch(root / "Own Backup" / "Backup" / "Keep.Als")  # a user's folder called Backup: no set beside it
    os.mkfifo(root / "Reaper" / "pipe.rpp")
    (root / "loop").symlink_to(root)  # a loop back to the top
    (root / "Song again").symlink_to(live)  # a second way to the same project
    (root / "gone.als").symlink_to(root / "nowhere.als")
    external = tmp_path / "external"
    _touch(external / "Ext.rpp")
    (root / "ext").symlink_to(external)  # followed once
    return root


def _run(paths: list[str], **kw: bool) -> Discovery:
    """Discovery in a thread that must come back: a FIFO opened by mistake would block forever."""
    box: list[Discovery] = []
    t = threading.Thread(target=lambda: box.append(discover(paths, suffixes=SUFFIXES, **kw)), daemon=True)
    t.start()
    t.join(20)
    assert box, "discovery blocked (did it open the FIFO?)"
    return box[0]


def test_default_skips_backups_outputs_and_traps(archive: Path) -> None:
    d = _run([str(archive)])
    assert d.sessions == tuple(
        sorted(
            str(archive / p)
            for p in ("Song Project/Song.als", "Reaper/Mix/Mix.RPP", "Own Backup/Backup/Keep.Als", "ext/Ext.rpp")
        )
    )
    counts = {s.kind: s.count for s in d.skipped}
    assert counts == {
        SkipKind.LIVE_BACKUP: 1,
        SkipKind.REAPER_BACKUP: 2,  # Mix.rpp-bak and the Backups/ folder
        SkipKind.REAPER_UNDO: 1,
        SkipKind.OUTPUT: 2,
        SkipKind.PROJECT_INFO: 1,
        SkipKind.HIDDEN: 2,  # .git and ._Song.als
        SkipKind.REVISITED: 2,  # the loop, and the second link to Song Project
        SkipKind.NOT_REGULAR: 1,
        SkipKind.UNREADABLE: 1,  # the broken link
    }
    by_kind = {s.kind: s.examples for s in d.skipped}
    assert by_kind[SkipKind.LIVE_BACKUP] == (str(archive / "Song Project" / "Backup"),)
    assert by_kind[SkipKind.NOT_REGULAR] == (str(archive / "Reaper" / "pipe.rpp"),)
    assert set(by_kind[SkipKind.REVISITED]) == {str(archive / "loop"), str(archive / "Song again")}
    assert d.missing == ()
    assert d.count(SkipKind.OUTPUT) == 2 and d.count(SkipKind.LIVE_BACKUP) == 1
    assert _run([str(archive)]) == d  # deterministic


def test_include_backups_takes_them_but_never_undo_history(archive: Path) -> None:
    d = _run([str(archive)], include_backups=True)
    live, reaper = archive / "Song Project", archive / "Reaper" / "Mix"
    assert set(d.sessions) == {
        str(live / "Song.als"),
        str(live / "Backup" / "Song [2021-03-04 101112].als"),
        str(live / "Backup" / "Song [2021-03-05 090000].als"),
        str(reaper / "Mix.RPP"),
        str(reaper / "Mix.rpp-bak"),
        str(reaper / "Backups" / "Mix-2020-01-01_1200.rpp-bak"),
        str(archive / "Own Backup" / "Backup" / "Keep.Als"),
        str(archive / "ext" / "Ext.rpp"),
    }
    assert d.count(SkipKind.LIVE_BACKUP) == d.count(SkipKind.REAPER_BACKUP) == 0
    assert d.count(SkipKind.REAPER_UNDO) == 1


def test_files_named_directly(archive: Path, tmp_path: Path) -> None:
    reaper = archive / "Reaper"
    paths = [
        str(reaper / "Mix" / "Mix.RPP"),
        str(reaper / "Mix" / "Mix.gainstaged.RPP"),
        str(reaper / "pipe.rpp"),
        str(tmp_path / "absent.als"),
        str(archive / "Song again" / "Song.als"),
        str(archive / "Song Project" / "Song.als"),  # the same file twice: once
    ]
    d = _run(paths)
    assert d.sessions == (str(reaper / "Mix" / "Mix.RPP"), str(archive / "Song again" / "Song.als"))
    assert d.missing == (str(tmp_path / "absent.als"),)
    assert {s.kind: s.count for s in d.skipped} == {
        SkipKind.OUTPUT: 1,
        SkipKind.NOT_REGULAR: 1,
        SkipKind.REVISITED: 1,
    }


def test_a_backup_folder_named_as_a_root_is_walked(archive: Path) -> None:
    backup = archive / "Song Project" / "Backup"
    assert len(_run([str(backup)]).sessions) == 2


def test_unreadable_folder_is_counted_not_fatal(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every folder")
    locked = tmp_path / "locked"
    _touch(locked / "a.rpp")
    _touch(tmp_path / "b.rpp")
    locked.chmod(0)
    try:
        d = _run([str(tmp_path)])
    finally:
        locked.chmod(0o755)
    assert d.sessions == (str(tmp_path / "b.rpp"),) and d.count(SkipKind.UNREADABLE) == 1


def test_default_suffixes_come_from_the_parsers(archive: Path) -> None:
    assert discover([str(archive)]).sessions == _run([str(archive)]).sessions
