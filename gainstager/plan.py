"""The planner: session + levels + policy -> edits. Pure and deterministic.

For each staged clip (or each track, with ``per="track"``) the gain change is the one that brings the chosen
level to the target, unless the true peak would pass the ceiling (then the ceiling binds), the boost would
pass the cap, or the DAW's range for that stage would be left. With ``faders="keep"`` each fader moves
opposite to its track's clip-gain change, so the pre-FX mix is unchanged; with ``faders="unity"`` faders go
to 0 dB. Finally, if the predicted master peak is above the headroom, every track feeding the master
directly comes down by the same amount (`with_headroom`, applied by the pipeline after it has rendered
the predicted master). A track the parser could not read in full (`Track.invalid_reason`) is not planned at
all: neither its fader nor its clips get an edit.

Planning the output again gives no edits: changes smaller than `EPSILON_DB` are not made.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from .errors import PlanError
from .model import Automation, Clip, Edit, EditField, Levels, Session, Track, TrackKind
from .units import db_to_gain, power_to_db

EPSILON_DB = 0.01  # smaller changes are not written: below audibility, and keeps re-planning a no-op


class MeterKind(StrEnum):
    RMS = "rms"  # gated RMS (silence between phrases does not count)
    LUFS = "lufs"  # BS.1770 integrated loudness
    PEAK = "peak"  # sample peak
    TRUE_PEAK = "true-peak"


METER_FIELD = {
    MeterKind.RMS: "gated_rms_dbfs",
    MeterKind.LUFS: "integrated_lufs",
    MeterKind.PEAK: "sample_peak_dbfs",
    MeterKind.TRUE_PEAK: "true_peak_dbtp",
}


class Per(StrEnum):
    TRACK = "track"
    CLIP = "clip"


class Faders(StrEnum):
    KEEP = "keep"
    UNITY = "unity"


class Bound(StrEnum):
    TARGET = "target"
    PEAK_CEILING = "peak-ceiling"
    RANGE = "range"
    BOOST_CAP = "boost-cap"
    NONE = "none"  # not staged


# (field, option, low, high, unit): table-driven validation of the policy.
_RANGES: tuple[tuple[str, str, float, float, str], ...] = (
    ("target_db", "target", -60.0, 0.0, "dB"),
    ("peak_ceiling_dbtp", "peak ceiling", -60.0, 0.0, "dBTP"),
    ("headroom_dbfs", "headroom", -60.0, 0.0, "dBFS"),
    ("max_boost_db", "max boost", 0.0, 48.0, "dB"),
)
SAMPLE_RATE_RANGE_HZ = (8000, 768000)


@dataclass(frozen=True, slots=True)
class Policy:
    meter: MeterKind = MeterKind.RMS
    target_db: float = -18.0
    peak_ceiling_dbtp: float = -6.0
    per: Per = Per.TRACK
    faders: Faders = Faders.KEEP
    headroom_dbfs: float = -6.0
    max_boost_db: float = 24.0
    # The rate sessions are played at when they do not force one (Live sets store none; a REAPER project
    # whose rate is not forced plays at the device's); None: the session's own, or 48 kHz.
    sample_rate_hz: int | None = None

    def __post_init__(self) -> None:
        for name, label, low, high, unit in _RANGES:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and low <= value <= high):
                raise PlanError(f"{label}: {value!r} {unit}; expected {low:g} to {high:g} {unit}")
        rate, (low, high) = self.sample_rate_hz, SAMPLE_RATE_RANGE_HZ
        if rate is not None and not (isinstance(rate, int) and low <= rate <= high):
            raise PlanError(f"sample-rate: {rate!r} Hz; expected {low} to {high} Hz")


@dataclass(frozen=True, slots=True)
class ClipPlan:
    clip_id: str
    new_gain_db: float
    bound_by: Bound
    reason: str = ""  # why the clip is untouched or did not reach the target


@dataclass(frozen=True, slots=True)
class TrackPlan:
    track_id: str
    new_fader_db: float
    clip_change_db: float  # the change of this track's pre-fader sum
    action: str = ""  # what was done for the fader: "fader", "envelope scaled", "on clips", ...


@dataclass(frozen=True, slots=True)
class Plan:
    clips: Mapping[str, ClipPlan]
    tracks: Mapping[str, TrackPlan]
    notes: tuple[str, ...] = field(default=())

    def edits(self, session: Session) -> list[Edit]:
        """The edits that turn `session` into the planned one (only real changes)."""
        out: list[Edit] = []
        for clip in session.clips:
            cp = self.clips.get(clip.clip_id)
            if cp is not None and _changed(clip.gain_db, cp.new_gain_db):
                out.append(Edit(clip.clip_id, EditField.CLIP_GAIN, cp.new_gain_db))
        for track in (*session.tracks, session.master):
            tp = self.tracks.get(track.track_id)
            if tp is None:
                continue
            if track.automation == Automation.LINEAR_ENVELOPE:
                delta = tp.new_fader_db - track.fader_db
                if _changed(0.0, delta):
                    out.append(Edit(track.track_id, EditField.FADER_ENVELOPE, delta))
            elif _changed(track.fader_db, tp.new_fader_db):
                out.append(Edit(track.track_id, EditField.FADER, tp.new_fader_db))
        return out


def _changed(old_db: float, new_db: float) -> bool:
    if math.isinf(old_db) or math.isinf(new_db):
        return old_db != new_db
    return abs(new_db - old_db) >= EPSILON_DB


def level_of(levels: Levels, meter: MeterKind) -> float:
    value: float = getattr(levels, METER_FIELD[meter])
    return value


def wanted_change(levels: Levels, policy: Policy) -> tuple[float, Bound]:
    """The gain change (dB) that brings `levels` to the target under the ceiling and the boost cap."""
    level = level_of(levels, policy.meter)
    if not math.isfinite(level):
        return 0.0, Bound.NONE
    change, bound = policy.target_db - level, Bound.TARGET
    if math.isfinite(levels.true_peak_dbtp) and levels.true_peak_dbtp + change > policy.peak_ceiling_dbtp:
        change, bound = policy.peak_ceiling_dbtp - levels.true_peak_dbtp, Bound.PEAK_CEILING
    return change, bound


def _fader_room(track: Track, shift_db: float = 0.0) -> tuple[float, float]:
    """How far (dB) the track's playing fader can move down / up within its range, after `shift_db`."""
    playing = track.envelope_max_db if track.automation == Automation.LINEAR_ENVELOPE else track.fader_db
    if not math.isfinite(playing):
        return 0.0, 0.0
    playing += shift_db
    return playing - track.fader_min_db, track.fader_max_db - playing


