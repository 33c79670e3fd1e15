"""End to end on every format and version: one DAW-neutral scenario (fixtures/scenario.py), built as each DAW
writes it, with generated audio of known level. Each test runs the real pipeline, then reads and measures the
written session again and checks the outcome in dB (against levels computed here from the signals' definition).

Format-only behaviour (REAPER loops, playrates and sections; Live warping, tempo maps and sample paths) is in
test_pipeline_rpp.py and test_pipeline_als.py.
"""

from __future__ import annotations

import gzip
import math
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fixtures.scenario import FORMAT_IDS, FORMATS, Clip, Scenario, Track, build, media_folder
from gainstager import pipeline
from gainstager.audio import write
from gainstager.model import Automation, ClipStatus, EditField
from gainstager.plan import Faders, Per, Policy
from tests.conftest import again, assert_local, post_fader_rms, stage

formats = pytest.mark.parametrize(("fmt", "version"), FORMATS, ids=FORMAT_IDS)
HALF_DB = 20 * math.log10(0.5)
NUMBER = re.compile(rb"-?\d+(?:\.\d+)?")


def rate_of(fmt: str, version: int) -> int:
    """Audio at 44.1 kHz for some sessions: the project (48 kHz) then resamples it."""
    return 44100 if (fmt, version) in (("als", 9), ("als", 11)) else 48000


def sine(
    path: Path, seconds: float, rms_dbfs: float, *, freq: float = 440.0, channels: int = 1, rate: int = 48000
) -> None:
    """A sine whose RMS (and gated RMS) is exactly rms_dbfs (whole cycles per second); float WAV, nothing is
    quantised."""
    t = np.arange(round(seconds * rate)) / rate
    x = np.sqrt(2) * 10 ** (rms_dbfs / 20) * np.sin(2 * np.pi * freq * t)
    write(str(path), np.repeat(x[:, None], channels, axis=1).astype(np.float32), rate, subtype="FLOAT")


