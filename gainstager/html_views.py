"""The HTML report's views, built from the typed reports (`report.SessionReport`, `report.BatchItem`), and the
pages rendered from them. Pure: reports in, HTML text out; `cli` writes the file.

Per track the bars are on the track's own meter (its role's, or the global one), pre-fader: "before" is the
level measured, "after" adds the planned change of the track's pre-fader sum (`TrackPlan.clip_change_db`), to
the level and to the true peak alike. A skipped clip is one of the track's clips that was not staged (missing,
unreadable, silent, muted, ...), with its reason; MIDI and session-view clips, which have no audio in the
arrangement to stage, are not listed.
"""

from __future__ import annotations

from collections.abc import Sequence

from .html_report import (
    BatchView,
    EarlierView,
    FailedView,
    MasterView,
    SessionView,
    SkippedClip,
    TrackView,
    render_batch,
    render_session,
)
from .model import ClipStatus
from .plan import level_of
from .policy_options import describe, shown
from .report import BatchItem, SessionReport, TrackRow
from .units import NEG_INF

_NOT_AUDIO = (ClipStatus.MIDI, ClipStatus.SESSION_VIEW)


def track_view(t: TrackRow, skipped: tuple[SkippedClip, ...]) -> TrackView:
    p = t.policy
    level = level_of(t.levels, p.meter) if t.levels else NEG_INF
    peak = t.levels.true_peak_dbtp if t.levels else NEG_INF
    return TrackView(
        name=t.name,
        kind=t.kind,
        meter=p.meter,
        level_before_db=level,
        level_after_db=level + t.clip_change_db,
        true_peak_before_dbtp=peak,
        true_peak_after_dbtp=peak + t.clip_change_db,
        target_db=p.target_db,
        peak_ceiling_dbtp=p.peak_ceiling_dbtp,
        bound_by=t.bound_by,
        fader_before_db=t.fader_db,
        fader_after_db=t.new_fader_db,
        role=t.role,
        rule=t.rule,
        action=t.action,
        skipped=skipped,
    )


def _outcome(r: SessionReport) -> str:
    w = r.written
    if w is None:
        return "analysis: nothing written"
    if w.dry_run:
        return "dry run: nothing written"
    if w.path is None:
        return "unchanged: not rewritten"
    return f"wrote {w.path}" + (f" (backup {w.backup})" if w.backup else "")


def _policy_rows(r: SessionReport) -> tuple[tuple[str, str], ...]:
    """The global policy as the command line names it, the policy file, and the targets of each role used."""
    roles: dict[str, str] = {}
    for t in r.tracks:
        if t.role and t.role not in roles:
            p = t.policy
            roles[t.role] = (
                f"{p.meter} {shown('target', p.target_db)}, ceiling {shown('peak-ceiling', p.peak_ceiling_dbtp)}"
            )
    file = r.policy_file or "none: one policy for every track"
    return (*describe(r.policy), ("policy file", file), *((f"role {k}", v) for k, v in roles.items()))


def session_view(r: SessionReport) -> SessionView:
    skipped: dict[str, list[SkippedClip]] = {}
    for c in r.clips:
        if not c.staged and c.status not in _NOT_AUDIO:
            skipped.setdefault(c.track_id, []).append(SkippedClip(c.name or c.clip_id, c.reason or str(c.status)))
    tracks = tuple(track_view(t, tuple(skipped.get(t.track_id, ()))) for t in r.tracks)
    master = MasterView(
        r.master_peak_before_dbfs, r.master_peak_after_dbfs, r.policy.headroom_dbfs, r.headroom_change_db
    )
    return SessionView(r.path, r.format, r.version, tracks, master, _policy_rows(r), _outcome(r), r.edits, r.notes)


def session_page(r: SessionReport) -> str:
    return render_session(session_view(r))


def batch_view(i: BatchItem) -> BatchView:
    """A session processed by this run, with its section; a failed one, with its error; one done by an earlier
    run (resumed from the journal, whose records keep no full report), as a row saying what it did."""
    if i.report is not None:
        return session_view(i.report)
    if not i.ok:
        return FailedView(i.path, i.error or "failed")
    return EarlierView(i.path, f"{i.status}: {i.output}" if i.output else str(i.status))


def batch_page(items: Sequence[BatchItem]) -> str:
    """One row per session linking to its section; a failed session has its row and its error."""
    return render_batch([batch_view(i) for i in items])
