"""The mix: what the tracks, folders and master sum to, in one pass.

`mix` plays the session once along the timeline at the project rate, block by block, as `routing.routing` laid
it out (where every clip plays, how the tracks sum) at the gains `routing.gains` gives: every clip is decoded and
rendered once (`render.ClipPlayer`, on its own frame grid, placed on the project's), and that one render feeds the
clip's meter, its track's meter, the folders' meters and the master, summed post-fader with the pan law. It keeps
per block the master's peak and each clip's peak, from which `predict` derives the master after a plan without
playing the session again (`block_peaks` renders the few blocks it must check). The tracks of a block render on
a thread pool (libsndfile, soxr and numpy release the GIL); folders and the master are summed in a fixed order,
so the result does not depend on the number of threads.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from .audio import BLOCK_FRAMES, FloatArray
from .errors import AudioError
from .meters import Meter
from .model import Levels, Session
from .render import ClipPlayer, Mask, ReaderPool
from .routing import Gains, Routing, gains
from .units import gain_to_db

PEAK_BLOCK_FRAMES = 2048  # frames per block of the peaks kept for the master prediction (43 ms at 48 kHz)
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class BlockPeaks:
    """Per block of `PEAK_BLOCK_FRAMES` project frames: the master's peak per channel before its fader, and each
    audible clip's own peak per channel (its render, before its track's fader and pan), from its first block on.
    What `predict` derives the master after a plan from."""

    master_peak: float  # the master's exact sample peak before its fader (linear)
    blocks: npt.NDArray[np.int64]  # the blocks where something plays, ascending (silence between is skipped)
    master: F32  # (len(blocks), 2)
    clips: Mapping[str, tuple[int, F32]]  # clip id -> (first block, (blocks, 1 or 2 channels))


@dataclass(frozen=True, slots=True)
class MixResult:
    clip_levels: Mapping[str, Levels]  # the clips this pass was asked to meter
    # Pre-fader level of each track with several clips, as one long item, and of each group without clips of its
    # own: the sum of what its children send it (post their faders). `track_levels` adds the one-clip tracks.
    track_levels: Mapping[str, Levels]
    master_peak_dbfs: float  # sample peak of the master, post master fader
    peaks: BlockPeaks


class ClipFailed(Exception):
    """A clip's audio failed while the mix played it (the caller drops the clip and mixes again)."""

    def __init__(self, clip_id: str, error: AudioError) -> None:
        super().__init__(str(error))
        self.clip_id = clip_id
        self.error = error


def mix(
    session: Session,
    r: Routing,
    *,
    meter_clips: Iterable[str] = (),
    threads: int = 1,
    progress: Callable[[float], None] | None = None,
) -> MixResult:
    """One pass along the timeline at the project rate: each clip is decoded and rendered once, and that render
    feeds the meter of each clip in `meter_clips`, the meter of each track with several clips ("as one long item",
    gaps left out), the folders' meters, the master, and the block peaks kept for the prediction. The tracks of a
    block are rendered on `threads` threads; folders and the master are summed in a fixed order, so the result
    is the same whatever the number of threads. Raises ClipFailed when a clip's audio cannot be decoded."""
    g = gains(session, r)
    mixer = _Mixer(r, g, set(meter_clips), meter_tracks=True)
    mixer.run(played_spans(r), threads, progress)
    master = np.concatenate(mixer.master_blocks) if mixer.master_blocks else np.zeros((0, 2), dtype=np.float32)
    starts = zip(mixer.master_starts, mixer.master_blocks, strict=True)
    blocks = [np.arange(first, first + len(m), dtype=np.int64) for first, m in starts]
    peak = float(master.max(initial=0.0))
    clip_levels: dict[str, Levels] = {}
    levels: dict[str, Levels] = {k: m.result() for k, m in mixer.group_meters.items()}
    peaks: dict[str, tuple[int, F32]] = {}
    for track in mixer.tracks.values():
        clip_levels.update(track.levels)
        peaks.update(track.peak_blocks())
        if track.meter is not None:
            levels[track.track_id] = track.meter.result()
    played = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.int64)
    return MixResult(clip_levels, levels, gain_to_db(peak * g.master), BlockPeaks(peak, played, master, peaks))


