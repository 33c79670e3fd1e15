"""The HTML report: one self-contained page (inline CSS and SVG, no script, nothing fetched) that shows a
session's gain structure before and after. Pure: small view dataclasses in, a string out. The page around it
(its stylesheet) is `html_page`'s, the chart primitives `svg`'s.

The page opens from any disk (a USB stick) and prints: a print stylesheet, table headers repeated on every
page, rows never split. Per track a row with a horizontal bar chart of the level before and after on the
track's meter, its true peak before and after marked, against its target and its ceiling drawn as lines;
then the numbers, what bound the gain, the fader change and skipped clips. The master's predicted peak
before and after against the headroom line, and the policy used, close the session.

Deterministic: the same views give the same bytes (no time stamps, fixed number formats). Structure for
tests and styling, per session section ``#s<i>`` (1-based):

* ``tr.track`` (id ``s<i>-t<j>``) per track, holding one ``svg.bars`` with exactly one ``rect.bar-before``
  and one ``rect.bar-after`` (width 0 when nothing was measured), ``line.tp-before`` / ``line.tp-after``
  where the true peak is known, ``line.target`` and ``line.ceiling``;
* ``svg.master`` with ``rect.master-before``, ``rect.master-after`` and ``line.headroom``;
* in a batch, ``table.sessions`` with one ``tr.session`` per session linking to its ``#s<i>``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .html_page import _page
from .plan import Bound, MeterKind
from .svg import (
    _AFTER_Y,
    _BAR_H,
    _BEFORE_Y,
    AXIS_H,
    CHART_W,
    ROW_H,
    _axis,
    _bar,
    _db,
    _e,
    _grid,
    _line,
    _n,
    _Scale,
    _scale,
)

METER_UNIT = {
    MeterKind.RMS: "dBFS RMS",
    MeterKind.LUFS: "LUFS",
    MeterKind.PEAK: "dBFS peak",
    MeterKind.TRUE_PEAK: "dBTP",
}


@dataclass(frozen=True, slots=True)
class SkippedClip:
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class TrackView:
    """One track. Levels are on `meter`, pre-fader (what the target applies to); -inf when not measured."""

    name: str
    kind: str  # audio, midi, group, return
    meter: MeterKind
    level_before_db: float
    level_after_db: float
    true_peak_before_dbtp: float
    true_peak_after_dbtp: float
    target_db: float
    peak_ceiling_dbtp: float
    bound_by: Bound
    fader_before_db: float
    fader_after_db: float
    role: str | None = None
    rule: str = ""  # which rule gave the role / targets
    action: str = ""  # what was done with the fader ("fader", "envelope scaled", ...)
    skipped: tuple[SkippedClip, ...] = ()


@dataclass(frozen=True, slots=True)
class MasterView:
    peak_before_dbfs: float  # predicted master sample peak as the session plays
    peak_after_dbfs: float
    headroom_dbfs: float
    headroom_change_db: float = 0.0  # the cut applied to the tracks feeding the master (<= 0)


@dataclass(frozen=True, slots=True)
class SessionView:
    path: str
    format: str
    version: str
    tracks: tuple[TrackView, ...]
    master: MasterView
    policy: tuple[tuple[str, str], ...]  # the policy used, as shown: (("meter", "rms"), ("target", "-18 dB"), ...)
    outcome: str = ""  # e.g. "wrote song.gainstaged.rpp", "dry run: nothing written", "analysis: nothing written"
    edits: int = 0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FailedView:
    """A session of a batch that could not be analysed."""

    path: str
    error: str


@dataclass(frozen=True, slots=True)
class EarlierView:
    """A session of a batch done by an earlier run (resumed): a row, its details are in that run's report."""

    path: str
    outcome: str  # e.g. "written: song.gainstaged.rpp"


BatchView = SessionView | FailedView | EarlierView


# ---------------------------------------------------------------- pieces


