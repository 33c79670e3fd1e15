"""Loudness and peak meters: (frames, channels) float arrays in, `Levels` out. Pure: no file I/O, no printing.

Standards and where each step comes from:

* ITU-R BS.1770-4 Annex 1 (loudness), Annex 2 (true peak); EBU Tech 3341 (EBU-mode meters: momentary,
  short-term, integrated), EBU Tech 3342 (loudness range). Section numbers below refer to those documents.

Design (see shared/docs/METERING.md §9):

* The input is converted once to planar float64. Everything is accumulated in float64, so a long float32
  file loses nothing (a float32 running sum over 10 minutes reads ~0.3 dB off).
* K-weighting runs in float64. Per channel we keep only the energy of each 10 ms *segment* (a few
  kilobytes per minute, never the audio) and derive every loudness from those segment energies:
  400 ms gating blocks at a 100 ms hop for I (floor of the block count: an incomplete last block is
  discarded), max M and max S from windows sliding every 10 ms (Tech 3341 cases 10/13 need a true
  maximum, not a 100 ms poll), and the short-term series at a 100 ms hop for LRA.
* The IIR filter is evaluated exactly, but in blocks of `_IIR_BLOCK` samples as matrix products
  (state-space form: y = T·x + O·s, s' = A^L·s + G·x, with the block-to-block state recurrence
  solved by a recursive blocked scan). This is the same linear filter as a direct-form recursion to
  within float64 rounding (tests compare it with scipy's sosfilt), but runs in BLAS and needs no
  scipy at run time: importing scipy.signal alone costs about 1 s, which is more than metering a
  10-minute file.
* The meter processes fixed-size chunks counted from the first frame, whatever the sizes of the
  blocks given to `feed`, so streaming gives the same result as one big array.

K-weighting at sample rates other than 48 kHz (decision, METERING.md §2.4):
    We use the libebur128/ffmpeg-compatible bilinear transform of the analog prototype with the RLB
    high-pass numerator kept at [1, -2, 1]. At 48 kHz this reproduces the BS.1770 table (equations in
    Annex 1, Table 1 and 2) to 1e-15. At other rates the passband gain moves slightly (+0.004 dB at
    44.1 kHz, -0.022 dB at 96 kHz, -0.033 dB at 192 kHz), far inside the +-0.1 LU tolerance of Tech
    3341. We chose it so that readings agree to about 1e-3 LU with libebur128 (exact mode) and ffmpeg,
    the meters users cross-check against; the regression values of METERING.md §5.3 follow it.

Channel weights (BS.1770-4 Annex 1, Table 3; see `channel_weights`):
    1 ch mono; 2 ch L R; 3 ch L R C; 5 ch L R C Ls Rs (surrounds 1.41, +1.5 dB); 6 ch SMPTE/WAV order
    L R C LFE Ls Rs with the LFE excluded (weight 0); any other count weighs every channel 1.0.

Choices where the standards leave room (documented here, tested in tests/test_meters.py):

* Sliding windows are rectangular and only complete windows count: input shorter than 400 ms has no
  integrated loudness, gated RMS or momentary maximum (-inf); shorter than 3 s has no short-term
  maximum (-inf) and LRA 0.0. No silence is appended at the end.
* The 100 ms hop is round(fs / 10) samples and blocks are 4 hops (as libebur128); M/S maxima are
  evaluated every hop/10 samples (10 ms) when the hop divides by 10, else at the finest step <= 10 ms
  dividing the hop (e.g. 11.1 ms at 22.05 kHz).
* True peak: 4x oversampling at every rate (BS.1770 Annex 2 prefers higher ratios; we do not drop to
  2x at 88.2/96 kHz as libebur128 does) with a 49-tap Hann-windowed sinc interpolator; the signal is
  taken as silent before its first and after its last sample, so overshoots at the edges count.
  The reported value is max(true peak, sample peak). With ``true_peak=False`` it is -inf.
* RMS and gated RMS are unweighted mean squares averaged over channels (mean, not sum), so a mono
  file and the same signal on both channels of a stereo file read the same; a full-scale sine reads
  -3.01 dBFS (no +3 dB "AES" offset).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from .model import Levels
from .units import NEG_INF, gain_to_db, power_to_db

F64 = npt.NDArray[np.float64]

# --- constants, each with its source -------------------------------------------------------------------

LOUDNESS_OFFSET = -0.691  # BS.1770-4 Annex 1, eq. (2): L_K = -0.691 + 10 log10(sum G_i z_i)
ABSOLUTE_GATE_LUFS = -70.0  # BS.1770-4 Annex 1, eq. (5): Gamma_a = -70 LKFS; also Tech 3342 §3
RELATIVE_GATE_LU = -10.0  # BS.1770-4 Annex 1, eq. (6): Gamma_r = L_KG(abs-gated) - 10 LU
LRA_RELATIVE_GATE_LU = -20.0  # EBU Tech 3342 §3: relative gate 20 LU below the abs-gated power mean
LRA_LOW_PERCENTILE = 10.0  # Tech 3342 §3: LRA = L95 - L10
LRA_HIGH_PERCENTILE = 95.0
GATED_RMS_ABSOLUTE_DBFS = -70.0  # gainstager's unweighted analogue of the BS.1770 gates
GATED_RMS_RELATIVE_DB = -20.0
HOPS_PER_BLOCK = 4  # BS.1770-4 Annex 1: T_g = 400 ms blocks with 75 % overlap -> 4 hops of 100 ms
HOPS_PER_SHORT_TERM = 30  # Tech 3341 §2.2: short-term window 3 s = 30 hops of 100 ms
SURROUND_WEIGHT = 1.41  # BS.1770-4 Annex 1, Table 3: G = 1.41 (+1.5 dB) for Ls, Rs
TRUE_PEAK_OVERSAMPLING = 4  # BS.1770-4 Annex 2 §2: 4x (48 -> 192 kHz); we use 4x at every rate
TRUE_PEAK_HALF_WIDTH = 6  # interpolator support +-6 input samples = 49 taps at 4x (libebur128-style)

_IIR_BLOCK = 16  # samples per IIR matrix block: L MACs per sample in BLAS; 16 measured fastest
_BLAS_ROWS_MACS = 1 << 17  # keep each BLAS call below OpenBLAS's threading threshold (see `_mm`)
_SCAN_GROUP = 16  # blocks per group in the recursive state scan (deeper levels)
_SCAN_EAGER_LEVELS = 4  # scan levels built up front (a chunk needs 4 at 48 kHz); deeper ones on demand
_SCAN_GROUP_FIRST = 4  # blocks per group at the first level, which sees every block (4 measured fastest)
_CHUNK_TARGET = 1 << 17  # frames per internal processing chunk (rounded to a whole unit)
_TP_BLOCK = 16  # true-peak pruning block: fine blocks make the bound tight (1-2 % of music blocks remain)
_TP_COARSE = 64  # first-pass pruning block (np.maximum.reduceat over it is cheap; 64 measured fastest)
_TP_BATCH = 2048  # candidate blocks computed per batch before the pruning threshold is raised
_TP_POOL = 1 << 14  # candidate blocks waiting to be computed (27 samples each: 3.5 MB at most)


def channel_weights(channels: int) -> tuple[float, ...]:
    """BS.1770-4 Annex 1 Table 3 channel weights G_i by channel count.

    1: mono (1.0); 2: L R (1.0, 1.0); 3: L R C (1.0 each); 5: L R C Ls Rs (1.0, 1.0, 1.0, 1.41, 1.41);
    6: SMPTE/WAV order L R C LFE Ls Rs (1.0, 1.0, 1.0, 0.0, 1.41, 1.41): the LFE is excluded from
    loudness. Any other count: 1.0 for every channel (no layout can be assumed).
    """
    if channels <= 0:
        raise ValueError(f"channels: got {channels}; expected 1 or more")
    if channels == 5:
        return (1.0, 1.0, 1.0, SURROUND_WEIGHT, SURROUND_WEIGHT)
    if channels == 6:
        return (1.0, 1.0, 1.0, 0.0, SURROUND_WEIGHT, SURROUND_WEIGHT)
    return (1.0,) * channels


# --- K-weighting (BS.1770-4 Annex 1 §2.1; coefficients for any rate, METERING.md §2.2) --------------------

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

    t: F64  # (L, L)
    o: F64  # (order, L)
    g: F64  # (L, order)
    m: F64  # (order, order): row-vector transition over one block
    order: int
    block: int

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
        return _BlockIIR(t, o, g, np.ascontiguousarray(powers[block].T), order, block)


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
            v = _mm(u.reshape(ch, n * r), w[: n * r, : (n + 1) * r])
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


# --- true peak (BS.1770-4 Annex 2) ----------------------------------------------------------------------


@lru_cache(maxsize=4)
def _true_peak_phases(factor: int = TRUE_PEAK_OVERSAMPLING, half: int = TRUE_PEAK_HALF_WIDTH) -> F64:
    """Interpolator taps, shape (factor - 1, 2 * half).

    The value at x[i + p / factor] is sum_m h[p, m] x[i - half + 1 + m].

    A Hann-windowed sinc of half-width `half` input samples (49 taps at 4x, as libebur128); phase 0 is
    the identity (the samples themselves), so only the fractional phases are computed.
    """
    m = np.arange(-half + 1, half + 1)  # input offsets relative to i
    rows = []
    for p in range(1, factor):
        t = p / factor - m
        rows.append(np.sinc(t) * (0.5 + 0.5 * np.cos(np.pi * t / half)))
    taps = np.array(rows)
    taps.flags.writeable = False
    return taps


@lru_cache(maxsize=4)
def _true_peak_band() -> tuple[float, F64]:
    """The pruning bound S (max over phases of sum |h|) and the banded matrix that computes all windows of
    one `_TP_BLOCK` block at once: (block + taps - 1, block * phases)."""
    tp = _true_peak_phases()
    taps = tp.shape[1]
    band = np.zeros((_TP_BLOCK + taps - 1, _TP_BLOCK, tp.shape[0]))
    for lane in range(_TP_BLOCK):
        band[lane : lane + taps, lane, :] = tp.T
    out = band.reshape(_TP_BLOCK + taps - 1, -1)
    out.flags.writeable = False
    return float(np.abs(tp).sum(axis=1).max()), out


@lru_cache(maxsize=16)
def _k_filter_design(sample_rate_hz: int) -> tuple[_BlockIIR, _Scan]:
    """The block K-weighting filter and its state scan for a rate: designed once, shared (read-only) by every
    meter at that rate, so the many short meters of a session analysis do not redo it."""
    iir = _BlockIIR.design(k_weighting_biquads(sample_rate_hz), _IIR_BLOCK)
    return iir, _Scan(iir.m)


# --- the meter ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Chunk:
    """What one processed chunk contributes."""

    state: F64  # IIR state after the chunk (C_weighted, order)
    history: F64  # last 2 * half - 1 input samples, for the true-peak interpolator (C, H)
    seg_k: F64  # channel-weighted K-weighted energy per complete segment
    seg_u: F64  # channel-mean unweighted energy per complete segment
    tail_u: float  # channel-mean unweighted energy of a trailing partial segment (final chunk only)
    sample_peak: float
    spans: F64  # true-peak candidate blocks not yet computed: (k, span) input samples each
    bounds: F64  # (k,) upper bound of |interpolated value| in each candidate block
    lanes: npt.NDArray[np.intp] | None  # (k,) windows to count in each block (final chunk only; else all)


class Meter:
    """Streaming BS.1770 / EBU R128 meter. Feed consecutive (frames, channels) blocks, then call `result`.

    With an `executor` (owned by the caller), channels are metered in parallel on its threads; numpy and
    BLAS release the GIL, so two channels use two cores. Results are identical with or without it.

    Memory stays flat: the meter keeps two float64 energies per 10 ms segment, at most one internal chunk
    (~2.7 s at 48 kHz) of audio and at most `_TP_POOL` true-peak candidate blocks (3.5 MB) waiting to be
    computed against a higher running maximum.
    """

    def __init__(
        self,
        sample_rate_hz: int,
        channels: int,
        *,
        weights: Sequence[float] | None = None,
        true_peak: bool = True,
        executor: Executor | None = None,
    ) -> None:
        if sample_rate_hz <= 0:
            raise ValueError(f"sample_rate_hz: got {sample_rate_hz}; expected a positive rate in Hz")
        if channels <= 0:
            raise ValueError(f"channels: got {channels}; expected 1 or more")
        w = channel_weights(channels) if weights is None else tuple(float(g) for g in weights)
        if len(w) != channels or not all(math.isfinite(g) and g >= 0.0 for g in w):
            raise ValueError(f"weights: got {w!r}; expected {channels} finite values >= 0, one per channel")
        self.sample_rate_hz = int(sample_rate_hz)
        self.channels = channels
        self.weights = w
        self.true_peak = true_peak
        self._executor = executor

        # BS.1770-4 Annex 1: 400 ms blocks "to the nearest sample" with a 100 ms step; hop = round(fs/10).
        self._hop = max(1, math.floor(self.sample_rate_hz / 10 + 0.5))
        self._seg_per_hop = max(s for s in range(1, 11) if self._hop % s == 0)
        self._seg = self._hop // self._seg_per_hop
        unit = math.lcm(self._seg, _IIR_BLOCK * _SCAN_GROUP_FIRST)  # whole segments and first-level scan groups
        self._chunk = unit * max(1, _CHUNK_TARGET // unit)

        self._k_channels = np.array([i for i, g in enumerate(w) if g > 0.0], dtype=np.intp)
        self._iir, self._scan = _k_filter_design(self.sample_rate_hz)  # shared by every meter at this rate
        self._tp = _true_peak_phases()
        self._tp_bound, self._tp_band = _true_peak_band()
        hist = self._tp.shape[1] - 1
        self._hist = hist

        # Rows: [interpolator history | chunk being filled]; history is carried from the previous chunk.
        self._pending = np.zeros((channels, hist + self._chunk))
        self._n_pending = 0
        self._k_index = [int(np.searchsorted(self._k_channels, c)) if w[c] > 0.0 else -1 for c in range(channels)]
        self._frames = 0
        self._state = np.zeros((len(self._k_channels), self._iir.order))
        self._history = np.zeros((channels, hist))
        self._seg_k: list[F64] = []
        self._seg_u: list[F64] = []
        self._sample_peak = 0.0
        self._true_peak = 0.0
        # True-peak candidate blocks waiting to be computed (see `_peak_candidates`): at most _TP_POOL.
        self._pool_spans: list[F64] = []
        self._pool_bounds: list[F64] = []
        self._pool_size = 0

    # --- streaming ---

    def feed(self, block: npt.ArrayLike) -> None:
        """Add the next `block` of audio, shaped (frames, channels) (1-D is accepted for mono)."""
        x = np.asarray(block)
        if x.ndim == 1 and self.channels == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != self.channels:
            raise ValueError(
                f"block: got shape {x.shape}; expected (frames, {self.channels}) for a {self.channels}-channel meter"
            )
        n = x.shape[0]
        done = 0
        while done < n:
            take = min(n - done, self._chunk - self._n_pending)
            at = self._hist + self._n_pending
            self._pending[:, at : at + take] = x[done : done + take].T
            self._n_pending += take
            done += take
            if self._n_pending == self._chunk:
                self._commit(self._process(self._pending, self._chunk, final=False))
                self._pending[:, : self._hist] = self._history
                self._n_pending = 0
        self._frames += n

    def _commit(self, c: _Chunk) -> None:
        self._state = c.state
        self._history = c.history
        self._seg_k.append(c.seg_k)
        self._seg_u.append(c.seg_u)
        self._sample_peak = max(self._sample_peak, c.sample_peak)
        if len(c.bounds):
            self._pool_spans.append(c.spans)
            self._pool_bounds.append(c.bounds)
            self._pool_size += len(c.bounds)
            if self._pool_size > _TP_POOL:
                self._drain_pool()

    def _drain_pool(self) -> None:
        """Keep the waiting true-peak candidates within _TP_POOL: drop those the running maximum now rules
        out; if too many remain, compute them (loudest first) into the running true peak."""
        threshold = max(self._true_peak, self._sample_peak)
        bounds = np.concatenate(self._pool_bounds)
        keep = bounds > threshold
        spans = np.concatenate(self._pool_spans)[keep]
        bounds = bounds[keep]
        if len(bounds) > _TP_POOL // 2:
            self._true_peak = max(self._true_peak, self._tp_compute(spans, bounds, None, threshold))
            spans, bounds = spans[:0], bounds[:0]
        self._pool_spans, self._pool_bounds, self._pool_size = [spans], [bounds], len(bounds)

    def _process(self, ext: F64, n: int, *, final: bool) -> _Chunk:
        """Meter one chunk: ext (C, H + n) holds the interpolator history (H samples) then n new samples, each
        row contiguous. n is a whole number of units unless `final`. Channels are processed one at a time
        on contiguous rows, so no planar copy is ever made. True-peak candidates are only selected here
        (against the running maximum, raised first by the sample peaks of all channels of this chunk);
        they are computed later, when the pool is full or in `result`, against a higher maximum."""
        hist = self._history.shape[1]
        seg = self._seg
        nseg = n // seg

        def one_channel(c: int) -> tuple[F64, float, F64 | None, F64 | None, float, F64, F64, F64]:
            row = ext[c, hist : hist + n]
            # Unweighted energy per segment (RMS and gated RMS), float64 accumulation.
            xs = row[: nseg * seg].reshape(nseg, seg)
            energy_u = _row_energies(xs)
            tail = row[nseg * seg :]
            tail_energy = float(np.dot(tail, tail))
            energy_k, state = None, None
            k_index = self._k_index[c]
            if k_index >= 0:
                # K-weighting (BS.1770-4 Annex 1 §2.1), then G_i * sum y^2 per segment (eq. 2).
                y, state = self._k_filter_row(row, self._state[k_index])
                ys = y[: nseg * seg].reshape(nseg, seg)
                energy_k = self.weights[c] * _row_energies(ys)
            peak, padded, mag, cmax = self._peak_blocks(ext[c, : hist + n], final=final)
            return energy_u, tail_energy, energy_k, state, peak, padded, mag, cmax

        if self._executor is not None and self.channels > 1:
            parts = list(self._executor.map(one_channel, range(self.channels)))
        else:
            parts = [one_channel(c) for c in range(self.channels)]
        seg_u = np.zeros(nseg)
        seg_k = np.zeros(nseg)
        tail_u = 0.0
        states = []
        sample_peak = 0.0
        for energy_u, tail_energy, energy_k, state, peak, *_ in parts:  # fixed order: deterministic sums
            seg_u += energy_u
            tail_u += tail_energy
            if energy_k is not None and state is not None:
                seg_k += energy_k
                states.append(state)
            sample_peak = max(sample_peak, peak)
        state_all = np.array(states) if states else self._state
        history = self._history if final else np.ascontiguousarray(ext[:, n : n + hist])
        spans, bounds, lanes = self._no_candidates()
        if self.true_peak:
            threshold = max(self._true_peak, self._sample_peak, sample_peak)
            found = [self._peak_candidates(padded, mag, cmax, threshold, final) for *_, padded, mag, cmax in parts]
            found = [f for f in found if len(f[1])]
            if len(found) == 1:
                spans, bounds, lanes = found[0]
            elif found:
                spans = np.concatenate([f[0] for f in found])
                bounds = np.concatenate([f[1] for f in found])
                lanes = None if not final else np.concatenate([f[2] for f in found if f[2] is not None])
        return _Chunk(
            state_all, history, seg_k, seg_u / self.channels, tail_u / self.channels, sample_peak, spans, bounds, lanes
        )

    def _k_filter(self, x: F64) -> tuple[F64, F64]:
        """K-weighted copy of planar x (C, n) from the current state, and the state after it (for tests)."""
        out = [self._k_filter_row(np.ascontiguousarray(row), self._state[c]) for c, row in enumerate(x)]
        return np.array([y for y, _ in out]), np.array([s for _, s in out])

    def _k_filter_row(self, x: F64, s0: F64) -> tuple[F64, F64]:
        """K-weighted signal of one contiguous channel row and the state after it (see `_BlockIIR`)."""
        iir = self._iir
        n = len(x)
        nb = -(-n // iir.block)
        if nb * iir.block != n:  # only the final chunk: zero-pad (the filter is causal), drop the extra
            x = np.concatenate([x, np.zeros(nb * iir.block - n)])
        xb = x.reshape(nb, iir.block)
        u = _mm(xb, iir.g)
        states = self._scan.run(u[None], s0[None])[0]  # (nb + 1, order)
        y = _mm(xb, iir.t)
        y += _mm(states[:nb], iir.o)
        return y.reshape(-1)[:n], states[n // iir.block] if nb * iir.block == n else s0

    def _no_candidates(self) -> tuple[F64, F64, npt.NDArray[np.intp] | None]:
        return np.zeros((0, _TP_BLOCK + self._tp.shape[1] - 1)), np.zeros(0), None

    def _peak_blocks(self, ext: F64, *, final: bool) -> tuple[float, F64, F64, F64]:
        """Sample peak of one channel (ext = history + new samples, contiguous) and what true-peak pruning
        needs: the row (zero-extended at the end of the signal), its magnitudes zero-padded to whole coarse
        blocks, and the maximum magnitude of each coarse block."""
        taps = self._tp.shape[1]
        if final:  # the signal is silent after its last sample: let the interpolator see that
            ext = np.concatenate([ext, np.zeros(taps // 2)])
        coarse = _TP_COARSE
        ncoarse = -(-len(ext) // coarse)
        mag = np.zeros((ncoarse + 1) * coarse)
        np.abs(ext, out=mag[: len(ext)])
        # reduceat is 2x faster than a reshape + max over rows here
        cmax = np.maximum.reduceat(mag, np.arange(0, len(mag), coarse))
        return float(cmax.max()), ext, mag, cmax

    def _peak_candidates(
        self, ext: F64, mag: F64, cmax: F64, threshold: float, final: bool
    ) -> tuple[F64, F64, npt.NDArray[np.intp] | None]:
        """Blocks of `_TP_BLOCK` interpolator windows of one channel that may hold a value above `threshold`:
        their input samples (k, span), the bound of each, and (final chunk) how many windows each counts.

        Pruning (METERING.md §9): an interpolated value is at most S = max over phases of sum |h| times the
        largest |x| in its window, so a block of windows whose bound is below the running maximum (true or
        sample peak so far) cannot change the result and is skipped. Bounds are taken on coarse blocks,
        then on fine blocks inside the coarse survivors.
        """
        if not self.true_peak:
            return self._no_candidates()
        taps = self._tp.shape[1]
        fine, coarse = _TP_BLOCK, _TP_COARSE
        # Window w reads ext[w .. w + taps - 1] and interpolates between ext[w + half - 1] and ext[w + half];
        # there are len(ext) - taps + 1 complete windows, one per new sample.
        count = len(ext) - taps + 1
        if count <= 0:
            return self._no_candidates()
        bound_scale = self._tp_bound
        nwin = -(-count // fine)  # fine blocks of windows
        ncw = -(-nwin * fine // coarse)  # coarse blocks of windows; windows of block J reach into J + 1
        coarse_cand = np.flatnonzero(bound_scale * np.maximum(cmax[:ncw], cmax[1 : ncw + 1]) > threshold)
        if coarse_cand.size == 0:
            return self._no_candidates()
        per = coarse // fine
        rows = mag.reshape(-1, coarse)
        # the fine blocks of each candidate coarse block and the first fine block after it, contiguous
        near = np.concatenate([rows[coarse_cand], rows[coarse_cand + 1, :fine]], axis=1)
        fmax = np.maximum.reduceat(near.reshape(-1), np.arange(0, near.size, fine)).reshape(-1, per + 1)
        fbound = (bound_scale * np.maximum(fmax[:, :per], fmax[:, 1:])).ravel()
        fblock = (coarse_cand[:, None] * per + np.arange(per)[None, :]).ravel()
        keep = (fbound > threshold) & (fblock < nwin)
        cand, bound = fblock[keep], fbound[keep]
        if cand.size == 0:
            return self._no_candidates()
        span = fine + taps - 1
        if nwin * fine + span - fine > len(ext):  # a partial last block (final chunk): pad with silence
            ext = np.concatenate([ext, np.zeros(nwin * fine + span - fine - len(ext))])
        # one contiguous row of `fine + taps - 1` samples per candidate block (a strided view, then one take)
        blocks = np.lib.stride_tricks.as_strided(ext, shape=(nwin, span), strides=(fine * ext.itemsize, ext.itemsize))
        spans = blocks[cand]
        lanes = None
        if final:
            lanes = np.full(len(cand), fine, dtype=np.intp)
            lanes[cand == nwin - 1] = count - (nwin - 1) * fine  # windows past `count` do not exist
        return spans, bound, lanes

    def _tp_compute(self, spans: F64, bounds: F64, lanes: npt.NDArray[np.intp] | None, threshold: float) -> float:
        """Largest |interpolated value| in candidate blocks whose bound exceeds `threshold` (0.0 if none
        exceeds it), computed loudest bound first so that the threshold rises fast and prunes the rest.
        Each block is one row of samples times a banded matrix: all its windows and phases in one product."""
        keep = bounds > threshold
        order = np.flatnonzero(keep)
        order = order[np.argsort(-bounds[order], kind="stable")]
        band = self._tp_band  # (span, fine * phases)
        fine = _TP_BLOCK
        best = 0.0
        while order.size:
            batch, order = order[:_TP_BATCH], order[_TP_BATCH:]
            vals = _mm(spans[batch], band).reshape(len(batch), fine, -1)
            if lanes is not None:
                short = np.flatnonzero(lanes[batch] < fine)
                for i in short:
                    vals[i, lanes[batch[i]] :] = 0.0
            best = max(best, float(np.abs(vals).max()))
            if best > threshold:
                threshold = best
                order = order[bounds[order] > threshold]
        return best

    # --- results ---

    def result(self) -> Levels:
        """The levels of everything fed so far. Does not change the meter (more blocks may follow)."""
        seg_k = list(self._seg_k)
        seg_u = list(self._seg_u)
        sample_peak, true_peak = self._sample_peak, self._true_peak
        tail_u = 0.0
        if self._n_pending or self.true_peak:
            last = self._process(self._pending[:, : self._hist + self._n_pending], self._n_pending, final=True)
            seg_k.append(last.seg_k)
            seg_u.append(last.seg_u)
            tail_u = last.tail_u
            sample_peak = max(sample_peak, last.sample_peak)
            if self._pool_size or len(last.bounds):
                # the waiting candidates and the final chunk's, against everything known now
                spans = np.concatenate([*self._pool_spans, last.spans])
                bounds = np.concatenate([*self._pool_bounds, last.bounds])
                lanes = None
                if last.lanes is not None:
                    lanes = np.concatenate([np.full(self._pool_size, _TP_BLOCK, dtype=np.intp), last.lanes])
                computed = self._tp_compute(spans, bounds, lanes, max(true_peak, sample_peak))
                true_peak = max(true_peak, computed)
        ek = np.concatenate(seg_k) if seg_k else np.zeros(0)
        eu = np.concatenate(seg_u) if seg_u else np.zeros(0)
        frames = self._frames
        rate = self.sample_rate_hz

        rms = power_to_db((float(eu.sum()) + tail_u) / frames) if frames else NEG_INF
        hop_k = _hop_sums(ek, self._seg_per_hop)
        hop_u = _hop_sums(eu, self._seg_per_hop)
        block_len = HOPS_PER_BLOCK * self._hop
        block_k = _window_sums(hop_k, HOPS_PER_BLOCK) / block_len
        block_u = _window_sums(hop_u, HOPS_PER_BLOCK) / block_len
        short_k = _window_sums(hop_k, HOPS_PER_SHORT_TERM) / (HOPS_PER_SHORT_TERM * self._hop)

        return Levels(
            sample_peak_dbfs=gain_to_db(sample_peak),
            true_peak_dbtp=gain_to_db(max(true_peak, sample_peak)) if self.true_peak else NEG_INF,
            rms_dbfs=rms,
            gated_rms_dbfs=_gated_rms(block_u),
            integrated_lufs=_integrated(block_k),
            momentary_max_lufs=_max_window_lufs(ek, HOPS_PER_BLOCK * self._seg_per_hop, block_len),
            short_term_max_lufs=_max_window_lufs(
                ek, HOPS_PER_SHORT_TERM * self._seg_per_hop, HOPS_PER_SHORT_TERM * self._hop
            ),
            loudness_range_lu=_loudness_range(short_k),
            duration_s=frames / rate,
        )


def measure_array(
    x: npt.ArrayLike,
    sample_rate_hz: int,
    *,
    weights: Sequence[float] | None = None,
    true_peak: bool = True,
) -> Levels:
    """Levels of a whole (frames, channels) array (1-D = mono). Same as feeding it to a `Meter`."""
    a = np.asarray(x)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"x: got {a.ndim} dimensions; expected (frames, channels)")
    meter = Meter(sample_rate_hz, a.shape[1], weights=weights, true_peak=true_peak)
    meter.feed(a)
    return meter.result()


def _mm(a: F64, b: F64) -> F64:
    """a @ b for a tall a, as a batch of small products.

    OpenBLAS splits one large product over all cores; on a machine that is also decoding audio (or running
    anything else) its spinning threads make that 10-100x slower. Products of fewer than ~2^18 multiply-adds
    run single-threaded, and numpy's batched matmul loops over them in C.
    """
    m, k = a.shape
    n = b.shape[1]
    rows = max(1, _BLAS_ROWS_MACS // max(1, k * n))
    if m <= rows:
        small: F64 = a @ b
        return small
    full = (m // rows) * rows
    out = np.empty((m, n))
    np.matmul(a[:full].reshape(-1, rows, k), b, out=out[:full].reshape(-1, rows, n))
    if full < m:
        np.matmul(a[full:], b, out=out[full:])
    return out


def _row_energies(x: F64) -> F64:
    """Sum of squares of each row of x (segments, samples): one dot product per row, 2x faster than einsum."""
    out: F64 = np.matmul(x[:, None, :], x[:, :, None]).reshape(len(x))
    return out


# --- derivations from segment energies -------------------------------------------------------------------


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
