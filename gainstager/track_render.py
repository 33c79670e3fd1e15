"""One track's own clips, block after block, as the mix plays them: each clip rendered once (`render.ClipPlayer`),
feeding its meter (when asked), the track's meter (a track with several clips) and the clip's block peaks (what
`predict` derives the master after a plan from). `mix` sums what the tracks give, on threads or processes.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .audio import FloatArray
from .errors import AudioError
from .meters import Meter
from .model import Levels
from .render import ClipPlayer, Mask, ReaderPool
from .routing import Gains, Routing

PEAK_BLOCK_FRAMES = 2048  # frames per block of the peaks kept for the master prediction (43 ms at 48 kHz)
F32 = npt.NDArray[np.float32]


class ClipFailed(Exception):
    """A clip's audio failed while the mix played it (the caller drops the clip and mixes again)."""

    def __init__(self, clip_id: str, error: AudioError) -> None:
        super().__init__(str(error))
        self.clip_id = clip_id
        self.error = error

    def __reduce__(self) -> tuple[type[ClipFailed], tuple[str, AudioError]]:  # (a mix worker process sends it)
        return ClipFailed, (self.clip_id, self.error)


class _ClipRun:
    """One clip being played: its player (frames from its start), where it sits, its meter, its block peaks."""

    __slots__ = ("first_block", "frames", "meter", "offset", "peaks", "player")

    def __init__(self, player: ClipPlayer, offset: int, frames: int, meter: Meter | None) -> None:
        self.player = player
        self.offset = offset
        self.frames = frames
        self.meter = meter
        self.peaks: list[F32] = []
        self.first_block = -1


class TrackRender:
    """One track's own clips, block after block: each clip rendered once, feeding its meter (when asked), the
    track's meter (a track with several clips) and its block peaks. Runs on one thread at a time."""

    def __init__(self, track_id: str, r: Routing, g: Gains, meter_clips: set[str], *, meter_track: bool) -> None:
        self.track_id = track_id
        self._r = r
        self._g = g
        self._clips = r.clips[track_id]
        self._meter_clips = meter_clips
        self._width = r.width[track_id]
        self._keep_peaks = meter_track  # the first pass keeps peaks; a prediction's partial render does not
        self._next = 0  # the first clip not started yet
        self._runs: list[_ClipRun] = []
        self._pool = ReaderPool(limit=8)
        several = len(self._clips) > 1
        overlapping = track_id in r.overlapping
        self.meter = new_meter(r.rate_hz, self._width, true_peak=overlapping) if meter_track and several else None
        self.levels: dict[str, Levels] = {}
        self._done_peaks: dict[str, tuple[int, F32]] = {}

    def busy(self, done: int, count: int) -> bool:
        end = done + count
        return bool(self._runs) or (self._next < len(self._clips) and self._start(self._next) < end)

    def _start(self, index: int) -> int:
        return self._r.offset[self._clips[index].clip.clip_id]

    def block(self, done: int, count: int) -> tuple[FloatArray | None, Mask | None]:
        """The sum of the track's own clips over frames [done, done + count) and where one plays (None, None
        when none does)."""
        try:
            return self._block(done, count)
        finally:
            if not self._runs and self._next >= len(self._clips):
                self._pool.close()

    def _block(self, done: int, count: int) -> tuple[FloatArray | None, Mask | None]:
        end = done + count
        r = self._r
        self._runs = [run for run in self._runs if run.offset + run.frames > done or self._finish(run)]
        while self._next < len(self._clips) and self._start(self._next) < end:
            p = self._clips[self._next]
            self._next += 1
            clip_id = p.clip.clip_id
            if r.offset[clip_id] + r.frames[clip_id] > done:
                player = ClipPlayer(p, self._pool, r.rate_hz, self._g.clips[clip_id], p.clip.timeline_start_s)
                meter = new_meter(r.rate_hz, p.out_channels) if clip_id in self._meter_clips else None
                self._runs.append(_ClipRun(player, r.offset[clip_id], r.frames[clip_id], meter))
        own: FloatArray | None = None
        playing = np.zeros(count, dtype=bool)
        for run in self._runs:
            local = done - run.offset
            a, b = max(-local, 0), min(run.frames - local, count)
            if b <= a:
                continue
            try:
                # Planar (channels, frames) from here on: numpy is many times faster on long rows than on
                # interleaved frames, and the meters read rows.
                x = np.ascontiguousarray(run.player.render(local, count).T)
            except AudioError as exc:
                raise ClipFailed(run.player.playable.clip.clip_id, exc) from exc
            if run.meter is not None:
                run.meter.feed(x[:, a:b].T)
            if self._keep_peaks:
                self._peaks(run, x, done, a, b)
            if own is None and len(x) == self._width:
                own = x
            else:
                if own is None:
                    own = np.zeros((self._width, count), dtype=np.float32)
                own += x[: self._width]  # a mono clip on a stereo track plays on both sides
            playing[a:b] = True
        self._runs = [run for run in self._runs if run.offset + run.frames > end or self._finish(run)]
        if own is None:
            return None, None
        if self.meter is not None:
            feed(self.meter, own, playing)
        return own, playing

    def _peaks(self, run: _ClipRun, x: FloatArray, done: int, a: int, b: int) -> None:
        size = PEAK_BLOCK_FRAMES
        lo, hi = a // size, -(-b // size)
        part = np.abs(x[:2, lo * size : hi * size])
        if part.shape[1] < (hi - lo) * size:  # the last block of the session: pad with silence
            part = np.concatenate([part, np.zeros((len(part), (hi - lo) * size - part.shape[1]), part.dtype)], axis=1)
        if run.first_block < 0:
            run.first_block = done // size + lo
        run.peaks.append(part.reshape(len(part), hi - lo, size).max(axis=2).T)

    def _finish(self, run: _ClipRun) -> bool:
        """Keep what a clip that has ended measured; False (drop the run)."""
        clip_id = run.player.playable.clip.clip_id
        if run.meter is not None:
            self.levels[clip_id] = run.meter.result()
        if run.peaks:
            self._done_peaks[clip_id] = (run.first_block, np.concatenate(run.peaks))
        return False

    def peak_blocks(self) -> dict[str, tuple[int, F32]]:
        for run in self._runs:
            self._finish(run)
        self._runs = []
        self._pool.close()
        return self._done_peaks


Own = tuple[FloatArray | None, Mask | None]  # a track's own clips summed, planar (channels, frames); where one plays


def new_meter(rate_hz: int, channels: int, *, true_peak: bool = True) -> Meter:
    """A meter of the mix: its input is float32 (renders), so it buffers float32 (half the memory)."""
    return Meter(rate_hz, channels, true_peak=true_peak, buffer_dtype=np.float32)


def feed(meter: Meter, audio: FloatArray, playing: Mask) -> None:
    """Feed `meter` the frames of planar `audio` where something played ("as one long item": the gaps left out),
    run by run (slicing is many times faster than masking)."""
    edges = np.flatnonzero(np.diff(playing.view(np.int8), prepend=0, append=0))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        meter.feed(audio[:, a:b].T)
