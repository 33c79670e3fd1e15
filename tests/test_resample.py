"""Streaming rate conversion and time-stretch (gainstager/resample.py), against scipy and numpy references.

Signals are synthesised here with a seeded generator; the references are independent: scipy's polyphase
resampler with a long Kaiser filter designed in the test, and direct numpy formulas for RMS and phase.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import firwin, resample_poly

from gainstager.resample import GRAIN_FRAMES, Converter, Stretcher

RNG_SEED = 7


def band_limited(x: np.ndarray, up: int, down: int, *, zero_crossings: int = 64) -> np.ndarray:
    """An independent band-limited conversion: scipy's polyphase resampler with a long Kaiser low-pass
    (cut-off at 95 % of the lower Nyquist frequency, about 100 dB stop band)."""
    m = max(up, down)
    h = firwin(2 * zero_crossings * m + 1, 0.95 / m, window=("kaiser", 10.0))
    return np.asarray(resample_poly(x, up, down, axis=0, window=h))


class Feed:
    """A sequential source over an array (zeros past its end) that records how far it was read."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x.astype(np.float32).reshape(len(x), -1)
        self.pos = 0

    def __call__(self, count: int) -> np.ndarray:
        out = np.zeros((count, self.x.shape[1]), dtype=np.float32)
        part = self.x[self.pos : self.pos + count]
        out[: len(part)] = part
        self.pos += count
        return out


def read_in_blocks(read: object, total: int, sizes: list[int]) -> np.ndarray:
    parts, done, i = [], 0, 0
    while done < total:
        n = min(sizes[i % len(sizes)], total - done)
        parts.append(read(n))  # type: ignore[operator]
        done += n
        i += 1
    return np.concatenate(parts)


def rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


def test_equal_rates_pass_the_samples_through_untouched() -> None:
    x = np.random.default_rng(RNG_SEED).standard_normal((48000, 2)).astype(np.float32)
    got = read_in_blocks(Converter(Feed(x), 48000, 48000, 2).read, len(x), [1000, 7, 33333])
    assert np.array_equal(got, x)


def test_conversion_in_odd_blocks_matches_a_band_limited_reference() -> None:
    """96 -> 48 kHz, read in irregular blocks: the same audio as scipy's long-filter conversion in one go,
    and a 30 kHz component (above the new Nyquist frequency) is gone."""
    fs = 96000
    rng = np.random.default_rng(RNG_SEED)
    t = np.arange(fs * 2) / fs
    audible = 0.3 * np.sin(2 * np.pi * 1000 * t) + 0.1 * np.sin(2 * np.pi * 7777 * t + 0.3)
    ultrasonic = 0.5 * np.sin(2 * np.pi * 30000 * t + rng.uniform(0, 6))
    got = read_in_blocks(Converter(Feed(audible + ultrasonic), fs, 48000, 1).read, 96000, [4096, 17, 50001])[:, 0]
    ref = band_limited(audible, 1, 2)
    middle = slice(2000, len(ref) - 2000)
    assert np.max(np.abs(got[middle] - ref[middle])) < 1e-3
    assert rms_db(got[middle]) == pytest.approx(rms_db(ref[middle]), abs=0.001)


def test_conversion_has_no_delay() -> None:
    """44.1 -> 48 kHz: output frame k is the input at time k / 48000 (the phase of a tone is kept)."""
    fs, f0 = 44100, 997.0
    x = np.sin(2 * np.pi * f0 * np.arange(fs) / fs)
    got = Converter(Feed(x), fs, 48000, 1).read(48000)[:, 0]
    want = np.sin(2 * np.pi * f0 * np.arange(48000) / 48000)
    assert np.max(np.abs(got[1000:-1000] - want[1000:-1000])) < 1e-3


def test_skip_drops_the_pre_roll() -> None:
    fs, f0 = 96000, 1234.0
    x = np.sin(2 * np.pi * f0 * (np.arange(fs) - 960) / fs)  # 960 frames (10 ms) of pre-roll before time 0
    got = Converter(Feed(x), fs, 48000, 1, skip=480).read(40000)[:, 0]
    want = np.sin(2 * np.pi * f0 * np.arange(40000) / 48000)
    assert np.max(np.abs(got[:-1000] - want[:-1000])) < 1e-3  # right from the first frame: no start transient


@pytest.mark.parametrize("rate", [0.5, 0.7253, 1.37, 2.0])
def test_stretch_keeps_level_and_pitch_and_consumes_rate_input_frames(rate: float) -> None:
    fs = 48000
    rng = np.random.default_rng(RNG_SEED)
    n_out = fs * 6
    src = np.zeros((int(n_out * rate) + fs, 2))
    t = np.arange(len(src)) / fs
    src[:, 0] = 0.2 * np.sin(2 * np.pi * 441 * t)  # a tone: WSOLA joins its grains in phase
    src[:, 1] = 0.1 * rng.standard_normal(len(src))  # noise: joins are uncorrelated
    feed = Feed(src)
    got = read_in_blocks(Stretcher(feed, rate, 2).read, n_out, [5000, 123])
    assert feed.pos == pytest.approx(n_out * rate, abs=2 * GRAIN_FRAMES)
    assert rms_db(got[:, 0]) == pytest.approx(rms_db(src[: int(n_out * rate), 0]), abs=0.01)
    assert rms_db(got[:, 1]) == pytest.approx(rms_db(src[: int(n_out * rate), 1]), abs=0.05)
    assert np.max(np.abs(got[:, 0])) <= 0.2 + 1e-6  # a crossfade's gains sum to 1: no peak is raised
    spectrum = np.abs(np.fft.rfft(got[:, 0] * np.hanning(len(got))))
    assert np.fft.rfftfreq(len(got), 1 / fs)[np.argmax(spectrum)] == pytest.approx(441, abs=1)  # same pitch


def test_stretch_never_reads_past_its_length() -> None:
    """A slowed-down loop of 24,000 frames: no grain plays what follows the loop (marked 1.0 here)."""
    src = np.concatenate([0.25 * np.sin(np.arange(24000) * 0.05), np.ones(48000)])
    got = Stretcher(Feed(src), 0.5, 1, length=24000).read(48000)[:, 0]
    assert np.max(np.abs(got)) <= 0.25 + 1e-6


def test_rate_one_stretch_is_the_input() -> None:
    x = np.random.default_rng(RNG_SEED).standard_normal(10000).astype(np.float32)
    assert np.array_equal(Stretcher(Feed(x), 1.0, 1).read(10000)[:, 0], x)
