"""End to end on generated Ableton Live sets (Live 9, 10, 11, 12) with generated audio of known level.

Each test writes audio at exact levels into a Live project folder (``Song Project/Samples/Imported`` beside an
``Ableton Project Info`` folder, as Live lays projects out), builds a set with fixtures.als_factory, runs the real
pipeline (or the real CLI), then reads and measures the written set again and checks the outcome in dB.

Timing conventions of the factory: a warped clip's default warp markers are (beat 0, 0 s) and (beat 4, 2 s), a
120 BPM source; loop and marker values are clip beats for warped clips and source seconds for unwarped ones.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fixtures.als_factory import ClipSpec, TrackSpec, make_set
from fixtures.rpp_factory import ItemSpec, make_project
from fixtures.rpp_factory import TrackSpec as RppTrack
from gainstager import output, pipeline, render
from gainstager.audio import write
from gainstager.model import Automation, ClipStatus, Session
from gainstager.parsers import als
from gainstager.plan import Faders, Per, Policy
from tests.conftest import assert_refused, cli, invoke

VERSIONS = (9, 10, 11, 12)
EDITABLE = ("SampleVolume", "Manual", "FloatEvent")
PROJECT = "Song Project"


# ---------------------------------------------------------------- audio and sets


def samples(project: Path) -> Path:
    return project / "Samples" / "Imported"


def tone(
    path: Path, parts: Sequence[tuple[float, float]], *, freq: float = 440.0, channels: int = 1, rate: int
) -> None:
    """A sine made of (seconds, RMS dBFS) parts, each of exact RMS (an integer frequency fits whole cycles into
    every whole second); float WAV so nothing is quantised."""
    n = [round(seconds * rate) for seconds, _ in parts]
    t = np.arange(sum(n)) / rate
    amp = np.concatenate([np.full(k, np.sqrt(2) * 10 ** (db / 20)) for k, (_, db) in zip(n, parts, strict=True)])
    x = amp * np.sin(2 * np.pi * freq * t)
    path.parent.mkdir(parents=True, exist_ok=True)
    write(str(path), np.repeat(x[:, None], channels, axis=1).astype(np.float32), rate, subtype="FLOAT")


def sine(
    project: Path,
    name: str,
    seconds: float,
    rms_dbfs: float,
    *,
    freq: float = 440.0,
    channels: int = 1,
    rate: int = 48000,
) -> None:
    tone(samples(project) / name, [(seconds, rms_dbfs)], freq=freq, channels=channels, rate=rate)


def clip(project: Path, name: str, start_beat: float, beats: float, **kw: Any) -> ClipSpec:
    """An arrangement clip playing `name` from Samples/Imported (RelativePathType 3) from its start, unlooped,
    with the file's real size and CRC as Live records them (so the search fallback could confirm it)."""
    path = samples(project) / name
    spec = ClipSpec(float(start_beat), float(start_beat + beats), file_name=name, loop_end=float(beats))
    if path.is_file():
        spec = replace(spec, file_size=path.stat().st_size, crc=als.live_crc16(path.read_bytes()))
    return replace(spec, **kw)


def live_project(tmp_path: Path) -> Path:
    project = tmp_path / PROJECT
    (project / "Ableton Project Info").mkdir(parents=True)
    samples(project).mkdir(parents=True)
    return project


def live_set(
    project: Path,
    version: int,
    tracks: Sequence[TrackSpec],
    name: str = "song.als",
    *,
    tempo_bpm: float = 120.0,
    tempo_changes: Sequence[tuple[float, float]] = (),
    crlf: bool = False,
) -> Path:
    path = project / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(make_set(version, tracks, tempo_bpm=tempo_bpm, tempo_changes=tempo_changes, crlf=crlf))
    return path


def stage(path: Path, policy: Policy | None = None) -> tuple[pipeline.Analysis, Path]:
    a = pipeline.analyze(pipeline.load(str(path)), policy or Policy())
    out = path.with_name(f"{path.stem}.staged.als")
    output.write(a, output=str(out))
    return a, out


def again(path: Path, policy: Policy | None = None) -> pipeline.Analysis:
    return pipeline.analyze(pipeline.load(str(path)), policy or Policy())


def by_name(session: Session) -> dict[str, str]:
    return {t.name: t.track_id for t in session.tracks}