def _track_svg(t: TrackView, scale: _Scale) -> str:
    unit = METER_UNIT[t.meter]
    label = (
        f"{t.name}: {_db(t.level_before_db)} to {_db(t.level_after_db)} {unit}, true peak "
        f"{_db(t.true_peak_before_dbtp)} to {_db(t.true_peak_after_dbtp)} dBTP, target {_db(t.target_db)} {unit}, "
        f"ceiling {_db(t.peak_ceiling_dbtp)} dBTP"
    )
    parts = [
        f'<svg class="bars" width="{CHART_W}" height="{ROW_H}" viewBox="0 0 {CHART_W} {ROW_H}" role="img"'
        f' aria-label="{_e(label)}"><title>{_e(label)}</title>',
        _grid(scale, ROW_H),
        _bar(scale, t.level_before_db, _BEFORE_Y, "bar-before"),
        _bar(scale, t.level_after_db, _AFTER_Y, "bar-after"),
    ]
    for value, y, cls in (
        (t.true_peak_before_dbtp, _BEFORE_Y, "tp-before"),
        (t.true_peak_after_dbtp, _AFTER_Y, "tp-after"),
    ):
        if math.isfinite(value):
            parts.append(_line(scale.x(value), y - 2, y + _BAR_H + 2, cls))
    parts.append(_line(scale.x(t.target_db), 0, ROW_H, "target"))
    parts.append(_line(scale.x(t.peak_ceiling_dbtp), 0, ROW_H, "ceiling"))
    parts.append("</svg>")
    return "".join(parts)


def _change(before: float, after: float, *, delta: bool = False) -> str:
    if before == after:
        return _db(before)
    text = f"{_db(before)} → {_db(after)}"
    if delta and math.isfinite(before) and math.isfinite(after):
        text += f' <span class="delta">({_db(after - before, True)})</span>'
    return text


def _track_row(t: TrackView, scale: _Scale, row_id: str, index: int) -> str:
    measured = math.isfinite(t.level_before_db)
    about = " · ".join(x for x in (t.kind, t.rule) if x)
    clips = "; ".join(f"{c.name}: {c.reason}" for c in t.skipped)
    level = _change(t.level_before_db, t.level_after_db, delta=True) if measured else "not measured"
    return (
        f'<tr class="{"track" if measured else "track unmeasured"}" id="{row_id}">'
        f'<td class="num muted">{index}</td>'
        f'<td class="name"><div class="tname" title="{_e(t.name)}">{_e(t.name)}</div>'
        f'<div class="about" title="{_e(about)}">{_e(about)}</div></td>'
        f'<td class="role">{_e(t.role) if t.role else "—"}</td>'
        f"<td>{_track_svg(t, scale)}</td>"
        f'<td class="num">{level}<div class="about">{_e(METER_UNIT[t.meter])}</div></td>'
        f'<td class="num">{_change(t.true_peak_before_dbtp, t.true_peak_after_dbtp) if measured else ""}</td>'
        f'<td class="num">{_db(t.target_db)}<div class="about">{_db(t.peak_ceiling_dbtp)} dBTP</div></td>'
        f'<td><span class="bound b-{_e(str(t.bound_by))}">{_e(str(t.bound_by))}</span></td>'
        f'<td class="num">{_change(t.fader_before_db, t.fader_after_db)}'
        f'<div class="about">{_e(t.action)}</div></td>'
        f'<td class="num{"" if t.skipped else " muted"}" title="{_e(clips)}">{len(t.skipped)}</td></tr>'
    )


_TRACK_HEAD = (
    "<th>#</th><th>track<div class=about>kind · rule</div></th><th>role</th><th>{axis}</th>"
    "<th>level before → after<div class=about>unit</div></th><th>true peak<div class=about>dBTP</div></th>"
    "<th>target<div class=about>ceiling</div></th><th>bound by</th><th>fader, dB<div class=about>action</div></th>"
    "<th>skipped<div class=about>clips</div></th>"
)
_AXIS_UNIT = "dB on the track's meter (see unit); true peak in dBTP"


