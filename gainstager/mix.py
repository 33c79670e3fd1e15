"""The mix: which tracks reach the master, and what the tracks, folders and master sum to.

`mix` renders every track's clips (`render.ClipPlayer`) at the project rate in stereo, block by block along the
timeline, sums folders and the master post-fader with the pan law, and meters the track sums, the folders and
the master. A saved solo is a listening state, not a mix decision: the prediction sums every unmuted track.
`mix_scope` says what the prediction covers and what it leaves out, for the report.
"""

from __future__ import annotations

import bisect
import math
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from .audio import BLOCK_FRAMES, FloatArray
from .meters import Meter
from .model import Automation, ClipStatus, Levels, RateSource, Session, Track, TrackKind
from .render import _EPS, ClipPlayer, Mask, Playable, ReaderPool, clip_gain_linear
from .units import db_to_gain, gain_to_db


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


@dataclass(frozen=True, slots=True)
class MixResult:
    # Pre-fader level of each track: the sum of its own clips; for a group without clips of its own, the sum
    # of what its children send it (post their faders).
    track_levels: Mapping[str, Levels]
    master_peak_dbfs: float  # sample peak of the master, post master fader
    overlapping: set[str]  # tracks whose meter measured a true peak (clips overlap, or a group's sum)


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


@dataclass(frozen=True, slots=True)
class _Block:
    """What the mix renders for one block: where it starts on the timeline, and the per-clip players."""

    done: int
    count: int
    rate: int
    players: dict[str, ClipPlayer]


def mix(
    session: Session,
    playables: Iterable[Playable],
    pool: ReaderPool,
    *,
    clip_gain_db: Mapping[str, float] | None = None,
    fader_db: Mapping[str, float] | None = None,
    meter_tracks: bool = True,
    progress: Callable[[float], None] | None = None,
) -> MixResult:
    """Render every track's clips on the timeline at the project rate, sum folders and the master
    post-fader with the pan law, and meter the track sums, the groups and the master.

    `clip_gain_db` / `fader_db` override the session's values (to predict the result of a plan)."""
    rate = session.sample_rate_hz
    clip_gain_db = clip_gain_db or {}
    fader_db = fader_db or {}
    by_track: dict[str, list[Playable]] = {}
    for p in sorted(playables, key=lambda p: p.clip.timeline_start_s):
        by_track.setdefault(p.clip.track_id, []).append(p)
    spans = {k: np.array([(p.clip.timeline_start_s, p.clip.timeline_end_s) for p in ps]) for k, ps in by_track.items()}
    # clips sorted by start; a running maximum of ends lets each block find its clips by bisection
    reach = {k: np.maximum.accumulate(v[:, 1]) for k, v in spans.items()}
    tracks = list(session.tracks)
    track_ids = {t.track_id for t in tracks}
    depth = {t.track_id: _depth(session, t) for t in tracks}
    order = sorted(tracks, key=lambda t: -depth[t.track_id])  # children before their parents
    audible = audible_tracks(session)
    end_s = max((p.clip.timeline_end_s for ps in by_track.values() for p in ps), default=0.0)
    total = max(math.ceil(end_s * rate), 0)
    # Where a track's clips do not overlap, its true peak is the largest of its clips' (already measured by
    # measure_clip), so the track meter skips the oversampling, which is most of a meter's cost.
    overlapping = {k for k, v in spans.items() if len(v) > 1 and bool(np.any(v[1:, 0] < reach[k][:-1] - _EPS / rate))}
    # A track is mixed (and measured) on its clips' own channels until the pan: mono when all its clips are
    # mono, so a one-clip track reads exactly what its clip reads, loudness included.
    width = {k: 1 if all(p.out_channels == 1 for p in ps) else 2 for k, ps in by_track.items()}
    track_meters = {k: Meter(rate, width[k], true_peak=k in overlapping) for k in by_track if meter_tracks}
    parents = {t.parent_id for t in tracks if t.parent_id in track_ids}
    group_meters = {g: Meter(rate, 2) for g in parents if meter_tracks and g not in by_track}
    master_peak = 0.0  # the prediction is a sample peak
    gains_linear = {
        p.clip.clip_id: clip_gain_linear(p.clip, clip_gain_db.get(p.clip.clip_id))
        for ps in by_track.values()
        for p in ps
    }
    post_fader_linear = {
        t.track_id: (
            np.array(pan_gains(t.pan, session.pan_law_db)) * db_to_gain(fader_db.get(t.track_id, playing_fader_db(t)))
        ).astype(np.float32)
        for t in tracks
    }
    master_gain_linear = db_to_gain(fader_db.get(session.master.track_id, playing_fader_db(session.master)))
    players: dict[str, ClipPlayer] = {}
    playing_spans = _playing_spans(by_track.values(), rate)
    done = 0
    while done < total:
        done = _next_playing_frame(playing_spans, done)  # silence between clips is skipped, however long
        if done >= total:
            break
        block = _Block(done, min(BLOCK_FRAMES, total - done), rate, players)
        bus: dict[str, tuple[FloatArray, Mask]] = {}  # what children send each folder (stereo, post-fader)
        master = np.zeros((block.count, 2), dtype=np.float32)
        for t in order:
            own, playing = _render_track(
                t.track_id, by_track, spans, reach, width, pool, gains_linear, block, track_meters
            )
            children = bus.pop(t.track_id, None)
            if children is not None and t.track_id in group_meters:
                _feed(group_meters[t.track_id], children[0], children[1])
            post = post_fader_linear[t.track_id]
            out = None if own is None else own * post
            if children is not None:
                out = children[0] * post if out is None else out + children[0] * post
                playing = children[1] if playing is None else playing | children[1]
            if out is None or playing is None or t.track_id not in audible:
                continue
            if t.parent_id and t.parent_id in track_ids:
                if t.parent_id in bus:
                    summed, mask = bus[t.parent_id]
                    bus[t.parent_id] = (summed + out, mask | playing)
                else:
                    bus[t.parent_id] = (out, playing)
            else:
                master += out
        master_peak = max(master_peak, float(np.abs(master).max(initial=0.0)) * master_gain_linear)
        done += block.count
        if progress is not None:
            progress(done / total)
    levels = {k: m.result() for k, m in group_meters.items()}
    levels.update({k: m.result() for k, m in track_meters.items()})
    return MixResult(levels, gain_to_db(master_peak), overlapping | set(group_meters))