def played_spans(r: Routing) -> list[tuple[int, int]]:
    """The frames where some clip plays, as ascending, merged [start, end) spans widened to whole blocks of
    `PEAK_BLOCK_FRAMES` (the last one ends with the session): silence between clips is skipped, however long."""
    size = PEAK_BLOCK_FRAMES
    spans = sorted((r.offset[k] // size * size, r.offset[k] + r.frames[k]) for k in r.offset if r.frames[k] > 0)
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        b = min(-(-b // size) * size, r.total_frames)
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def block_peaks(r: Routing, g: Gains, blocks: Sequence[int], *, threads: int = 1) -> dict[int, float]:
    """The master's exact sample peak (before its fader, largest channel) in each of `blocks` (indices of
    `PEAK_BLOCK_FRAMES` blocks, ascending) when the mix plays at gains `g`: the same samples a whole render gives
    there, rendering only those blocks (and what a resampler or stretcher must read to reach them)."""
    b = PEAK_BLOCK_FRAMES
    spans: list[tuple[int, int]] = []
    for k in blocks:
        lo, hi = k * b, min((k + 1) * b, r.total_frames)
        if spans and spans[-1][1] == lo:
            spans[-1] = (spans[-1][0], hi)
        elif hi > lo:
            spans.append((lo, hi))
    mixer = _Mixer(r, g, set(), meter_tracks=False)
    mixer.run(spans, threads, None)
    out: dict[int, float] = {}
    for first, peaks in zip(mixer.master_starts, mixer.master_blocks, strict=True):
        out.update((first + i, float(v)) for i, v in enumerate(peaks.max(axis=1)))
    return {k: out.get(k, 0.0) for k in blocks}


def track_levels(r: Routing, mixed: MixResult, clip_levels: Mapping[str, Levels]) -> dict[str, Levels]:
    """Every track's levels: a one-clip track's are its clip's; a track whose clips do not overlap takes the
    largest clip true peak (exact there), which spared its meter the oversampling."""
    out = dict(mixed.track_levels)
    for track_id, ps in r.clips.items():
        measured = [clip_levels[p.clip.clip_id] for p in ps if p.clip.clip_id in clip_levels]
        if len(ps) == 1:
            if measured:
                out[track_id] = measured[0]
        elif track_id in out and track_id not in r.overlapping:
            levels = out[track_id]
            peak = max([levels.sample_peak_dbfs, *(m.true_peak_dbtp for m in measured)])
            out[track_id] = replace(levels, true_peak_dbtp=peak)
    return out


def metered_with_true_peak(r: Routing) -> frozenset[str]:
    """Tracks whose levels come from a meter of their own that measured a true peak."""
    return r.overlapping | r.groups


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


class _TrackRender:
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
        self.meter = _meter(r.rate_hz, self._width, true_peak=overlapping) if meter_track and several else None
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
                meter = _meter(r.rate_hz, p.out_channels) if clip_id in self._meter_clips else None
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
            _feed(self.meter, own, playing)
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


class _Mixer:
    """Renders spans of the timeline at gains `g`: the tracks of each block on a thread pool, then folders and
    the master summed in a fixed order (children before parents, tracks in session order)."""

    def __init__(self, r: Routing, g: Gains, meter_clips: set[str], *, meter_tracks: bool) -> None:
        self._r = r
        self._g = g
        self.tracks = {
            k: _TrackRender(k, r, g, meter_clips, meter_track=meter_tracks) for k in r.order if k in r.clips
        }
        self.group_meters = {k: _meter(r.rate_hz, 2) for k in sorted(r.groups)} if meter_tracks else {}
        self.master_blocks: list[F32] = []
        self.master_starts: list[int] = []
        self._post = {k: v.astype(np.float32)[:, None] for k, v in g.post.items()}  # applied to float32 audio

    def run(self, spans: Sequence[tuple[int, int]], threads: int, progress: Callable[[float], None] | None) -> None:
        blocks = [(a, min(BLOCK_FRAMES, hi - a)) for lo, hi in spans for a in range(lo, hi, BLOCK_FRAMES)]
        total = sum(count for _, count in blocks)
        pool = ThreadPoolExecutor(threads, thread_name_prefix="mix") if threads > 1 else None
        try:
            pending = self._start(pool, *blocks[0]) if blocks else {}
            finished = 0
            for i, (done, count) in enumerate(blocks):
                owns = {k: v.result() if isinstance(v, Future) else v for k, v in pending.items()}
                if i + 1 < len(blocks):  # the next block renders while this one is summed
                    pending = self._start(pool, *blocks[i + 1])
                self._sum(done, count, owns)
                finished += count
                if progress is not None:
                    progress(finished / total)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _start(
        self, pool: ThreadPoolExecutor | None, done: int, count: int
    ) -> dict[str, Future[_Own] | _Own]:
        busy = [t for t in self.tracks.values() if t.busy(done, count)]
        if pool is None:
            return {t.track_id: t.block(done, count) for t in busy}
        return {t.track_id: pool.submit(t.block, done, count) for t in busy}

    def _sum(self, done: int, count: int, owns: Mapping[str, _Own]) -> None:
        r, post = self._r, self._post
        bus: dict[str, tuple[FloatArray, Mask]] = {}  # what children send each folder (stereo, post-fader)
        master = np.zeros((2, count), dtype=np.float32)
        for t in r.order:
            own, playing = owns.get(t, (None, None))
            children = bus.pop(t, None)
            if children is not None and t in self.group_meters:
                _feed(self.group_meters[t], children[0], children[1])
            if t not in r.bus:  # muted, or not reaching the master
                continue
            gain = post[t]
            out = None if own is None else own * gain
            if children is not None:
                out = children[0] * gain if out is None else out + children[0] * gain
                playing = children[1] if playing is None else playing | children[1]
            if out is None or playing is None:
                continue
            parent = r.bus[t]
            if parent is None:
                master += out
            elif parent in bus:
                summed, mask = bus[parent]
                bus[parent] = (summed + out, mask | playing)
            else:
                bus[parent] = (out, playing)
        size = PEAK_BLOCK_FRAMES
        n = -(-count // size)
        if n * size != count:
            master = np.concatenate([master, np.zeros((2, n * size - count), dtype=np.float32)], axis=1)
        self.master_blocks.append(np.abs(master).reshape(2, n, size).max(axis=2).T)
        self.master_starts.append(done // size)


_Own = tuple[FloatArray | None, Mask | None]  # a track's own clips summed, planar (channels, frames); where one plays


def _meter(rate_hz: int, channels: int, *, true_peak: bool = True) -> Meter:
    """A meter of the mix: its input is float32 (renders), so it buffers float32 (half the memory)."""
    return Meter(rate_hz, channels, true_peak=true_peak, buffer_dtype=np.float32)


def _feed(meter: Meter, audio: FloatArray, playing: Mask) -> None:
    """Feed `meter` the frames of planar `audio` where something played ("as one long item": the gaps left out),
    run by run (slicing is many times faster than masking)."""
    edges = np.flatnonzero(np.diff(playing.view(np.int8), prepend=0, append=0))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        meter.feed(audio[:, a:b].T)
