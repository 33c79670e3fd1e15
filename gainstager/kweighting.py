"""K-weighting (BS.1770-4 Annex 1 §2.1), evaluated exactly in blocks as matrix products.

The two biquads of the K-weighting filter (`k_weighting_biquads`, any sample rate) run as one linear filter in
state-space form, `_IIR_BLOCK` samples at a time: y = T·x + O·s, s' = A^L·s + G·x, with the block-to-block
state recurrence solved by a recursive blocked scan (`_Scan`). That is the same filter as a direct-form
recursion to within float64 rounding (tests compare it with scipy's sosfilt), but runs in BLAS and needs no
scipy at run time. See `meters` for why the numerator is kept at [1, -2, 1] at every rate.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
FloatRow = npt.NDArray[np.float64] | npt.NDArray[np.float32]

_IIR_BLOCK = 32  # samples per IIR matrix block: L MACs per sample in BLAS, fewer states to scan (see `k_filter_row`)
_BLAS_ROWS_MACS = 1 << 17  # keep each BLAS call below OpenBLAS's threading threshold (see `_mm`)
_SCAN_GROUP = 16  # blocks per group in the recursive state scan (deeper levels)
_SCAN_EAGER_LEVELS = 4  # scan levels built up front (a chunk needs 4 at 48 kHz); deeper ones on demand
_SCAN_GROUP_FIRST = 8  # blocks per group at the first level, which sees every block (see `k_filter_row`)



Biquad = tuple[float, float, float, float, float]  # b0, b1, b2, a1, a2 (a0 = 1)


@lru_cache(maxsize=16)
def k_weighting_biquads(sample_rate_hz: int) -> tuple[Biquad, Biquad]:
    """The two K-weighting stages (shelf, RLB high-pass) for `sample_rate_hz`.

    Bilinear transform of the analog prototype behind BS.1770-4 Table 1 (shelf) and Table 2 (RLB): at
    48 kHz it gives the tabulated coefficients. The RLB numerator stays [1, -2, 1] as in libebur128 and
    ffmpeg (see the module docstring for why).
    """
    fs = float(sample_rate_hz)
    # Stage 1, high shelf (BS.1770-4 Table 1): f0, gain and Q of the analog prototype.
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / fs)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf: Biquad = (
        (vh + vb * k / q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / q + k * k) / a0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / q + k * k) / a0,
    )
    # Stage 2, RLB high-pass (BS.1770-4 Table 2). Numerator deliberately not normalised by a0: its
    # +0.043 dB passband gain is part of the -0.691 calibration (METERING.md §2.3).
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / fs)
    d = 1.0 + k / q + k * k
    rlb: Biquad = (1.0, -2.0, 1.0, 2.0 * (k * k - 1.0) / d, (1.0 - k / q + k * k) / d)
    return shelf, rlb


def _state_space(sections: Sequence[Biquad]) -> tuple[F64, F64, F64, float]:
    """(A, B, C, D) of a cascade of direct-form-II-transposed biquads; the state holds (z1, z2) per stage."""
    n = 2 * len(sections)
    a = np.zeros((n, n))
    b = np.zeros(n)
    c = np.zeros(n)
    d = 1.0
    for i, (b0, b1, b2, a1, a2) in enumerate(sections):
        # One DF2T stage: y = b0 x + z1; z1' = (b1 - a1 b0) x - a1 z1 + z2; z2' = (b2 - a2 b0) x - a2 z1.
        ai = np.array([[-a1, 1.0], [-a2, 0.0]])
        bi = np.array([b1 - a1 * b0, b2 - a2 * b0])
        ci = np.array([1.0, 0.0])
        j = 2 * i
        # Feeding this stage with the previous output y_prev = c x_state + d x gives:
        a[j : j + 2, :j] = np.outer(bi, c[:j])
        a[j : j + 2, j : j + 2] = ai
        b_new = bi * d
        c_new = b0 * c.copy()
        c_new[j : j + 2] = ci
        b[j : j + 2] = b_new
        c = c_new
        d = b0 * d
    return a, b, c, d


@dataclass(frozen=True, slots=True)
class _BlockIIR:
    """Exact block evaluation of a linear IIR filter (state-space form), L samples per block.

    For one block: y = x @ t + s @ o (t: L x L lower-triangular Toeplitz of the impulse response; o: the
    free response of each state), and the state recurrence s_{b+1} = s_b @ m + x_b @ g with m = (A^L)^T.
    The recurrence over many blocks is solved by `_scan` in groups of `_SCAN_GROUP` blocks.
    """

    tg: F64  # (L, L + order): [t | g], t (L, L) and g (L, order), both input products in one
    o: F64  # (order, L)
    m: F64  # (order, order): row-vector transition over one block
    order: int
    block: int
    t32: npt.NDArray[np.float32]  # t, g and o in float32, for float32 input (`k_filter_row`)
    g32: npt.NDArray[np.float32]
    o32: npt.NDArray[np.float32]

    @staticmethod
    def design(sections: Sequence[Biquad], block: int) -> _BlockIIR:
        a, b, c, d = _state_space(sections)
        order = a.shape[0]
        powers = [np.eye(order)]
        for _ in range(block):
            powers.append(a @ powers[-1])
        h = np.empty(block)
        h[0] = d
        for k in range(1, block):
            h[k] = c @ powers[k - 1] @ b
        i = np.arange(block)
        lag = i[None, :] - i[:, None]  # t[j, i] = h[i - j] for i >= j
        t = np.where(lag >= 0, h[np.clip(lag, 0, block - 1)], 0.0)
        o = np.stack([c @ powers[k] for k in range(block)], axis=1)  # (order, L)
        g = np.stack([powers[block - 1 - j] @ b for j in range(block)], axis=0)  # (L, order)
        tg = np.concatenate([t, g], axis=1)
        m = np.ascontiguousarray(powers[block].T)
        f32 = np.float32
        return _BlockIIR(tg, o, m, order, block, t.astype(f32), g.astype(f32), o.astype(f32))


class _Scan:
    """Solves s_{b+1} = s_b @ m + u_b for many b with matrix products, recursively in groups.

    Level 0 works on every block, so its group is small (`_SCAN_GROUP_FIRST`: its product costs about
    group * order MACs per block); the deeper levels work on few groups and use larger ones (fewer levels)."""

    def __init__(self, m: F64, group: int = _SCAN_GROUP, first_group: int = _SCAN_GROUP_FIRST) -> None:
        self.group = group
        self.first_group = first_group
        self.order = m.shape[0]
        self._levels: list[tuple[F64, F64, F64]] = []
        self._m0 = m
        self._lock = threading.Lock()  # one _Scan is shared by the meters of a rate, possibly on several threads
        self._level(_SCAN_EAGER_LEVELS - 1)

    def _group(self, depth: int) -> int:
        return self.first_group if depth == 0 else self.group

    def _level(self, depth: int) -> tuple[F64, F64, F64]:
        if depth < len(self._levels):
            return self._levels[depth]
        with self._lock:
            return self._add_levels(depth)

    def _add_levels(self, depth: int) -> tuple[F64, F64, F64]:
        while len(self._levels) <= depth:
            m = self._m0 if not self._levels else self._levels[-1][2]
            r, k = self.order, self._group(len(self._levels))
            powers = [np.eye(r)]
            for _ in range(k):
                powers.append(powers[-1] @ m)
            # w: state offset at block b (0..K) from the inputs of blocks j < b of the same group.
            w = np.zeros((r * k, r * (k + 1)))
            for j in range(k):
                for b in range(j + 1, k + 1):
                    w[r * j : r * j + r, r * b : r * b + r] = powers[b - 1 - j]
            p = np.concatenate(powers, axis=1)  # (r, r (K + 1)): s0 @ m^b for b = 0..K
            self._levels.append((w, p, powers[k]))
        return self._levels[depth]

    def run(self, u: F64, s0: F64, depth: int = 0) -> F64:
        """States before each block and after the last: u (C, n, r), s0 (C, r) -> (C, n + 1, r)."""
        ch, n, r = u.shape
        k = self._group(depth)
        w, p, _ = self._level(depth)
        if n <= k:
            v: F64 = _mm(u.reshape(ch, n * r), w[: n * r, : (n + 1) * r])
            return (s0 @ p[:, : (n + 1) * r] + v).reshape(ch, n + 1, r)
        groups = -(-n // k)
        if groups * k != n:
            u = np.concatenate([u, np.zeros((ch, groups * k - n, r))], axis=1)
        v = _mm(u.reshape(ch * groups, k * r), w).reshape(ch, groups, (k + 1) * r)
        starts = self.run(np.ascontiguousarray(v[:, :, k * r :]), s0, depth + 1)  # (C, groups + 1, r)
        within = _mm(starts[:, :groups].reshape(ch * groups, r), p[:, : k * r])
        states = within.reshape(ch, groups, k * r) + v[:, :, : k * r]
        full = np.concatenate([states.reshape(ch, groups * k, r), starts[:, groups:]], axis=1)
        return full[:, : n + 1]


@lru_cache(maxsize=16)
def _k_filter_design(sample_rate_hz: int) -> tuple[_BlockIIR, _Scan]:
    """The block K-weighting filter and its state scan for a rate: designed once, shared (read-only) by every
    meter at that rate, so the many short meters of a session analysis do not redo it."""
    iir = _BlockIIR.design(k_weighting_biquads(sample_rate_hz), _IIR_BLOCK)
    return iir, _Scan(iir.m)


def k_filter_row(iir: _BlockIIR, scan: _Scan, x: FloatRow, s0: F64) -> tuple[FloatRow, F64]:
    """K-weighted signal of one contiguous channel row from state `s0`, in x's type, and the state after it.

    A float32 row (a render) is filtered in float32 BLAS, twice as fast, with the state recursion in float64:
    its energies are within about 1e-7 (5e-7 dB) of float64's, below what float32 input holds anyway."""
    n = len(x)
    nb = -(-n // iir.block)
    if nb * iir.block != n:  # only the final chunk: zero-pad (the filter is causal), drop the extra
        x = np.concatenate([x, np.zeros(nb * iir.block - n, dtype=x.dtype)])
    xb = x.reshape(nb, iir.block)
    if x.dtype == np.float32:
        u = _mm(xb, iir.g32).astype(np.float64)
        states = scan.run(u[None], s0[None])[0]  # (nb + 1, order)
        y = _mm(xb, iir.t32)
        y += _mm(states[:nb].astype(np.float32), iir.o32)
    else:
        both = _mm(xb, iir.tg)  # (nb, L + order): forced response and the state inputs in one product
        states = scan.run(np.ascontiguousarray(both[:, iir.block :])[None], s0[None])[0]
        y = _mm(states[:nb], iir.o)
        y += both[:, : iir.block]
    return y.reshape(-1)[:n], states[n // iir.block] if nb * iir.block == n else s0


def _mm(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """a @ b for a tall a, as a batch of small products.

    OpenBLAS splits one large product over all cores; on a machine that is also decoding audio (or running
    anything else) its spinning threads make that 10-100x slower. Products of fewer than ~2^18 multiply-adds
    run single-threaded, and numpy's batched matmul loops over them in C.
    """
    m, k = a.shape
    n = b.shape[1]
    rows = max(1, _BLAS_ROWS_MACS // max(1, k * n))
    if m <= rows:
        small: npt.NDArray[Any] = a @ b
        return small
    full = (m // rows) * rows
    out = np.empty((m, n), dtype=np.result_type(a, b))
    np.matmul(a[:full].reshape(-1, rows, k), b, out=out[:full].reshape(-1, rows, n))
    if full < m:
        np.matmul(a[full:], b, out=out[full:])
    return out
