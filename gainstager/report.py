"""Reports: the versioned JSON document and the readable tables. Pure: builds data and text, prints nothing.

JSON schema 1 (`gainstager analyze|apply --json`); every level is in dB, and null stands for -inf (silence,
or too short to measure):

    {"schema": 1,
     "session": {"path", "format", "version"},
     "policy": {"meter", "target_db", "peak_ceiling_db", "per", "faders", "headroom_db", "max_boost_db"},
     "clips": [{"id", "track", "name", "file", "status", "reason", "clip_gain_db", "new_clip_gain_db",
                "levels": {LEVELS}, "bound_by", "note"}],
     "tracks": [{"id", "name", "kind", "fader_db", "new_fader_db", "automation", "action", "levels"}],
     "master": {"fader_db", "predicted_peak_dbfs_before", "predicted_peak_dbfs_after", "headroom_change_db"},
     "edits": int, "notes": [str],
     "output": {"path", "backup", "changed", "dry_run"}}          (apply only)

LEVELS = sample_peak_dbfs, true_peak_dbtp, rms_dbfs, gated_rms_dbfs, integrated_lufs, momentary_max_lufs,
short_term_max_lufs, loudness_range_lu, duration_s (the same keys `gainstager measure --json` uses).
`bound_by` is one of target, peak-ceiling, range, boost-cap, none. Levels are measured with the session as
it was read (before any change).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .model import LEVEL_KEYS, ClipStatus, FileLevels, Levels
from .plan import METER_FIELD, Bound
from .units import finite_or_none

if TYPE_CHECKING:  # only for type hints: `measure` must not import the session pipeline
    from .output import WriteResult
    from .pipeline import Analysis


def levels_json(levels: Levels | None) -> dict[str, float | None] | None:
    if levels is None:
        return None
    out: dict[str, float | None] = {k: _num(getattr(levels, k)) for k in LEVEL_KEYS}
    out["duration_s"] = _num(levels.duration_s)
    return out


def _num(value: float) -> float | None:
    v = finite_or_none(value)
    return None if v is None else round(v, 4)


def analysis_json(a: Analysis, written: WriteResult | None = None, *, dry_run: bool = False) -> dict[str, Any]:
    s = a.session
    names = {t.track_id: t.name for t in (*s.tracks, s.master)}
    clips = []
    for m in a.media:
        c = m.clip
        cp = a.plan.clips.get(c.clip_id)
        staged = cp is not None and c.status == ClipStatus.ACTIVE
        clips.append(
            {
                "id": c.clip_id,
                "track": names.get(c.track_id, c.track_id),
                "name": c.name,
                "file": m.path or (c.media.written_path if c.media else None),
                "status": str(c.status),
                "reason": m.reason or (cp.reason if cp else ""),
                "clip_gain_db": _num(c.gain_db),
                "new_clip_gain_db": _num(cp.new_gain_db if staged and cp else c.gain_db),
                "levels": levels_json(a.clip_levels.get(c.clip_id)),
                "bound_by": str(cp.bound_by if staged and cp else Bound.NONE),
                "note": c.note,
            }
        )
    tracks = []
    for t in s.tracks:
        tp = a.plan.tracks.get(t.track_id)
        tracks.append(
            {
                "id": t.track_id,
                "name": t.name,
                "kind": str(t.kind),
                "fader_db": _num(t.fader_db),
                "new_fader_db": _num(tp.new_fader_db if tp else t.fader_db),
                "automation": str(t.automation),
                "action": tp.action if tp else "",
                "levels": levels_json(a.track_levels.get(t.track_id)),
            }
        )
    doc: dict[str, Any] = {
        "schema": 1,
        "session": {"path": s.path, "format": s.format, "version": s.version},
        "policy": {
            "meter": str(a.policy.meter),
            "target_db": a.policy.target_db,
            "peak_ceiling_db": a.policy.peak_ceiling_db,
            "per": str(a.policy.per),
            "faders": str(a.policy.faders),
            "headroom_db": a.policy.headroom_db,
            "max_boost_db": a.policy.max_boost_db,
        },
        "clips": clips,
        "tracks": tracks,
        "master": {
            "fader_db": _num(s.master.fader_db),
            "predicted_peak_dbfs_before": _num(a.master_peak_before_dbfs),
            "predicted_peak_dbfs_after": _num(a.master_peak_after_dbfs),
            "headroom_change_db": round(a.headroom_change_db, 4),
        },
        "edits": len(a.edits),
        "notes": list(a.notes),
    }
    if written is not None or dry_run:
        doc["output"] = {
            "path": written.output if written else None,
            "backup": written.backup if written else None,
            "changed": bool(written and written.changed),
            "dry_run": dry_run,
        }
    return doc


def file_levels_json(f: FileLevels) -> dict[str, Any]:
    body = levels_json(f.levels) or {}
    return {"path": f.path, "sample_rate_hz": f.sample_rate_hz, "channels": f.channels, **body}


# ---------------------------------------------------------------- tables


def db_text(value: float | None, width: int = 7) -> str:
    if value is None or (isinstance(value, float) and math.isinf(value) and value < 0):
        return "-inf".rjust(width)
    return f"{value:+.1f}".rjust(width)


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _short(text: str, width: int = 28) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def analysis_text(a: Analysis, written: WriteResult | None = None, *, dry_run: bool = False) -> str:
    s = a.session
    key = METER_FIELD[a.policy.meter]
    names = {t.track_id: t.name for t in (*s.tracks, s.master)}
    out = [
        f"{s.path}  ({s.format}, {s.version or 'unknown version'})",
        f"policy: {a.policy.meter} target {a.policy.target_db:g} dB, ceiling {a.policy.peak_ceiling_db:g} dBTP, "
        f"per {a.policy.per}, faders {a.policy.faders}, headroom {a.policy.headroom_db:g} dBFS",
        "",
    ]
    rows = []
    for m in a.media:
        c = m.clip
        cp = a.plan.clips.get(c.clip_id)
        lv = a.clip_levels.get(c.clip_id)
        staged = cp is not None and c.status == ClipStatus.ACTIVE
        rows.append(
            [
                _short(names.get(c.track_id, c.track_id), 20),
                _short(c.name or c.clip_id),
                str(c.status),
                db_text(getattr(lv, key) if lv else None),
                db_text(lv.true_peak_dbtp if lv else None),
                db_text(c.gain_db),
                db_text(cp.new_gain_db) if staged and cp else "",
                str(cp.bound_by) if staged and cp else _short(m.reason, 40),
            ]
        )
    out.append(table(rows, ["track", "clip", "status", "level", "TP", "gain", "new", "bound by / reason"]))
    out.append("")
    trows = []
    for t in s.tracks:
        tp = a.plan.tracks.get(t.track_id)
        lv = a.track_levels.get(t.track_id)
        trows.append(
            [
                _short(t.name or t.track_id, 24),
                str(t.kind),
                db_text(getattr(lv, key) if lv else None),
                db_text(t.fader_db),
                db_text(tp.new_fader_db if tp else t.fader_db),
                tp.action if tp else "",
            ]
        )
    out.append(table(trows, ["track", "kind", "level", "fader", "new", "action"]))
    out.append("")
    out.append(
        f"master peak (predicted, dBFS): before {db_text(a.master_peak_before_dbfs, 0)}, "
        f"after {db_text(a.master_peak_after_dbfs, 0)}"
    )
    out.extend(f"note: {n}" for n in a.notes)
    counts: dict[str, int] = {}
    for m in a.media:
        counts[str(m.clip.status)] = counts.get(str(m.clip.status), 0) + 1
    out.append("clips: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + f"; {len(a.edits)} edits")
    if dry_run:
        out.append("dry run: nothing written")
    elif written is not None and written.output:
        out.append(f"wrote {written.output}" + (f" (backup {written.backup})" if written.backup else ""))
    return "\n".join(out)


def file_levels_text(files: list[FileLevels]) -> str:
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
    return table(rows, ["file", "Hz", "ch", "s", "peak", "TP", "RMS", "gRMS", "LUFS-I", "M max", "S max", "LRA"])
