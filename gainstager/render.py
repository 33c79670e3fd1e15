"""The renderer: what a clip plays, sample by sample, and what the tracks and the master sum to.

One mechanism serves everything: a `ClipPlayer` turns a clip's segments (timeline seconds -> source seconds)
into audio at the project rate, block after block, as the DAW plays it (what reaches the track's first
plug-in). Per segment it picks one of three ways, from the rates alone:

* the source frames themselves, when one source frame plays per project frame (file rate x playrate equals
  the project rate; the common case: a 48 kHz file at rate 1 in a 48 kHz project). No resampler runs, so a
  clip that plays a whole file at 0 dB reads exactly what `gainstager measure` reads on that file;
* band-limited resampling (`resample.Converter`, libsoxr) when the file rate or a rate change that alters
  the pitch (REAPER playrate without preserve-pitch, Live Re-Pitch, unwarped Live clips) differs from the
  project rate: content above the project's Nyquist frequency never reaches the mix, and no step or alias is
  added;
* a time-stretch at the source's own pitch (`resample.Stretcher`), fed by the source band-limited to the
  project rate, when the DAW keeps the pitch (REAPER preserve-pitch, Live Beats/Tones/Texture/Complex/Complex
  Pro): each source second counts as long as it plays.

Clip levels are measured on that audio at the project rate; track, folder and master sums are rendered at
the project rate in stereo, block by block along the timeline, so memory stays flat however long the session
is. A saved solo is a listening state, not a mix decision: the prediction sums every unmuted track.

Approximations, stated once (sizes measured in README.md): fades are linear; volume envelopes are not
rendered (an automated fader counts at its envelope's highest point, the safe side for the master peak);
sends, returns and track FX are not rendered (levels are pre-FX); a resampled segment starts on the nearest
source frame (under one sample of shift).
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from .audio import BLOCK_FRAMES, AudioInfo, AudioReader, FloatArray
from .meters import Meter
from .model import Automation, ChannelMode, Clip, ClipStatus, Levels, RateSource, Session, Track, TrackKind
from .resample import Converter, Source, Stretcher, same_rate
from .units import db_to_gain, gain_to_db

_EPS = 1e-7  # frames; absorbs float error so that frame k of a rate-1 clip reads source frame k
_PREROLL_S = 0.005  # source time fed to a resampler before a segment starts, so its filter starts on signal
PLAYING = frozenset({ClipStatus.ACTIVE, ClipStatus.FREEZE_RENDER})  # the statuses whose audio reaches the mix
Mask = npt.NDArray[np.bool_]


def plays(clip: Clip) -> bool:
    """Whether the clip's audio reaches the mix (an active clip, or the freeze render of a frozen track)."""
    return clip.status in PLAYING


@dataclass(frozen=True, slots=True)
class Playable:
    """A clip with its media resolved and probed: everything needed to render it.

    ``rate_hz`` is the project rate the clip is measured at; None measures it at its file's own rate."""

    clip: Clip
    path: str
    info: AudioInfo
    rate_hz: int | None = None

    @property
    def out_channels(self) -> int:
        mode = self.clip.channel_mode
        if mode in (ChannelMode.MONO_DOWNMIX, ChannelMode.LEFT, ChannelMode.RIGHT):
            return 1
        return self.info.channels

    @property
    def out_rate_hz(self) -> int:
        return self.rate_hz or self.info.sample_rate_hz


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


def _gather(reader: AudioReader, index: np.ndarray) -> FloatArray:
    """Frames `index` (int64, any order) of the file, reading each contiguous run once."""
    out = np.zeros((len(index), reader.info.channels), dtype=np.float32)
    if len(index) == 0:
        return out
    jumps = np.flatnonzero(np.abs(np.diff(index)) > 4) + 1
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


def clip_gain_linear(clip: Clip, gain_db: float | None = None) -> float:
    """Linear gain a clip plays at: the written stage (or `gain_db` in its place) times the fixed stages."""
    stage_db = clip.gain_db if gain_db is None else gain_db
    gain = db_to_gain(stage_db) * db_to_gain(clip.fixed_gain_db)
    return -gain if clip.polarity_inverted else gain


