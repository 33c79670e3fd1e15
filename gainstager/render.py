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

import bisect
import itertools
import math
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from .audio import AudioInfo, AudioReader, FloatArray
from .meters import Meter
from .model import Automation, ChannelMode, Clip, Levels, Session, Track
from .units import db_to_gain, gain_to_db

BLOCK_FRAMES = 1 << 16
_EPS = 1e-7  # frames; absorbs float error so that frame k of a rate-1 clip reads source frame k
_MIN_FADE_S = 1e-9


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
    for a, b in itertools.pairwise(bounds):
        run = index[a:b]
        lo, hi = int(run.min()), int(run.max()) + 1
        out[a:b] = reader.read(lo, hi - lo)[run - lo]
    return out


def _map_channels(x: FloatArray, mode: ChannelMode) -> FloatArray:
    if mode == ChannelMode.NORMAL or (x.shape[1] == 1 and mode != ChannelMode.MONO_DOWNMIX):
        return x
    if mode == ChannelMode.REVERSE_STEREO:
        return x[:, [1, 0, *range(2, x.shape[1])]]
    if mode == ChannelMode.MONO_DOWNMIX:
        mono: FloatArray = x.mean(axis=1, keepdims=True, dtype=np.float32)
        return mono
    if mode == ChannelMode.LEFT:
        return x[:, :1]
    right: FloatArray = x[:, 1:2]
    return right


def clip_gain(clip: Clip, gain_db: float | None = None) -> float:
    """Linear gain a clip plays at: the written stage (or `gain_db` in its place) times the fixed stages."""
    stage_db = clip.gain_db if gain_db is None else gain_db
    gain = db_to_gain(stage_db) * db_to_gain(clip.fixed_gain_db)
    return -gain if clip.polarity_inverted else gain


def render_clip(p: Playable, reader: AudioReader, t0_s: float, count: int, out_rate_hz: int, gain: float) -> FloatArray:
    """`count` frames of what the clip plays from timeline time `t0_s` at `out_rate_hz`, with its fades
    and the linear `gain`, on the clip's own channels (after its channel mode). Silence outside the clip."""
    clip, info = p.clip, p.info
    out = np.zeros((count, p.out_channels), dtype=np.float32)
    clip_start, clip_end = clip.timeline_start_s, clip.timeline_end_s
    first, last = _frame_span(clip_start, clip_end, t0_s, count, out_rate_hz)  # only frames inside the clip
    window_len = clip.source_window_length_s
    if window_len is None:
        window_len = max(info.duration_s - clip.source_window_start_s, 0.0)
    if window_len <= 0.0 or gain == 0.0 or last <= first:
        return out
    sr = info.sample_rate_hz
    window_first = round(clip.source_window_start_s * sr)
    window_frames = min(round(window_len * sr), info.frames - window_first)
    if window_frames <= 0:  # the window lies past the end of the file: nothing plays
        return out
    for seg in clip.segments:
        lo, hi = _frame_span(seg.timeline_start_s, seg.timeline_end_s, t0_s, count, out_rate_hz)
        lo, hi = max(lo, first), min(hi, last)
        if hi <= lo:
            continue
        # window position (in source frames) of output frame k is start + step * (k - lo)
        start = (seg.source_start_s + seg.rate * (t0_s + lo / out_rate_hz - seg.timeline_start_s)) * sr
        step = seg.rate * sr / out_rate_hz
        if step == 1.0 and not clip.reverse:
            _copy_run(
                reader, out[lo:hi], math.floor(start + _EPS), window_first, window_frames, clip.loop, clip.channel_mode
            )
            continue
        pos = start + step * np.arange(hi - lo, dtype=np.float64)
        index = np.floor(pos + _EPS).astype(np.int64)
        if clip.loop:
            index %= window_frames
        valid = (index >= 0) & (index < window_frames)
        if not valid.any():
            continue
        if clip.reverse:
            index = window_frames - 1 - index
        where = np.flatnonzero(valid)
        raw = _gather(reader, index[where] + window_first, abs(step))
        out[lo + where] = _map_channels(raw, clip.channel_mode)
    part = out[first:last]
    if clip.fade_in_s > 0.0 or clip.fade_out_s > 0.0:
        t = t0_s + np.arange(first, last, dtype=np.float64) / out_rate_hz
        envelope = np.full(len(t), gain, dtype=np.float64)
        # A fade shorter than _MIN_FADE_S (far below one sample at any rate) shapes the samples as it would, but
        # dividing by it cannot overflow (a 1e-308 s fade would).
        if clip.fade_in_s > 0.0:
            envelope *= np.clip((t - clip_start) / max(clip.fade_in_s, _MIN_FADE_S), 0.0, 1.0)
        if clip.fade_out_s > 0.0:
            envelope *= np.clip((clip_end - t) / max(clip.fade_out_s, _MIN_FADE_S), 0.0, 1.0)
        part *= envelope[:, None].astype(np.float32)
    elif gain != 1.0:
        part *= np.float32(gain)
    return out


def _frame_span(start_s: float, end_s: float, t0_s: float, count: int, rate_hz: int) -> tuple[int, int]:
    """Output frames k in [0, count) whose time t0 + k/rate lies in [start_s, end_s)."""
    lo = min(max(math.ceil((start_s - t0_s) * rate_hz - _EPS), 0), count)
    hi = min(max(math.ceil((end_s - t0_s) * rate_hz - _EPS), lo), count)
    return lo, hi


