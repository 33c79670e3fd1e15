"""Live's frozen tracks, warp modes and sends, as the parser reads them (issue 7 §1 and §3)."""

from __future__ import annotations

import gzip

import pytest

from fixtures import als_factory as f
from gainstager.errors import WriteError
from gainstager.model import ClipStatus, Edit, EditField
from gainstager.parsers import als
from tests.conftest import CORPUS


def render_clip() -> f.ClipSpec:
    """A freeze render as Live writes it: the original clip's place (beats 4-12), playing the render."""
    return f.ClipSpec(
        4.0,
        12.0,
        file_name="Freeze Synth [2025-01-01 120000].wav",
        loop_end=8.0,
        relative_dirs=("Samples", "Processed", "Freeze"),
    )


def frozen_set(version: int) -> bytes:
    tracks = [
        f.TrackSpec(10, "Synth", kind="midi", frozen=True, freeze_clips=(render_clip(),)),
        f.TrackSpec(11, "Audio", frozen=True, clips=(f.ClipSpec(0.0, 4.0),), freeze_clips=(render_clip(),)),
    ]
    return f.make_set(version, tracks)


@pytest.mark.parametrize("version", [9, 10, 11, 12])
def test_freeze_sequencer_clips_play_and_are_never_edited(version: int) -> None:
    session, document = als.parse(frozen_set(version), "/p/Song Project/song.als")
    status = {c.clip_id: c.status for c in session.clips}
    assert status == {
        "track:10/freeze:0": ClipStatus.FREEZE_RENDER,
        "track:11/clip:0": ClipStatus.FROZEN,
        "track:11/freeze:0": ClipStatus.FREEZE_RENDER,
    }
    render = next(c for c in session.clips if c.clip_id == "track:10/freeze:0")
    assert render.media is not None and render.media.file_name.startswith("Freeze Synth")
    assert render.timeline_start_s == pytest.approx(2.0) and render.timeline_end_s == pytest.approx(6.0)
    assert "gain not written" in render.note
    with pytest.raises(WriteError, match="track:10/freeze:0"):
        als.apply(document, [Edit("track:10/freeze:0", EditField.CLIP_GAIN, -3.0)])


def test_live_12_4_wraps_the_freeze_sequencer() -> None:
    """The 12.4 beta puts the freeze clips in FreezeSequencer/AudioSequencer (FORMAT-ALS.md §7)."""
    xml = gzip.decompress(frozen_set(12)).decode()
    xml = xml.replace("<FreezeSequencer>", '<FreezeSequencer>\n<AudioSequencer Id="0">')
    xml = xml.replace("</FreezeSequencer>", "</AudioSequencer>\n</FreezeSequencer>")
    session, _ = als.parse(xml.encode(), "song.als")
    assert [c.clip_id for c in session.clips if c.status is ClipStatus.FREEZE_RENDER] == [
        "track:10/freeze:0",
        "track:11/freeze:0",
    ]


def test_the_real_frozen_track_plays_its_freeze_clips_from_session_slots() -> None:
    """`L11.3.3_alstools_WithPlugins.als`: its frozen MIDI track holds two session clips; the FreezeSequencer
    holds one audio clip per slot, playing Samples/Processed/Freeze renders (reported, not summed)."""
    path = CORPUS / "als" / "L11.3.3_alstools_WithPlugins.als"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    session, _ = als.parse(path.read_bytes(), str(path))
    frozen = [t for t in session.tracks if t.frozen]
    assert [t.name for t in frozen] == ["10 Kick track Frozen"]
    renders = [c for c in session.clips if c.track_id == frozen[0].track_id and "/freeze:" in c.clip_id]
    assert [c.status for c in renders] == [ClipStatus.SESSION_VIEW, ClipStatus.SESSION_VIEW]
    assert all(c.media is not None and "Processed/Freeze" in c.media.written_path for c in renders)


@pytest.mark.parametrize(("mode", "stretch"), [(0, True), (1, True), (2, True), (3, False), (4, True), (6, True)])
def test_every_warp_mode_but_re_pitch_keeps_the_pitch(mode: int, stretch: bool) -> None:
    data = f.make_set(11, [f.TrackSpec(10, clips=(f.ClipSpec(0.0, 4.0, warp_mode=mode),))])
    session, _ = als.parse(data, "x.als")
    assert session.clips[0].stretch is stretch


def test_unwarped_clips_resample() -> None:
    clip = f.ClipSpec(0.0, 4.0, warped=False, warp_mode=0, pitch_coarse=12)
    session, _ = als.parse(f.make_set(11, [f.TrackSpec(10, clips=(clip,))]), "x.als")
    assert not session.clips[0].stretch and session.clips[0].segments[0].rate == pytest.approx(2.0)


def test_active_sends_are_counted() -> None:
    track = f.TrackSpec(10, sends=(0.5, 0.0003162277571, 1.0))  # the middle one is at -70 dB, Live's "off"
    session, _ = als.parse(f.make_set(12, [track, f.TrackSpec(30, "A", kind="return")]), "x.als")
    assert [t.sends for t in session.tracks] == [2, 0]
