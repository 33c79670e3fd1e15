"""Finding a clip's audio (media.py), on model objects and files written here."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gainstager.audio import probe, write
from gainstager.media import MediaFinder, resolve_media
from gainstager.model import Clip, ClipStatus, Fingerprint, MediaRef, Segment, Session, Track, TrackKind
from gainstager.parsers import als, rpp

RATE = 48000


def noise(path: Path, seconds: float = 1.0, level: float = 0.1, seed: int = 1) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = (level * np.random.default_rng(seed).standard_normal((int(seconds * RATE), 1))).astype(np.float32)
    write(str(path), x, RATE, subtype="FLOAT")
    return x


def clip(media: MediaRef | None, clip_id: str = "c", *, start_s: float = 0.0, gain_db: float = 0.0) -> Clip:
    return Clip(clip_id, "t", clip_id, ClipStatus.ACTIVE, media, (Segment(start_s, 1.0, 0.0),), gain_db=gain_db)


def ref(
    name: str,
    candidates: tuple[str, ...] = (),
    roots: tuple[str, ...] = (),
    size_bytes: int | None = None,
    fingerprint: Fingerprint | None = None,
) -> MediaRef:
    return MediaRef(name, candidates, name, roots, size_bytes, fingerprint)


# ---------------------------------------------------------------- MediaFinder


def test_the_first_candidate_that_exists_wins_and_every_place_tried_is_listed(tmp_path: Path) -> None:
    noise(tmp_path / "b" / "x.wav")
    noise(tmp_path / "c" / "x.wav")
    candidates = tuple(str(tmp_path / d / "x.wav") for d in ("a", "b", "c"))
    path, tried = MediaFinder(rpp.confirms).find(clip(ref("x.wav", candidates)))
    assert path == candidates[1] and tried == candidates[:2]
    path, tried = MediaFinder(rpp.confirms).find(clip(ref("y.wav", candidates[:1], (str(tmp_path),))))
    assert path is None and tried == (candidates[0], os.path.join(str(tmp_path), "**", "y.wav"))
    assert MediaFinder(rpp.confirms).find(clip(None)) == (None, ())


def test_a_moved_file_is_found_by_name_under_the_search_roots(tmp_path: Path) -> None:
    moved = tmp_path / "Samples" / "Processed" / "Take.WAV"
    noise(moved)
    noise(tmp_path / ".hidden" / "take.wav")  # hidden folders are not searched
    path, _ = MediaFinder(rpp.confirms).find(clip(ref("take.wav", (str(tmp_path / "gone.wav"),), (str(tmp_path),))))
    assert path == str(moved)  # the name matches whatever its case


def test_size_and_fingerprint_confirm_a_file_found_by_name(tmp_path: Path) -> None:
    right = tmp_path / "b" / "vox.wav"
    noise(right, seed=1)
    noise(tmp_path / "a" / "vox.wav", seed=2)  # the same size, other content: found first, refused
    data = right.read_bytes()
    recorded = Fingerprint(16384, als.live_crc16(data))
    roots = (str(tmp_path),)
    found = ref("vox.wav", (), roots, size_bytes=len(data), fingerprint=recorded)
    path, _ = MediaFinder(als.confirms).find(clip(found))
    assert path == str(right)
    path, _ = MediaFinder(als.confirms).find(clip(ref("vox.wav", (), roots, size_bytes=len(data) + 1)))
    assert path is None  # no file of the recorded size


def test_directory_scans_are_cached_per_finder(tmp_path: Path) -> None:
    finder = MediaFinder(rpp.confirms)
    late = ref("late.wav", (), (str(tmp_path),))
    assert finder.find(clip(late))[0] is None
    noise(tmp_path / "sub" / "late.wav")
    assert finder.find(clip(late))[0] is None  # the folder was scanned once
    assert MediaFinder(rpp.confirms).find(clip(late))[0] == str(tmp_path / "sub" / "late.wav")


def _entries(folder: Path) -> int:
    """Every file and folder under `folder` (not itself), counted by os.walk: the reference for `visited`."""
    return sum(len(dirs) + len(files) for _, dirs, files in os.walk(folder))


def test_the_search_by_name_looks_in_audio_folders_first_and_stops_at_its_budget(tmp_path: Path) -> None:
    """A session saved among thousands of files: the search visits at most its budget of entries, finds what is
    in an audio folder (searched first, however deep), and says that it stopped for what it did not find."""
    project = tmp_path / "song"
    for k in range(1500):  # a big unrelated folder, shallower than the sample and first in name order
        (project / "aaa downloads" / f"j{k}.txt").parent.mkdir(parents=True, exist_ok=True)
        (project / "aaa downloads" / f"j{k}.txt").touch()
    noise(project / "Samples" / "Imported" / "Drums" / "take.wav")
    noise(project / "aaa downloads" / "late.wav")
    roots = (str(project),)
    gone = (str(project / "gone.wav"),)
    finder = MediaFinder(rpp.confirms, budget_entries=100)
    path, _ = finder.find(clip(ref("take.wav", gone, roots)))
    assert path == str(project / "Samples" / "Imported" / "Drums" / "take.wav")
    assert finder.visited == 100 < _entries(project)
    late = clip(ref("late.wav", gone, roots), "late")
    assert finder.find(late)[0] is None and finder.visited == 100  # the budget is the session's, spent once
    master = Track("master", "Master", TrackKind.MASTER)
    session = Session(str(project / "s.rpp"), "rpp", "7", (Track("t", "T", TrackKind.AUDIO),), (late,), master)
    (missing,) = resolve_media(session, finder)
    assert missing.clip.status is ClipStatus.MISSING
    assert "stopped early, after 100 folder entries" in missing.reason and str(project) in missing.reason
    whole = MediaFinder(rpp.confirms, budget_entries=10_000)
    assert whole.find(late)[0] == str(project / "aaa downloads" / "late.wav")
    assert late.media is not None and whole.visited == _entries(project) and whole.stopped_early(late.media) == ""


def test_a_folder_searched_under_one_root_is_not_searched_again_under_the_next(tmp_path: Path) -> None:
    """Live's roots are the set's folder, then its parent: the parent's search skips the set's folder."""
    project = tmp_path / "Song Project"
    noise(project / "Samples" / "a.wav")
    for k in range(20):
        (tmp_path / "other" / f"{k}.txt").parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "other" / f"{k}.txt").touch()
    finder = MediaFinder(rpp.confirms)
    assert finder.find(clip(ref("b.wav", (), (str(project), str(tmp_path)))))[0] is None
    assert finder.visited == _entries(tmp_path)  # every entry once


def test_resolve_media_probes_each_file_and_gives_every_skip_a_reason(tmp_path: Path) -> None:
    noise(tmp_path / "ok.wav")
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    clips = (
        clip(ref("ok.wav", (str(tmp_path / "ok.wav"),)), "a"),
        clip(ref("ok.wav", (str(tmp_path / "ok.wav"),)), "b"),
        clip(ref("bad.wav", (str(tmp_path / "bad.wav"),)), "c"),
        clip(ref("gone.wav", (str(tmp_path / "gone.wav"),)), "d"),
        Clip("e", "t", "e", ClipStatus.MUTED, None, ()),
    )
    master = Track("master", "Master", TrackKind.MASTER)
    session = Session(str(tmp_path / "s.rpp"), "rpp", "7", (Track("t", "T", TrackKind.AUDIO),), clips, master)
    media = resolve_media(session)
    assert [m.clip.status for m in media] == [
        ClipStatus.ACTIVE,
        ClipStatus.ACTIVE,
        ClipStatus.UNREADABLE,
        ClipStatus.MISSING,
        ClipStatus.MUTED,
    ]
    assert media[0].info == media[1].info == probe(str(tmp_path / "ok.wav"))
    assert "bad.wav" in media[2].reason and "media not found: gone.wav" in media[3].reason
    assert media[4].reason == "clip muted"
