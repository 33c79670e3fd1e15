"""REAPER files as they turn up in the real world (issue 7 §4): NUL padding after the project, unnamed
tracks, the project rate and whether it is forced, preserve-pitch playrates, freeze items, receives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fixtures.rpp_factory import ItemSpec, ProjectSpec, TrackSpec, make_project
from gainstager.audio import write
from gainstager.errors import FormatError, WriteError
from gainstager.model import ClipStatus, Edit, EditField, RateSource
from gainstager.parsers import rpp
from tests.conftest import CORPUS, assert_refused, cli


def corpus_or_skip(prefix: str) -> bytes:
    folder = CORPUS / "rpp"
    matches = sorted(folder.glob(f"{prefix}_*")) if folder.is_dir() else []
    if not matches:
        pytest.skip(f"{folder} not present")
    return matches[0].read_bytes()


def spliced_spans(before: bytes, after: bytes) -> list[tuple[bytes, bytes]]:
    """The (old, new) lines that differ; the line structure must be the same."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new)
    return [(a, b) for a, b in zip(old, new, strict=True) if a != b]


# ---------------------------------------------------------------- NUL bytes


@pytest.mark.parametrize("padding", [b"\x00", b"\x00" * 4096, b"\x00\r\n\x00\x00"])
def test_nul_padding_after_the_project_is_kept_byte_for_byte(padding: bytes) -> None:
    data = corpus_or_skip("01") + padding  # a real REAPER 6.13 project, padded like a REAPER 7 backup
    session, document = rpp.parse(data, "padded.rpp")
    assert rpp.apply(document, []) == data
    edits = [Edit(t.track_id, EditField.FADER, -3.0) for t in session.tracks]
    edits += [Edit(c.clip_id, EditField.CLIP_GAIN, 1.5) for c in session.clips if c.status is ClipStatus.ACTIVE]
    out = rpp.apply(document, edits)
    assert out.endswith(padding) and out[: -len(padding)].endswith(b">\r\n")
    changed = spliced_spans(data, out)
    assert len(changed) == len(edits)  # one line per edit, nothing else
    assert all(a.split()[0] == b.split()[0] and a.split()[0] in (b"VOLPAN", b"TAKEVOLPAN") for a, b in changed)
    again, _ = rpp.parse(out, "padded.rpp")
    assert [round(t.fader_db, 6) for t in again.tracks] == [-3.0] * len(session.tracks)


def test_apply_on_a_nul_padded_project_writes_the_padding_back(tmp_path: Path) -> None:
    x = 0.3 * np.sin(2 * np.pi * 440 * np.arange(48000) / 48000)
    write(str(tmp_path / "a.wav"), x[:, None].astype(np.float32), 48000, subtype="FLOAT")
    path = tmp_path / "song.rpp"
    path.write_bytes(make_project([TrackSpec("A", items=[ItemSpec("a.wav", length_s=1.0)])]) + b"\x00\x00")
    out = tmp_path / "out.rpp"
    proc = cli("apply", str(path), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    written = out.read_bytes()
    assert written.endswith(b">\r\n\x00\x00") and written != path.read_bytes()
    assert [a.split()[0] for a, _ in spliced_spans(path.read_bytes(), written)] == [b"VOLPAN", b"VOLPAN"]


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b'<REAPER_PROJECT 0.1 "7.27/x" 1\r\n  NAME "a\x00b"\r\n>\r\n', "NUL byte"),
        (b'<REAPER_PROJECT 0.1 "7.27/x" 1\r\n\x00\x00  <TRACK\r\n  >\r\n>\r\n', "NUL byte"),
        (b'<REAPER_PROJECT 0.1 "7.27/x" 1\r\n  <TRACK\r\n\x00\x00\x00', "truncated"),  # a save cut short
    ],
    ids=["in-a-line", "between-lines", "after-an-open-block"],
)
def test_a_nul_anywhere_else_is_refused(tmp_path: Path, data: bytes, what: str) -> None:
    with pytest.raises(FormatError, match=what):
        rpp.parse(data, "bad.rpp")
    bad = tmp_path / "bad.rpp"
    bad.write_bytes(data)
    assert_refused(cli("analyze", str(bad)), bad, what, data)


