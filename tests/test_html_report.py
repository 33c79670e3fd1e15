"""The HTML report's structure, read back with an HTML parser: bars per track, lines, links, escaping, bytes."""

from __future__ import annotations

import math
import re
from pathlib import Path

import lxml.html
import numpy as np
import pytest

from gainstager.html_report import (
    FailedView,
    MasterView,
    SessionView,
    SkippedClip,
    TrackView,
    render_batch,
    render_session,
)
from gainstager.plan import Bound, MeterKind

HOSTILE = "<script>alert('x')</script> & \"Co\" </td><img src=x>"
_ROLES = (
    ("Kick In", "kick", MeterKind.PEAK, -10.0),
    ("Snare Top", "snare", MeterKind.PEAK, -10.0),
    ("Bass DI", "bass", MeterKind.RMS, -20.0),
    ("Lead Vox", "vocal", MeterKind.PEAK, -10.0),
    ("Pad Strings", "pad", MeterKind.RMS, -22.0),
    ("Room Mics L/R", "drums", MeterKind.PEAK, -10.0),
    ("FX Riser", None, MeterKind.RMS, -18.0),
)


def synthetic_view(n_tracks: int, seed: int = 1, *, path: str = "songs/Big Session.rpp") -> SessionView:
    """A plausible session of `n_tracks` made with a seeded generator; one silent track, one skipped clip,
    one track bound by its ceiling, and one hostile name when there are more than three tracks."""
    rng = np.random.default_rng(seed)
    tracks = []
    for i in range(n_tracks):
        name, role, meter, target = _ROLES[i % len(_ROLES)]
        name = f"{name} {i // len(_ROLES) + 1}" if n_tracks > len(_ROLES) else name
        if i == 3 and n_tracks > 3:
            name = HOSTILE
        before = float(rng.uniform(-40, -8))
        crest = float(rng.uniform(6, 16)) if meter == MeterKind.RMS else float(rng.uniform(0.2, 1.5))
        change, bound = target - before, Bound.TARGET
        if before + crest + change > -6.0:  # as the planner does: the true-peak ceiling holds it
            change, bound = -6.0 - (before + crest), Bound.PEAK_CEILING
        silent = i == 2 and n_tracks > 2
        tracks.append(
            TrackView(
                name=name,
                kind="audio",
                meter=meter,
                level_before_db=-math.inf if silent else before,
                level_after_db=-math.inf if silent else before + change,
                true_peak_before_dbtp=-math.inf if silent else before + crest,
                true_peak_after_dbtp=-math.inf if silent else before + crest + change,
                target_db=target,
                peak_ceiling_dbtp=-6.0,
                bound_by=Bound.NONE if silent else bound,
                fader_before_db=float(rng.uniform(-6, 0)),
                fader_after_db=float(rng.uniform(-6, 6)),
                role=role,
                rule=f"name ~ built-in {role} pattern" if role else "no role matched: global policy",
                action="fader",
                skipped=(SkippedClip("take 3 <alt>", "media not found: take3.wav"),) if i == 1 else (),
            )
        )
    master = MasterView(peak_before_dbfs=-1.2, peak_after_dbfs=-6.0, headroom_dbfs=-6.0, headroom_change_db=-2.5)
    policy = (("meter", "rms"), ("target", "-18 dB"), ("peak ceiling", "-6 dBTP"), ("headroom", "-6 dBFS"))
    return SessionView(path, "rpp", "7.27", tuple(tracks), master, policy, "wrote Big Session.gainstaged.rpp", 12)


def parse(text: str) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(text)


@pytest.mark.parametrize("n", [1, 5, 60])
def test_one_bar_pair_per_track_and_lines(n: int) -> None:
    view = synthetic_view(n)
    doc = parse(render_session(view))
    rows = doc.cssselect("tr.track")
    assert len(rows) == n
    for row, track in zip(rows, view.tracks, strict=True):
        svg = row.cssselect("svg.bars")
        assert len(svg) == 1
        assert len(svg[0].cssselect("rect.bar-before")) == len(svg[0].cssselect("rect.bar-after")) == 1
        assert len(svg[0].cssselect("line.target")) == len(svg[0].cssselect("line.ceiling")) == 1
        measured = math.isfinite(track.level_before_db)
        assert len(svg[0].cssselect("line.tp-before")) == len(svg[0].cssselect("line.tp-after")) == int(measured)
    for cls in ("rect.master-before", "rect.master-after", "line.headroom"):
        assert len(doc.cssselect(f"svg.master {cls}")) == 1


def _x(row: lxml.html.HtmlElement, selector: str) -> float:
    """Where a mark is: a line's x, or a bar's right end."""
    element = row.cssselect(selector)[0]
    return float(element.get("x1") if element.tag == "line" else element.get("width"))


