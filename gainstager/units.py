"""dB <-> linear conversion, in one place.

Linear gains are amplitude ratios (1.0 = 0 dB). Silence is -inf dB; NaN never comes out of here.
"""

from __future__ import annotations

import math

NEG_INF = float("-inf")


def db_to_gain(gain_db: float) -> float:
    """Amplitude ratio for `gain_db` decibels; -inf dB gives 0.0, more than a float holds gives inf."""
    if gain_db == NEG_INF:
        return 0.0
    try:
        return float(10.0 ** (gain_db / 20.0))
    except OverflowError:
        return math.inf


def gain_to_db(gain: float) -> float:
    """Decibels for the amplitude ratio `gain` (its magnitude); 0 gives -inf."""
    magnitude = abs(gain)
    if magnitude == 0.0:
        return NEG_INF
    return 20.0 * math.log10(magnitude)


def power_to_db(mean_square: float) -> float:
    """Decibels for a mean square (power) value; 0 or less gives -inf."""
    if not mean_square > 0.0:
        return NEG_INF
    return 10.0 * math.log10(mean_square)


def finite_or_none(value_db: float) -> float | None:
    """JSON helper: -inf (silence, unmeasurable) becomes None; finite values pass through."""
    return value_db if math.isfinite(value_db) else None