def bursts(path: Path, seconds: float, rms_dbfs: float, seed: int = 1, rate: int = 48000) -> None:
    """Decaying noise bursts: a high crest factor, so the true-peak ceiling binds before the target."""
    rng = np.random.default_rng(seed)
    n, hit_len = int(seconds * rate), int(0.1 * rate)
    x = np.zeros(n)
    for start in range(0, n - hit_len, rate // 2):
        x[start : start + hit_len] += rng.standard_normal(hit_len) * np.exp(-np.arange(hit_len) / (0.01 * rate))
    x *= 10 ** (rms_dbfs / 20) / np.sqrt(np.mean(x**2))
    write(str(path), x[:, None].astype(np.float32), rate, subtype="FLOAT")


def xml_or_text(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def changed_number(old: bytes, new: bytes) -> tuple[float, float]:
    """The one number that differs between two versions of a line."""
    (pair,) = [(a, b) for a, b in zip(NUMBER.findall(old), NUMBER.findall(new), strict=True) if a != b]
    return float(pair[0]), float(pair[1])


def ids(a: pipeline.Analysis) -> dict[str, str]:
    return {t.name: t.track_id for t in a.session.tracks}


# ---------------------------------------------------------------- targets, faders, balance, headroom

THREE = Scenario(
    (
        Track("Quiet", clips=(Clip("quiet.wav", 0.0, 3.0),), fader_db=HALF_DB),
        Track("Hot", clips=(Clip("hot.wav", 0.0, 3.0, gain_db=HALF_DB),)),
        Track(
            "Mid",
            clips=(Clip("mid.wav", 1.0, 2.0), Clip("mid.wav", 3.5, 1.0, offset_s=1.0)),  # the second from 1 s in
            fader_db=20 * math.log10(1.25),
        ),
    )
)


def three_tracks(root: Path, fmt: str, version: int) -> Path:
    media, rate = media_folder(root, fmt), rate_of(fmt, version)
    sine(media / "quiet.wav", 3.0, -32.0, freq=220, rate=rate)
    sine(media / "hot.wav", 3.0, -20.0, freq=330, channels=2, rate=rate)
    sine(media / "mid.wav", 3.0, -24.0, freq=550, rate=rate)
    return build(THREE, fmt, version, root)


@formats
def test_clips_reach_the_target_and_faders_keep_the_balance(tmp_path: Path, fmt: str, version: int) -> None:
    path = three_tracks(tmp_path, fmt, version)
    before, out = stage(path)
    after = again(out)
    staged = [m.clip for m in after.media if m.clip.status == ClipStatus.ACTIVE]
    assert len(staged) == 4
    for cl in staged:
        assert after.clip_levels[cl.clip_id].gated_rms_dbfs == pytest.approx(-18.0, abs=0.1)
        assert before.plan.clips[cl.clip_id].bound_by == "target"
    # keep mode: every track's rendered post-fader sum is what it was (within 0.01 dB) ...
    b, c = post_fader_rms(before), post_fader_rms(after)
    assert b.keys() == c.keys() == {"Quiet", "Hot", "Mid"}
    for name in b:
        assert c[name] == pytest.approx(b[name], abs=0.01), name
    # ... because each fader moved opposite to its track's clip change
    old_tracks = {t.name: t for t in before.session.tracks}
    old_clips = {cl.clip_id: cl for cl in before.session.clips}
    for t in after.session.tracks:
        clip_change = [cl.gain_db - old_clips[cl.clip_id].gain_db for cl in after.session.clips_of(t.track_id)]
        assert t.fader_db - old_tracks[t.name].fader_db == pytest.approx(-clip_change[0], abs=0.001), t.name
    assert {t.name: t.fader_db for t in after.session.tracks} == pytest.approx(
        {"Quiet": HALF_DB - 14.0, "Hot": HALF_DB - 2.0, "Mid": 20 * math.log10(1.25) - 6.0}, abs=0.01
    )
    hot = after.session.clips_of(ids(after)["Hot"])[0]
    assert hot.gain_db == pytest.approx(2.0, abs=0.001)  # -6.02 dB clip gain + 8.02 dB
    # the master: the predicted peak holds the headroom, and the written session renders what was predicted
    assert before.master_peak_after_dbfs <= -6.0 + 1e-9
    assert after.master_peak_before_dbfs == pytest.approx(before.master_peak_after_dbfs, abs=0.02)
    # the written file: only the planned values differ (Live 9 keeps each fader's sentinel equal to Manual)
    changed = assert_local(fmt, path.read_bytes(), out.read_bytes())
    kinds = Counter(new.split()[0] for _, new in changed)
    if fmt == "rpp":
        assert kinds == {b"VOLPAN": 4 + 3}  # item VOLPAN (take 0 volume) and track VOLPAN
    else:
        assert kinds == {b"<SampleVolume": 4, b"<Manual": 3} | ({b"<FloatEvent": 3} if version == 9 else {})
    assert before.session.version.split(".")[0].endswith(str(version))
    assert after.edits == ()  # staging the result again changes nothing


@formats
def test_unity_faders(tmp_path: Path, fmt: str, version: int) -> None:
    policy = Policy(faders=Faders.UNITY)
    _, out = stage(three_tracks(tmp_path, fmt, version), policy)
    after = again(out, policy)
    assert [t.fader_db for t in after.session.tracks] == pytest.approx([0.0, 0.0, 0.0], abs=1e-6)
    assert len(after.clip_levels) == 4
    for lv in after.clip_levels.values():
        assert lv.gated_rms_dbfs == pytest.approx(-18.0, abs=0.1)
    assert after.edits == ()


@formats
def test_master_headroom_is_held(tmp_path: Path, fmt: str, version: int) -> None:
    tracks = []
    for i in range(6):
        sine(media_folder(tmp_path, fmt) / f"t{i}.wav", 2.0, -18.0, freq=200.0)  # in phase: the peaks add up
        tracks.append(Track(f"T{i}", clips=(Clip(f"t{i}.wav", 0.0, 2.0),)))
    policy = Policy(faders=Faders.UNITY)
    a, out = stage(build(Scenario(tuple(tracks)), fmt, version, tmp_path), policy)
    assert a.master_peak_before_dbfs > -6.0
    assert a.headroom_change_db < 0.0
    assert a.master_peak_after_dbfs == pytest.approx(-6.0, abs=0.01)
    rendered = again(out, policy)
    assert rendered.master_peak_before_dbfs == pytest.approx(a.master_peak_after_dbfs, abs=0.02)
    faders = [t.fader_db for t in rendered.session.tracks]
    assert max(faders) - min(faders) < 0.001  # the same cut on every track: the balance is kept
    assert faders[0] == pytest.approx(a.headroom_change_db, abs=0.001)


@formats
def test_peak_ceiling_binds_on_a_spiky_clip(tmp_path: Path, fmt: str, version: int) -> None:
    bursts(media_folder(tmp_path, fmt) / "snare.wav", 3.0, -30.0)
    a, out = stage(build(Scenario((Track("Snare", clips=(Clip("snare.wav", 0.0, 3.0),)),)), fmt, version, tmp_path))
    clip_id = a.session.clips[0].clip_id
    assert a.plan.clips[clip_id].bound_by == "peak-ceiling"
    after = again(out)
    assert after.clip_levels[clip_id].true_peak_dbtp == pytest.approx(-6.0, abs=0.05)
    assert after.clip_levels[clip_id].gated_rms_dbfs < -18.5


@formats
def test_per_clip_mode_levels_each_clip(tmp_path: Path, fmt: str, version: int) -> None:
    sine(media_folder(tmp_path, fmt) / "a.wav", 2.0, -30.0)
    sine(media_folder(tmp_path, fmt) / "b.wav", 2.0, -22.0, freq=300)
    song = Scenario((Track("Vox", clips=(Clip("a.wav", 0.0, 2.0), Clip("b.wav", 3.0, 2.0))),))
    policy = Policy(per=Per.CLIP)
    _, out = stage(build(song, fmt, version, tmp_path), policy)
    after = again(out, policy)
    assert [lv.gated_rms_dbfs for lv in after.clip_levels.values()] == pytest.approx([-18.0, -18.0], abs=0.1)


@pytest.mark.parametrize(("fmt", "version"), [("rpp", 7), ("als", 12)], ids=["rpp7", "als12"])
@pytest.mark.parametrize(
    "max_boost,bound,gain_db", [(24.0, "boost-cap", 24.0), (30.0, "range", 24.0), (12.0, "boost-cap", 12.0)]
)
def test_boost_cap_and_clip_gain_range(
    tmp_path: Path, fmt: str, version: int, max_boost: float, bound: str, gain_db: float
) -> None:
    """A clip 32 dB under the target: the boost cap binds, or the DAW's +24 dB clip gain maximum when the cap
    is higher; the fader still follows the clip change that was made."""
    sine(media_folder(tmp_path, fmt) / "faint.wav", 2.0, -50.0)
    path = build(Scenario((Track("Faint", clips=(Clip("faint.wav", 0.0, 2.0),)),)), fmt, version, tmp_path)
    policy = Policy(max_boost_db=max_boost)
    a, out = stage(path, policy)
    clip_id = a.session.clips[0].clip_id
    assert a.plan.clips[clip_id].bound_by == bound
    after = again(out, policy)
    assert after.session.clips[0].gain_db == pytest.approx(gain_db, abs=0.001)
    assert after.clip_levels[clip_id].gated_rms_dbfs == pytest.approx(-50.0 + gain_db, abs=0.05)
    assert after.session.tracks[0].fader_db == pytest.approx(-gain_db, abs=0.001)
    assert after.edits == ()


# ---------------------------------------------------------------- clips that are not staged


@formats
def test_missing_silent_and_unreadable_clips_are_listed_and_untouched(tmp_path: Path, fmt: str, version: int) -> None:
    media = media_folder(tmp_path, fmt)
    write(str(media / "silence.wav"), np.zeros((48000, 1), np.float32), 48000)
    (media / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    clips = (Clip("gone.wav", 0.0, 4.0), Clip("silence.wav", 5.0, 1.0), Clip("broken.wav", 7.0, 4.0))
    path = build(Scenario((Track("A", clips=clips),)), fmt, version, tmp_path)
    a, out = stage(path)
    assert [m.clip.status for m in a.media] == [ClipStatus.MISSING, ClipStatus.SILENT, ClipStatus.UNREADABLE]
    assert "gone.wav" in a.media[0].reason and "broken.wav" in a.media[2].reason
    assert a.edits == ()
    assert out.read_bytes() == path.read_bytes()  # nothing to change: the input, container bytes included


@formats
def test_a_missing_clip_and_its_fader_keep_their_values(tmp_path: Path, fmt: str, version: int) -> None:
    sine(media_folder(tmp_path, fmt) / "here.wav", 2.0, -24.0)
    song = Scenario(
        (
            Track("Here", clips=(Clip("here.wav", 0.0, 2.0),)),
            Track("Gone", clips=(Clip("gone.wav", 0.0, 2.0, gain_db=HALF_DB),), fader_db=20 * math.log10(0.8)),
        )
    )
    crlf = (fmt, version) not in (("als", 9), ("als", 11))  # LF and CRLF sessions alike keep their line ends
    path = build(song, fmt, version, tmp_path, crlf=crlf)
    a, out = stage(path)
    here, gone = (ids(a)[name] for name in ("Here", "Gone"))
    status = {m.clip.track_id: (m.clip.status, m.reason) for m in a.media}
    assert status[here][0] == ClipStatus.ACTIVE
    assert status[gone][0] == ClipStatus.MISSING and "gone.wav" in status[gone][1]
    assert {e.target_id for e in a.edits} == {a.session.clips_of(here)[0].clip_id, here}
    changed = assert_local(fmt, path.read_bytes(), out.read_bytes())
    assert len(changed) == 2 + (1 if (fmt, version) == ("als", 9) else 0)
    after = again(out)
    assert after.session.clips_of(gone)[0].gain_db == a.session.clips_of(gone)[0].gain_db
    assert after.session.track(gone).fader_db == a.session.track(gone).fader_db


# ---------------------------------------------------------------- automation and folders


@formats
def test_linear_volume_envelope_is_scaled(tmp_path: Path, fmt: str, version: int) -> None:
    """An overriding linear envelope: every point is scaled by the fader change; the fader, which does not
    play, is left alone."""
    sine(media_folder(tmp_path, fmt) / "pad.wav", 2.0, -30.0)
    pad = Track("Pad", clips=(Clip("pad.wav", 0.0, 2.0),), fader_db=HALF_DB, envelope=((1.0, 2 * HALF_DB), (2.0, 0.0)))
    path = build(Scenario((pad,)), fmt, version, tmp_path)
    a, out = stage(path)
    track = a.session.tracks[0]
    assert track.automation == Automation.LINEAR_ENVELOPE
    assert track.envelope_max_db == pytest.approx(0.0, abs=1e-9)
    assert track.fader_db == pytest.approx(HALF_DB, abs=1e-9)
    assert {e.field for e in a.edits} == {EditField.CLIP_GAIN, EditField.FADER_ENVELOPE}
    changed = assert_local(fmt, xml_or_text(path), xml_or_text(out))
    points = [changed_number(a, b) for a, b in changed if b.lstrip().startswith((b"PT ", b"<FloatEvent "))]
    # Live's envelope starts with its initial value (the fader's, 0.5) as a point of its own
    assert sorted(old for old, _ in points) == ([0.25, 0.5, 1.0] if fmt == "als" else [0.25, 1.0])
    for old, new in points:
        assert new == pytest.approx(old * 10 ** (-12 / 20), abs=5.1e-9)
    assert len(changed) == len(points) + 1  # and the clip gain; the fader, which does not play, keeps its bytes
    after = again(out)
    assert after.clip_levels[a.session.clips[0].clip_id].gated_rms_dbfs == pytest.approx(-18.0, abs=0.1)
    assert after.session.tracks[0].envelope_max_db == pytest.approx(-12.0, abs=0.001)
    assert after.session.tracks[0].fader_db == pytest.approx(track.fader_db, abs=1e-9)
    assert post_fader_rms(after)["Pad"] == pytest.approx(post_fader_rms(a)["Pad"], abs=0.01)
    assert after.edits == ()


GROUP = Scenario(
    (
        Track("Bus", folder=True, fader_db=HALF_DB),
        Track("Kick", clips=(Clip("kick.wav", 0.0, 2.0),), parent="Bus", fader_db=20 * math.log10(0.7)),
        Track("Bass", clips=(Clip("bass.wav", 0.0, 2.0),), parent="Bus"),
        Track("Vox", clips=(Clip("vox.wav", 0.0, 2.0),), fader_db=20 * math.log10(0.9)),
    )
)


def group_session(root: Path, fmt: str, version: int) -> Path:
    media = media_folder(root, fmt)
    sine(media / "kick.wav", 2.0, -26.0, freq=110)
    sine(media / "bass.wav", 2.0, -22.0, freq=165, channels=2)
    sine(media / "vox.wav", 2.0, -30.0, freq=660)
    return build(GROUP, fmt, version, root)


@formats
def test_folder_keep(tmp_path: Path, fmt: str, version: int) -> None:
    before, out = stage(group_session(tmp_path, fmt, version))
    by = ids(before)
    assert before.session.track(by["Kick"]).parent_id == by["Bus"]
    assert before.session.track(by["Bass"]).parent_id == by["Bus"]
    assert before.session.track(by["Vox"]).parent_id is None
    after = again(out)
    for lv in after.clip_levels.values():
        assert lv.gated_rms_dbfs == pytest.approx(-18.0, abs=0.1)
    assert after.session.track(by["Bus"]).fader_db == pytest.approx(HALF_DB, abs=1e-6)  # untouched
    b, c = post_fader_rms(before), post_fader_rms(after)
    assert b.keys() == {"Kick", "Bass", "Vox", "Bus"}  # the folder reads its children's sum
    for name in b:
        assert c[name] == pytest.approx(b[name], abs=0.01), name
    assert after.master_peak_before_dbfs == pytest.approx(before.master_peak_before_dbfs, abs=0.02)


@formats
def test_folder_unity(tmp_path: Path, fmt: str, version: int) -> None:
    policy = Policy(faders=Faders.UNITY)
    before, out = stage(group_session(tmp_path, fmt, version), policy)
    after = again(out, policy)
    cut = before.headroom_change_db  # the tracks feeding the master carry the headroom cut, if one was needed
    assert {t.name: t.fader_db for t in after.session.tracks} == pytest.approx(
        {"Bus": cut, "Kick": 0.0, "Bass": 0.0, "Vox": cut}, abs=1e-6
    )
    for lv in after.clip_levels.values():
        assert lv.gated_rms_dbfs == pytest.approx(-18.0, abs=0.1)
    assert before.master_peak_after_dbfs <= -6.0 + 1e-9
    assert after.master_peak_before_dbfs == pytest.approx(before.master_peak_after_dbfs, abs=0.02)
