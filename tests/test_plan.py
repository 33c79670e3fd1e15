"""The planner, on hand-made sessions and levels: pure, deterministic, and a no-op the second time."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gainstager.errors import PlanError
from gainstager.model import (
    Automation,
    Clip,
    ClipStatus,
    EditField,
    Levels,
    Segment,
    Session,
    Track,
    TrackKind,
)
from gainstager.plan import Bound, Faders, MeterKind, Per, Policy, headroom_change, plan, with_headroom


def levels(rms: float, tp: float) -> Levels:
    return Levels(
        sample_peak_dbfs=tp - 0.5,
        true_peak_dbtp=tp,
        rms_dbfs=rms,
        gated_rms_dbfs=rms,
        integrated_lufs=rms + 1.0,
        duration_s=4.0,
    )


def session(*tracks: tuple[Track, list[Clip]]) -> Session:
    return Session(
        path="x.rpp",
        format="rpp",
        version="7",
        tracks=tuple(t for t, _ in tracks),
        clips=tuple(c for _, cs in tracks for c in cs),
        master=Track("master", "Master", TrackKind.MASTER),
    )


def clip(cid: str, track: str, gain_db: float = 0.0) -> Clip:
    return Clip(cid, track, cid, ClipStatus.ACTIVE, None, (Segment(0.0, 4.0, 0.0),), gain_db=gain_db)


def test_per_track_keep_moves_fader_opposite() -> None:
    t = Track("t0", "Drums", TrackKind.AUDIO, fader_db=-2.0)
    s = session((t, [clip("a", "t0"), clip("b", "t0", -3.0)]))
    p = plan(s, {"a": levels(-10, -1), "b": levels(-14, -4)}, {"t0": levels(-12.0, -30.0)}, Policy())
    assert p.clips["a"].new_gain_db == pytest.approx(-6.0)  # -18 - (-12) = -6 for every clip of the track
    assert p.clips["b"].new_gain_db == pytest.approx(-9.0)
    assert p.tracks["t0"].new_fader_db == pytest.approx(4.0)
    assert p.clips["a"].bound_by == Bound.TARGET


def test_peak_ceiling_binds() -> None:
    t = Track("t0", "Snare", TrackKind.AUDIO)
    s = session((t, [clip("a", "t0")]))
    p = plan(s, {"a": levels(-30, -8)}, {"t0": levels(-30, -8)}, Policy(faders=Faders.UNITY))
    # +12 dB would put the true peak at +4 dBTP: the -6 dBTP ceiling allows only +2 dB
    assert p.clips["a"].new_gain_db == pytest.approx(2.0)
    assert p.clips["a"].bound_by == Bound.PEAK_CEILING
    assert p.tracks["t0"].new_fader_db == 0.0


def test_boost_cap_and_clip_range() -> None:
    t = Track("t0", "Room", TrackKind.AUDIO)
    s = session((t, [dataclasses.replace(clip("a", "t0", gain_db=10.0), gain_max_db=24.0)]))
    lv = {"a": levels(-60, -50)}
    ranged = plan(s, lv, lv | {"t0": lv["a"]}, Policy(max_boost_db=30.0, peak_ceiling_dbtp=0.0, faders=Faders.UNITY))
    assert ranged.clips["a"].new_gain_db == pytest.approx(24.0)  # the DAW's +24 dB binds before a +30 cap
    assert ranged.clips["a"].bound_by == Bound.RANGE
    s2 = session((t, [clip("a", "t0")]))
    capped2 = plan(s2, lv, lv | {"t0": lv["a"]}, Policy(max_boost_db=20.0, peak_ceiling_dbtp=0.0, faders=Faders.UNITY))
    assert capped2.clips["a"].new_gain_db == pytest.approx(20.0)
    assert capped2.clips["a"].bound_by == Bound.BOOST_CAP


def test_keep_mode_respects_fader_range() -> None:
    # Live's fader stops at +6 dB: a clip that must come down 10 dB can come down only as far as the
    # fader can rise, or the balance would change.
    t = Track("t0", "Hot", TrackKind.AUDIO, fader_db=0.0, fader_max_db=6.0, fader_min_db=-70.0)
    s = session((t, [clip("a", "t0")]))
    p = plan(s, {"a": levels(-8, -1)}, {"t0": levels(-8, -1)}, Policy())
    assert p.clips["a"].new_gain_db == pytest.approx(-6.0)
    assert p.tracks["t0"].new_fader_db == pytest.approx(6.0)
    assert p.clips["a"].bound_by == Bound.RANGE


def test_per_clip_gives_each_clip_its_own_gain() -> None:
    t = Track("t0", "Vox", TrackKind.AUDIO)
    s = session((t, [clip("a", "t0"), clip("b", "t0")]))
    lv = {"a": levels(-20, -10), "b": levels(-26, -16)}
    p = plan(s, lv, {"t0": levels(-22, -10)}, Policy(per=Per.CLIP))
    assert p.clips["a"].new_gain_db == pytest.approx(2.0)
    assert p.clips["b"].new_gain_db == pytest.approx(8.0)
    # the fader compensates the energy-weighted change of the track sum
    expected = 10 * math.log10(
        (10 ** (-20 / 10) * 10 ** (2 / 10) + 10 ** (-26 / 10) * 10 ** (8 / 10)) / (10 ** (-20 / 10) + 10 ** (-26 / 10))
    )
    assert p.tracks["t0"].new_fader_db == pytest.approx(-expected)


def test_lufs_meter_uses_integrated_loudness() -> None:
    t = Track("t0", "Keys", TrackKind.AUDIO)
    s = session((t, [clip("a", "t0")]))
    p = plan(s, {"a": levels(-20, -10)}, {"t0": levels(-20, -10)}, Policy(meter=MeterKind.LUFS, target_db=-23))
    assert p.clips["a"].new_gain_db == pytest.approx(-23 - (-19))


def test_linear_envelope_is_scaled_and_fader_envelope_left_alone() -> None:
    env = Track("t0", "Auto", TrackKind.AUDIO, automation=Automation.LINEAR_ENVELOPE, envelope_max_db=-3.0)
    locked = Track("t1", "Locked", TrackKind.AUDIO, automation=Automation.FADER_ENVELOPE)
    s = session((env, [clip("a", "t0")]), (locked, [clip("b", "t1")]))
    lv = {"a": levels(-12, -2), "b": levels(-12, -2)}
    p = plan(s, lv, {"t0": lv["a"], "t1": lv["b"]}, Policy())
    edits = {(e.target_id, e.field): e.gain_db for e in p.edits(s)}
    assert edits[("a", EditField.CLIP_GAIN)] == pytest.approx(-6.0)
    assert edits[("t0", EditField.FADER_ENVELOPE)] == pytest.approx(6.0)
    assert ("b", EditField.CLIP_GAIN) not in edits  # compensation would have to go on the clip: net zero
    assert not any(t == "t1" for t, _ in edits)


def test_headroom_lowers_direct_feeders_only() -> None:
    parent = Track("f", "Bus", TrackKind.GROUP)
    child = Track("c", "Child", TrackKind.AUDIO, parent_id="f")
    s = session((parent, []), (child, [clip("a", "c")]))
    p = plan(s, {"a": levels(-18, -6)}, {"c": levels(-18, -6)}, Policy())
    change = headroom_change(-2.0, Policy())
    assert change == pytest.approx(-4.0)
    p2 = with_headroom(p, s, change)
    assert p2.tracks["f"].new_fader_db == pytest.approx(-4.0)
    assert p2.tracks["c"].new_fader_db == pytest.approx(0.0)
    assert headroom_change(-6.001, Policy()) == 0.0


def test_silent_clip_untouched() -> None:
    t = Track("t0", "Empty", TrackKind.AUDIO)
    s = session((t, [clip("a", "t0")]))
    silent = Levels()
    p = plan(s, {"a": silent}, {"t0": silent}, Policy())
    assert p.edits(s) == []
    assert p.clips["a"].bound_by == Bound.NONE


@pytest.mark.parametrize(
    "field,value",
    [("target_db", 3.0), ("peak_ceiling_dbtp", math.nan), ("headroom_dbfs", -100.0), ("max_boost_db", -1.0)],
)
def test_policy_ranges_are_enforced(field: str, value: float) -> None:
    with pytest.raises(PlanError, match="expected"):
        dataclasses.replace(Policy(), **{field: value})  # type: ignore[arg-type]


@given(st.floats(-50, -1), st.floats(-20, 0), st.floats(-12, 6), st.sampled_from(list(Faders)))
def test_planning_the_result_again_changes_nothing(rms: float, gain: float, fader: float, faders: Faders) -> None:
    t = Track("t0", "T", TrackKind.AUDIO, fader_db=fader)
    c = clip("a", "t0", gain)
    s = session((t, [c]))
    lv = levels(rms, rms + 8)
    policy = Policy(faders=faders, peak_ceiling_dbtp=0.0)
    first = plan(s, {"a": lv}, {"t0": lv}, policy)
    change = first.clips["a"].new_gain_db - gain
    s2 = dataclasses.replace(
        s,
        clips=(dataclasses.replace(c, gain_db=first.clips["a"].new_gain_db),),
        tracks=(dataclasses.replace(t, fader_db=first.tracks["t0"].new_fader_db),),
    )
    lv2 = dataclasses.replace(lv, gated_rms_dbfs=rms + change, true_peak_dbtp=rms + 8 + change)
    second = plan(s2, {"a": lv2}, {"t0": lv2}, policy)
    assert second.edits(s2) == []


def test_track_policies_give_each_track_its_own_meter_target_and_ceiling() -> None:
    kick = Track("k", "Kick", TrackKind.AUDIO)
    pad = Track("p", "Pad", TrackKind.AUDIO)
    s = session((kick, [clip("a", "k")]), (pad, [clip("b", "p")]))
    lv = {"a": levels(-30, -20), "b": levels(-30, -20)}
    tl = {"k": lv["a"], "p": lv["b"]}
    peak = Policy(meter=MeterKind.PEAK, target_db=-10.0, peak_ceiling_dbtp=-12.0)
    p = plan(s, lv, tl, Policy(), track_policies={"k": peak})
    # the kick's sample peak (-20.5) would go to -10, but its true peak (-20) may rise only to -12: +8 dB
    assert p.clips["a"].new_gain_db == pytest.approx(8.0) and p.clips["a"].bound_by == Bound.PEAK_CEILING
    assert p.tracks["k"].new_fader_db == pytest.approx(-8.0)
    assert p.clips["b"].new_gain_db == pytest.approx(12.0)  # the global -18 dBFS RMS
    assert plan(s, lv, tl, Policy(), track_policies={}) == plan(s, lv, tl, Policy())
