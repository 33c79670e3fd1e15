"""The page around the HTML report: the document shell and its one inline stylesheet (screen and print), so that
the page needs nothing from outside. Pure: a title and a body in, one HTML document out.
"""

from __future__ import annotations

from .svg import _e

_CSS = """
:root{--before:#b3bbc6;--after:#2a64ad;--tp:#111;--target:#d97400;--ceiling:#c62828;--headroom:#7b3fa0;
--grid:#e6e9ee;--muted:#6b7480}
*{box-sizing:border-box}
body{font:13px/1.3 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1d232b;
margin:16px;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;margin:32px 0 4px;padding-top:8px;border-top:2px solid #d5dae1}
h3{font-size:14px;margin:18px 0 6px}
a{color:#2a64ad}
.facts{color:var(--muted);margin:2px 0 8px}
.muted{color:var(--muted)}
table{border-collapse:collapse}
th{font-weight:600;text-align:left;vertical-align:bottom;padding:2px 6px;border-bottom:1px solid #aab2bd;
white-space:nowrap}
td{padding:1px 6px;border-bottom:1px solid #eef0f3;vertical-align:middle;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.about{color:var(--muted);font-size:.85em;font-weight:normal}
td .about,td .tname{max-width:300px;overflow:hidden;text-overflow:ellipsis}
tr.track:nth-child(even){background:#f7f8fa}
tr.unmeasured td{color:var(--muted)}
.delta{color:var(--muted)}
svg{display:block;overflow:visible}
svg text{font:10px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:#39414b}
svg text.unit{fill:var(--muted)}
.grid{stroke:var(--grid);stroke-width:1}.grid.zero{stroke:#b9c0c9}
.tick{stroke:#6b7480}
.bar-before,.master-before,.key-before{fill:var(--before)}
.bar-after,.master-after,.key-after{fill:var(--after)}
.tp-before,.tp-after,.key-tp{stroke:var(--tp);stroke-width:2}
.target,.key-target{stroke:var(--target);stroke-width:2}
.ceiling,.key-ceiling{stroke:var(--ceiling);stroke-width:1.5;stroke-dasharray:3 2}
.headroom,.key-headroom{stroke:var(--headroom);stroke-width:2;stroke-dasharray:4 2}
.legend{list-style:none;padding:0;margin:6px 0;display:flex;flex-wrap:wrap;gap:4px 18px}
.legend li{display:flex;align-items:center;gap:6px}
.bound{padding:0 5px;border-radius:3px;font-size:.85em;background:#eef0f3}
.b-target{background:#e3f1e6}.b-peak-ceiling{background:#fbe3e3}.b-range,.b-boost-cap{background:#fdf0d8}
.b-none{color:var(--muted)}
dl.policy{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:0}
dl.policy dt{color:var(--muted)}dl.policy dd{margin:0}
table.sessions td,table.skipped td{white-space:normal}
tr.failed td{color:var(--ceiling)}
tr.earlier td{color:var(--muted)}
@media print{
@page{size:A4 landscape;margin:10mm}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{margin:0;font-size:10px}
.screen-only{display:none}
a{color:inherit;text-decoration:none}
tr{break-inside:avoid}
thead{display:table-header-group}
section.session{break-before:page}
section.session:first-child{break-before:auto}
h3{break-after:avoid}
}
"""


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>{body}</body></html>\n"
    )
