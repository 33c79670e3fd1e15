"""Text tables: what `analyze`, `apply`, `batch`, `check` and `measure` print without --json, rendered from the typed
reports in `report` and the verdicts of `check`. Pure: builds text, prints nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .check import Checked, CheckError
from .model import FileLevels, Levels
from .plan import METER_FIELD, MeterKind
from .report import BatchReport, BatchStatus, SessionReport, TrackRow, session_report

if TYPE_CHECKING:
    from .cache import CacheInfo
    from .discover import Skipped
    from .output import WriteResult
    from .pipeline import Analysis
    from .routing import MixScope


def db_text(value: float | None, width: int = 7) -> str:
    if value is None or (isinstance(value, float) and math.isinf(value) and value < 0):
        return "-inf".rjust(width)
    return f"{round(value, 1) + 0.0:+.1f}".rjust(width)  # + 0.0: -0.04 shows as +0.0, not -0.0


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _short(text: str, width: int = 28) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _level(levels: Levels | None, meter: MeterKind) -> str:
    return db_text(getattr(levels, METER_FIELD[meter]) if levels else None)


def _faders(t: TrackRow) -> list[str]:
    return [db_text(t.fader_db), db_text(t.new_fader_db), _short(t.action, 40)]


def session_text(r: SessionReport) -> str:
    p = r.policy
    out = [
        f"{r.path}  ({r.format}, {r.version or 'unknown version'})",
        f"policy: {p.meter} target {p.target_db:g} dB, ceiling {p.peak_ceiling_dbtp:g} dBTP, "
        f"per {p.per}, faders {p.faders}, headroom {p.headroom_dbfs:g} dBFS",
        *([f"policy file: {r.policy_file} (each track's role and target below)"] if r.policy_file else []),
        "",
    ]
    meters = {t.track_id: t.policy.meter for t in r.tracks}  # a clip's level is on its track's meter
    rows = []
    for c in r.clips:
        staged = c.staged
        rows.append(
            [
                _short(c.track, 20),
                _short(c.name or c.clip_id),
                str(c.status),
                _level(c.levels, meters.get(c.track_id, p.meter)),
                db_text(c.levels.true_peak_dbtp if c.levels else None),
                db_text(c.gain_db),
                db_text(c.new_gain_db) if staged else "",
                str(c.bound_by) if staged else _short(c.reason, 40),
            ]
        )
    out.append(table(rows, ["track", "clip", "status", "level", "TP", "gain", "new", "bound by / reason"]))
    out.append("")
    trows = [
        [
            _short(t.name or t.track_id, 24),
            t.kind,
            t.role or "-",
            _level(t.levels, t.policy.meter),
            f"{db_text(t.policy.target_db)} {t.policy.meter}",
            *_faders(t),
        ]
        for t in r.tracks
    ]
    out.append(table(trows, ["track", "kind", "role", "level", "target", "fader", "new", "action"]))
    out.append("")
    out.append(
        f"master peak (predicted, dBFS): before {db_text(r.master_peak_before_dbfs, 0)}, "
        f"after {db_text(r.master_peak_after_dbfs, 0)}"
    )
    out.extend(scope_lines(r.scope))
    out.extend(f"note: {n}" for n in r.notes)
    counts: dict[str, int] = {}
    for c in r.clips:
        counts[str(c.status)] = counts.get(str(c.status), 0) + 1
    out.append("clips: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + f"; {r.edits} edits")
    out.append(f"regions: {r.regions_measured} measured, {r.regions_cached} from the cache")
    if r.written is not None and r.written.dry_run:
        out.append("dry run: nothing written")
    elif r.written is not None and r.written.path:
        out.append(f"wrote {r.written.path}" + (f" (backup {r.written.backup})" if r.written.backup else ""))
    return "\n".join(out)


def analysis_text(a: Analysis, written: WriteResult | None = None, *, dry_run: bool = False) -> str:
    return session_text(session_report(a, written, dry_run=dry_run))


_STATUS_TEXT = {BatchStatus.DRY_RUN: "dry run", BatchStatus.TIMED_OUT: "timed out"}


def batch_text(b: BatchReport) -> str:
    """The batch summary: a row per session, then the totals, the failures and what discovery skipped."""
    rows = []
    for i in b.items:
        status = _STATUS_TEXT.get(i.status, str(i.status)) + ("*" if i.resumed else "")
        if not i.ok:
            rows.append([i.path, i.format or "-", status, "", "", "", "", f"{i.duration_s:.1f} s"])
            continue
        rows.append(
            [
                i.path,
                i.format,
                status,
                f"{i.clips_staged}/{i.clips_total}",
                str(i.edits),
                db_text(i.master_peak_before_dbfs),
                db_text(i.master_peak_after_dbfs),
                f"{i.duration_s:.1f} s",
            ]
        )
    out = [table(rows, ["session", "fmt", "status", "clips staged", "edits", "master pk", "after", "time"])]
    if b.resumed:
        out.append(f"* done in an earlier run ({_count(b.resumed, 'session')}, reused from the resume journal)")
    counts = [f"{b.count(s)} {_STATUS_TEXT.get(s, str(s))}" for s in BatchStatus if b.count(s)]
    out.append("")
    out.append(f"{_count(len(b.items), 'session')}: {', '.join(counts) or 'none'}")
    busy_s = sum(i.duration_s for i in b.items if not i.resumed)
    out.append(
        f"clips staged: {b.total('clips_staged')} of {b.total('clips_total')}; edits: {b.total('edits')}; "
        f"time: {b.wall_s:.1f} s ({busy_s:.1f} s of session work)"
    )
    out.append(f"regions: {b.total('regions_measured')} measured, {b.total('regions_cached')} from the cache")
    out.extend(skipped_lines(b.skipped))
    failures = [f"  {i.error}" for i in b.items if i.error] + [f"  {p}: no such file or folder" for p in b.missing]
    if failures:
        out.append(f"failed: {b.failed}")
        out.extend(failures)
    return "\n".join(out)


def skipped_lines(skipped: Sequence[Skipped]) -> list[str]:
    """What discovery left out, one line per kind: count, reason, the first path."""
    return [f"skipped: {s.count} {s.reason} (e.g. {s.examples[0]})" for s in skipped if s.examples]


def scope_lines(scope: MixScope | None) -> list[str]:
    if scope is None:
        return []
    lines = [f"project rate: {scope.sample_rate_hz} Hz ({scope.sample_rate_source})"]
    if scope.soloed:
        lines.append(f"soloed when saved: {', '.join(scope.soloed)} (solo ignored: the prediction is the whole mix)")
    if scope.frozen:
        lines.append(
            f"frozen: {', '.join(scope.frozen)}: measured from the freeze audio, clip gain not written "
            "(unfreeze to change it)"
        )
    if scope.frozen_left_out:
        lines.append(f"frozen, left out (no freeze audio found in the arrangement): {', '.join(scope.frozen_left_out)}")
    lines.append(
        f"master prediction leaves out: {_count(scope.instrument_tracks, 'instrument track')} without audio, "
        f"{_count(scope.return_tracks, 'return track')}, {_count(scope.sends, 'send')}, "
        f"{_count(scope.plugin_tracks, 'track')} with plug-ins (levels are pre-FX)"
    )
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def file_levels_text(files: list[FileLevels], notes: Sequence[str] = ()) -> str:
    """The levels of each file, a row each, then the notes (Python warnings while measuring)."""
    rows = []
    for f in files:
        lv = f.levels
        rows.append(
            [
                _short(f.path, 40),
                f"{f.sample_rate_hz}",
                f"{f.channels}",
                f"{lv.duration_s:.2f}",
                db_text(lv.sample_peak_dbfs),
                db_text(lv.true_peak_dbtp),
                db_text(lv.rms_dbfs),
                db_text(lv.gated_rms_dbfs),
                db_text(lv.integrated_lufs),
                db_text(lv.momentary_max_lufs),
                db_text(lv.short_term_max_lufs),
                f"{lv.loudness_range_lu:.1f}",
            ]
        )
    header = ["file", "Hz", "ch", "s", "peak", "TP", "RMS", "gRMS", "LUFS-I", "M max", "S max", "LRA"]
    return "\n".join([*([table(rows, header)] if rows else []), *(f"note: {n}" for n in notes)])


def check_text(results: Sequence[Checked]) -> str:
    """One line per session (PASS or FAIL, how many tracks are within tolerance, the master), then what is out
    and why, one indented line each; a last line with the count."""
    lines = []
    for r in results:
        if isinstance(r, CheckError):
            lines.append(f"FAIL  {r.session}: not checked ({r.error})")
            continue
        judged = [t for t in r.tracks if not t.skipped]
        within = sum(t.passed for t in judged)
        lines.append(
            f"{'PASS' if r.passed else 'FAIL'}  {r.session}: {within} of {len(judged)} staged tracks within "
            f"±{r.tolerance_db:g} dB of their targets; master {r.master.reason}"
        )
        lines.extend(f"      {problem}" for problem in r.problems())
    passed = sum(r.passed for r in results)
    lines.append(f"\n{passed} of {len(results)} sessions pass")
    return "\n".join(lines)


def cache_info_text(info: CacheInfo) -> str:
    return "\n".join(
        [
            f"cache directory: {info.directory}",
            f"store: {info.store}",
            f"entries: {info.entries}",
            f"size: {info.size_bytes / 1e6:.1f} MB",
        ]
    )
