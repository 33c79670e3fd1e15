"""Streaming rate conversion and time-stretch: how a DAW turns source frames into project-rate frames.

Both work on a *source*: a callable that returns the next n frames of a sequential input (shape (n,
channels), float32), and hand out exactly the frames asked for, block after block, keeping their state in
between, so memory stays flat however long the input is.

* `Converter` is band-limited sample-rate conversion with python-soxr (libsoxr, "HQ": 20-bit precision,
  linear phase, zero delay as seen from outside). Everything the input holds above the lower of the two
  Nyquist frequencies is filtered out, as it is when a DAW plays a 96 kHz file in a 48 kHz project or plays a
  clip faster. With equal rates it is a plain pass-through: no filter touches the samples.
* `Stretcher` plays its input at its own pitch for longer or shorter (REAPER's preserve-pitch playrate,
  Live's Beats/Tones/Texture/Complex modes). It is a granular stretch: grains of `GRAIN_FRAMES` consecutive
  input frames, the k-th taken from input frame ``round(k * rate * GRAIN_FRAMES)``, joined by raised-cosine
  crossfades of `CROSSFADE_FRAMES`. A crossfade's gains sum to 1, so it never raises a peak; where the joined
  grains are uncorrelated it loses 1.25 dB of power over the crossfade (3 % of the time, so about -0.05 dB on
  a clip; measured in README.md). Slowed down, every input frame is played at least once; sped up, the input
  between grains is skipped, as a granular stretcher does.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import soxr

from .audio import FloatArray

Source = Callable[[int], FloatArray]

SEARCH_FRAMES = 256  # how far a grain may move (5 ms at 48 kHz) to line up with the one before it
GRAIN_FRAMES = 4096  # 85 ms at 48 kHz: long enough that crossfades are rare, short enough to follow the music
CROSSFADE_FRAMES = 128  # 2.7 ms at 48 kHz: clicks-free, and short so that few frames are crossfaded
_MAX_CHUNK = 1 << 16  # input frames per soxr call: bounds memory whatever is asked for


def same_rate(a_hz: float, b_hz: float) -> bool:
    """Rates equal to float precision: then no resampler is used at all."""
    return abs(a_hz - b_hz) <= 1e-9 * max(abs(a_hz), abs(b_hz))


class Converter:
    """`source` at `in_rate_hz` converted to `out_rate_hz`; `read(n)` returns the next n frames.

    `skip` output frames are dropped first: a caller that starts the input early (a pre-roll, so the filter
    has real signal in its memory rather than silence) skips the output those early frames make.
    """

    def __init__(self, source: Source, in_rate_hz: float, out_rate_hz: float, channels: int, *, skip: int = 0) -> None:
        self._source = source
        self._ratio = out_rate_hz / in_rate_hz
        self._stream = (
            None
            if same_rate(in_rate_hz, out_rate_hz)
            else soxr.ResampleStream(in_rate_hz, out_rate_hz, channels, dtype="float32", quality="HQ")
        )
        self._pending = np.zeros((0, channels), dtype=np.float32)
        self._skip = skip if self._stream is not None else 0
        if self._stream is None and skip:
            source(skip)  # equal rates: the pre-roll is simply not played

    def read(self, count: int) -> FloatArray:
        if self._stream is None:
            return self._source(count)
        parts = [self._pending]
        have = len(self._pending)
        while have < count + self._skip:
            want = count + self._skip - have
            chunk = min(max(int(want / self._ratio) + 16, 64), _MAX_CHUNK)
            x = np.ascontiguousarray(self._source(chunk), dtype=np.float32)
            y = self._stream.resample_chunk(x)
            parts.append(y)
            have += len(y)
        buf = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if self._skip:
            buf, self._skip = buf[self._skip :], 0
        out: FloatArray = buf[:count]
        self._pending = buf[count:]
        return out


class Stretcher:
    """`source` played at its own pitch, `rate` input frames per output frame on average (rate > 0).

    With `length` (the input frames the stretch covers: a loop, or a warp segment), no grain reads past it:
    the last grains start earlier instead, so that a slowed-down loop never plays what follows it."""

    def __init__(
        self,
        source: Source,
        rate: float,
        channels: int,
        *,
        grain: int = GRAIN_FRAMES,
        crossfade: int = CROSSFADE_FRAMES,
        length: int | None = None,
    ) -> None:
        self._source = source
        self._rate = rate
        self._length = length
        self._grain = grain
        self._fade = min(crossfade, grain)
        self._channels = channels
        self._count = 0  # grains made so far
        self._buf = np.zeros((0, channels), dtype=np.float32)
        self._buf_start = 0  # input frame index of self._buf[0]
        self._tail: FloatArray | None = None  # the previous grain's continuation, faded out under the next one
        self._pending = np.zeros((0, channels), dtype=np.float32)
        ramp = (np.arange(self._fade, dtype=np.float64) + 0.5) / max(self._fade, 1)
        self._fade_in = (0.5 - 0.5 * np.cos(np.pi * ramp)).astype(np.float32)[:, None]

    def read(self, count: int) -> FloatArray:
        if same_rate(self._rate, 1.0):
            return self._source(count)
        parts = [self._pending]
        have = len(self._pending)
        while have < count:
            grain = self._next_grain()
            parts.append(grain)
            have += len(grain)
        buf = np.concatenate(parts)
        out: FloatArray = buf[:count]
        self._pending = buf[count:]
        return out

    def _next_grain(self) -> FloatArray:
        size = self._grain + self._fade
        nominal = round(self._count * self._rate * self._grain)
        last = None if self._length is None else self._length - size  # the last start that stays inside
        if last is not None:
            nominal = min(nominal, last)
        nominal = max(nominal, self._buf_start, 0)
        tail = self._tail
        if tail is None or not tail.any():
            frames = self._take(nominal, size)
        else:  # WSOLA: move the grain by up to SEARCH_FRAMES so that it starts the way the last one goes on
            lo = max(nominal - SEARCH_FRAMES, self._buf_start, 0)
            hi = max(nominal + SEARCH_FRAMES if last is None else min(nominal + SEARCH_FRAMES, last), lo)
            region = self._take(lo, hi - lo + size)
            best = _best_match(region[: hi - lo + self._fade].sum(axis=1), tail.sum(axis=1))
            frames = region[best : best + size]
        out = frames[: self._grain].copy()
        if self._tail is not None:
            f = self._fade
            out[:f] = self._tail + self._fade_in * (out[:f] - self._tail)  # equal-gain: gains sum to 1
        self._tail = frames[self._grain :]
        self._count += 1
        return out

    def _take(self, start: int, length: int) -> FloatArray:
        """Input frames [start, start + length), reading the input forward only."""
        end = self._buf_start + len(self._buf)
        if start >= end:  # sped up: the input between grains is skipped (read and dropped)
            gap = start - end
            while gap > 0:
                step = min(gap, _MAX_CHUNK)
                self._source(step)
                gap -= step
            self._buf = np.zeros((0, self._channels), dtype=np.float32)
            self._buf_start = start
        elif start > self._buf_start:
            self._buf = self._buf[start - self._buf_start :]
            self._buf_start = start
        missing = start + length - (self._buf_start + len(self._buf))
        if missing > 0:
            self._buf = np.concatenate([self._buf, self._source(missing)])
        offset = start - self._buf_start
        taken: FloatArray = self._buf[offset : offset + length]
        return taken


def _best_match(region: np.ndarray, template: np.ndarray) -> int:
    """The offset in `region` where a window of len(template) is most like `template` (normalised
    cross-correlation, so a loud passage does not win by loudness alone)."""
    n = len(template)
    corr = np.correlate(region.astype(np.float64), template.astype(np.float64), mode="valid")
    power = np.cumsum(np.concatenate(([0.0], region.astype(np.float64) ** 2)))
    energy = power[n:] - power[:-n]
    return int(np.argmax(corr / np.sqrt(np.maximum(energy, 1e-30))))
