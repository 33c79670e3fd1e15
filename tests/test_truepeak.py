"""The pruned true peak (`truepeak`): the blocks it skips could not have held the peak, and what it reports is the
interpolator's maximum over every sample, computed here by plain convolution of each phase (an independent
algorithm: no blocks, no bands, no pruning)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from gainstager.meters import Meter
from gainstager.truepeak import _TP_BLOCK, TruePeak, _true_peak_phases

RATE = 48000


def _signals() -> dict[str, npt.NDArray[np.float64]]:
    rng = np.random.default_rng(11)
    t = np.arange(RATE * 3) / RATE
    crest = np.sin(2 * np.pi * 997.0 * t) * np.exp(-t)  # a decaying tone: the peak is on one crest early on
    chords = np.sum([np.sin(2 * np.pi * f * t + k) for k, f in enumerate((220.0, 277.2, 329.6))], axis=0) / 3.0
    square = np.sign(np.sin(2 * np.pi * 3000.0 * t)) * 0.5  # large overshoots between samples
    alternating = np.zeros(len(t))
    alternating[RATE : RATE + 12] = [1.0, -1.0] * 6  # the interpolator's worst case, once
    return {
        "crest": crest,
        "chords": 0.8 * chords,
        "noise": 0.2 * rng.standard_normal(len(t)),
        "square": square,
        "alternating": 0.5 * alternating + 0.01 * np.sin(2 * np.pi * 50.0 * t),
        "offset tone": 0.3 + 0.2 * np.sin(2 * np.pi * 100.0 * t),  # DC under a tone: c > 0, r small
    }


def _brute_true_peak(x: npt.NDArray[np.float64]) -> float:
    """max |x| over the samples and every interpolated phase, silence before and after the signal."""
    taps = _true_peak_phases()
    half = taps.shape[1] // 2
    padded = np.concatenate([np.zeros(taps.shape[1]), x, np.zeros(taps.shape[1])])
    best = float(np.abs(x).max())
    for row in taps:
        # value at x[i + p / factor] = sum_m row[m] x[i - half + 1 + m]
        y = np.convolve(padded, row[::-1], mode="valid")
        best = max(best, float(np.abs(y).max()))
    assert half == 6
    return best


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(_signals()))
def test_pruned_true_peak_is_the_interpolators_maximum(name: str, dtype: type) -> None:
    x: npt.NDArray[np.floating] = _signals()[name].astype(dtype)
    meter = Meter(RATE, 1, buffer_dtype=dtype)
    for a in range(0, len(x), 30_011):  # blocks that cut the meter's chunks anywhere
        meter.feed(x[a : a + 30_011, None])
    expected = 20 * np.log10(_brute_true_peak(x.astype(np.float64)))
    assert meter.result().true_peak_dbtp == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("name", list(_signals()))
def test_every_block_bound_holds(name: str) -> None:
    """With no threshold every block is a candidate: each one's bound is at least the largest value its windows
    interpolate (computed by the band product), so a block skipped for its bound never held the peak."""
    x = _signals()[name][: RATE // 2]
    tp = TruePeak()
    peak, row, padded, cmax, cmin = tp.blocks(np.concatenate([np.zeros(tp.history), x]), final=True)
    assert peak == pytest.approx(float(np.abs(x).max()))
    spans, bounds, lanes = tp.candidates(row, padded, cmax, cmin, -1.0, True)
    assert lanes is not None and len(bounds) == -(-(len(row) - tp.taps + 1) // _TP_BLOCK)
    for k in range(len(bounds)):
        actual = tp.compute(spans[k : k + 1], bounds[k : k + 1], lanes[k : k + 1], -1.0)
        assert actual <= bounds[k]
    # and on a low tone (samples close together in a block) the bound is within 10 % of the peak, where
    # S * max|x| would be about twice it
    if name == "offset tone":
        assert bounds.max() < 1.1 * _brute_true_peak(x)