def test_bars_and_lines_sit_where_the_numbers_say() -> None:
    """Geometry against a scale read off the axis labels: positions are linear in dB."""
    view = synthetic_view(5)
    doc = parse(render_session(view))
    ticks = doc.cssselect("table.tracks thead svg.axis text")
    labelled = [(float(t.get("x")), float(t.text_content())) for t in ticks if "unit" not in (t.get("class") or "")]
    (x0, d0), (x1, d1) = labelled[0], labelled[-1]

    def x_of(db: float) -> float:
        return x0 + (db - d0) * (x1 - x0) / (d1 - d0)

    for row, t in zip(doc.cssselect("tr.track"), view.tracks, strict=True):
        if not math.isfinite(t.level_before_db):
            assert _x(row, "rect.bar-after") == 0.0
            continue
        assert _x(row, "rect.bar-before") == pytest.approx(x_of(t.level_before_db), abs=0.1)
        assert _x(row, "rect.bar-after") == pytest.approx(x_of(t.level_after_db), abs=0.1)
        assert _x(row, "line.tp-before") == pytest.approx(x_of(t.true_peak_before_dbtp), abs=0.1)
        assert _x(row, "line.tp-after") == pytest.approx(x_of(t.true_peak_after_dbtp), abs=0.1)
        assert _x(row, "line.target") == pytest.approx(x_of(t.target_db), abs=0.1)
        assert _x(row, "line.ceiling") == pytest.approx(x_of(t.peak_ceiling_dbtp), abs=0.1)


def test_same_input_same_bytes() -> None:
    a = render_batch([synthetic_view(20, seed=3), FailedView("x.als", "x.als: broken"), synthetic_view(4)])
    b = render_batch([synthetic_view(20, seed=3), FailedView("x.als", "x.als: broken"), synthetic_view(4)])
    assert a.encode() == b.encode()
    assert render_session(synthetic_view(7)) == render_session(synthetic_view(7))
    assert render_session(synthetic_view(7, seed=2)) != render_session(synthetic_view(7))


def test_user_text_is_escaped() -> None:
    view = synthetic_view(5, path=f"songs/{HOSTILE}.rpp")
    text = render_session(view)
    doc = parse(text)
    assert doc.cssselect("script") == [] and doc.cssselect("img") == []
    names = [r.cssselect("td.name .tname")[0].text_content() for r in doc.cssselect("tr.track")]
    assert names == [t.name for t in view.tracks]
    assert HOSTILE in names
    assert doc.cssselect("h1")[0].text_content() == f"songs/{HOSTILE}.rpp"
    assert doc.cssselect("title")[0].text_content() == f"gainstager: songs/{HOSTILE}.rpp"
    skipped = doc.cssselect("table.skipped tbody tr td")
    assert [c.text_content() for c in skipped] == ["Snare Top", "take 3 <alt>", "media not found: take3.wav"]


def test_self_contained_nothing_to_fetch() -> None:
    text = render_batch([synthetic_view(10), FailedView("a.rpp", "a.rpp: gone")])
    doc = parse(text)
    assert doc.cssselect("script, link, img, iframe, object, embed") == []
    assert not re.search(r"(?i)\b(?:src|href)\s*=\s*\"(?!#)", text)  # only in-page links
    assert "url(" not in text and "@import" not in text and "http" not in text.replace("http-equiv", "")
    assert "@media print" in text  # a print stylesheet


def test_batch_rows_link_to_their_sections() -> None:
    items: list[SessionView | FailedView] = [
        synthetic_view(3, path="a.rpp"),
        FailedView("b <bad>.als", "b <bad>.als: not a Live set"),
        synthetic_view(6, path="c.rpp"),
    ]
    doc = parse(render_batch(items))
    rows = doc.cssselect("table.sessions tr.session")
    assert [r.cssselect("td")[0].text_content() for r in rows] == ["a.rpp", "b <bad>.als", "c.rpp"]
    links = [a.get("href") for a in doc.cssselect("table.sessions a")]
    assert links == ["#s1", "#s3"]  # the failed session has a row but no section
    for href, n in zip(links, (3, 6), strict=True):
        section = doc.get_element_by_id(href[1:])
        assert section.tag == "section" and len(section.cssselect("tr.track")) == n
    assert len(doc.cssselect("tr.failed")) == 1
    ids = [e.get("id") for e in doc.iter() if e.get("id")]
    assert len(ids) == len(set(ids))  # every anchor is unique
    for a in doc.cssselect('a[href^="#"]'):
        assert doc.get_element_by_id(a.get("href")[1:]) is not None


def test_axis_and_legend_name_their_units(tmp_path: Path) -> None:
    doc = parse(render_session(synthetic_view(5)))
    axis = doc.cssselect("table.tracks thead svg.axis text.unit")[0].text_content()
    assert "dB" in axis and "dBTP" in axis
    master_axis = doc.cssselect("svg.master svg.axis text.unit")[0].text_content()
    assert "dBFS" in master_axis
    legend = [li.text_content() for li in doc.cssselect("ul.legend li")]
    assert any("before" in t for t in legend) and any("ceiling" in t for t in legend)
    units = {div.text_content() for div in doc.cssselect("tr.track td.num div.about") if "dBFS" in div.text_content()}
    assert units == {"dBFS peak", "dBFS RMS"}
