"""The versioned JSON documents (shapes in `schema`) rendered from the typed reports of `report`, and a batch row
read back from the entry the resume journal recorded. Pure: builds data, prints nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .model import LEVEL_KEYS, FileLevels, Levels
from .plan import Policy
from .report import BatchItem, BatchReport, BatchStatus, SessionReport, session_report
from .schema import SCHEMA_VERSION
from .units import NEG_INF, finite_or_none

if TYPE_CHECKING:  # only for type hints: `measure` must not import the session pipeline
    from .cache import CacheInfo
    from .output import WriteResult
    from .pipeline import Analysis
    from .routing import MixScope


def levels_json(levels: Levels | None) -> dict[str, float | None] | None:
    if levels is None:
        return None
    out: dict[str, float | None] = {k: _num(getattr(levels, k)) for k in LEVEL_KEYS}
    out["duration_s"] = _num(levels.duration_s)
    return out


def _num(value: float) -> float | None:
    v = finite_or_none(value)
    return None if v is None else round(v, 4)


def policy_json(p: Policy) -> dict[str, Any]:
    # The keys of schema 1 predate the unit suffixes of the Policy fields; they stay as published.
    return {
        **target_json(p),
        "per": str(p.per),
        "faders": str(p.faders),
        "headroom_db": p.headroom_dbfs,
        "max_boost_db": p.max_boost_db,
    }


def target_json(p: Policy) -> dict[str, Any]:
    """What a role sets: the meter, the target on it and the true-peak ceiling."""
    return {"meter": str(p.meter), "target_db": p.target_db, "peak_ceiling_db": p.peak_ceiling_dbtp}


def session_json(r: SessionReport) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "session": {"path": r.path, "format": r.format, "version": r.version},
        "policy": {**policy_json(r.policy), "file": r.policy_file},
        "clips": [
            {
                "id": c.clip_id,
                "track": c.track,
                "name": c.name,
                "file": c.file,
                "status": str(c.status),
                "reason": c.reason,
                "clip_gain_db": _num(c.gain_db),
                "new_clip_gain_db": _num(c.new_gain_db),
                "levels": levels_json(c.levels),
                "bound_by": str(c.bound_by),
                "note": c.note,
            }
            for c in r.clips
        ],
        "tracks": [
            {
                "id": t.track_id,
                "name": t.name,
                "kind": t.kind,
                "fader_db": _num(t.fader_db),
                "new_fader_db": _num(t.new_fader_db),
                "automation": t.automation,
                "action": t.action,
                "levels": levels_json(t.levels),
                "role": t.role,
                "rule": t.rule,
                "reason": t.reason,
                **target_json(t.policy),
            }
            for t in r.tracks
        ],
        "master": {
            "fader_db": _num(r.master_fader_db),
            "predicted_peak_dbfs_before": _num(r.master_peak_before_dbfs),
            "predicted_peak_dbfs_after": _num(r.master_peak_after_dbfs),
            "headroom_change_db": round(r.headroom_change_db, 4),
        },
        "edits": r.edits,
        "notes": list(r.notes),
        "mix": scope_json(r.scope),
        "regions": {"measured": r.regions_measured, "cached": r.regions_cached},
    }
    if r.written is not None:
        w = r.written
        doc["output"] = {"path": w.path, "backup": w.backup, "changed": w.changed, "dry_run": w.dry_run}
    return doc


def analysis_json(a: Analysis, written: WriteResult | None = None, *, dry_run: bool = False) -> dict[str, Any]:
    return session_json(session_report(a, written, dry_run=dry_run))


def batch_session_json(i: BatchItem) -> dict[str, Any]:
    """A session's entry in the batch document; also what the resume journal records for it."""
    if i.recorded is not None:
        return {**i.recorded, "path": i.path, "resumed": True}
    return {
        "path": i.path,
        "ok": i.ok,
        "status": str(i.status),
        "error": i.error,
        "format": i.format or None,
        "clips_total": i.clips_total,
        "clips_staged": i.clips_staged,
        "skipped_clips": i.skipped_clips,
        "edits": i.edits,
        "master_peak_dbfs_before": _num(i.master_peak_before_dbfs),
        "master_peak_dbfs_after": _num(i.master_peak_after_dbfs),
        "duration_s": round(i.duration_s, 3),
        "output": i.output,
        "resumed": False,
        "regions": {"measured": i.regions_measured, "cached": i.regions_cached},
        "report": session_json(i.report) if i.report else None,
    }