class _SourceRun:
    """Window frames in the order a segment plays them, from window frame `start`, one `step` (+1 or -1) per
    frame: wrapping when the clip loops, mirrored when it is reversed, silent outside the window."""

    def __init__(self, player: ClipPlayer, start: int, step: int) -> None:
        self._player = player
        self._pos = start
        self._step = step

    def read(self, count: int) -> FloatArray:
        pl = self._player
        clip = pl.playable.clip
        if self._step == 1 and not clip.reverse:
            out = np.zeros((count, pl.playable.out_channels), dtype=np.float32)
            _copy_run(pl.reader(), out, self._pos, pl.window_first, pl.window_frames, clip.loop, clip.channel_mode)
        else:
            out = pl.frames_at(self._pos + self._step * np.arange(count, dtype=np.int64))
        self._pos += self._step * count
        return out


def _copy_run(
    reader: AudioReader,
    dest: FloatArray,
    start: int,
    window_first: int,
    window_frames: int,
    loop: bool,
    mode: ChannelMode,
) -> None:
    """Consecutive window frames from `start` (wrapping when looped), read directly into `dest`."""
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


def _silence(channels: int) -> Source:
    return lambda count: np.zeros((count, channels), dtype=np.float32)


class ClipPlayer:
    """What one clip plays at `rate_hz`, frame k being timeline time ``origin_s + k / rate_hz``: each segment
    read, resampled or stretched as the DAW plays it, with the clip's fades and linear `gain`, on the clip's
    own channels (after its channel mode). `render` is called block after block (non-decreasing frames); the
    resampler and stretcher keep their state from one block to the next."""

    def __init__(self, p: Playable, pool: ReaderPool, rate_hz: int, gain: float, origin_s: float = 0.0) -> None:
        self.playable = p
        self._pool = pool
        self._rate = rate_hz
        self._gain = gain
        self._origin = origin_s
        clip, info = p.clip, p.info
        self.first, self.last = self._span(clip.timeline_start_s, clip.timeline_end_s)
        window_len = clip.source_window_length_s
        if window_len is None:
            window_len = max(info.duration_s - clip.source_window_start_s, 0.0)
        sr = info.sample_rate_hz
        self.window_first = round(clip.source_window_start_s * sr)
        self.window_frames = min(round(window_len * sr), info.frames - self.window_first) if window_len > 0 else 0
        self._segments = sorted(clip.segments, key=lambda s: s.timeline_start_s)
        spans = [self._span(s.timeline_start_s, s.timeline_end_s) for s in self._segments]
        self._seg_lo = np.array([a for a, _ in spans], dtype=np.int64)
        self._seg_hi = np.array([b for _, b in spans], dtype=np.int64)
        self._current = -1  # the segment whose stream is open
        self._next = -1  # the frame that stream delivers next
        self._stream: Source = _silence(p.out_channels)

    def _span(self, start_s: float, end_s: float) -> tuple[int, int]:
        """Frames k whose time origin + k/rate lies in [start_s, end_s)."""
        lo = math.ceil((start_s - self._origin) * self._rate - _EPS)
        return lo, max(math.ceil((end_s - self._origin) * self._rate - _EPS), lo)

    def reader(self) -> AudioReader:
        return self._pool.get(self.playable.path)

    def frames_at(self, index: np.ndarray) -> FloatArray:
        """Window frames `index` (any order), after loop, reverse and channel mode; silence outside."""
        clip = self.playable.clip
        out = np.zeros((len(index), self.playable.out_channels), dtype=np.float32)
        if clip.loop:
            index = index % self.window_frames
        valid = (index >= 0) & (index < self.window_frames)
        if not valid.any():
            return out
        if clip.reverse:
            index = self.window_frames - 1 - index
        where = np.flatnonzero(valid)
        out[where] = _map_channels(_gather(self.reader(), index[where] + self.window_first), clip.channel_mode)
        return out

    def render(self, start: int, count: int) -> FloatArray:
        """Frames [start, start + count): silence outside the clip."""
        out = np.zeros((count, self.playable.out_channels), dtype=np.float32)
        lo, hi = max(self.first, start), min(self.last, start + count)
        if hi <= lo or self.window_frames <= 0 or self._gain == 0.0:
            return out
        k = lo
        while k < hi:
            i = int(np.searchsorted(self._seg_lo, k, side="right")) - 1
            if i < 0 or k >= self._seg_hi[i]:  # between segments: silence up to the next one
                k = min(int(self._seg_lo[i + 1]) if i + 1 < len(self._seg_lo) else hi, hi)
                continue
            n = min(int(self._seg_hi[i]), hi) - k
            if i != self._current or k != self._next:
                self._stream, self._current = self._open(i, k), i
            out[k - start : k - start + n] = self._stream(n)
            k += n
            self._next = k
        self._apply_gain(out[lo - start : hi - start], lo)
        return out

    def _apply_gain(self, part: FloatArray, first_frame: int) -> None:
        clip = self.playable.clip
        if clip.fade_in_s > 0.0 or clip.fade_out_s > 0.0:
            t = self._origin + np.arange(first_frame, first_frame + len(part), dtype=np.float64) / self._rate
            envelope = np.full(len(t), self._gain, dtype=np.float64)
            if clip.fade_in_s > 0.0:
                envelope *= np.clip((t - clip.timeline_start_s) / clip.fade_in_s, 0.0, 1.0)
            if clip.fade_out_s > 0.0:
                envelope *= np.clip((clip.timeline_end_s - t) / clip.fade_out_s, 0.0, 1.0)
            part *= envelope[:, None].astype(np.float32)
        elif self._gain != 1.0:
            part *= np.float32(self._gain)

    def _open(self, index: int, frame: int) -> Source:
        """The stream of segment `index` from output `frame` on."""
        seg, info = self._segments[index], self.playable.info
        fs, fp, channels = info.sample_rate_hz, self._rate, self.playable.out_channels
        t = self._origin + frame / fp
        position = (seg.source_start_s + seg.rate * (t - seg.timeline_start_s)) * fs  # window frame
        step = 1 if seg.rate >= 0 else -1
        speed = abs(seg.rate)
        if speed * fs * 1e6 < fp:  # (near) standstill: no audio plays
            return _silence(channels)
        if self.playable.clip.stretch and not same_rate(speed, 1.0):
            covered = speed * (seg.timeline_end_s - t) * fp  # what the rest of the segment plays, in frames at fp
            pitch = self._converted(position, step, fs, fp)
            return Stretcher(pitch, speed, channels, length=math.floor(covered)).read
        return self._converted(position, step, fs * speed, fp)

    def _converted(self, position: float, step: int, in_rate: float, out_rate: float) -> Source:
        """Source frames from window `position` on, one per 1/in_rate seconds, delivered at out_rate."""
        if same_rate(in_rate, out_rate):
            return _SourceRun(self, math.floor(position + _EPS), step).read
        pre = math.ceil(_PREROLL_S * in_rate)
        run = _SourceRun(self, round(position) - step * pre, step)
        return Converter(
            run.read, in_rate, out_rate, self.playable.out_channels, skip=round(pre * out_rate / in_rate)
        ).read


