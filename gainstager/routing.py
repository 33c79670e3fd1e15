"""What the mix reads, and what it covers: which tracks reach the master (`audible_tracks`), where every clip
plays and how the tracks sum (`routing`), the gains they play at (`gains`: clip gains, the pan law and the
faders), the rate the session plays at (`with_project_rate`), and what the master prediction covers and leaves
out (`mix_scope`), for the report. A saved solo is a listening state, not a mix decision: the prediction sums
every unmuted track. `mix` plays what this lays out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from .audio import FloatArray
from .model import Automation, ClipStatus, RateSource, Session, Track, TrackKind
from .render import _EPS, Playable, clip_gain_linear, frame_span
from .units import db_to_gain


def pan_gains(pan: float, pan_law_db: float) -> tuple[float, float]:
    """Left/right gains of a stereo track for `pan` in -1..1: sine/cosine law scaled so that the centre sits
    at `pan_law_db` and a hard-panned side at 0 dB when the law is -3 dB. 0 dB law keeps the centre at unity."""
    theta = (min(max(pan, -1.0), 1.0) + 1.0) * math.pi / 4.0
    scale = db_to_gain(pan_law_db) * math.sqrt(2.0)
    return math.cos(theta) * scale, math.sin(theta) * scale


def playing_fader_db(track: Track) -> float:
    """The fader gain that plays: an overriding envelope counts at its highest point (safe for peaks)."""
    if track.automation in (Automation.LINEAR_ENVELOPE, Automation.FADER_ENVELOPE) and math.isfinite(
        track.envelope_max_db
    ):
        return track.envelope_max_db
    return track.fader_db


def audible_tracks(session: Session) -> set[str]:
    """Tracks that reach the master: not muted, with an unmuted chain of parents all feeding on. Solo is not
    looked at: a saved solo is a listening state, and the prediction is of the whole mix. A track the parser
    could not read in full (`Track.invalid_reason`) is left out, with what sums through it: its gain is unknown."""
    by_id = {t.track_id: t for t in session.tracks}

    def chain(track: Track) -> list[Track]:
        seen: list[Track] = []
        node: Track | None = track
        while node is not None and node not in seen:
            seen.append(node)
            node = by_id.get(node.parent_id) if node.parent_id else None
        return seen

    return {
        t.track_id
        for t in session.tracks
        if not any(x.muted or x.invalid_reason or not x.feeds_parent for x in chain(t))
    }


# ---------------------------------------------------------------- what the mix reads


@dataclass(frozen=True, slots=True)
class Routing:
    """Where every clip plays and how the tracks sum: everything the mix reads but the gains, computed once.

    A clip is rendered on its own frame grid (frame 0 at its start, as it is measured alone) and placed on the
    project's grid at `offset`, the first project frame at or after its start: so a region measures the same
    wherever it sits on the timeline, and what the mix sums is exactly what the clip's meter reads."""

    rate_hz: int
    total_frames: int
    order: tuple[str, ...]  # every track, children before their parents
    bus: Mapping[str, str | None]  # audible tracks only: the folder each sums into, None for the master
    clips: Mapping[str, tuple[Playable, ...]]  # each track's clips, by start
    offset: Mapping[str, int]  # clip id -> the project frame its first frame plays at
    frames: Mapping[str, int]  # clip id -> how many frames it plays
    width: Mapping[str, int]  # a track's channels until its pan: 1 when all its clips are mono, else 2
    overlapping: frozenset[str]  # tracks whose clips overlap: their meter measures a true peak
    groups: frozenset[str]  # folders without clips of their own, metered on what their children send


@dataclass(frozen=True, slots=True)
class Gains:
    """The linear gains a mix plays at: each clip's, each track's stereo post-fader gain (pan law x fader, float64:
    the prediction compares them), and the master fader's."""

    clips: Mapping[str, float]
    post: Mapping[str, FloatArray]
    master: float


def routing(session: Session, playables: Iterable[Playable]) -> Routing:
    rate = session.sample_rate_hz
    by_track: dict[str, list[Playable]] = {}
    for p in sorted(playables, key=lambda p: p.clip.timeline_start_s):
        by_track.setdefault(p.clip.track_id, []).append(p)
    offset, frames = {}, {}
    for ps in by_track.values():
        for p in ps:
            c = p.clip
            offset[c.clip_id] = frame_span(c.timeline_start_s, c.timeline_end_s, 0.0, rate)[0]
            frames[c.clip_id] = frame_span(c.timeline_start_s, c.timeline_end_s, c.timeline_start_s, rate)[1]
    overlapping = set()
    for track_id, ps in by_track.items():
        spans = np.array([(p.clip.timeline_start_s, p.clip.timeline_end_s) for p in ps])
        reach = np.maximum.accumulate(spans[:, 1])
        if len(ps) > 1 and bool(np.any(spans[1:, 0] < reach[:-1] - _EPS / rate)):
            overlapping.add(track_id)
    tracks = list(session.tracks)
    track_ids = {t.track_id for t in tracks}
    depth = {t.track_id: _depth(session, t) for t in tracks}
    audible = audible_tracks(session)
    parents = {t.parent_id for t in tracks if t.parent_id in track_ids}
    return Routing(
        rate_hz=rate,
        total_frames=max((offset[k] + frames[k] for k in offset), default=0),
        order=tuple(t.track_id for t in sorted(tracks, key=lambda t: -depth[t.track_id])),
        bus={
            t.track_id: t.parent_id if t.parent_id in track_ids else None for t in tracks if t.track_id in audible
        },
        clips={k: tuple(v) for k, v in by_track.items()},
        offset=offset,
        frames=frames,
        # A track is mixed (and measured) on its clips' own channels until the pan: mono when all its clips are
        # mono, so a one-clip track reads exactly what its clip reads, loudness included.
        width={k: 1 if all(p.out_channels == 1 for p in ps) else 2 for k, ps in by_track.items()},
        overlapping=frozenset(overlapping),
        groups=frozenset(g for g in parents if g is not None and g not in by_track),
    )