def batch_item_from_json(path: str, doc: Mapping[str, Any]) -> BatchItem:
    """The batch row of a session done in an earlier run, from its recorded entry (KeyError, ValueError or
    TypeError when the entry is not one)."""

    def level(key: str) -> float:
        value = doc[key]
        return NEG_INF if value is None else float(value)

    return BatchItem(
        path,
        BatchStatus(doc["status"]),
        None if doc["error"] is None else str(doc["error"]),
        str(doc["format"] or ""),
        int(doc["clips_total"]),
        int(doc["clips_staged"]),
        int(doc["skipped_clips"]),
        0,  # nothing measured by this run
        int(doc["edits"]),
        level("master_peak_dbfs_before"),
        level("master_peak_dbfs_after"),
        float(doc["duration_s"]),
        None if doc["output"] is None else str(doc["output"]),
        None,
        doc,
    )


def batch_json(b: BatchReport) -> dict[str, Any]:
    totals = {
        "sessions": len(b.items),
        "processed": len(b.items) - b.resumed,
        "resumed": b.resumed,
        **{str(s).replace("-", "_"): b.count(s) for s in BatchStatus},
        "clips_total": b.total("clips_total"),
        "clips_staged": b.total("clips_staged"),
        "skipped_clips": b.skipped_clips,
        "edits": b.total("edits"),
        "regions_measured": b.total("regions_measured"),  # by this run: a region shared by sessions counts once
        "regions_cached": b.total("regions_cached"),
        "wall_s": round(b.wall_s, 3),
    }
    skipped = [
        {"kind": str(s.kind), "reason": s.reason, "count": s.count, "examples": list(s.examples)} for s in b.skipped
    ]
    return {
        "schema": SCHEMA_VERSION,
        "sessions": [batch_session_json(i) for i in b.items],
        "failed": b.failed,
        "missing": list(b.missing),
        "skipped": skipped,
        "totals": totals,
    }


def scope_json(scope: MixScope | None) -> dict[str, Any] | None:
    """What the master prediction covers (project rate, solo, frozen tracks) and what it leaves out."""
    if scope is None:
        return None
    return {
        "sample_rate_hz": scope.sample_rate_hz,
        "sample_rate_source": str(scope.sample_rate_source),
        "soloed": list(scope.soloed),
        "frozen": list(scope.frozen),
        "frozen_left_out": list(scope.frozen_left_out),
        "left_out": {
            "instrument_tracks": scope.instrument_tracks,
            "return_tracks": scope.return_tracks,
            "sends": scope.sends,
            "plugin_tracks": scope.plugin_tracks,
        },
    }


def file_levels_json(f: FileLevels) -> dict[str, Any]:
    body = levels_json(f.levels) or {}
    return {"path": f.path, "sample_rate_hz": f.sample_rate_hz, "channels": f.channels, **body}


def measure_json(files: list[FileLevels], notes: Sequence[str] = ()) -> dict[str, Any]:
    return {"schema": SCHEMA_VERSION, "files": [file_levels_json(f) for f in files], "notes": list(notes)}


def cache_info_json(info: CacheInfo) -> dict[str, Any]:
    return {
        "schema": SCHEMA_VERSION,
        "cache": {
            "directory": info.directory,
            "store": info.store,
            "entries": info.entries,
            "size_bytes": info.size_bytes,
        },
    }
