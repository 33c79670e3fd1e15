"""The renderer: what a clip plays, sample by sample, and what the tracks and the master sum to.

One mechanism serves everything. `render_clip` turns a clip's segments (timeline seconds -> source
seconds) into audio for any span of timeline time at any output rate. Clip levels are measured by rendering
the clip alone at its file's own rate and channels (so a clip that plays a whole file at 0 dB reads exactly
what `gainstager measure` reads on that file). Track, folder and master sums are rendered at the project
rate in stereo, block by block along the timeline, so memory stays flat however long the session is.

Approximations, stated once: a clip whose rate is not 1 (REAPER playrate, Live warping) or whose file rate
differs from the output rate is resampled by nearest sample, which is exact for levels of the material up
to the resampling's aliasing; fades are linear; volume envelopes are not rendered (an automated fader is
counted at its envelope's highest point, the safe side for the master peak); sends and returns are not
summed; track FX are not rendered (levels are pre-FX).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from .audio import AudioInfo, AudioReader, FloatArray
from .meters import Meter
from .model import Automation, ChannelMode, Clip, ClipStatus, Levels, Session, Track
from .units import db_to_gain

BLOCK_FRAMES = 1 << 16
_EPS = 1e-7  # frames; absorbs float error so that frame k of a rate-1 clip reads source frame k


@dataclass(frozen=True, slots=True)
class Playable:
    """A clip with its media resolved and probed: everything needed to render it."""

    clip: Clip
    path: str
    info: AudioInfo

    @property
    def out_channels(self) -> int:
        mode = self.clip.channel_mode
        if mode in (ChannelMode.MONO_DOWNMIX, ChannelMode.LEFT, ChannelMode.RIGHT):
            return 1
        return self.info.channels


class ReaderPool:
    """Open AudioReaders, at most `limit` at a time (least recently used closed first)."""

    def __init__(self, limit: int = 64) -> None:
        self._open: OrderedDict[str, AudioReader] = OrderedDict()
        self._limit = limit

    def get(self, path: str) -> AudioReader:
        reader = self._open.pop(path, None)
        if reader is None:
            reader = AudioReader(path)
            if len(self._open) >= self._limit:
                _, oldest = self._open.popitem(last=False)
                oldest.close()
        self._open[path] = reader
        return reader

    def close(self) -> None:
        for reader in self._open.values():
            reader.close()
        self._open.clear()


def _gather(reader: AudioReader, index: np.ndarray, max_step: float) -> FloatArray:
    """Frames `index` (int64, any order) of the file, reading each contiguous run once."""
    out = np.zeros((len(index), reader.info.channels), dtype=np.float32)
    if len(index) == 0:
        return out
    jumps = np.flatnonzero(np.abs(np.diff(index)) > max(4.0, 4.0 * max_step)) + 1
    bounds = np.concatenate(([0], jumps, [len(index)]))
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        run = index[a:b]
        lo, hi = int(run.min()), int(run.max()) + 1
        out[a:b] = reader.read(lo, hi - lo)[run - lo]
    return out


def _map_channels(x: FloatArray, mode: ChannelMode) -> FloatArray:
    if mode == ChannelMode.NORMAL or x.shape[1] == 1 and mode != ChannelMode.MONO_DOWNMIX:
        return x
    if mode == ChannelMode.REVERSE_STEREO:
        return x[:, [1, 0, *range(2, x.shape[1])]]
    if mode == ChannelMode.MONO_DOWNMIX:
        return x.mean(axis=1, keepdims=True)
    if mode == ChannelMode.LEFT:
        return x[:, :1]
    return x[:, 1:2]  # RIGHT


def clip_gain(clip: Clip, gain_db: float | None = None) -> float:
    """Linear gain a clip plays at: the written stage (or `gain_db` in its place) times the fixed stages."""
    stage_db = clip.gain_db if gain_db is None else gain_db
    gain = db_to_gain(stage_db) * db_to_gain(clip.fixed_gain_db)
    return -gain if clip.polarity_inverted else gain


def render_clip(
    p: Playable, reader: AudioReader, t0_s: float, count: int, out_rate_hz: int, gain: float
) -> FloatArray:
    """`count` frames of what the clip plays from timeline time `t0_s` at `out_rate_hz`, with its fades
    and the linear `gain`, on the clip's own channels (after its channel mode). Silence outside the clip."""
    clip, info = p.clip, p.info
    t = t0_s + np.arange(count, dtype=np.float64) / out_rate_hz
    out = np.zeros((count, p.out_channels), dtype=np.float32)
    window_len = clip.source_window_length_s
    if window_len is None:
        window_len = max(info.duration_s - clip.source_window_start_s, 0.0)
    if window_len <= 0.0 or gain == 0.0:
        return out
    for seg in clip.segments:
        lo = int(np.searchsorted(t, seg.timeline_start_s, side="left"))
        hi = int(np.searchsorted(t, seg.timeline_end_s, side="left"))
        if hi <= lo:
            continue
        pos = seg.source_start_s + seg.rate * (t[lo:hi] - seg.timeline_start_s)
        if clip.loop:
            pos = np.mod(pos, window_len)
        valid = (pos >= 0.0) & (pos < window_len)
        if clip.reverse:
            pos = window_len - pos
            frame = np.ceil((clip.source_window_start_s + pos) * info.sample_rate_hz - _EPS) - 1
        else:
            frame = np.floor((clip.source_window_start_s + pos) * info.sample_rate_hz + _EPS)
        valid &= (frame >= 0) & (frame < info.frames)
        if not valid.any():
            continue
        where = np.flatnonzero(valid)
        step = abs(seg.rate) * info.sample_rate_hz / out_rate_hz
        raw = _gather(reader, frame[where].astype(np.int64), step)
        out[lo + where] = _map_channels(raw, clip.channel_mode)
    envelope = np.full(count, gain, dtype=np.float64)
    if clip.fade_in_s > 0.0:
        envelope *= np.clip((t - clip.timeline_start_s) / clip.fade_in_s, 0.0, 1.0)
    if clip.fade_out_s > 0.0:
        envelope *= np.clip((clip.timeline_end_s - t) / clip.fade_out_s, 0.0, 1.0)
    out *= envelope[:, None].astype(np.float32)
    return out


