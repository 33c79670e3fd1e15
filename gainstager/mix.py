"""The mix: what the tracks, folders and master sum to, in one pass.

`mix` plays the session once along the timeline at the project rate, block by block, as `routing.routing` laid
it out (where every clip plays, how the tracks sum) at the gains `routing.gains` gives: every clip is decoded and
rendered once (`track_render`), and that one render feeds the clip's meter, its track's meter, the folders'
meters and the master, summed post-fader with the pan law. It keeps per block the master's peak and each clip's
peak, from which `predict` derives the master after a plan without playing the session again (`block_peaks`
renders the few blocks it must check). With several cores the session plays in parts, whole top-level subtrees,
on as many processes (`mix_procs`), else the tracks of a block render on a thread pool; either way the folders
are summed in one fixed order and the master exactly (`fixed_sum`), so the result does not depend on how many
there are.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import cast

import numpy as np
import numpy.typing as npt

from . import mix_procs, track_render
from .audio import BLOCK_FRAMES, FloatArray
from .kweighting import F64
from .mix_procs import PartResult
from .model import Levels, Session
from .render import Mask
from .routing import Gains, Routing, gains
from .track_render import F32, PEAK_BLOCK_FRAMES, Own, TrackRender, new_meter
from .units import gain_to_db


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
    parts = mixer.run(played_spans(r), threads, progress)
    master = np.concatenate(mixer.master_blocks) if mixer.master_blocks else np.zeros((0, 2), dtype=np.float32)
    starts = zip(mixer.master_starts, mixer.master_blocks, strict=True)
    blocks = [np.arange(first, first + len(m), dtype=np.int64) for first, m in starts]
    peak = float(master.max(initial=0.0))
    clip_levels: dict[str, Levels] = {}
    peaks: dict[str, tuple[int, F32]] = {}
    for t in r.order:  # in the same order however many parts played (each track is in one)
        for part in parts:
            clip_levels.update(part.clip_levels.get(t, {}))
            peaks.update(part.peaks.get(t, {}))
    found = {k: v for part in parts for k, v in part.track_levels.items()}
    levels = {k: found[k] for k in [*sorted(r.groups), *r.order] if k in found}
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


# Gaps of up to this many blocks between the blocks `block_peaks` must render are rendered too: one step of the
# mix costs about what 16 blocks of audio do (its Python, a task per track), so scattered blocks cost 8x more per
# second of audio than a whole render (the 32-track bench session, `--faders unity` on a warm cache).
RENDER_THROUGH_BLOCKS = 15


def block_peaks(r: Routing, g: Gains, blocks: Sequence[int], *, threads: int = 1) -> dict[int, float]:
    """The master's exact sample peak (before its fader, largest channel) in each of `blocks` (indices of
    `PEAK_BLOCK_FRAMES` blocks, ascending) when the mix plays at gains `g`: the same samples a whole render gives
    there, rendering only those blocks (and what a resampler or stretcher must read to reach them)."""
    b = PEAK_BLOCK_FRAMES
    spans: list[tuple[int, int]] = []
    for k in blocks:
        lo, hi = k * b, min((k + 1) * b, r.total_frames)
        if spans and lo - spans[-1][1] <= RENDER_THROUGH_BLOCKS * b:  # (a short gap is rendered, not skipped)
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


class _Mixer:
    """Renders spans of the timeline at gains `g`: the tracks of each block (in parts on processes, or on a
    thread pool), folders summed in a fixed order (children before parents, tracks in session order), the
    master exactly (`fixed_sum`)."""

    def __init__(self, r: Routing, g: Gains, meter_clips: set[str], *, meter_tracks: bool) -> None:
        self._r = r
        self._g = g
        self.tracks = {
            k: TrackRender(k, r, g, meter_clips, meter_track=meter_tracks) for k in r.order if k in r.clips
        }
        self.group_meters = {k: new_meter(r.rate_hz, 2) for k in sorted(r.groups)} if meter_tracks else {}
        self.master_blocks: list[F32] = []
        self.master_starts: list[int] = []
        self._top_tracks = sum(1 for parent in r.bus.values() if parent is None)  # what sums into the master
        self._scale = fixed_scale(self._top_tracks)
        # Post-fader gains, applied to float32 audio; a top-level track's times the master sum's grid (`fixed_sum`):
        # a power of two, so its products are the same bits as scaling afterwards.
        self._post = {
            k: (v.astype(np.float32) * np.float32(self._scale if r.bus.get(k, "") is None else 1.0))[:, None]
            for k, v in g.post.items()
        }

    def run(
        self, spans: Sequence[tuple[int, int]], threads: int, progress: Callable[[float], None] | None
    ) -> list[PartResult]:
        """Play `spans`; what each part of the mix measured. With `threads` > 1 the parts play on as many
        processes where it can (`mix_procs`), else the tracks of each block on a thread pool."""
        blocks = [(a, min(BLOCK_FRAMES, hi - a)) for lo, hi in spans for a in range(lo, hi, BLOCK_FRAMES)]
        parts = mix_procs.parts(self._r, threads) if threads > 1 else []
        played_s = sum(count for _, count in blocks) * len(self.tracks) / self._r.rate_hz  # (at most)
        if len(parts) > 1 and mix_procs.worth_it(self._top_tracks, played_s):
            done = mix_procs.run(blocks, parts, self._render, self._finish, self._add, progress)
            return cast(list[PartResult], done)  # what `_finish` returned in each worker
        self._run_threads(blocks, threads, progress)
        return [self._finish(frozenset(self._r.order))]

    def _render(self, part: frozenset[str], done: int, count: int) -> F64 | None:
        """What the top-level tracks of `part` send the master over [done, done + count), summed on the grid of
        `fixed_sum` (in a worker)."""
        tracks = [t for k, t in self.tracks.items() if k in part and t.busy(done, count)]
        return self._master_sum({t.track_id: t.block(done, count) for t in tracks}, count, part)

    def _finish(self, part: frozenset[str]) -> PartResult:
        levels = {k: m.result() for k, m in self.group_meters.items() if k in part}
        tracks = [t for t in self.tracks.values() if t.track_id in part]
        for t in tracks:
            if t.meter is not None:
                levels[t.track_id] = t.meter.result()
        clips = {t.track_id: t.levels for t in tracks}
        return PartResult(clips, levels, {t.track_id: t.peak_blocks() for t in tracks})

    def _run_threads(
        self, blocks: Sequence[tuple[int, int]], threads: int, progress: Callable[[float], None] | None
    ) -> None:
        total = sum(count for _, count in blocks)
        pool = ThreadPoolExecutor(threads, thread_name_prefix="mix") if threads > 1 else None
        try:
            pending = self._start(pool, *blocks[0]) if blocks else {}
            finished = 0
            for i, (done, count) in enumerate(blocks):
                owns = {k: v.result() if isinstance(v, Future) else v for k, v in pending.items()}
                if i + 1 < len(blocks):  # the next block renders while this one is summed
                    pending = self._start(pool, *blocks[i + 1])
                summed = self._master_sum(owns, count)
                self._add(done, count, [] if summed is None else [summed])
                finished += count
                if progress is not None:
                    progress(finished / total)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _start(
        self, pool: ThreadPoolExecutor | None, done: int, count: int
    ) -> dict[str, Future[Own] | Own]:
        busy = [t for t in self.tracks.values() if t.busy(done, count)]
        if pool is None:
            return {t.track_id: t.block(done, count) for t in busy}
        return {t.track_id: pool.submit(t.block, done, count) for t in busy}

    def _master_sum(self, owns: Mapping[str, Own], count: int, part: frozenset[str] | None = None) -> F64 | None:
        """What the top-level tracks (of `part`) send the master, as their `fixed_sum`, from the tracks' own clips
        `owns`: folders summed children first, in the session's order, feeding the groups' meters on the way."""
        r, post = self._r, self._post
        bus: dict[str, tuple[FloatArray, Mask]] = {}  # what children send each folder (stereo, post-fader)
        tops: list[FloatArray] = []
        for t in r.order:
            if part is not None and t not in part:
                continue
            own, playing = owns.get(t, (None, None))
            children = bus.pop(t, None)
            if children is not None and t in self.group_meters:
                track_render.feed(self.group_meters[t], children[0], children[1])
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
                tops.append(np.trunc(out, out=out))  # on the grid of `fixed_sum` (`out` is a new array)
            elif parent in bus:
                summed, mask = bus[parent]
                bus[parent] = (summed + out, mask | playing)
            else:
                bus[parent] = (out, playing)
        return fixed_sum(tops, count)

    def _add(self, done: int, count: int, sums: Sequence[F64]) -> None:
        """The master of a block from the `fixed_sum`s of what the top-level tracks send it (one per part of the
        mix; exact in any order), and its block peaks."""
        total = np.zeros((2, count))
        for part in sums:
            total += part
        master = (total * (1.0 / self._scale)).astype(np.float32)
        size = PEAK_BLOCK_FRAMES
        n = -(-count // size)
        if n * size != count:
            master = np.concatenate([master, np.zeros((2, n * size - count), dtype=np.float32)], axis=1)
        self.master_blocks.append(np.abs(master).reshape(2, n, size).max(axis=2).T)
        self.master_starts.append(done // size)


FIXED_LIMIT = 2.0**16  # +96 dBFS: the master sum is exact for top-level tracks within it (any audio a DAW makes)


def fixed_scale(tops: int) -> float:
    """The grid of the master sum for a session with `tops` top-level tracks: 2^-30 (-180 dBFS), coarser only
    where more than 128 tracks within FIXED_LIMIT could otherwise add up beyond the 2^53 integers float64 holds
    exactly."""
    return 2.0 ** min(30, 53 - 16 - max(0, tops - 1).bit_length())


def fixed_sum(tops: Sequence[FloatArray], count: int) -> F64 | None:
    """The master sum of what top-level tracks send it, exactly: `tops` are (2, count) float32 in units of the
    grid (`fixed_scale` times the signal, truncated to integers: `_Mixer._master_sum` makes them), and their sum in
    float64 is then an integer below 2^53, exact: sums of these add up to the same bits in any order and grouping,
    so the master does not depend on how the tracks were split into parts (`mix_procs`). (Beyond FIXED_LIMIT the
    sum is still right, to float64 rounding.) None where no top plays."""
    if not tops:
        return None
    total = np.zeros((2, count))
    for out in tops:
        total += out
    return total