def _limit_by_clip_range(change: float, clips: Sequence[Clip]) -> tuple[float, bool]:
    """Shrink a common change so that no clip leaves its gain range."""
    limited = change
    for c in clips:
        if not math.isfinite(c.gain_db):
            continue
        limited = min(limited, c.gain_max_db - c.gain_db)
        limited = max(limited, c.gain_min_db - c.gain_db) if math.isfinite(c.gain_min_db) else limited
    return limited, limited != change


def plan(
    session: Session,
    clip_levels: Mapping[str, Levels],
    track_levels: Mapping[str, Levels],
    policy: Policy,
    *,
    feeder_shift_db: float = 0.0,
    track_policies: Mapping[str, Policy] | None = None,
) -> Plan:
    """Plan clip gains and faders. `clip_levels` holds every measurable active clip; `track_levels` the
    pre-fader sum of each track's active clips (both measured with the session as read).

    `feeder_shift_db` is a headroom cut (<= 0) that will be applied to the tracks feeding the master directly;
    their fader room is judged after it, so that planning the written session again finds nothing to do.

    `track_policies` maps a track id to the policy for that track (its meter, target and ceiling, from a role);
    other tracks use `policy`. The master headroom is always `policy`'s."""
    clip_plans: dict[str, ClipPlan] = {}
    track_plans: dict[str, TrackPlan] = {}
    for track in session.tracks:
        if track.invalid_reason:  # how it plays is unknown: no edit of it or its clips (the report says why)
            continue
        clips = [c for c in session.clips_of(track.track_id) if c.clip_id in clip_levels]
        shift = feeder_shift_db if track.parent_id is None else 0.0
        own = (track_policies or {}).get(track.track_id, policy)
        changes = _clip_changes(track, clips, clip_levels, track_levels.get(track.track_id), own, shift)
        for clip in clips:
            change, bound, reason = changes[clip.clip_id]
            clip_plans[clip.clip_id] = ClipPlan(clip.clip_id, clip.gain_db + change, bound, reason)
        track_change = _track_change(clips, clip_levels, {k: v[0] for k, v in changes.items()})
        track_plans[track.track_id] = _fader_plan(track, track_change, own)
    return Plan(clip_plans, track_plans)