def measure_clip(p: Playable, pool: ReaderPool, gain_db: float | None = None) -> Levels:
    """Levels of one clip alone, at its file's rate and channels, with its fades and gains."""
    rate = p.info.sample_rate_hz
    start = p.clip.timeline_start_s
    total = max(round((p.clip.timeline_end_s - start) * rate), 0)
    meter = Meter(rate, p.out_channels)
    gain = clip_gain(p.clip, gain_db)
    done = 0
    while done < total:
        count = min(BLOCK_FRAMES, total - done)
        reader = pool.get(p.path)
        meter.feed(render_clip(p, reader, start + done / rate, count, rate, gain))
        done += count
    return meter.result()


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
    track_levels: Mapping[str, Levels]  # pre-fader sum of each track's own active clips
    master_levels: Levels  # post master fader


def audible_tracks(session: Session) -> set[str]:
    """Tracks that reach the master: not muted, not cut off by solo, with an unmuted chain of parents."""
    soloed = {t.track_id for t in session.tracks if t.soloed}
    by_id = {t.track_id: t for t in session.tracks}

    def chain(track: Track) -> list[Track]:
        seen: list[Track] = []
        node: Track | None = track
        while node is not None and node not in seen:
            seen.append(node)
            node = by_id.get(node.parent_id) if node.parent_id else None
        return seen

    result = set()
    for t in session.tracks:
        path = chain(t)
        if any(x.muted or not x.feeds_parent for x in path):
            continue
        if soloed and not any(x.track_id in soloed for x in path):
            continue
        result.add(t.track_id)
    return result


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
    post-fader with the pan law, and meter the track sums and the master.

    `clip_gain_db` / `fader_db` override the session's values (to predict the result of a plan)."""
    rate = session.sample_rate_hz
    clip_gain_db = clip_gain_db or {}
    fader_db = fader_db or {}
    by_track: dict[str, list[Playable]] = {}
    for p in playables:
        by_track.setdefault(p.clip.track_id, []).append(p)
    tracks = list(session.tracks)
    depth = {t.track_id: _depth(session, t) for t in tracks}
    order = sorted(tracks, key=lambda t: -depth[t.track_id])  # children before their parents
    audible = audible_tracks(session)
    end_s = max((p.clip.timeline_end_s for ps in by_track.values() for p in ps), default=0.0)
    total = max(math.ceil(end_s * rate), 0)
    track_meters = {t.track_id: Meter(rate, 2) for t in tracks if meter_tracks and t.track_id in by_track}
    master_meter = Meter(rate, 2)
    gains = {
        p.clip.clip_id: clip_gain(p.clip, clip_gain_db.get(p.clip.clip_id)) for ps in by_track.values() for p in ps
    }
    post = {
        t.track_id: np.array(pan_gains(t.pan, session.pan_law_db))
        * db_to_gain(fader_db.get(t.track_id, playing_fader_db(t)))
        for t in tracks
    }
    master_gain = db_to_gain(fader_db.get(session.master.track_id, playing_fader_db(session.master)))
    done = 0
    while done < total:
        count = min(BLOCK_FRAMES, total - done)
        t0, t1 = done / rate, (done + count) / rate
        bus = {t.track_id: np.zeros((count, 2), dtype=np.float32) for t in tracks}
        master = np.zeros((count, 2), dtype=np.float32)
        for t in order:
            own = np.zeros((count, 2), dtype=np.float32)
            for p in by_track.get(t.track_id, ()):
                if p.clip.timeline_end_s <= t0 or p.clip.timeline_start_s >= t1:
                    continue
                x = render_clip(p, pool.get(p.path), t0, count, rate, gains[p.clip.clip_id])
                own += x[:, :2] if x.shape[1] >= 2 else x  # mono plays on both sides
            if t.track_id in track_meters:
                track_meters[t.track_id].feed(own)
            signal = own + bus[t.track_id]
            if t.track_id not in audible:
                continue
            out = signal * post[t.track_id].astype(np.float32)
            if t.parent_id and t.parent_id in bus:
                bus[t.parent_id] += out
            else:
                master += out
        master_meter.feed(master * np.float32(master_gain))
        done += count
        if progress is not None:
            progress(done / total)
    return MixResult({k: m.result() for k, m in track_meters.items()}, master_meter.result())


def _depth(session: Session, track: Track) -> int:
    by_id = {t.track_id: t for t in session.tracks}
    depth, node, seen = 0, track, {track.track_id}
    while node.parent_id and node.parent_id in by_id and node.parent_id not in seen:
        node = by_id[node.parent_id]
        seen.add(node.track_id)
        depth += 1
    return depth


def active(clip: Clip) -> bool:
    return clip.status == ClipStatus.ACTIVE
