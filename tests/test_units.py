"""dB <-> linear conversion is one inverse pair, with -inf for silence and never NaN."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from gainstager.units import NEG_INF, db_to_gain, finite_or_none, gain_to_db, power_to_db


@given(st.floats(min_value=-200.0, max_value=60.0))
def test_db_gain_round_trip(gain_db: float) -> None:
    assert math.isclose(gain_to_db(db_to_gain(gain_db)), gain_db, abs_tol=1e-9)


@given(st.floats(min_value=1e-9, max_value=1e3))
def test_gain_db_round_trip(gain: float) -> None:
    assert math.isclose(db_to_gain(gain_to_db(gain)), gain, rel_tol=1e-12)


def test_known_values() -> None:
    assert db_to_gain(0.0) == 1.0
    assert math.isclose(db_to_gain(-6.0206), 0.5, rel_tol=1e-5)
    assert math.isclose(gain_to_db(2.0), 6.0206, abs_tol=1e-4)
    assert gain_to_db(-0.5) == gain_to_db(0.5)  # polarity does not change the level


def test_silence_is_minus_infinity_not_nan() -> None:
    assert gain_to_db(0.0) == NEG_INF
    assert db_to_gain(NEG_INF) == 0.0
    assert power_to_db(0.0) == NEG_INF
    assert power_to_db(-1e-30) == NEG_INF
    assert finite_or_none(NEG_INF) is None
    assert finite_or_none(-3.5) == -3.5
