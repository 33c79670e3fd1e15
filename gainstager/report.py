"""Reports: the typed results of a session and of a batch; the versioned JSON documents rendered from them are
in `report_json` (shapes in `schema`), the text tables in `tables`. Pure: builds data, prints nothing.

`session_report` turns an analysis (and what was written) into a `SessionReport`; every renderer, the batch
table included, reads those typed objects, never the JSON back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from .model import ClipStatus, Levels, Session
from .plan import Bound, Policy
from .units import NEG_INF

if TYPE_CHECKING:  # only for type hints: `measure` must not import the session pipeline
    from .discover import Skipped
    from .output import WriteResult
    from .pipeline import Analysis
    from .routing import MixScope

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
