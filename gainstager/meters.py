"""Loudness and peak meters: (frames, channels) float arrays in, `Levels` out. Pure: no file I/O, no printing.

Standards and where each step comes from:

* ITU-R BS.1770-4 Annex 1 (loudness), Annex 2 (true peak); EBU Tech 3341 (EBU-mode meters: momentary,
  short-term, integrated), EBU Tech 3342 (loudness range). Section numbers below refer to those documents.

Design (see shared/docs/METERING.md §9):

* The input is converted once to planar float64. Everything is accumulated in float64, so a long float32
  file loses nothing (a float32 running sum over 10 minutes reads ~0.3 dB off).
* K-weighting runs in float64. Per channel we compute the energy of each 10 ms *segment* (never keeping the
  audio) and derive every loudness from those segment energies: 400 ms gating blocks at a 100 ms hop for I
  (floor of the block count: an incomplete last block is discarded), max M and max S from windows sliding
  every 10 ms (Tech 3341 cases 10/13 need a true maximum, not a 100 ms poll), and the short-term series at a
  100 ms hop for LRA. Only 100 ms hop sums and the sliding maxima are kept (`loudness.Energies`): two float64
  per 100 ms, so a meter stays small however long it runs.
* The K-weighting IIR filter is evaluated exactly, in blocks, as matrix products (`kweighting`): no scipy at
  run time (importing scipy.signal alone costs about 1 s, more than metering a 10-minute file). True peak
  is tracked by `truepeak.TruePeak`.
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
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .kweighting import _IIR_BLOCK, _SCAN_GROUP_FIRST, F64, FloatRow, _k_filter_design, k_filter_row
from .loudness import (
    Energies,
    _gated_rms,
    _integrated,
    _loudness_range,
    _lufs,
    _window_sums,
)
from .model import Levels
from .truepeak import Candidates, TruePeak
from .units import NEG_INF, gain_to_db, power_to_db

# --- constants, each with its source -------------------------------------------------------------------

HOPS_PER_BLOCK = 4  # BS.1770-4 Annex 1: T_g = 400 ms blocks with 75 % overlap -> 4 hops of 100 ms
HOPS_PER_SHORT_TERM = 30  # Tech 3341 §2.2: short-term window 3 s = 30 hops of 100 ms
SURROUND_WEIGHT = 1.41  # BS.1770-4 Annex 1, Table 3: G = 1.41 (+1.5 dB) for Ls, Rs

# Bump when any level a meter reports changes (the lasting measurement cache keys by it).
METER_VERSION = 1
_CHUNK_TARGET = 1 << 17  # frames per internal processing chunk (rounded to a whole unit)


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
    candidates: Candidates  # true-peak candidate blocks not yet computed (see `TruePeak.candidates`)


@dataclass(slots=True)
class _ChannelPart:
    """What one channel of a chunk contributes."""

    energy_u: F64  # unweighted energy per complete segment
    tail_energy: float  # unweighted energy of a trailing partial segment
    energy_k: F64 | None  # weighted K-weighted energy per segment (None for a weight-0 channel)
    state: F64 | None  # IIR state after the chunk (None for a weight-0 channel)
    peak: float  # sample peak
    row: FloatRow  # the row the true-peak search reads (zero-extended at the end of the signal)
    padded: FloatRow  # the same, zero-padded to whole coarse blocks
    cmax: FloatRow  # the largest sample of each coarse block
    cmin: FloatRow  # the smallest


class Meter:
    """Streaming BS.1770 / EBU R128 meter. Feed consecutive (frames, channels) blocks, then call `result`.

    With an `executor` (owned by the caller), channels are metered in parallel on its threads; numpy and
    BLAS release the GIL, so two channels use two cores. Results are identical with or without it.
    `buffer_dtype` float32 halves the memory of a meter fed float32 audio (the renderer's), and it meters that
    audio in float32 where that is exact or nearly: peaks and the true-peak bounds read it as it is, and the K
    filter runs in float32 BLAS (`k_filter_row`), its 10 ms segment energies float32 dot products: loudness
    within about 1e-7 (5e-7 dB) of float64's. Unweighted energies (RMS) are float64 from the first product on.

    Memory stays flat: the meter keeps two float64 energies per 100 ms hop and the last 3 s of 10 ms segments
    (`loudness.Energies`), at most one internal chunk (~2.7 s at 48 kHz) of audio and at most `truepeak._TP_POOL`
    true-peak candidate blocks (0.9 MB) waiting to be computed against a higher running maximum.
    """

    def __init__(
        self,
        sample_rate_hz: int,
        channels: int,
        *,
        weights: Sequence[float] | None = None,
        true_peak: bool = True,
        executor: Executor | None = None,
        buffer_dtype: npt.DTypeLike = np.float64,
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
        self._tp = TruePeak()
        hist = self._tp.history
        self._hist = hist

        # Rows: [interpolator history | chunk being filled]; history is carried from the previous chunk.
        self._pending = np.zeros((channels, hist + self._chunk), dtype=buffer_dtype)
        self._n_pending = 0
        self._k_index = [int(np.searchsorted(self._k_channels, c)) if w[c] > 0.0 else -1 for c in range(channels)]
        self._frames = 0
        self._state = np.zeros((len(self._k_channels), self._iir.order))
        self._history = np.zeros((channels, hist))
        widths = (HOPS_PER_BLOCK * self._seg_per_hop, HOPS_PER_SHORT_TERM * self._seg_per_hop)  # M and S windows
        self._energies = Energies(self._seg_per_hop, widths)
        self._sample_peak = 0.0

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
        self._energies.add(c.seg_k, c.seg_u)
        self._sample_peak = max(self._sample_peak, c.sample_peak)
        self._tp.keep(c.candidates, self._sample_peak)

    def _process(self, ext: F64, n: int, *, final: bool) -> _Chunk:
        """Meter one chunk: ext (C, H + n) holds the interpolator history (H samples) then n new samples, each
        row contiguous. n is a whole number of units unless `final`. Channels are processed one at a time
        on contiguous rows, so no planar copy is ever made. True-peak candidates are only selected here
        (against the running maximum, raised first by the sample peaks of all channels of this chunk);
        they are computed later, when the pool is full or in `result`, against a higher maximum."""
        hist = self._history.shape[1]
        seg = self._seg
        nseg = n // seg

        def one_channel(c: int) -> _ChannelPart:
            full = ext[c, : hist + n]  # float32 (a render) stays float32: see `Meter`
            if full.dtype != np.float32:
                full = np.asarray(full, dtype=np.float64)
            row = full[hist:]
            # Unweighted energy per segment (RMS and gated RMS), in float64 from the first product on: a float32
            # dot product would put a -24 dBFS float32 sine at -24.0000003 dB.
            xs = row[: nseg * seg].reshape(nseg, seg).astype(np.float64, copy=False)
            energy_u = _row_energies(xs)
            tail = row[nseg * seg :].astype(np.float64)
            tail_energy = float(np.dot(tail, tail))
            energy_k, state = None, None
            k_index = self._k_index[c]
            if k_index >= 0:
                # K-weighting (BS.1770-4 Annex 1 §2.1), then G_i * sum y^2 per segment (eq. 2).
                y, state = self._k_filter_row(row, self._state[k_index])
                ys = y[: nseg * seg].reshape(nseg, seg)
                energy_k = self.weights[c] * _row_energies(ys)
            peak_blocks = self._tp.blocks(full, final=final)
            return _ChannelPart(energy_u, tail_energy, energy_k, state, *peak_blocks)

        if self._executor is not None and self.channels > 1:
            parts = list(self._executor.map(one_channel, range(self.channels)))
        else:
            parts = [one_channel(c) for c in range(self.channels)]
        seg_u = np.zeros(nseg)
        seg_k = np.zeros(nseg)
        tail_u = 0.0
        states = []
        sample_peak = 0.0
        for part in parts:  # fixed order: deterministic sums
            seg_u += part.energy_u
            tail_u += part.tail_energy
            if part.energy_k is not None and part.state is not None:
                seg_k += part.energy_k
                states.append(part.state)
            sample_peak = max(sample_peak, part.peak)
        state_all = np.array(states) if states else self._state
        history = self._history if final else np.ascontiguousarray(ext[:, n : n + hist])
        candidates = self._tp.no_candidates()
        if self.true_peak:
            threshold = max(self._tp.value, self._sample_peak, sample_peak)
            found = [self._tp.candidates(p.row, p.padded, p.cmax, p.cmin, threshold, final) for p in parts]
            found = [f for f in found if len(f[1])]
            if len(found) == 1:
                candidates = found[0]
            elif found:
                lanes = None if not final else np.concatenate([f[2] for f in found if f[2] is not None])
                candidates = (np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found]), lanes)
        return _Chunk(
            state_all, history, seg_k, seg_u / self.channels, tail_u / self.channels, sample_peak, candidates
        )

    def _k_filter(self, x: F64) -> tuple[F64, F64]:
        """K-weighted copy of planar x (C, n) from the current state, and the state after it (for tests)."""
        out = [self._k_filter_row(np.ascontiguousarray(row), self._state[c]) for c, row in enumerate(x)]
        return np.array([y for y, _ in out]), np.array([s for _, s in out])

    def _k_filter_row(self, x: FloatRow, s0: F64) -> tuple[FloatRow, F64]:
        return k_filter_row(self._iir, self._scan, x, s0)

    # --- results ---

    def result(self) -> Levels:
        """The levels of everything fed so far. Does not change the meter (more blocks may follow)."""
        energies = self._energies.copy()
        sample_peak, true_peak = self._sample_peak, self._tp.value
        tail_u = 0.0
        if self._n_pending or self.true_peak:
            last = self._process(self._pending[:, : self._hist + self._n_pending], self._n_pending, final=True)
            energies.add(last.seg_k, last.seg_u)
            tail_u = last.tail_u
            sample_peak = max(sample_peak, last.sample_peak)
            # the waiting candidates and the final chunk's, against everything known now
            true_peak = self._tp.result(last.candidates, sample_peak)
        frames = self._frames
        rate = self.sample_rate_hz

        rms = power_to_db((energies.sum_u + tail_u) / frames) if frames else NEG_INF
        hop_k, hop_u = energies.hops()
        block_len = HOPS_PER_BLOCK * self._hop
        short_len = HOPS_PER_SHORT_TERM * self._hop
        block_k = _window_sums(hop_k, HOPS_PER_BLOCK) / block_len
        block_u = _window_sums(hop_u, HOPS_PER_BLOCK) / block_len
        short_k = _window_sums(hop_k, HOPS_PER_SHORT_TERM) / short_len
        best_m, best_s = energies.best

        return Levels(
            sample_peak_dbfs=gain_to_db(sample_peak),
            true_peak_dbtp=gain_to_db(max(true_peak, sample_peak)) if self.true_peak else NEG_INF,
            rms_dbfs=rms,
            gated_rms_dbfs=_gated_rms(block_u),
            integrated_lufs=_integrated(block_k),
            momentary_max_lufs=NEG_INF if best_m is None else _lufs(best_m / block_len),
            short_term_max_lufs=NEG_INF if best_s is None else _lufs(best_s / short_len),
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


def _row_energies(x: FloatRow) -> F64:
    """Sum of squares of each row of x (segments, samples), as float64: one dot product per row (in x's type),
    2x faster than einsum."""
    out: F64 = np.matmul(x[:, None, :], x[:, :, None]).reshape(len(x)).astype(np.float64, copy=False)
    return out
