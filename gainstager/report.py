"""Reports: typed results, and the versioned JSON documents rendered from them (shapes in `schema`; the text
tables are in `tables`). Pure: builds data, prints nothing.

`session_report` turns an analysis (and what was written) into a `SessionReport`; every renderer, the batch
table included, reads those typed objects, never the JSON back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from .model import LEVEL_KEYS, ClipStatus, FileLevels, Levels, Session
from .plan import Bound, Policy
from .schema import SCHEMA_VERSION
from .units import NEG_INF, finite_or_none

if TYPE_CHECKING:  # only for type hints: `measure` must not import the session pipeline
    from .cache import CacheInfo
    from .discover import Skipped
    from .mix import MixScope
    from .output import WriteResult
    from .pipeline import Analysis

SKIPPED = (ClipStatus.MISSING, ClipStatus.UNREADABLE)  # what --strict counts: audio that could not be read


@dataclass(frozen=True, slots=True)
class ClipRow:
    clip_id: str
    track: str  # the track's name
    track_id: str
    name: str
    file: str | None
    status: ClipStatus
    reason: str
    gain_db: float
    new_gain_db: float
    levels: Levels | None
    bound_by: Bound
    note: str
    staged: bool  # planned (active, measured): the new gain and what bound it apply


@dataclass(frozen=True, slots=True)
class TrackRow:
    track_id: str
    name: str
    kind: str
    fader_db: float
    new_fader_db: float
    automation: str
    action: str
    levels: Levels | None
    policy: Policy  # this track's: its role's meter, target and ceiling over the global policy
    role: str | None = None
    rule: str = ""  # which rule gave the role
    clip_change_db: float = 0.0  # the planned change of the track's pre-fader sum
    bound_by: Bound = Bound.NONE  # what bound its clips' gains (the strongest limit when they differ)
    staged: bool = False  # some of its clips are staged
    reason: str = ""  # why the track is skipped (a number of it the parser could not trust); empty otherwise


@dataclass(frozen=True, slots=True)
class Written:
    path: str | None  # None for a dry run, or an unchanged session in a batch
    backup: str | None
    changed: bool
    dry_run: bool


@dataclass(frozen=True, slots=True)
class SessionReport:
    """Everything `analyze` and `apply` report about one session, as plain values (picklable, small)."""

    path: str
    format: str
    version: str
    policy: Policy
    clips: tuple[ClipRow, ...]
    tracks: tuple[TrackRow, ...]
    master_fader_db: float
    master_peak_before_dbfs: float
    master_peak_after_dbfs: float
    headroom_change_db: float
    edits: int
    notes: tuple[str, ...] = field(default=())
    written: Written | None = None  # apply only
    scope: MixScope | None = None  # project rate, solo, frozen tracks, what the master prediction leaves out
    policy_file: str | None = None  # the path of the policy file that gave roles and targets, if any
    regions_measured: int = 0  # distinct regions this run metered
    regions_cached: int = 0  # distinct regions it took from the measurement cache

    @property
    def skipped_clips(self) -> int:
        return sum(c.status in SKIPPED for c in self.clips)


class BatchStatus(StrEnum):
    WRITTEN = "written"
    UNCHANGED = "unchanged"  # nothing to change: no output written
    DRY_RUN = "dry-run"
    FAILED = "failed"
    TIMED_OUT = "timed-out"  # over --session-timeout: its worker was stopped


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One session of a batch: its row of the batch summary, and its full report when this run made it.

    A session done in an earlier run and reused from the resume journal has no `report`: `recorded` holds its
    JSON entry as that run wrote it (`batch_session_json`), which the batch's --json repeats."""

    path: str
    status: BatchStatus
    error: str | None = None  # one line, for a failure
    format: str = ""
    clips_total: int = 0
    clips_staged: int = 0
    skipped_clips: int = 0  # audio missing or unreadable (what --strict counts)
    clips_measured: int = 0
    edits: int = 0
    master_peak_before_dbfs: float = NEG_INF
    master_peak_after_dbfs: float = NEG_INF
    duration_s: float = 0.0  # the session's own time on its worker
    output: str | None = None  # the file written, if any
    report: SessionReport | None = None
    recorded: Mapping[str, Any] | None = None
    regions_measured: int = 0  # distinct regions this run metered for the session
    regions_cached: int = 0  # and took from the measurement cache (or from another worker metering them)

    @property
    def ok(self) -> bool:
        return self.status not in (BatchStatus.FAILED, BatchStatus.TIMED_OUT)

    @property
    def resumed(self) -> bool:
        return self.recorded is not None