def gains(
    session: Session,
    r: Routing,
    *,
    clip_gain_db: Mapping[str, float] | None = None,
    fader_db: Mapping[str, float] | None = None,
) -> Gains:
    """The gains the session plays at; `clip_gain_db` / `fader_db` override its values (a plan's result)."""
    clip_gain_db = clip_gain_db or {}
    fader_db = fader_db or {}
    return Gains(
        clips={
            p.clip.clip_id: clip_gain_linear(p.clip, clip_gain_db.get(p.clip.clip_id))
            for ps in r.clips.values()
            for p in ps
        },
        post={
            t.track_id: np.array(pan_gains(t.pan, session.pan_law_db))
            * db_to_gain(fader_db.get(t.track_id, playing_fader_db(t)))
            for t in session.tracks
        },
        master=db_to_gain(fader_db.get(session.master.track_id, playing_fader_db(session.master))),
    )


def _depth(session: Session, track: Track) -> int:
    by_id = {t.track_id: t for t in session.tracks}
    depth, node, seen = 0, track, {track.track_id}
    while node.parent_id and node.parent_id in by_id and node.parent_id not in seen:
        node = by_id[node.parent_id]
        seen.add(node.track_id)
        depth += 1
    return depth


# ---------------------------------------------------------------- what the prediction covers


def with_project_rate(session: Session, requested_hz: int | None) -> Session:
    """The session at the rate it plays: a rate the project forces wins; otherwise `requested_hz` (the user's
    --sample-rate) when given; otherwise what the session stores, or 48 kHz when it stores none."""
    if requested_hz is None or session.sample_rate_source is RateSource.FORCED:
        return session
    return replace(session, sample_rate_hz=requested_hz, sample_rate_source=RateSource.OPTION)


@dataclass(frozen=True, slots=True)
class MixScope:
    """What the master prediction covers and what it leaves out, for the report."""

    sample_rate_hz: int
    sample_rate_source: RateSource
    soloed: tuple[str, ...]  # names of soloed tracks (solo is ignored: the prediction is of the whole mix)
    frozen: tuple[str, ...]  # names of frozen tracks measured from their freeze audio (gain not written)
    frozen_left_out: tuple[str, ...]  # frozen tracks whose freeze audio is missing or not in the arrangement
    instrument_tracks: int  # audible instrument (MIDI) tracks with no audio in the mix
    return_tracks: int  # return tracks (they only receive sends)
    sends: int  # active sends from audible tracks
    plugin_tracks: int  # audible tracks with audio and active plug-ins, the master included: levels are pre-FX


def mix_scope(session: Session, playables: Iterable[Playable]) -> MixScope:
    audible = audible_tracks(session)
    with_audio = {p.clip.track_id for p in playables}
    by_id = {t.track_id: t for t in session.tracks}
    carrying = set(with_audio)  # tracks audio passes through: those with clips, and the groups above them
    for track_id in with_audio:
        node = by_id.get(track_id)
        while node is not None and node.parent_id in by_id and node.parent_id not in carrying:
            carrying.add(node.parent_id)
            node = by_id[node.parent_id]
    heard = [t for t in session.tracks if t.track_id in audible]
    thawed = {p.clip.track_id for p in playables if p.clip.status is ClipStatus.FREEZE_RENDER}
    return MixScope(
        sample_rate_hz=session.sample_rate_hz,
        sample_rate_source=session.sample_rate_source,
        soloed=tuple(t.name for t in session.tracks if t.soloed),
        frozen=tuple(t.name for t in session.tracks if t.frozen and t.track_id in thawed),
        frozen_left_out=tuple(t.name for t in session.tracks if t.frozen and t.track_id not in thawed),
        instrument_tracks=sum(t.kind is TrackKind.MIDI and t.track_id not in with_audio for t in heard),
        return_tracks=sum(t.kind is TrackKind.RETURN for t in heard),
        sends=sum(t.sends for t in heard),
        plugin_tracks=sum(t.has_fx and t.track_id in carrying for t in heard) + int(session.master.has_fx),
    )