def _clip_changes(
    track: Track,
    clips: Sequence[Clip],
    clip_levels: Mapping[str, Levels],
    track_levels: Levels | None,
    policy: Policy,
    shift_db: float = 0.0,
) -> dict[str, tuple[float, Bound, str]]:
    keep = policy.faders == Faders.KEEP
    down_room, up_room = _fader_room(track, shift_db)
    result: dict[str, tuple[float, Bound, str]] = {}
    if track.automation == Automation.FADER_ENVELOPE and keep:
        # The envelope cannot be rescaled exactly, so a compensating fader move would have to go onto the
        # clips too: the two cancel and the clips stay as they are.
        return {c.clip_id: (0.0, Bound.RANGE, "fader-scaled volume envelope: balance kept") for c in clips}
    groups: list[tuple[list[Clip], Levels | None]]
    if policy.per == Per.TRACK:
        groups = [(list(clips), track_levels)]
    else:
        groups = [([c], clip_levels[c.clip_id]) for c in clips]
    for members, levels in groups:
        if levels is None or not members:
            continue
        change, bound = wanted_change(levels, policy)
        reason = ""
        if bound == Bound.NONE:
            reason = "silent or too short to measure"
        if keep:  # the fader moves by -change and must stay in its range
            lo, hi = -up_room, down_room
            if change < lo or change > hi:
                change, bound = min(max(change, lo), hi), Bound.RANGE
                reason = "fader range"
        # The boost cap limits the clip gain itself (not one run's change), so re-planning stays a no-op.
        cap = min(
            (max(policy.max_boost_db - c.gain_db, 0.0) for c in members if math.isfinite(c.gain_db)), default=change
        )
        if change > cap:
            change, bound, reason = cap, Bound.BOOST_CAP, f"boost capped at +{policy.max_boost_db:g} dB"
        change, hit = _limit_by_clip_range(change, members)
        if hit:
            bound, reason = Bound.RANGE, "clip gain range"
        for c in members:
            result[c.clip_id] = (change, bound, reason)
    return result


def _track_change(clips: Sequence[Clip], clip_levels: Mapping[str, Levels], changes: Mapping[str, float]) -> float:
    """The change of the track's pre-fader sum: energy-weighted over its clips (exact when all move alike)."""
    before = after = 0.0
    for c in clips:
        lv = clip_levels[c.clip_id]
        if not math.isfinite(lv.rms_dbfs):
            continue
        energy = db_to_gain(lv.rms_dbfs) ** 2 * lv.duration_s
        before += energy
        after += energy * db_to_gain(changes.get(c.clip_id, 0.0)) ** 2
    if before <= 0.0:
        return 0.0
    if len({round(changes.get(c.clip_id, 0.0), 9) for c in clips}) == 1:
        return changes.get(clips[0].clip_id, 0.0)
    return power_to_db(after) - power_to_db(before)


def _fader_plan(track: Track, clip_change_db: float, policy: Policy) -> TrackPlan:
    if track.automation == Automation.FADER_ENVELOPE:
        return TrackPlan(track.track_id, track.fader_db, clip_change_db, "fader-scaled envelope: not edited")
    if policy.faders == Faders.KEEP:
        new = track.fader_db - clip_change_db if math.isfinite(track.fader_db) else track.fader_db
        action = "envelope scaled" if track.automation == Automation.LINEAR_ENVELOPE else "fader"
        return TrackPlan(track.track_id, new, clip_change_db, action if _changed(track.fader_db, new) else "")
    if track.automation == Automation.LINEAR_ENVELOPE:
        return TrackPlan(track.track_id, track.fader_db, clip_change_db, "automated: envelope kept")
    return TrackPlan(track.track_id, 0.0, clip_change_db, "unity" if _changed(track.fader_db, 0.0) else "")


def headroom_change(predicted_peak_dbfs: float, policy: Policy) -> float:
    """How far (dB, <= 0) the direct feeders of the master must come down to keep the headroom."""
    if not math.isfinite(predicted_peak_dbfs) or predicted_peak_dbfs <= policy.headroom_dbfs + EPSILON_DB / 2:
        return 0.0
    return policy.headroom_dbfs - predicted_peak_dbfs


def with_headroom(plan_: Plan, session: Session, change_db: float) -> Plan:
    """Lower every track that feeds the master directly by `change_db` (its fader, or its envelope)."""
    if change_db == 0.0:
        return plan_
    tracks = dict(plan_.tracks)
    for t in session.tracks:
        if t.parent_id is not None or t.kind == TrackKind.MASTER or t.invalid_reason:
            continue
        tp = tracks.get(t.track_id) or TrackPlan(t.track_id, t.fader_db, 0.0)
        if t.automation == Automation.FADER_ENVELOPE or not math.isfinite(tp.new_fader_db):
            continue
        new = max(tp.new_fader_db + change_db, t.fader_min_db)
        tracks[t.track_id] = TrackPlan(t.track_id, new, tp.clip_change_db, (tp.action + ", headroom").lstrip(", "))
    note = f"master headroom: tracks feeding the master lowered by {-change_db:.2f} dB"
    return Plan(plan_.clips, tracks, (*plan_.notes, note))