def _copy_run(
    reader: AudioReader,
    dest: FloatArray,
    start: int,
    window_first: int,
    window_frames: int,
    loop: bool,
    mode: ChannelMode,
) -> None:
    """The rate-1 case: consecutive window frames from `start` (wrapping when looped), read directly."""
    done, n = 0, len(dest)
    while done < n:
        pos = start + done
        if loop:
            pos %= window_frames
        elif pos >= window_frames:
            return
        if pos < 0:  # before the window: silence up to its start
            done += min(-pos, n - done)
            continue
        take = min(n - done, window_frames - pos)
        dest[done : done + take] = _map_channels(reader.read(window_first + pos, take), mode)
        done += take


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
    master_peak_dbfs: float  # sample peak of the master, post master fader
    overlapping: set[str]  # tracks whose clips overlap: only these track levels carry a true peak


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
    for p in sorted(playables, key=lambda p: p.clip.timeline_start_s):
        by_track.setdefault(p.clip.track_id, []).append(p)
    spans = {k: np.array([(p.clip.timeline_start_s, p.clip.timeline_end_s) for p in ps]) for k, ps in by_track.items()}
    # clips sorted by start; a running maximum of ends lets each block find its clips by bisection
    reach = {k: np.maximum.accumulate(v[:, 1]) for k, v in spans.items()}
    tracks = list(session.tracks)
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
    master_peak = 0.0  # the prediction is a sample peak
    gains = {
        p.clip.clip_id: clip_gain(p.clip, clip_gain_db.get(p.clip.clip_id)) for ps in by_track.values() for p in ps
    }
    post = {
        t.track_id: (
            np.array(pan_gains(t.pan, session.pan_law_db)) * db_to_gain(fader_db.get(t.track_id, playing_fader_db(t)))
        ).astype(np.float32)
        for t in tracks
    }
    track_ids = {t.track_id for t in tracks}
    playing = _playing_spans(by_track.values(), rate)
    master_gain = db_to_gain(fader_db.get(session.master.track_id, playing_fader_db(session.master)))
    done = 0
    while done < total:
        done = _next_playing_frame(playing, done)  # silence between clips is skipped, however long
        if done >= total:
            break
        count = min(BLOCK_FRAMES, total - done)
        t0, t1 = done / rate, (done + count) / rate
        bus: dict[str, FloatArray] = {}  # what children send to each folder in this block (stereo, post-fader)
        master = np.zeros((count, 2), dtype=np.float32)
        for t in order:
            out = _render_track(
                t.track_id, by_track, spans, reach, width, pool, gains, t0, t1, done, count, rate, track_meters
            )
            out = None if out is None else out * post[t.track_id]
            children = bus.pop(t.track_id, None)
            if children is not None:
                out = children * post[t.track_id] if out is None else out + children * post[t.track_id]
            if out is None or t.track_id not in audible:
                continue
            if t.parent_id and t.parent_id in track_ids:
                if t.parent_id in bus:
                    bus[t.parent_id] += out
                else:
                    bus[t.parent_id] = out
            else:
                master += out
        master_peak = max(master_peak, float(np.abs(master).max(initial=0.0)) * master_gain)
        done += count
        if progress is not None:
            progress(done / total)
    return MixResult({k: m.result() for k, m in track_meters.items()}, gain_to_db(master_peak), overlapping)


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


def _render_track(
    track_id: str,
    by_track: Mapping[str, list[Playable]],
    spans: Mapping[str, np.ndarray],
    reach: Mapping[str, np.ndarray],
    width: Mapping[str, int],
    pool: ReaderPool,
    gains: Mapping[str, float],
    t0: float,
    t1: float,
    done: int,
    count: int,
    rate: int,
    meters: Mapping[str, Meter],
) -> FloatArray | None:
    """The sum of a track's own clips for one block (None when none plays), fed to its meter "as one long
    item": its clips glued, the gaps between them left out."""
    clips = by_track.get(track_id, [])
    if not clips:
        return None
    first_clip = int(np.searchsorted(reach[track_id], t0, side="right"))
    last_clip = int(np.searchsorted(spans[track_id][:, 0], t1, side="left"))
    own: FloatArray | None = None
    playing = np.zeros(count, dtype=bool)
    for p in clips[first_clip:last_clip]:
        if p.clip.timeline_end_s <= t0:
            continue
        x = render_clip(p, pool.get(p.path), t0, count, rate, gains[p.clip.clip_id])
        if own is None:
            own = np.zeros((count, width[track_id]), dtype=np.float32)
        own += x[:, : own.shape[1]]  # a mono clip on a stereo track plays on both sides
        first = max(math.ceil(p.clip.timeline_start_s * rate - _EPS) - done, 0)
        last = min(math.ceil(p.clip.timeline_end_s * rate - _EPS) - done, count)
        playing[first:last] = True
    if own is None or not playing.any():
        return None
    meter = meters.get(track_id)
    if meter is not None:
        meter.feed(own if playing.all() else own[playing])
    return own


def _depth(session: Session, track: Track) -> int:
    by_id = {t.track_id: t for t in session.tracks}
    depth, node, seen = 0, track, {track.track_id}
    while node.parent_id and node.parent_id in by_id and node.parent_id not in seen:
        node = by_id[node.parent_id]
        seen.add(node.track_id)
        depth += 1
    return depth