# ---------------------------------------------------------------- names, rates, playrates, freezes, sends


def test_unnamed_tracks_read_as_reaper_shows_them() -> None:
    data = make_project([TrackSpec("Drums"), TrackSpec(""), TrackSpec("Bass"), TrackSpec("")])
    session, _ = rpp.parse(data, "x.rpp")
    assert [t.name for t in session.tracks] == ["Drums", "Track 2", "Bass", "Track 4"]
    assert [t.track_id for t in session.tracks] == ["track:0", "track:1", "track:2", "track:3"]


@pytest.mark.parametrize(
    ("line", "rate", "source"),
    [
        (b"SAMPLERATE 44100 1 0", 44100, RateSource.FORCED),
        (b"SAMPLERATE 96000 0 0", 96000, RateSource.PROJECT),
        (b"SAMPLERATE 0 0 0", 48000, RateSource.DEFAULT),
        (None, 48000, RateSource.DEFAULT),
    ],
)
def test_project_rate_and_whether_it_is_forced(line: bytes | None, rate: int, source: RateSource) -> None:
    data = make_project(ProjectSpec([TrackSpec("A")], sample_rate_hz=48000))
    data = data.replace(b"SAMPLERATE 48000 0 0", line) if line else data.replace(b"  SAMPLERATE 48000 0 0\r\n", b"")
    session, _ = rpp.parse(data, "x.rpp")
    assert (session.sample_rate_hz, session.sample_rate_source) == (rate, source)


def test_preserve_pitch_makes_a_stretch() -> None:
    items = [ItemSpec("a.wav", playrate=0.5, preserve_pitch=keep) for keep in (True, False)]
    session, _ = rpp.parse(make_project([TrackSpec("A", items=items)]), "x.rpp")
    assert [(c.stretch, c.segments[0].rate) for c in session.clips] == [(True, 0.5), (False, 0.5)]


def test_freeze_items_are_measured_but_never_edited() -> None:
    track = TrackSpec(
        "Synth",
        frozen_items=[ItemSpec("", source="MIDI")],
        items=[ItemSpec("synth_freeze.wav", freeze=True)],
    )
    data = make_project([track])
    assert b"<FREEZE 0\r\n      <ITEM {" in data and b"FREEZE 0 4 0\r\n" in data  # as REAPER 7 writes them
    session, document = rpp.parse(data, "x.rpp")
    assert [(c.clip_id, c.status) for c in session.clips] == [
        ("track:0/item:0", ClipStatus.FREEZE_RENDER),
        ("track:0/frozen:0", ClipStatus.FROZEN),
    ]
    assert session.tracks[0].frozen
    with pytest.raises(WriteError, match="freeze-render"):
        rpp.apply(document, [Edit("track:0/item:0", EditField.CLIP_GAIN, -3.0)])


def test_freeze_renders_of_the_real_corpus() -> None:
    """File 19 (REAPER 6.81): four frozen tracks whose items carry FREEZE lines and play the freeze WAV."""
    session, _ = rpp.parse(corpus_or_skip("19"), "19.rpp")
    renders = [c for c in session.clips if c.status is ClipStatus.FREEZE_RENDER]
    assert renders and all(session.track(c.track_id).frozen for c in renders)
    assert all(c.media is not None and "_freeze_" in c.media.file_name for c in renders)
    assert not [c for c in session.clips if c.status is ClipStatus.ACTIVE and session.track(c.track_id).frozen]


def test_receives_count_as_sends_of_their_source_track() -> None:
    tracks = [TrackSpec("Dry"), TrackSpec("Other"), TrackSpec("Verb", receives=[0, 1, 0])]
    session, _ = rpp.parse(make_project(tracks), "x.rpp")
    assert [t.sends for t in session.tracks] == [2, 1, 0]
