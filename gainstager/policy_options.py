"""The policy's options: one name for each, on the command line and in a policy file (`OPTIONS`, the one place
that knows both), each value checked against the range `Policy` enforces, and shown with its unit.
"""

from __future__ import annotations

import math
from enum import StrEnum

from .errors import PlanError
from .plan import Faders, MeterKind, Per, Policy

OptionValue = MeterKind | Per | Faders | float  # an int for sample-rate
Setting = tuple[str, OptionValue]  # (option name as on the command line, value)

# Option name (the command line's, without "--"; the TOML key) -> Policy field. The one place that knows both.
OPTIONS: dict[str, str] = {
    "meter": "meter",
    "target": "target_db",
    "peak-ceiling": "peak_ceiling_dbtp",
    "per": "per",
    "faders": "faders",
    "headroom": "headroom_dbfs",
    "max-boost": "max_boost_db",
    "sample-rate": "sample_rate_hz",
}
_ENUMS: dict[str, type[StrEnum]] = {"meter": MeterKind, "per": Per, "faders": Faders}
_INTEGERS = ("sample-rate",)
_UNITS = {"target": "dB", "peak-ceiling": "dBTP", "headroom": "dBFS", "max-boost": "dB", "sample-rate": "Hz"}
TARGET_OPTIONS = ("meter", "target", "peak-ceiling")  # what a role or a track may set


def shown(option: str, value: object) -> str:
    """One option's value with its unit, as reports and --help show it (None: the session's own value)."""
    if value is None:
        return "the session's"
    return f"{value:g} {_UNITS[option]}" if option in _UNITS else str(value)


def describe(policy: Policy) -> tuple[tuple[str, str], ...]:
    """The policy as (option, value with unit) pairs, named as on the command line: for reports."""
    return tuple((option, shown(option, getattr(policy, name))) for option, name in OPTIONS.items())


def option_value(option: str, raw: object, what: str) -> OptionValue:
    """One option's value, checked: a member of its enum, or a number in the `Policy` range. `what` names it in
    the error, e.g. ``team.toml: targets.kick.target`` or ``--target``."""
    enum = _ENUMS.get(option)
    if enum is not None:
        try:
            if not isinstance(raw, str):
                raise ValueError(raw)
            return enum(raw.lower())  # type: ignore[return-value]
        except ValueError:
            raise PlanError(f"{what} ({raw!r}); expected one of {', '.join(e.value for e in enum)}") from None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise PlanError(f"{what} ({raw!r}); expected a number")
    if option in _INTEGERS and not isinstance(raw, int):
        raise PlanError(f"{what} ({raw!r}); expected a whole number")
    value = raw if option in _INTEGERS else float(raw)
    try:  # the range lives in one place, Policy's validation; its message ends "; expected <range>"
        Policy(**{OPTIONS[option]: value})  # type: ignore[arg-type]
    except PlanError as exc:
        raise PlanError(f"{what} ({raw!r}); expected {str(exc).split('; expected ', 1)[-1]}") from None
    return value
