"""The HTML report in a real browser: headless Chromium loads the file from disk, with no console error, no
request beyond the file itself, one bar pair per track in the rendered DOM, and a screenshot on screen and on
print media; the demo session's report as the real command line writes it, too.

Chromium is Debian's `chromium` package, which .ci/run installs when it is absent; without it these tests skip.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from gainstager.html_report import FailedView, SessionView, render_batch, render_session
from tests.browser import find_chromium, open_page
from tests.conftest import REPO, cli
from tests.test_html_report import HOSTILE, synthetic_view

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium binary: install Debian's chromium (apt-get install chromium; .ci/run does) "
    "or set GAINSTAGER_CHROMIUM",
)

COUNT = """(() => {
  const rows = [...document.querySelectorAll('tr.track')];
  const drawn = (sel) => [...document.querySelectorAll(sel)].filter((e) => e.getBBox().height > 0).length;
  return {
    rows: rows.length,
    before: drawn('svg.bars rect.bar-before'),
    after: drawn('svg.bars rect.bar-after'),
    targets: drawn('svg.bars line.target'),
    names: rows.map((r) => r.querySelector('.tname').textContent),
    scripts: document.scripts.length,
    tableWidth: document.querySelector('table.tracks').getBoundingClientRect().width,
    rowHeights: rows.map((r) => r.getBoundingClientRect().height),
  };
})()"""


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk (bytes 16-24), and a check that it is a PNG at all."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("n", [5, 60])
def test_report_renders_with_one_bar_per_track(tmp_path: Path, n: int) -> None:
    assert CHROMIUM is not None
    view = synthetic_view(n)
    page_file = tmp_path / "report.html"
    page_file.write_text(render_session(view), encoding="utf-8")
    with open_page(CHROMIUM, tmp_path / "profile", page_file.as_uri()) as page:
        found = page.evaluate(COUNT)
        shot = tmp_path / "report.png"
        width, height = page.screenshot(shot)
        printed = page.screenshot(tmp_path / "print.png", media="print")
        page.collect()
        assert page.console == []
        assert page.requests == [page_file.as_uri()]  # nothing fetched but the file itself
    assert found["rows"] == found["before"] == found["after"] == found["targets"] == n
    assert found["names"] == [t.name for t in view.tracks]  # the hostile name is text, not markup
    assert HOSTILE in found["names"] and found["scripts"] == 0
    assert found["tableWidth"] <= 1366 - 2 * 16  # fits a 1366-pixel laptop screen at 100 %
    assert max(found["rowHeights"]) < 40  # one compact row per track: 60 tracks stay scannable
    assert png_size(shot) == (width, height) and height > 30 * n
    assert png_size(tmp_path / "print.png") == printed


def test_demo_report_from_the_command_line(tmp_path: Path) -> None:
    """The README's picture: `analyze --html` on the demo session, from the repository root."""
    assert CHROMIUM is not None
    page_file = tmp_path / "demo.html"
    demo, policy = "fixtures/demo/demo.rpp", "fixtures/demo/policy.toml"
    proc = cli("analyze", demo, "--policy", policy, "--html", str(page_file), cwd=REPO)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    # the tracks, read from the project text itself: every <TRACK block's NAME
    names = re.findall(r'<TRACK[^\n]*\n\s*NAME "([^"]*)"', (REPO / demo).read_text(encoding="utf-8"))
    assert len(names) == 7
    with open_page(CHROMIUM, tmp_path / "profile", page_file.as_uri()) as page:
        found = page.evaluate(COUNT)
        roles = page.evaluate("[...document.querySelectorAll('tr.track td.role')].map((td) => td.textContent)")
        width, height = page.screenshot(tmp_path / "demo.png")
        page.collect()
        assert page.console == []
        assert page.requests == [page_file.as_uri()]
    assert found["rows"] == found["before"] == found["after"] == found["targets"] == len(names)
    assert found["names"] == names and found["scripts"] == 0
    assert roles == ["drums", "bass", "vocal", "guitar", "guitar", "guitar", "guide"]
    assert found["tableWidth"] <= 1366 - 2 * 16
    assert png_size(tmp_path / "demo.png") == (width, height)


def test_batch_report_renders(tmp_path: Path) -> None:
    assert CHROMIUM is not None
    items: list[SessionView | FailedView] = [
        synthetic_view(4, path="a.rpp"),
        FailedView("b.als", "b: bad"),
        synthetic_view(3),
    ]
    page_file = tmp_path / "batch.html"
    page_file.write_text(render_batch(items), encoding="utf-8")
    with open_page(CHROMIUM, tmp_path / "profile", page_file.as_uri()) as page:
        found = page.evaluate(COUNT)
        targets = page.evaluate(
            "[...document.querySelectorAll('table.sessions a')].map((a) => "
            "document.getElementById(a.hash.slice(1)).querySelectorAll('tr.track').length)"
        )
        page.collect()
        assert page.console == []
    assert found["rows"] == found["after"] == 7
    assert targets == [4, 3]


def test_the_harness_sees_errors_and_requests(tmp_path: Path) -> None:
    """The checks above are only worth something if a broken page fails them."""
    assert CHROMIUM is not None
    page_file = tmp_path / "broken.html"
    page_file.write_text(
        '<!DOCTYPE html><html><body><img src="missing.png">'
        '<script>console.error("boom"); notDefined();</script></body></html>',
        encoding="utf-8",
    )
    with open_page(CHROMIUM, tmp_path / "profile", page_file.as_uri()) as page:
        page.collect()
        console, requests = list(page.console), list(page.requests)
    assert any("boom" in c for c in console)
    assert any("notDefined" in c for c in console)
    assert any("missing.png" in r for r in requests)