def _playing_spans(tracks: Iterable[list[Playable]], rate: int) -> list[tuple[int, int]]:
    """The frames where some clip plays, as sorted, merged [start, end) spans."""
    spans = sorted(
        (max(math.floor(p.clip.timeline_start_s * rate), 0), math.ceil(p.clip.timeline_end_s * rate))
        for ps in tracks
        for p in ps
    )
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        elif b > a:
            merged.append((a, b))
    return merged


def _next_playing_frame(spans: list[tuple[int, int]], frame: int) -> int:
    """`frame` if some clip plays there, else the start of the next span (sys.maxsize when none is left)."""
    i = bisect.bisect_right(spans, (frame, math.inf)) - 1
    if i >= 0 and frame < spans[i][1]:
        return frame
    return spans[i + 1][0] if i + 1 < len(spans) else sys.maxsize


def _feed(meter: Meter, audio: FloatArray, playing: Mask) -> None:
    """Feed `meter` the frames where something played ("as one long item": the gaps left out)."""
    if playing.all():
        meter.feed(audio)
    elif playing.any():
        meter.feed(audio[playing])


def _render_track(
    track_id: str,
    by_track: Mapping[str, list[Playable]],
    spans: Mapping[str, np.ndarray],
    reach: Mapping[str, np.ndarray],
    width: Mapping[str, int],
    pool: ReaderPool,
    gains_linear: Mapping[str, float],
    block: _Block,
    meters: Mapping[str, Meter],
) -> tuple[FloatArray | None, Mask | None]:
    """The sum of a track's own clips for one block and the frames where one plays (None, None when none
    does); fed to its meter as one long item, the gaps between clips left out."""
    clips = by_track.get(track_id, [])
    if not clips:
        return None, None
    rate, done, count = block.rate, block.done, block.count
    t0, t1 = done / rate, (done + count) / rate
    first_clip = int(np.searchsorted(reach[track_id], t0, side="right"))
    last_clip = int(np.searchsorted(spans[track_id][:, 0], t1, side="left"))
    own: FloatArray | None = None
    playing = np.zeros(count, dtype=bool)
    for p in clips[first_clip:last_clip]:
        clip_id = p.clip.clip_id
        if p.clip.timeline_end_s <= t0:
            block.players.pop(clip_id, None)
            continue
        player = block.players.get(clip_id)
        if player is None:
            player = block.players[clip_id] = ClipPlayer(p, pool, rate, gains_linear[clip_id])
        x = player.render(done, count)
        if player.last <= done + count:
            del block.players[clip_id]  # the clip ends in this block: free its resampler state
        if own is None:
            own = np.zeros((count, width[track_id]), dtype=np.float32)
        own += x[:, : own.shape[1]]  # a mono clip on a stereo track plays on both sides
        playing[max(player.first - done, 0) : max(min(player.last - done, count), 0)] = True
    if own is None or not playing.any():
        return None, None
    meter = meters.get(track_id)
    if meter is not None:
        _feed(meter, own, playing)
    return own, playing


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