def _tracks_table(view: SessionView, sid: str) -> str:
    values = [
        v
        for t in view.tracks
        for v in (
            t.level_before_db,
            t.level_after_db,
            t.true_peak_before_dbtp,
            t.true_peak_after_dbtp,
            t.target_db,
            t.peak_ceiling_dbtp,
        )
    ]
    scale = _scale(values)
    head = _TRACK_HEAD.format(axis=_axis(scale, _AXIS_UNIT))
    rows = "".join(_track_row(t, scale, f"{sid}-t{j}", j) for j, t in enumerate(view.tracks, 1))
    return f'<table class="tracks"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _master_svg(m: MasterView) -> str:
    scale = _scale([m.peak_before_dbfs, m.peak_after_dbfs, m.headroom_dbfs, -24.0])
    label_w, h = 60, 2 * ROW_H
    label = (
        f"master predicted peak: before {_db(m.peak_before_dbfs)} dBFS, after {_db(m.peak_after_dbfs)} dBFS, "
        f"headroom line {_db(m.headroom_dbfs)} dBFS"
    )
    parts = [
        f'<svg class="master" width="{label_w + CHART_W + 12}" height="{h + AXIS_H}" '
        f'viewBox="0 0 {label_w + CHART_W + 12} {h + AXIS_H}" role="img" aria-label="{_e(label)}">'
        f"<title>{_e(label)}</title>",
        '<text x="0" y="14">before</text><text x="0" y="34">after</text>',
        f'<g transform="translate({label_w} 0)">',
        _grid(scale, h),
    ]
    for value, y, cls in ((m.peak_before_dbfs, 4, "master-before"), (m.peak_after_dbfs, 24, "master-after")):
        width = scale.x(value) if math.isfinite(value) else 0.0
        parts.append(f'<rect class="{cls}" x="0" y="{y}" width="{_n(width)}" height="12"/>')
    parts.append(_line(scale.x(m.headroom_dbfs), 0, h, "headroom"))
    parts.append(f'</g><g transform="translate({label_w - 6} {h})">')
    parts.append(_axis(scale, "predicted master sample peak, dBFS"))
    parts.append("</g></svg>")
    return "".join(parts)


def _legend() -> str:
    items = [
        '<rect class="key-before" x="0" y="5" width="22" height="6"/>',
        '<rect class="key-after" x="0" y="5" width="22" height="6"/>',
        '<rect class="key-after" x="0" y="5" width="22" height="6"/><line class="key-tp" x1="16" x2="16" y1="2" '
        'y2="14"/>',
        '<line class="key-target" x1="11" x2="11" y1="0" y2="16"/>',
        '<line class="key-ceiling" x1="11" x2="11" y1="0" y2="16"/>',
        '<line class="key-headroom" x1="11" x2="11" y1="0" y2="16"/>',
    ]
    labels = [
        "level before",
        "level after",
        "true peak (dBTP), before and after",
        "target (on the track's meter)",
        "true-peak ceiling (dBTP)",
        "master headroom line (dBFS)",
    ]
    return (
        '<ul class="legend">'
        + "".join(
            f'<li><svg width="24" height="16" viewBox="0 0 24 16" aria-hidden="true">{i}</svg>{_e(label)}</li>'
            for i, label in zip(items, labels, strict=True)
        )
        + "</ul>"
    )


def _skipped_table(view: SessionView) -> str:
    rows = [(t.name, c) for t in view.tracks for c in t.skipped]
    if not rows:
        return '<p class="muted">No clip was skipped.</p>'
    body = "".join(f"<tr><td>{_e(track)}</td><td>{_e(c.name)}</td><td>{_e(c.reason)}</td></tr>" for track, c in rows)
    return (
        f'<table class="skipped"><thead><tr><th>track</th><th>clip</th><th>reason</th></tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _policy_list(view: SessionView) -> str:
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in view.policy)
    return f'<dl class="policy">{items}</dl>'


