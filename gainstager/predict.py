"""The master after a plan, derived from the first pass: the session is not played again.

Every stage between a clip and the master is linear (clip gain, fader, pan, folder sums), so with a plan each
clip's contribution to the master is its contribution before, times a known factor c_i (its clip-gain change
times the fader changes on its way to the master, the headroom cut included). `mix.mix` kept, per block of
`track_render.PEAK_BLOCK_FRAMES` frames where something plays, the master's peak M_b and each clip's own peak; times the
clip's gains to the master (its chain of faders and pans) that is p_ib, the peak of its contribution.

* When every audible clip moves by the same factor c (a plan that keeps the faders, the common case), the
  master after is the master before times c: exact, nothing to compute.
* Otherwise, for any reference factor c_ref, the master after in block b is the master before times c_ref plus
  the sum of (c_i - c_ref) times each clip's contribution, so (triangle inequality) its peak is at most
  UB_b = |c_ref| M_b + sum_i |c_i - c_ref| p_ib, for each channel. UB_b is taken as the smallest over a few
  references (0, and the factors of the clips). The blocks are then rendered exactly at the new gains
  (`mix.block_peaks`) in descending order of UB_b, in rounds, until no block left can hold more than the
  largest exact peak found: that is the exact peak of a whole render, rendering only the blocks that could
  hold it (as the true-peak meter prunes its candidates).

The stored peaks are rounded up (never down), so every bound stays a bound.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .audio import FloatArray
from .kweighting import F64
from .mix import BlockPeaks
from .routing import Gains, Routing
from .track_render import F32

_MAX_REFERENCES = 32  # reference factors tried per block (the clips' most common factors, and 0)
_FIRST_ROUND = 16  # blocks rendered in the first round; each next round renders four times more
_SAME = 1e-9  # relative: factors this close are one factor
_BOUND_MARGIN = 1e-4  # relative: the float32 sums of a render may round a hair above the bound's terms

Render = Callable[[Sequence[int]], Mapping[int, float]]  # block indices (ascending) -> exact peak of each


def chain_gains(r: Routing, post: Mapping[str, FloatArray]) -> dict[str, F64]:
    """Each audible track's stereo gain to the master: its post-fader gain times its folders'."""
    out: dict[str, F64] = {}
    for track_id in r.bus:
        gain, node, seen = np.asarray(post[track_id], dtype=np.float64), r.bus[track_id], {track_id}
        while node is not None and node in r.bus and node not in seen:  # a (hostile) cycle ends the chain
            seen.add(node)
            gain = gain * post[node]
            node = r.bus[node]
        out[track_id] = gain
    return out


def factors(r: Routing, before: Gains, after: Gains) -> dict[str, float] | None:
    """Each audible clip's factor c_i (its contribution after / before); None when a clip that was silent in the
    master becomes audible (nothing was kept to scale: the caller renders the whole master)."""
    old, new = chain_gains(r, before.post), chain_gains(r, after.post)
    out: dict[str, float] = {}
    for track_id, ps in r.clips.items():
        if track_id not in r.bus:
            continue
        for p in ps:
            clip_id = p.clip.clip_id
            a = before.clips[clip_id] * old[track_id]
            b = after.clips[clip_id] * new[track_id]
            ch = int(np.argmax(np.abs(a)))
            if a[ch] == 0.0:
                if np.any(b != 0.0):
                    return None
                continue
            out[clip_id] = float(b[ch] / a[ch])
    return out


def master_after(r: Routing, peaks: BlockPeaks, before: Gains, after: Gains, render: Render) -> float:
    """The master's sample peak (linear, after its fader) when the session plays at gains `after`, derived from
    the peaks of the pass at gains `before`; `render` gives the exact peak of the blocks it must check."""
    c = factors(r, before, after)

    def exact(rows: Sequence[int]) -> Mapping[int, float]:  # rows of the peaks (played blocks) -> exact peaks
        blocks = [int(peaks.blocks[k]) for k in rows]
        found = render(blocks)
        return {k: found[b] for k, b in zip(rows, blocks, strict=True)}

    if c is None:
        return max(exact(range(len(peaks.master))).values(), default=0.0) * after.master
    if _alike(list(c.values())):  # every contribution scales alike: the master scales with them
        scale = abs(next(iter(c.values()), 1.0))
        return peaks.master_peak * scale * after.master
    bound = _bounds(r, peaks, before, c)
    return _exact_max(bound, exact) * after.master


def _alike(values: list[float]) -> bool:
    """All equal to float precision (a fader change that cancels a clip-gain change leaves ~1e-16)."""
    if not values:
        return True
    low, high = min(values), max(values)
    return low * high > 0.0 and high - low <= _SAME * max(abs(low), abs(high))


def _bounds(r: Routing, peaks: BlockPeaks, before: Gains, c: Mapping[str, float]) -> F32:
    """UB_b for every block (largest channel), the smallest over the reference factors."""
    gain = chain_gains(r, before.post)
    weight: dict[float, float] = {}
    contributions = []
    for track_id, ps in r.clips.items():
        for p in ps:
            clip_id = p.clip.clip_id
            if clip_id not in c or clip_id not in peaks.clips:
                continue
            first_block, own = peaks.clips[clip_id]
            first = int(np.searchsorted(peaks.blocks, first_block))  # its blocks are consecutive rows
            contribution = own.astype(np.float64) * gain[track_id]  # (blocks, 1 or 2) x (2,) -> (blocks, 2)
            contributions.append((first, contribution, c[clip_id]))
            weight[c[clip_id]] = weight.get(c[clip_id], 0.0) + float(contribution.sum())
    references = [0.0, *sorted(weight, key=lambda f: -weight[f])[: _MAX_REFERENCES - 1]]
    master = peaks.master.astype(np.float64)
    best = np.full(master.shape, np.inf)
    for ref in references:
        ub = abs(ref) * master
        for first, contribution, factor in contributions:
            if factor != ref:
                ub[first : first + len(contribution)] += abs(factor - ref) * contribution
        np.minimum(best, ub, out=best)
    out: F32 = (best.max(axis=1) * (1.0 + _BOUND_MARGIN)).astype(np.float32)
    return out


def _exact_max(bound: F32, render: Render) -> float:
    """The largest exact block peak, rendering blocks in descending order of their bound, in rounds, until no
    block left can beat the best found."""
    order = np.argsort(-bound, kind="stable")
    best, at, size = 0.0, 0, _FIRST_ROUND
    while at < len(order) and bound[order[at]] > best:
        batch = order[at : at + size]
        batch = batch[bound[batch] > best]
        at += size
        size *= 4
        exact = render(sorted(int(k) for k in batch))
        best = max([best, *exact.values()])
    return best
