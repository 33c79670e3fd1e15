"""SVG drawing for the HTML report: a dB scale, bars, lines, a grid and a labelled axis, with coordinates written
at fixed precision so the page is byte-identical run to run.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from dataclasses import dataclass

CHART_W = 300  # px, the bar area of one track row
ROW_H = 20
AXIS_H = 26
_BEFORE_Y, _AFTER_Y, _BAR_H = 3, 11, 6


@dataclass(frozen=True, slots=True)
class _Scale:
    low_db: float
    high_db: float
    step_db: float

    def x(self, value_db: float) -> float:
        v = min(max(value_db, self.low_db), self.high_db)
        return (v - self.low_db) / (self.high_db - self.low_db) * CHART_W

    def ticks(self) -> list[float]:
        n = round((self.high_db - self.low_db) / self.step_db)
        return [self.low_db + i * self.step_db for i in range(n + 1)]


def _scale(values: Iterable[float]) -> _Scale:
    """6 dB steps from a multiple of 6 below the quietest value (at most -96, at least -48) to 0 dB or above."""
    finite = [v for v in values if math.isfinite(v)]
    low = max(-96.0, min(-48.0, 6 * math.floor((min(finite, default=-48.0) - 1) / 6)))
    high = min(24.0, max(0.0, 6 * math.ceil(max(finite, default=0.0) / 6)))
    step = 6.0 if high - low <= 60 else 12.0
    low = high - step * math.ceil((high - low) / step)
    return _Scale(low, high, step)


def _n(value: float) -> str:
    """A coordinate: fixed decimals, so the output is byte-identical run to run."""
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def _db(value: float, signed: bool = False) -> str:
    if not math.isfinite(value):
        return "-inf" if value < 0 else "+inf"
    value = round(value, 1) + 0.0  # + 0.0 turns -0.0 into 0.0
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _line(x: float, y1: float, y2: float, cls: str) -> str:
    return f'<line class="{cls}" x1="{_n(x)}" x2="{_n(x)}" y1="{_n(y1)}" y2="{_n(y2)}"/>'


def _bar(scale: _Scale, value: float, y: float, cls: str) -> str:
    width = scale.x(value) if math.isfinite(value) else 0.0
    return f'<rect class="{cls}" x="0" y="{y}" width="{_n(width)}" height="{_BAR_H}"/>'


def _grid(scale: _Scale, height: float) -> str:
    return "".join(_line(scale.x(t), 0, height, "grid zero" if t == 0 else "grid") for t in scale.ticks())


def _axis(scale: _Scale, unit: str) -> str:
    """A labelled axis: ticks every step, the unit at the right end."""
    parts = [f'<svg class="axis" width="{CHART_W + 12}" height="{AXIS_H}" viewBox="-6 0 {CHART_W + 12} {AXIS_H}">']
    for t in scale.ticks():
        x = scale.x(t)
        parts.append(_line(x, 0, 5, "tick"))
        parts.append(f'<text x="{_n(x)}" y="16" text-anchor="middle">{t:.0f}</text>')
    parts.append(f'<text class="unit" x="{CHART_W}" y="25" text-anchor="end">{_e(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)
