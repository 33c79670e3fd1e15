"""Loudness from segment energies: the gates, maxima and range of BS.1770-4 / EBU Tech 3341-3342, computed from
the energies per 10 ms segment that `meters.Meter` keeps (never from the audio). Pure functions of arrays.
"""

from __future__ import annotations

import math

import numpy as np

from .kweighting import F64
from .units import NEG_INF, power_to_db

LOUDNESS_OFFSET = -0.691  # BS.1770-4 Annex 1, eq. (2): L_K = -0.691 + 10 log10(sum G_i z_i)
ABSOLUTE_GATE_LUFS = -70.0  # BS.1770-4 Annex 1, eq. (5): Gamma_a = -70 LKFS; also Tech 3342 §3
RELATIVE_GATE_LU = -10.0  # BS.1770-4 Annex 1, eq. (6): Gamma_r = L_KG(abs-gated) - 10 LU
LRA_RELATIVE_GATE_LU = -20.0  # EBU Tech 3342 §3: relative gate 20 LU below the abs-gated power mean
LRA_LOW_PERCENTILE = 10.0  # Tech 3342 §3: LRA = L95 - L10
LRA_HIGH_PERCENTILE = 95.0
GATED_RMS_ABSOLUTE_DBFS = -70.0  # gainstager's unweighted analogue of the BS.1770 gates
GATED_RMS_RELATIVE_DB = -20.0



def _window_sums(hops: F64, width: int) -> F64:
    """Sums of `width` consecutive hops at every hop; only complete windows (floor of the count)."""
    if len(hops) < width:
        return np.zeros(0)
    out: F64 = np.lib.stride_tricks.sliding_window_view(hops, width).sum(axis=1)
    return out


def _lufs(mean_square: float) -> float:
    """BS.1770-4 Annex 1 eq. (2): -0.691 + 10 log10(sum_i G_i z_i); -inf for zero energy."""
    db = power_to_db(mean_square)
    return LOUDNESS_OFFSET + db if db != NEG_INF else NEG_INF


def _energy_of(lufs: float) -> float:
    return float(10.0 ** ((lufs - LOUDNESS_OFFSET) / 10.0))


def _integrated(z: F64) -> float:
    """BS.1770-4 Annex 1 eqs. (4)-(7): two-stage gated mean of the 400 ms block mean squares z_j."""
    above = z[z > _energy_of(ABSOLUTE_GATE_LUFS)]  # eq. (5): l_j > Gamma_a (strict, as the standard)
    if above.size == 0:
        return NEG_INF
    relative = _lufs(float(above.mean())) + RELATIVE_GATE_LU  # eq. (6)
    kept = above[above > _energy_of(relative)]  # eq. (7): l_j > Gamma_r and l_j > Gamma_a
    return _lufs(float(kept.mean())) if kept.size else NEG_INF


def _gated_rms(z: F64) -> float:
    """Unweighted analogue: drop blocks below -70 dBFS, then more than 20 dB below the power mean."""
    above = z[z >= 10.0 ** (GATED_RMS_ABSOLUTE_DBFS / 10.0)]
    if above.size == 0:
        return NEG_INF
    floor = float(above.mean()) * 10.0 ** (GATED_RMS_RELATIVE_DB / 10.0)
    kept = above[above >= floor]
    return power_to_db(float(kept.mean()))


class Energies:
    """A meter's segment energies as they come, chunk after chunk, kept small: as 100 ms hop sums (all the gates,
    the integrated loudness and the LRA read) and, for the maximum momentary and short-term loudness (windows
    sliding 10 ms at a time), the largest window sums so far and the last segments a window can still reach
    back to. Memory grows by two float64 per 100 ms, not per 10 ms."""

    def __init__(self, per_hop: int, widths: tuple[int, ...]) -> None:
        self._per_hop = per_hop
        self._widths = widths  # segments per sliding window (M, S)
        self._hops_k: list[F64] = []
        self._hops_u: list[F64] = []
        self._part = (np.zeros(0), np.zeros(0))  # segments of an incomplete hop (K-weighted, unweighted)
        self._recent = np.zeros(0)  # the last max(widths) - 1 K-weighted segments
        self.best: list[float | None] = [None] * len(widths)  # largest window sum of each width so far
        self.sum_u = 0.0  # every unweighted segment energy, summed

    def add(self, seg_k: F64, seg_u: F64) -> None:
        self.sum_u += float(seg_u.sum())
        k, u = np.concatenate([self._part[0], seg_k]), np.concatenate([self._part[1], seg_u])
        whole = len(k) // self._per_hop * self._per_hop
        self._hops_k.append(k[:whole].reshape(-1, self._per_hop).sum(axis=1))
        self._hops_u.append(u[:whole].reshape(-1, self._per_hop).sum(axis=1))
        self._part = (k[whole:], u[whole:])
        reach = np.concatenate([self._recent, seg_k])  # windows seen before are seen again: harmless for a max
        sums = np.concatenate([[0.0], np.cumsum(reach)])
        for i, width in enumerate(self._widths):
            if len(reach) >= width:
                # Differences of a cumulative sum can dip below zero by rounding: clamp (METERING.md §9).
                found, before = max(float(np.max(sums[width:] - sums[:-width])), 0.0), self.best[i]
                self.best[i] = found if before is None else max(before, found)
        keep = max(self._widths) - 1
        self._recent = reach[max(len(reach) - keep, 0) :]

    def copy(self) -> Energies:
        out = Energies(self._per_hop, self._widths)
        out._hops_k, out._hops_u = list(self._hops_k), list(self._hops_u)
        out._part, out._recent, out.best, out.sum_u = self._part, self._recent, list(self.best), self.sum_u
        return out

    def hops(self) -> tuple[F64, F64]:
        """K-weighted and unweighted energy per complete 100 ms hop."""
        k = np.concatenate(self._hops_k) if self._hops_k else np.zeros(0)
        u = np.concatenate(self._hops_u) if self._hops_u else np.zeros(0)
        return k, u


def _loudness_range(z: F64) -> float:
    """EBU Tech 3342 §3: gated short-term loudness distribution, LRA = L95 - L10 (nearest rank)."""
    above = z[z > _energy_of(ABSOLUTE_GATE_LUFS)]
    if above.size == 0:
        return 0.0
    relative = _lufs(float(above.mean())) + LRA_RELATIVE_GATE_LU
    kept = np.sort(above[above > _energy_of(relative)])
    if kept.size == 0:
        return 0.0
    levels = LOUDNESS_OFFSET + 10.0 * np.log10(kept)
    n = kept.size

    def rank(p: float) -> float:
        # MATLAB reference: sorted[round((n - 1) p / 100 + 1)], 1-based, round half away from zero.
        return float(levels[math.floor((n - 1) * p / 100.0 + 0.5)])

    return max(0.0, rank(LRA_HIGH_PERCENTILE) - rank(LRA_LOW_PERCENTILE))
