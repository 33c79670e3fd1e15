"""The renderer: what a clip plays, sample by sample (the sums of tracks and the master are in `mix`).

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

Clip levels are measured on that audio at the project rate, block by block, so memory stays flat however long
the clip is; `mix` sums the tracks, folders and master from the same players.

Approximations, stated once (sizes measured in README.md): fades are linear; volume envelopes are not
rendered (an automated fader counts at its envelope's highest point, the safe side for the master peak);
sends, returns and track FX are not rendered (levels are pre-FX); a resampled segment starts on the nearest
source frame (under one sample of shift).
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .audio import BLOCK_FRAMES, AudioInfo, AudioReader, FloatArray
from .meters import Meter
from .model import ChannelMode, Clip, ClipStatus, Levels
from .resample import Converter, Source, Stretcher, same_rate
from .units import db_to_gain

# Bump when what a clip plays changes (the lasting measurement cache keys by it).
RENDER_VERSION = 1
_EPS = 1e-7  # frames; absorbs float error so that frame k of a rate-1 clip reads source frame k
_MIN_FADE_S = 1e-9
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

    @property
    def forward(self) -> bool:
        return self._step == 1 and not self._player.playable.clip.reverse

    def read(self, count: int) -> FloatArray:
        if self.forward:
            out = np.zeros((count, self._player.playable.out_channels), dtype=np.float32)
            self.read_into(out)
            return out
        out = self._player.frames_at(self._pos + self._step * np.arange(count, dtype=np.int64))
        self._pos += self._step * count
        return out

    def read_into(self, dest: FloatArray) -> None:
        """The next len(dest) frames (a forward run), straight into `dest`."""
        pl = self._player
        clip = pl.playable.clip
        _copy_run(pl.reader(), dest, self._pos, pl.window_first, pl.window_frames, clip.loop, clip.channel_mode)
        self._pos += len(dest)


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
        if dest.shape[1] == reader.info.channels and (mode == ChannelMode.NORMAL or dest.shape[1] == 1):
            reader.read_into(dest[done : done + take], window_first + pos)  # nothing to map: decode in place
        else:
            dest[done : done + take] = _map_channels(reader.read(window_first + pos, take), mode)
        done += take


def _silence(channels: int) -> Source:
    return lambda count: np.zeros((count, channels), dtype=np.float32)


def frame_span(start_s: float, end_s: float, origin_s: float, rate_hz: int) -> tuple[int, int]:
    """Frames k whose time origin + k/rate lies in [start_s, end_s)."""
    lo = math.ceil((start_s - origin_s) * rate_hz - _EPS)
    return lo, max(math.ceil((end_s - origin_s) * rate_hz - _EPS), lo)


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
        self._stateful = False  # whether that stream is a resampler or a stretcher (its output depends on its start)
        self._into: Callable[[FloatArray], None] | None = None  # a forward source read: decodes into the output

    def _span(self, start_s: float, end_s: float) -> tuple[int, int]:
        return frame_span(start_s, end_s, self._origin, self._rate)

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
                self._seek(i, k)
            if self._into is not None:
                self._into(out[k - start : k - start + n])
            else:
                out[k - start : k - start + n] = self._stream(n)
            k += n
            self._next = k
        self._apply_gain(out[lo - start : hi - start], lo)
        return out

    def _apply_gain(self, part: FloatArray, first_frame: int) -> None:
        """The clip's gain and its linear fades, on frames from `first_frame` (a fade touches only its frames)."""
        clip = self.playable.clip
        if self._gain != 1.0:
            part *= np.float32(self._gain)
        n = len(part)
        # A fade shorter than _MIN_FADE_S (far below one sample at any rate) shapes the samples as it would, but
        # dividing by it cannot overflow (a 1e-308 s fade would).
        if clip.fade_in_s > 0.0:
            end = min(max(self._frame(clip.timeline_start_s + clip.fade_in_s, math.ceil) - first_frame, 0), n)
            ramp = (self._time(first_frame, 0, end) - clip.timeline_start_s) / max(clip.fade_in_s, _MIN_FADE_S)
            part[:end] *= np.clip(ramp, 0.0, 1.0).astype(np.float32)[:, None]
        if clip.fade_out_s > 0.0:
            begin = min(max(self._frame(clip.timeline_end_s - clip.fade_out_s, math.floor) - first_frame, 0), n)
            ramp = (clip.timeline_end_s - self._time(first_frame, begin, n)) / max(clip.fade_out_s, _MIN_FADE_S)
            part[begin:] *= np.clip(ramp, 0.0, 1.0).astype(np.float32)[:, None]

    def _frame(self, time_s: float, rounding: Callable[[float], int]) -> int:
        return rounding((time_s - self._origin) * self._rate)

    def _time(self, first_frame: int, a: int, b: int) -> npt.NDArray[np.float64]:
        """Timeline seconds of frames first_frame + [a, b)."""
        return self._origin + np.arange(first_frame + a, first_frame + b, dtype=np.float64) / self._rate

    def _seek(self, index: int, frame: int) -> None:
        """Make segment `index`'s stream deliver `frame` next, with the very samples a render from the clip's start
        gives there. A plain source read starts anywhere; a resampler or a stretcher depends on where it started,
        so it starts where a continuous render starts it (its segment's first frame, or where the open stream
        is) and reads forward."""
        if index == self._current and self._stateful and self._next <= frame:
            stream, stateful, at = self._stream, True, self._next
        else:
            stream, stateful = self._open(index, frame)
            at = int(self._seg_lo[index]) if stateful else frame
            if at != frame:
                stream = self._open(index, at)[0]
        while at < frame:  # read forward, in bounded steps
            step = min(frame - at, BLOCK_FRAMES)
            stream(step)
            at += step
        self._stream, self._stateful, self._current = stream, stateful, index
        run = getattr(stream, "__self__", None)
        self._into = run.read_into if isinstance(run, _SourceRun) and run.forward else None

    def _open(self, index: int, frame: int) -> tuple[Source, bool]:
        """The stream of segment `index` from output `frame` on, and whether it keeps state (see `_seek`)."""
        seg, info = self._segments[index], self.playable.info
        fs, fp, channels = info.sample_rate_hz, self._rate, self.playable.out_channels
        t = self._origin + frame / fp
        position = (seg.source_start_s + seg.rate * (t - seg.timeline_start_s)) * fs  # window frame
        step = 1 if seg.rate >= 0 else -1
        speed = abs(seg.rate)
        if speed * fs * 1e6 < fp:  # (near) standstill: no audio plays
            return _silence(channels), False
        if self.playable.clip.stretch and not same_rate(speed, 1.0):
            covered = speed * (seg.timeline_end_s - t) * fp  # what the rest of the segment plays, in frames at fp
            pitch, _ = self._converted(position, step, fs, fp)
            return Stretcher(pitch, speed, channels, length=math.floor(covered)).read, True
        return self._converted(position, step, fs * speed, fp)

    def _converted(self, position: float, step: int, in_rate: float, out_rate: float) -> tuple[Source, bool]:
        """Source frames from window `position` on, one per 1/in_rate seconds, delivered at out_rate (and whether
        a resampler runs)."""
        if same_rate(in_rate, out_rate):
            return _SourceRun(self, math.floor(position + _EPS), step).read, False
        pre = math.ceil(_PREROLL_S * in_rate)
        run = _SourceRun(self, round(position) - step * pre, step)
        converter = Converter(
            run.read, in_rate, out_rate, self.playable.out_channels, skip=round(pre * out_rate / in_rate)
        )
        return converter.read, True


def measure_clip(p: Playable, pool: ReaderPool, gain_db: float | None = None) -> Levels:
    """Levels of one clip alone, as it plays at the project rate (`p.out_rate_hz`), on its own channels,
    with its fades and gains."""
    rate = p.out_rate_hz
    player = ClipPlayer(p, pool, rate, clip_gain_linear(p.clip, gain_db), origin_s=p.clip.timeline_start_s)
    meter = Meter(rate, p.out_channels)
    for start in range(player.first, player.last, BLOCK_FRAMES):
        meter.feed(player.render(start, min(BLOCK_FRAMES, player.last - start)))
    return meter.result()