def _section(view: SessionView, sid: str, batch: bool) -> str:
    m = view.master
    skipped = sum(len(t.skipped) for t in view.tracks)
    facts = [
        f"{_e(view.format)} {_e(view.version or 'unknown version')}",
        f"{len(view.tracks)} tracks",
        f"{skipped} skipped clips",
        f"{view.edits} edits",
    ]
    if view.outcome:
        facts.append(_e(view.outcome))
    cut = f"; tracks feeding the master lowered by {-m.headroom_change_db:.1f} dB" if m.headroom_change_db else ""
    back = '<p class="back screen-only"><a href="#summary">↑ all sessions</a></p>' if batch else ""
    heading = "h2" if batch else "h1"
    notes = "".join(f"<li>{_e(n)}</li>" for n in view.notes)
    return (
        f'<section class="session" id="{sid}">'
        f"<{heading}>{_e(view.path)}</{heading}>"
        f'<p class="facts">{" · ".join(facts)}</p>'
        f"{_legend()}"
        f"<h3>Tracks</h3>{_tracks_table(view, sid)}"
        f"<h3>Master</h3>{_master_svg(m)}"
        f'<p class="facts">predicted master peak {_db(m.peak_before_dbfs)} → {_db(m.peak_after_dbfs)} dBFS, '
        f"headroom line {_db(m.headroom_dbfs)} dBFS{cut}</p>"
        f"<h3>Skipped clips</h3>{_skipped_table(view)}"
        f"<h3>Policy</h3>{_policy_list(view)}"
        + (f"<h3>Notes</h3><ul>{notes}</ul>" if notes else "")
        + f"{back}</section>"
    )


def _summary(items: Sequence[BatchView]) -> str:
    rows = []
    for i, v in enumerate(items, 1):
        if isinstance(v, FailedView):
            rows.append(
                f'<tr class="session failed"><td>{_e(v.path)}</td><td colspan="5">failed</td>'
                f"<td>{_e(v.error)}</td></tr>"
            )
            continue
        if isinstance(v, EarlierView):
            rows.append(
                f'<tr class="session earlier"><td>{_e(v.path)}</td><td colspan="5">done in an earlier run</td>'
                f"<td>{_e(v.outcome)}</td></tr>"
            )
            continue
        m = v.master
        skipped = sum(len(t.skipped) for t in v.tracks)
        rows.append(
            f'<tr class="session"><td><a href="#s{i}">{_e(v.path)}</a></td><td>{_e(v.format)}</td>'
            f'<td class="num">{len(v.tracks)}</td><td class="num">{skipped}</td><td class="num">{v.edits}</td>'
            f'<td class="num">{_db(m.peak_before_dbfs)} → {_db(m.peak_after_dbfs)}</td><td>{_e(v.outcome)}</td></tr>'
        )
    head = (
        "<th>session</th><th>format</th><th>tracks</th><th>skipped clips</th><th>edits</th>"
        "<th>master peak, dBFS</th><th>result</th>"
    )
    return (
        f'<section id="summary"><h1>gainstager: {len(items)} sessions</h1>'
        f'<table class="sessions"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></section>'
    )


# ---------------------------------------------------------------- pages


def render_session(view: SessionView) -> str:
    """The report of one session, as one HTML document."""
    return _page(f"gainstager: {view.path}", _section(view, "s1", batch=False))


def render_batch(items: Sequence[BatchView], *, title: str = "gainstager batch report") -> str:
    """A batch: a summary table, one row per session linking to its section, then the sections in order."""
    sections = "".join(_section(v, f"s{i}", batch=True) for i, v in enumerate(items, 1) if isinstance(v, SessionView))
    return _page(title, _summary(items) + sections)
