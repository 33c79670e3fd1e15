"""What the formats share (parsers/base.py): the splice, the Windows path rules, and that both formats apply them
alike (a UNC path is absolute for REAPER and for Live)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from fixtures.als_factory import ClipSpec, TrackSpec, make_set
from fixtures.rpp_factory import ItemSpec, make_project
from fixtures.rpp_factory import TrackSpec as RppTrack
from gainstager.parsers import als, base, rpp


def test_splice_replaces_only_the_spans() -> None:
    data = b"0123456789"
    assert base.splice(data, [(7, 9, b"XYZ"), (1, 2, b"")]) == b"023456XYZ9"  # any order, any lengths
    assert base.splice(data, []) is data
    with pytest.raises(ValueError, match="overlaps"):
        base.splice(data, [(1, 5, b"a"), (4, 6, b"b")])


@pytest.mark.parametrize(
    ("path", "on_windows", "anywhere"),
    [
        ("C:\\Music\\a.wav", True, True),
        ("d:/Music/a.wav", True, True),
        ("\\\\server\\share\\a.wav", True, True),
        ("\\\\server\\share", True, True),
        ("/Users/me/a.wav", False, True),
        ("C:a.wav", False, False),  # drive-relative: not absolute anywhere
        ("Audio Files\\a.wav", False, False),
        ("a.wav", False, False),
    ],
)
def test_windows_path_rules(path: str, on_windows: bool, anywhere: bool) -> None:
    assert base.windows_absolute(path) is on_windows
    assert base.absolute(path) is anywhere


UNC = "\\\\server\\share\\Samples"


def test_a_unc_path_is_absolute_for_reaper() -> None:
    data = make_project([RppTrack("T", [ItemSpec(UNC + "\\a.wav")])])
    session, _ = rpp.parse(data, "/p/song.rpp")
    media = session.clips[0].media
    assert media is not None and media.candidate_paths[0] == UNC + "\\a.wav"


@pytest.mark.parametrize("version", [11, 12])
def test_a_unc_path_is_absolute_for_live(version: int) -> None:
    spec = replace(ClipSpec(0, 4, file_name="a.wav"), relative_path_type=0, relative_dirs=(), absolute_dir=UNC)
    session, _ = als.parse(make_set(version, [TrackSpec(1, clips=(spec,))]), "/p/Song Project/song.als")
    media = session.clips[0].media
    assert media is not None
    assert media.candidate_paths[-1] == f"{UNC}/a.wav"  # Live 11+ records the path as written (FileRef/Path)
    assert all(not p.startswith("/p/Song Project/\\\\") for p in media.candidate_paths)  # never joined to the set
