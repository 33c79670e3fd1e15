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



def _hop_sums(seg: F64, per_hop: int) -> F64:
    n = len(seg) // per_hop
    out: F64 = seg[: n * per_hop].reshape(n, per_hop).sum(axis=1)
    return out


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


def _max_window_lufs(seg: F64, width_segments: int, width_samples: int) -> float:
    """Maximum loudness of a rectangular window sliding one segment (10 ms) at a time (Tech 3341 §2.2)."""
    if len(seg) < width_segments:
        return NEG_INF
    c = np.concatenate([[0.0], np.cumsum(seg)])
    # Differences of a cumulative sum can dip below zero by rounding: clamp (METERING.md §9).
    best = float(np.max(c[width_segments:] - c[:-width_segments]))
    return _lufs(max(best, 0.0) / width_samples)


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