def measure_clip(p: Playable, pool: ReaderPool, gain_db: float | None = None) -> Levels:
    """Levels of one clip alone, as it plays at the project rate (`p.out_rate_hz`), on its own channels,
    with its fades and gains."""
    rate = p.out_rate_hz
    player = ClipPlayer(p, pool, rate, clip_gain_linear(p.clip, gain_db), origin_s=p.clip.timeline_start_s)
    meter = Meter(rate, p.out_channels)
    for start in range(player.first, player.last, BLOCK_FRAMES):
        meter.feed(player.render(start, min(BLOCK_FRAMES, player.last - start)))
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
    # Pre-fader level of each track: the sum of its own clips; for a group without clips of its own, the sum
    # of what its children send it (post their faders).
    track_levels: Mapping[str, Levels]
    master_peak_dbfs: float  # sample peak of the master, post master fader
    overlapping: set[str]  # tracks whose meter measured a true peak (clips overlap, or a group's sum)


def audible_tracks(session: Session) -> set[str]:
    """Tracks that reach the master: not muted, with an unmuted chain of parents all feeding on. Solo is not
    looked at: a saved solo is a listening state, and the prediction is of the whole mix."""
    by_id = {t.track_id: t for t in session.tracks}

    def chain(track: Track) -> list[Track]:
        seen: list[Track] = []
        node: Track | None = track
        while node is not None and node not in seen:
            seen.append(node)
            node = by_id.get(node.parent_id) if node.parent_id else None
        return seen

    return {t.track_id for t in session.tracks if not any(x.muted or not x.feeds_parent for x in chain(t))}


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
    done = 0
    while done < total:
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