def batch_item(path: str, r: SessionReport, duration_s: float = 0.0) -> BatchItem:
    """The batch row of a session processed now."""
    w = r.written
    if w is not None and w.dry_run:
        status = BatchStatus.DRY_RUN
    else:
        status = BatchStatus.WRITTEN if w is not None and w.path else BatchStatus.UNCHANGED
    return BatchItem(
        path,
        status,
        None,
        r.format,
        len(r.clips),
        sum(c.staged for c in r.clips),
        r.skipped_clips,
        sum(c.levels is not None for c in r.clips),
        r.edits,
        r.master_peak_before_dbfs,
        r.master_peak_after_dbfs,
        duration_s,
        w.path if w is not None else None,
        r,
        None,
        r.regions_measured,
        r.regions_cached,
    )


def failed_item(path: str, error: str, status: BatchStatus = BatchStatus.FAILED, duration_s: float = 0.0) -> BatchItem:
    return BatchItem(path, status, error, duration_s=duration_s)


@dataclass(frozen=True, slots=True)
class BatchReport:
    """A whole batch: every session in discovery order (reused ones included), what discovery left out, the
    roots that do not exist, and the run's wall time."""

    items: tuple[BatchItem, ...]
    skipped: tuple[Skipped, ...]
    missing: tuple[str, ...]
    wall_s: float

    def count(self, status: BatchStatus) -> int:
        return sum(i.status is status for i in self.items)

    @property
    def failed(self) -> int:
        """Failed and timed-out sessions, and roots that do not exist."""
        return sum(not i.ok for i in self.items) + len(self.missing)

    @property
    def skipped_clips(self) -> int:
        return sum(i.skipped_clips for i in self.items)

    @property
    def resumed(self) -> int:
        return sum(i.resumed for i in self.items)

    def total(self, field_name: str) -> int:
        return sum(int(getattr(i, field_name)) for i in self.items)


def session_report(a: Analysis, written: WriteResult | None = None, *, dry_run: bool = False) -> SessionReport:
    s = a.session
    names = {t.track_id: t.name for t in (*s.tracks, s.master)}
    clips = []
    for m in a.media:
        c = m.clip
        cp = a.plan.clips.get(c.clip_id)
        staged = cp if cp is not None and c.status == ClipStatus.ACTIVE else None
        clips.append(
            ClipRow(
                c.clip_id,
                names.get(c.track_id, c.track_id),
                c.track_id,
                c.name,
                m.path or (c.media.written_path if c.media else None),
                c.status,
                m.reason or (cp.reason if cp else ""),
                c.gain_db,
                staged.new_gain_db if staged else c.gain_db,
                a.clip_levels.get(c.clip_id),
                staged.bound_by if staged else Bound.NONE,
                c.note,
                staged is not None,
            )
        )
    roles = {r.track_id: r for r in a.roles.tracks} if a.roles else {}
    tracks = []
    for t in s.tracks:
        tp = a.plan.tracks.get(t.track_id)
        role = roles.get(t.track_id)
        bounds = {c.bound_by for c in clips if c.track_id == t.track_id and c.staged}
        tracks.append(
            TrackRow(
                t.track_id,
                t.name,
                str(t.kind),
                t.fader_db,
                tp.new_fader_db if tp else t.fader_db,
                str(t.automation),
                f"skipped: {t.invalid_reason}" if t.invalid_reason else (tp.action if tp else ""),
                a.track_levels.get(t.track_id),
                role.policy if role else a.policy,
                role.role if role else None,
                role.rule if role else "",
                tp.clip_change_db if tp and bounds else 0.0,
                next((b for b in _BOUND_ORDER if b in bounds), Bound.NONE),
                bool(bounds),
                t.invalid_reason,
            )
        )
    out = None
    if written is not None or dry_run:
        out = Written(
            written.output if written else None,
            written.backup if written else None,
            bool(written and written.changed),
            dry_run,
        )
    return SessionReport(
        s.path,
        s.format,
        s.version,
        a.policy,
        tuple(clips),
        tuple(tracks),
        s.master.fader_db,
        a.master_peak_before_dbfs,
        a.master_peak_after_dbfs,
        a.headroom_change_db,
        len(a.edits),
        _with_skipped_tracks(a.notes, s),
        out,
        a.scope,
        a.roles.file if a.roles else None,
        a.regions.measured,
        a.regions.cached,
    )


def _with_skipped_tracks(notes: tuple[str, ...], s: Session) -> tuple[str, ...]:
    """The notes, with one per skipped track naming it, in place of its clips' (which repeat its reason)."""
    skipped = {t.track_id: t for t in s.tracks if t.invalid_reason}
    folded = {c.note for c in s.clips if c.track_id in skipped and c.status is ClipStatus.INVALID}
    return (
        *(n for n in notes if n not in folded),
        *(
            f"track {t.name!r} skipped: {t.invalid_reason}; not edited, its clips not staged, left out of the master "
            "prediction with what sums through it"
            for t in skipped.values()
        ),
    )


# When a track's clips were bound by different limits, the one shown: the strongest first.
_BOUND_ORDER = (Bound.RANGE, Bound.BOOST_CAP, Bound.PEAK_CEILING, Bound.TARGET)


# ---------------------------------------------------------------- JSON


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