def post_fader_rms(a: pipeline.Analysis) -> dict[str, float]:
    """Each track's rendered pre-fader sum plus the fader that plays (an envelope at its highest point)."""
    return {
        t.name: a.track_levels[t.track_id].rms_dbfs + render.playing_fader_db(t)
        for t in a.session.tracks
        if t.track_id in a.track_levels
    }


def xml_of(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


def changed_lines(before: bytes, after: bytes) -> list[tuple[str, float, float]]:
    """(tag, old value, new value) of every line that differs; fails unless only a Value="…" attribute of a
    SampleVolume, Manual or FloatEvent element changed and every other byte is the same."""
    old, new = before.split(b"\n"), after.split(b"\n")
    assert len(old) == len(new)
    out = []
    value = re.compile(rb'Value="([^"]*)"')
    for a, b in zip(old, new, strict=True):
        if a == b:
            continue
        tag = re.match(rb"\s*<(\w+)", a)
        assert tag is not None and tag.group(1).decode() in EDITABLE, a
        assert value.sub(b'Value=""', a) == value.sub(b'Value=""', b), (a, b)
        va, vb = value.search(a), value.search(b)
        assert va is not None and vb is not None
        out.append((tag.group(1).decode(), float(va.group(1)), float(vb.group(1))))
    return out


def assert_gzip_like_live(path: Path) -> None:
    data = path.read_bytes()
    assert data[:3] == b"\x1f\x8b\x08"  # gzip, deflate
    assert data[3] == 0  # no file name or other optional fields
    assert data[4:8] == b"\x00\x00\x00\x00"  # mtime 0


# ---------------------------------------------------------------- targets, faders, balance, headroom


def three_tracks(tmp_path: Path, version: int) -> Path:
    project = live_project(tmp_path)
    rate = 44100 if version in (9, 11) else 48000
    sine(project, "quiet.wav", 3.0, -32.0, freq=220, rate=rate)
    sine(project, "hot.wav", 3.0, -20.0, freq=330, channels=2, rate=rate)
    sine(project, "mid.wav", 3.0, -24.0, freq=550, rate=rate)
    return live_set(
        project,
        version,
        [
            TrackSpec(10, "Quiet", volume=0.5, clips=(clip(project, "quiet.wav", 0, 6),)),
            TrackSpec(11, "Hot", clips=(clip(project, "hot.wav", 0, 6, sample_volume=0.5),)),  # clip gain -6 dB
            TrackSpec(
                12,
                "Mid",
                volume=1.25,
                clips=(  # the second clip starts 2 beats (1 s) into the file
                    clip(project, "mid.wav", 2, 4),
                    clip(project, "mid.wav", 7, 2, loop_start=2.0, loop_end=4.0),
                ),
            ),
        ],
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_clips_reach_the_target_and_faders_keep_the_balance(tmp_path: Path, version: int) -> None:
    path = three_tracks(tmp_path, version)
    before, out = stage(path)
    assert before.session.version.startswith(f"Ableton Live {version}.")
    after = again(out)
    staged = [m.clip for m in after.media if m.clip.status == ClipStatus.ACTIVE]
    assert [c.clip_id for c in staged] == ["track:10/clip:0", "track:11/clip:0", "track:12/clip:0", "track:12/clip:1"]
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
        {"Quiet": 20 * math.log10(0.5) - 14.0, "Hot": 20 * math.log10(0.5) - 2.0, "Mid": 20 * math.log10(1.25) - 6.0},
        abs=0.01,
    )
    # the master: the predicted peak holds the headroom, and the written set renders what was predicted
    assert before.master_peak_after_dbfs <= -6.0 + 1e-9
    assert after.master_peak_before_dbfs == pytest.approx(before.master_peak_after_dbfs, abs=0.02)
    # the written file: gzip like Live, and only the planned Value attributes differ
    assert_gzip_like_live(out)
    changes = changed_lines(xml_of(path), xml_of(out))
    assert sorted(tag for tag, _, _ in changes) == sorted(
        ["SampleVolume"] * 4 + ["Manual"] * 3 + (["FloatEvent"] * 3 if version == 9 else [])  # Live 9 sentinels
    )
    assert after.session.clips[1].gain_db == pytest.approx(2.0, abs=0.001)  # -6.02 dB clip gain + 8.02 dB
    assert after.edits == ()  # staging the result again changes nothing


@pytest.mark.parametrize("version", VERSIONS)
def test_unity_faders(tmp_path: Path, version: int) -> None:
    policy = Policy(faders=Faders.UNITY)
    _, out = stage(three_tracks(tmp_path, version), policy)
    after = again(out, policy)
    assert [t.fader_db for t in after.session.tracks] == pytest.approx([0.0, 0.0, 0.0], abs=1e-6)
    assert len(after.clip_levels) == 4
    for lv in after.clip_levels.values():
        assert lv.gated_rms_dbfs == pytest.approx(-18.0, abs=0.1)
    assert after.edits == ()


@pytest.mark.parametrize("version", VERSIONS)
def test_master_headroom_is_held(tmp_path: Path, version: int) -> None:
    project = live_project(tmp_path)
    tracks = []
    for i in range(6):
        sine(project, f"t{i}.wav", 2.0, -18.0, freq=200.0)  # in phase: the peaks add up on the master
        tracks.append(TrackSpec(10 + i, f"T{i}", clips=(clip(project, f"t{i}.wav", 0, 4),)))
    policy = Policy(faders=Faders.UNITY)
    a, out = stage(live_set(project, version, tracks), policy)
    assert a.master_peak_before_dbfs > -6.0
    assert a.headroom_change_db < 0.0
    assert a.master_peak_after_dbfs == pytest.approx(-6.0, abs=0.01)
    rendered = again(out, policy)
    assert rendered.master_peak_before_dbfs == pytest.approx(a.master_peak_after_dbfs, abs=0.02)
    faders = [t.fader_db for t in rendered.session.tracks]
    assert max(faders) - min(faders) < 0.001  # the same cut on every track: the balance is kept
    assert faders[0] == pytest.approx(a.headroom_change_db, abs=0.001)


@pytest.mark.parametrize("version", VERSIONS)
def test_fader_limit_of_plus_6_db_limits_the_clip_change(tmp_path: Path, version: int) -> None:
    """Keep mode on a clip 12 dB above the target: the fader would have to go to +12 dB (plain fader at 0 dB)
    or to +9 dB (an envelope peaking at +3 dB); Live stops at +6, so the clip comes down only as far as the
    fader can follow. (A -30 dB target keeps the master below the headroom, so no headroom cut interferes.)"""
    project = live_project(tmp_path)
    sine(project, "loud.wav", 2.0, -18.0)
    plus3 = 10 ** (3 / 20)
    path = live_set(
        project,
        version,
        [
            TrackSpec(10, "Plain", clips=(clip(project, "loud.wav", 0, 4),)),
            TrackSpec(
                11, "Auto", volume=0.5, volume_automation=((2.0, plus3),), clips=(clip(project, "loud.wav", 0, 4),)
            ),
        ],
    )
    policy = Policy(target_db=-30.0)
    a, out = stage(path, policy)
    assert a.headroom_change_db == 0.0
    ids = by_name(a.session)
    plain, auto = f"{ids['Plain']}/clip:0", f"{ids['Auto']}/clip:0"
    assert a.session.track(ids["Auto"]).automation == Automation.LINEAR_ENVELOPE
    assert a.plan.clips[plain].bound_by == "range" and a.plan.clips[auto].bound_by == "range"
    assert a.plan.clips[plain].new_gain_db == pytest.approx(-6.0, abs=1e-6)
    assert a.plan.clips[auto].new_gain_db == pytest.approx(-3.0, abs=1e-6)
    after = again(out, policy)
    assert after.clip_levels[plain].gated_rms_dbfs == pytest.approx(-24.0, abs=0.05)
    assert after.clip_levels[auto].gated_rms_dbfs == pytest.approx(-21.0, abs=0.05)
    assert after.session.track(ids["Plain"]).fader_db == pytest.approx(6.0, abs=0.001)
    assert after.session.track(ids["Auto"]).envelope_max_db == pytest.approx(6.0, abs=0.001)
    b, c = post_fader_rms(a), post_fader_rms(after)
    for name in b:
        assert c[name] == pytest.approx(b[name], abs=0.01), name


@pytest.mark.parametrize(
    "max_boost,bound,gain_db", [(24.0, "boost-cap", 24.0), (30.0, "range", 24.0), (12.0, "boost-cap", 12.0)]
)
def test_boost_cap_and_clip_gain_range(tmp_path: Path, max_boost: float, bound: str, gain_db: float) -> None:
    """A clip 32 dB under the target: the boost cap binds, or Live's +24 dB SampleVolume maximum when the cap
    is higher; the fader still follows the clip change that was made."""
    project = live_project(tmp_path)
    sine(project, "faint.wav", 2.0, -50.0)
    path = live_set(project, 12, [TrackSpec(10, "Faint", clips=(clip(project, "faint.wav", 0, 4),))])
    policy = Policy(max_boost_db=max_boost)
    a, out = stage(path, policy)
    assert a.plan.clips["track:10/clip:0"].bound_by == bound
    after = again(out, policy)
    assert after.session.clips[0].gain_db == pytest.approx(gain_db, abs=0.001)
    assert after.clip_levels["track:10/clip:0"].gated_rms_dbfs == pytest.approx(-50.0 + gain_db, abs=0.05)
    assert after.session.tracks[0].fader_db == pytest.approx(-gain_db, abs=0.001)
    assert after.edits == ()


def test_range_bound_clip_and_headroom_cut_restage_as_a_no_op(tmp_path: Path) -> None:
    """Keep mode, a clip 15 dB above the target on a fader at 0 dB: the clip comes down 6 dB (range), the
    fader goes to +6, and the master is then 3 dB over the headroom, so the fader comes down to about +3.
    Staging the written set again should change nothing."""
    project = live_project(tmp_path)
    sine(project, "loud.wav", 2.0, -3.0)
    a, out = stage(live_set(project, 12, [TrackSpec(10, "Loud", clips=(clip(project, "loud.wav", 0, 4),))]))
    assert a.plan.clips["track:10/clip:0"].bound_by == "range"
    assert a.headroom_change_db < -1.0
    after = again(out)
    assert after.master_peak_before_dbfs == pytest.approx(-6.0, abs=0.02)
    assert after.edits == ()


# ---------------------------------------------------------------- what a clip plays


@pytest.mark.parametrize("version", VERSIONS)
def test_warped_looped_and_unwarped_clips_play_the_right_source_seconds(tmp_path: Path, version: int) -> None:
    """A 2 s file, its first second at -20 dBFS and its second at -30: a clip that reads only the first second
    (whatever its length on the timeline) measures -20.0 exactly, one that reads further measures less."""
    project = live_project(tmp_path)
    rate = 44100
    tone(samples(project) / "steps.wav", [(1.0, -20.0), (1.0, -30.0)], rate=rate)
    tone(samples(project) / "one.wav", [(1.0, -20.0)], rate=rate)
    path = live_set(
        project,
        version,
        [
            TrackSpec(
                10,
                "Clips",
                clips=(
                    # warped, looped: the 1 s file (2 beats at its 120 BPM) looped over 6 beats (4 s at 90 BPM)
                    clip(project, "one.wav", 0, 6, loop_on=True, loop_end=2.0),
                    # warped, the loop region (the first second) shorter than the clip and the file
                    clip(project, "steps.wav", 8, 6, loop_on=True, loop_end=2.0),
                    # warped, unlooped, own warp markers: 3 clip beats are source 0-1 s (1.5 s by the default grid)
                    clip(project, "steps.wav", 16, 3, warp_markers=((0.0, 0.0), (3.0, 1.0))),
                    # unwarped, looped over source seconds 0-1
                    clip(project, "steps.wav", 20, 6, warped=False, loop_on=True, loop_start=0.0, loop_end=1.0),
                    # unwarped, unlooped: 1.5 s of source, a third of it at -30 dBFS
                    clip(project, "steps.wav", 28, 3 * 90 / 120, warped=False, loop_end=2.0),
                ),
            )
        ],
        tempo_bpm=90.0,
    )
    a = again(path)
    lv = [a.clip_levels[f"track:10/clip:{i}"] for i in range(5)]
    beat = 60 / 90
    assert [x.duration_s for x in lv] == pytest.approx([6 * beat, 6 * beat, 3 * beat, 6 * beat, 1.5], abs=1e-3)
    for x in lv[:4]:
        assert x.rms_dbfs == pytest.approx(-20.0, abs=0.02)
    want = 10 * math.log10((10 ** (-20 / 10) * 1.0 + 10 ** (-30 / 10) * 0.5) / 1.5)
    assert lv[4].rms_dbfs == pytest.approx(want, abs=0.02)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("ramp", [False, True], ids=["jump", "ramp"])
def test_tempo_automation(tmp_path: Path, version: int, ramp: bool) -> None:
    """A warped clip (120 BPM source, 4 s) over beats 4-12 while the tempo jumps 120 -> 90 at beat 8, or ramps
    120 -> 80 from beat 4 to 12: it plays exactly the 4 s of the file over the arrangement seconds the tempo
    map gives, and a second, unwarped clip plays source seconds at rate 1."""
    project = live_project(tmp_path)
    tone(samples(project) / "steps.wav", [(4.0, -20.0), (2.0, -30.0)], rate=48000)
    changes = ((4.0, 120.0), (12.0, 80.0)) if ramp else ((8.0, 120.0), (8.0, 90.0))
    path = live_set(
        project,
        version,
        [
            TrackSpec(10, "Warped", clips=(clip(project, "steps.wav", 4, 8),)),
            TrackSpec(11, "Unwarped", clips=(clip(project, "steps.wav", 4, 8, warped=False, loop_end=6.0),)),
        ],
        tempo_changes=changes,
    )
    # by hand: 120 BPM is 0.5 s a beat; a linear ramp from v0 by s BPM/beat takes 60/s * ln(1 + s*beats/v0)
    slope = (80.0 - 120.0) / 8.0
    seconds = 60.0 / slope * math.log1p(slope * 8.0 / 120.0) if ramp else 4 * 0.5 + 4 * 60.0 / 90.0
    a = again(path)
    warped, unwarped = a.clip_levels["track:10/clip:0"], a.clip_levels["track:11/clip:0"]
    clip_w = a.session.clips[0]
    assert clip_w.timeline_start_s == pytest.approx(2.0, abs=1e-9)
    assert warped.duration_s == pytest.approx(seconds, abs=1e-3)
    assert clip_w.timeline_end_s - clip_w.timeline_start_s == pytest.approx(seconds, abs=1e-6)
    assert sum(s.rate * s.duration_s for s in clip_w.segments) == pytest.approx(4.0, abs=1e-6)
    assert warped.rms_dbfs == pytest.approx(-20.0, abs=0.05)  # nothing of the -30 dBFS part after 4 s
    assert unwarped.duration_s == pytest.approx(seconds, abs=1e-3)
    extra = seconds - 4.0  # source seconds past the -20 dBFS part
    want = 10 * math.log10((10 ** (-20 / 10) * 4.0 + 10 ** (-30 / 10) * extra) / seconds)
    assert unwarped.rms_dbfs == pytest.approx(want, abs=0.02)


# ---------------------------------------------------------------- groups, automation, paths


def group_set(tmp_path: Path, version: int) -> Path:
    project = live_project(tmp_path)
    sine(project, "kick.wav", 2.0, -26.0, freq=110)
    sine(project, "bass.wav", 2.0, -22.0, freq=165, channels=2)
    sine(project, "vox.wav", 2.0, -30.0, freq=660)
    return live_set(
        project,
        version,
        [
            TrackSpec(20, "Bus", kind="group", volume=0.5),
            TrackSpec(21, "Kick", group_id=20, volume=0.7, clips=(clip(project, "kick.wav", 0, 4),)),
            TrackSpec(22, "Bass", group_id=20, clips=(clip(project, "bass.wav", 0, 4),)),
            TrackSpec(30, "Vox", volume=0.9, clips=(clip(project, "vox.wav", 0, 4),)),
        ],
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_group_track_keep(tmp_path: Path, version: int) -> None:
    before, out = stage(group_set(tmp_path, version))
    ids = by_name(before.session)
    assert before.session.track(ids["Kick"]).parent_id == ids["Bus"]
    assert before.session.track(ids["Bass"]).parent_id == ids["Bus"]
    after = again(out)
    for lv in after.clip_levels.values():
        assert lv.gated_rms_dbfs == pytest.approx(-18.0, abs=0.1)
    assert after.session.track(ids["Bus"]).fader_db == pytest.approx(20 * math.log10(0.5), abs=1e-6)  # untouched
    b, c = post_fader_rms(before), post_fader_rms(after)
    assert b.keys() == {"Kick", "Bass", "Vox"}
    for name in b:
        assert c[name] == pytest.approx(b[name], abs=0.01), name
    assert after.master_peak_before_dbfs == pytest.approx(before.master_peak_before_dbfs, abs=0.02)


@pytest.mark.parametrize("version", VERSIONS)
def test_group_track_unity(tmp_path: Path, version: int) -> None:
    policy = Policy(faders=Faders.UNITY)
    before, out = stage(group_set(tmp_path, version), policy)
    after = again(out, policy)
    assert {t.name: t.fader_db for t in after.session.tracks} == pytest.approx(
        {"Bus": 0.0, "Kick": 0.0, "Bass": 0.0, "Vox": 0.0}, abs=1e-6
    )
    for lv in after.clip_levels.values():
        assert lv.gated_rms_dbfs == pytest.approx(-18.0, abs=0.1)
    assert before.master_peak_after_dbfs <= -6.0 + 1e-9
    assert after.master_peak_before_dbfs == pytest.approx(before.master_peak_after_dbfs, abs=0.02)


@pytest.mark.parametrize("version", VERSIONS)
def test_automated_fader_envelope_is_scaled(tmp_path: Path, version: int) -> None:
    """Live 10-12 AutomationEnvelope / Live 9 Volume ArrangerAutomation: every event (the sentinel too) is
    scaled by the fader change; Manual, which Live ignores while automation plays, is left alone."""
    project = live_project(tmp_path)
    sine(project, "pad.wav", 2.0, -30.0)
    points = ((2.0, 0.25), (4.0, 1.0))
    path = live_set(
        project,
        version,
        [TrackSpec(10, "Pad", volume=0.5, volume_automation=points, clips=(clip(project, "pad.wav", 0, 4),))],
    )
    a, out = stage(path)
    track = a.session.track("track:10")
    assert track.automation == Automation.LINEAR_ENVELOPE
    assert track.envelope_max_db == pytest.approx(0.0, abs=1e-9)
    assert track.fader_db == pytest.approx(20 * math.log10(0.5), abs=1e-9)
    changes = changed_lines(xml_of(path), xml_of(out))
    factor = 10 ** (-12.0 / 20)
    events = [(old, new) for tag, old, new in changes if tag == "FloatEvent"]
    assert sorted(old for old, _ in events) == [0.25, 0.5, 1.0]  # the sentinel (0.5) and the two points
    for old, new in events:
        assert new == pytest.approx(old * factor, rel=1e-8)
    assert [tag for tag, _, _ in changes].count("Manual") == 0
    assert [tag for tag, _, _ in changes].count("SampleVolume") == 1
    after = again(out)
    assert after.clip_levels["track:10/clip:0"].gated_rms_dbfs == pytest.approx(-18.0, abs=0.1)
    assert after.session.track("track:10").envelope_max_db == pytest.approx(-12.0, abs=0.001)
    assert after.session.track("track:10").fader_db == pytest.approx(track.fader_db, abs=1e-9)
    assert post_fader_rms(after)["Pad"] == pytest.approx(post_fader_rms(a)["Pad"], abs=0.01)
    assert after.edits == ()


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("where", [".", "Sets"], ids=["set-in-project", "set-in-subfolder"])
def test_sample_in_project_imported_folder(tmp_path: Path, version: int, where: str) -> None:
    """RelativePathType 3: the path is relative to the project folder (the one holding Ableton Project Info),
    also for a set saved in a subfolder of the project; the absolute path Live recorded is elsewhere."""
    project = live_project(tmp_path)
    sine(project, "take.wav", 2.0, -27.0)
    spec = clip(project, "take.wav", 0, 4, relative_path_type=3, absolute_dir="/Volumes/Gone/Song Project/Samples")
    path = live_set(project, version, [TrackSpec(10, "Take", clips=(spec,))], name=f"{where}/song.als")
    a, out = stage(path)
    (m,) = a.media
    assert m.clip.status == ClipStatus.ACTIVE
    assert m.path is not None and Path(m.path).resolve() == (samples(project) / "take.wav").resolve()
    assert m.clip.media is not None  # Live <= 10 record it as a Windows path in Data (the factory's choice)
    assert m.clip.media.written_path.endswith("/Volumes/Gone/Song Project/Samples/take.wav")
    assert again(out).clip_levels["track:10/clip:0"].gated_rms_dbfs == pytest.approx(-18.0, abs=0.1)


@pytest.mark.parametrize("version", VERSIONS)
def test_missing_clip_is_listed_and_left_alone(tmp_path: Path, version: int) -> None:
    project = live_project(tmp_path)
    sine(project, "here.wav", 2.0, -24.0)
    path = live_set(
        project,
        version,
        [
            TrackSpec(10, "Here", clips=(clip(project, "here.wav", 0, 4),)),
            TrackSpec(11, "Gone", volume=0.8, clips=(clip(project, "gone.wav", 0, 4, sample_volume=0.5),)),
        ],
        crlf=version in (10, 12),  # a set saved on Windows: CRLF line ends are kept too
    )
    a, out = stage(path)
    status = {m.clip.clip_id: (m.clip.status, m.reason) for m in a.media}
    assert status["track:10/clip:0"][0] == ClipStatus.ACTIVE
    assert status["track:11/clip:0"][0] == ClipStatus.MISSING and "gone.wav" in status["track:11/clip:0"][1]
    assert {e.target_id for e in a.edits} == {"track:10/clip:0", "track:10"}
    changes = changed_lines(xml_of(path), xml_of(out))  # the missing clip's gain and its fader keep their bytes
    live9_sentinel = ["FloatEvent"] if version == 9 else []  # Live 9 keeps the Volume sentinel equal to Manual
    assert sorted(tag for tag, _, _ in changes) == sorted(["Manual", "SampleVolume", *live9_sentinel])
    assert all(old not in (0.5, 0.8) for _, old, _ in changes)
    assert xml_of(out).count(b"\r\n") == xml_of(path).count(b"\r\n")


@pytest.mark.parametrize("version", VERSIONS)
def test_clips_that_do_not_play_are_listed_and_untouched(tmp_path: Path, version: int) -> None:
    """A disabled clip, a session-view clip, a take-lane clip (Live 11+), a frozen track and a MIDI track are
    listed with their status; only the playing clip and its track's fader change."""
    project = live_project(tmp_path)
    sine(project, "a.wav", 2.0, -24.0)
    main = TrackSpec(
        10,
        "Main",
        clips=(
            clip(project, "a.wav", 0, 4),
            clip(project, "a.wav", 8, 4, disabled=True, sample_volume=0.7),
            clip(project, "a.wav", 0, 4, session=True, sample_volume=0.7),
        ),
        take_lane_clips=(clip(project, "a.wav", 0, 4, sample_volume=0.7),) if version >= 11 else (),
    )
    frozen = TrackSpec(11, "Frozen", frozen=True, volume=0.7, clips=(clip(project, "a.wav", 0, 4, sample_volume=0.7),))
    path = live_set(project, version, [main, frozen, TrackSpec(12, "Keys", kind="midi", volume=0.7)])
    a, out = stage(path)
    status = sorted(str(m.clip.status) for m in a.media)
    want = ["active", "frozen", "muted", "session-view", *(["take-lane"] if version >= 11 else [])]
    assert status == sorted(want)
    assert all(m.reason for m in a.media if m.clip.status != ClipStatus.ACTIVE)
    (active,) = (m.clip.clip_id for m in a.media if m.clip.status == ClipStatus.ACTIVE)
    assert {e.target_id for e in a.edits} == {active, "track:10"}
    changes = changed_lines(xml_of(path), xml_of(out))
    assert all(not math.isclose(old, 0.7) for _, old, _ in changes)
    assert len(changes) == (3 if version == 9 else 2)  # SampleVolume, Manual (and the Live 9 sentinel)


@pytest.mark.parametrize("version", [9, 12])
def test_moved_sample_is_found_by_name_size_and_crc(tmp_path: Path, version: int) -> None:
    """The sample is not where the set says (Samples/Imported) but in Samples/Processed; a file of the same
    name but other content sits in another folder. The search finds the one whose size and CRC Live recorded."""
    project = live_project(tmp_path)
    sine(project, "vox.wav", 2.0, -30.0)
    spec = clip(project, "vox.wav", 0, 4)
    moved = project / "Samples" / "Processed" / "vox.wav"
    moved.parent.mkdir(parents=True)
    (samples(project) / "vox.wav").rename(moved)
    tone(project / "Other" / "vox.wav", [(2.0, -10.0)], freq=300, rate=48000)  # the same size, another CRC
    assert (project / "Other" / "vox.wav").stat().st_size == moved.stat().st_size
    a, out = stage(live_set(project, version, [TrackSpec(10, "Vox", clips=(spec,))]))
    assert a.media[0].path == str(moved)
    assert a.clip_levels["track:10/clip:0"].gated_rms_dbfs == pytest.approx(-30.0, abs=0.02)
    assert again(out).clip_levels["track:10/clip:0"].gated_rms_dbfs == pytest.approx(-18.0, abs=0.1)


@pytest.mark.parametrize("version", VERSIONS)
def test_only_missing_clips_writes_the_set_unchanged(tmp_path: Path, version: int) -> None:
    """Nothing to change: the output is the input, decompressed XML and gzip container alike (regression:
    the writer used to re-gzip, and the pipeline refused its own no-op output)."""
    project = live_project(tmp_path)
    path = live_set(project, version, [TrackSpec(10, "Gone", clips=(clip(project, "gone.wav", 0, 4),))])
    a, out = stage(path)
    assert [m.clip.status for m in a.media] == [ClipStatus.MISSING]
    assert a.edits == ()
    assert xml_of(out) == xml_of(path)
    assert out.read_bytes() == path.read_bytes()


def test_cli_batch_leaves_an_unchanged_live_set_alone(tmp_path: Path) -> None:
    project = live_project(tmp_path)
    live_set(project, 11, [TrackSpec(10, "Gone", clips=(clip(project, "gone.wav", 0, 4),))])
    proc = invoke("batch", str(tmp_path), "--json", "-j", "1")
    assert proc.returncode == 0, proc.stderr
    (session,) = json.loads(proc.stdout)["sessions"]
    assert session["ok"] and session["report"]["clips"][0]["status"] == "missing"
    assert session["report"]["output"]["changed"] is False
    assert not (project / "song.gainstaged.als").exists()


def test_per_clip_mode(tmp_path: Path) -> None:
    project = live_project(tmp_path)
    sine(project, "a.wav", 2.0, -30.0)
    sine(project, "b.wav", 2.0, -22.0, freq=300)
    path = live_set(
        project, 11, [TrackSpec(10, "Vox", clips=(clip(project, "a.wav", 0, 4), clip(project, "b.wav", 6, 4)))]
    )
    policy = Policy(per=Per.CLIP)
    _, out = stage(path, policy)
    after = again(out, policy)
    assert [lv.gated_rms_dbfs for lv in after.clip_levels.values()] == pytest.approx([-18.0, -18.0], abs=0.1)


# ---------------------------------------------------------------- the command line


def test_cli_batch_handles_live_and_reaper_sessions(tmp_path: Path) -> None:
    project = live_project(tmp_path / "live")
    sine(project, "quiet.wav", 2.0, -30.0)
    live_set(project, 12, [TrackSpec(10, "Quiet", clips=(clip(project, "quiet.wav", 0, 4),))])
    reaper = tmp_path / "reaper"
    tone(reaper / "media" / "hot.wav", [(2.0, -12.0)], rate=48000)
    (reaper / "mix.rpp").write_bytes(make_project([RppTrack("Hot", [ItemSpec("media/hot.wav", 0.0, 2.0)])]))
    proc = cli("batch", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    formats = {Path(s["path"]).name: s["report"]["session"]["format"] for s in doc["sessions"]}
    assert formats == {"song.als": "als", "mix.rpp": "rpp"}
    assert all(s["ok"] for s in doc["sessions"]) and doc["failed"] == 0
    written = project / "song.gainstaged.als"
    assert written.exists() and (reaper / "mix.gainstaged.rpp").exists()
    assert_gzip_like_live(written)
    assert again(written).clip_levels["track:10/clip:0"].gated_rms_dbfs == pytest.approx(-18.0, abs=0.1)


def _truncated_set() -> bytes:
    data = make_set(11, [TrackSpec(1, clips=(ClipSpec(0, 4),))])
    return data[: len(data) // 2]


_DOCTYPE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE Ableton [\n<!ENTITY a "aaaaaaaaaa">\n'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">\n]>\n'
    b'<Ableton MajorVersion="5" MinorVersion="11.0_11300" Creator="Ableton Live 11.3.4">\n'
    b'\t<LiveSet>\n\t\t<Tracks>\n\t\t\t<AudioTrack Id="1"><Name><EffectiveName Value="&b;" /></Name></AudioTrack>\n'
    b"\t\t</Tracks>\n\t</LiveSet>\n</Ableton>\n"
)


@pytest.mark.parametrize(
    "content,what",
    [
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"junk, not deflate" * 20, "corrupt gzip"),
        (_truncated_set(), "truncated gzip"),
        (_DOCTYPE, "DTD"),
        (gzip.compress(_DOCTYPE, mtime=0), "DTD"),
    ],
    ids=["gzip-junk", "truncated-gzip", "doctype-entities", "gzipped-doctype"],
)
def test_cli_bad_live_set_one_line_no_traceback_nothing_written(tmp_path: Path, content: bytes, what: str) -> None:
    bad = tmp_path / "bad.als"
    bad.write_bytes(content)
    assert_refused(cli("apply", str(bad)), bad, what, content)
