"""Orchestration of one session: read it, resolve its media, measure, plan, predict the master.

Follow one clip: `load` reads the session bytes and the format parses them into the model; `analyze` has
`media.resolve_media` find and probe the clip's audio file, measures the clip (render.measure_clip), sums the
tracks and the master (mix.mix), plans the gains (plan.plan), predicts the master after the plan and keeps
the headroom. `output.write` then has the format splice the edits into the original bytes, re-parses the
result (`verify`), and only then replaces the output file atomically.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import files, mix, parsers, render
from .errors import AudioError, FormatError
from .media import ClipMedia, resolve_media
from .model import ClipStatus, Edit, Levels, Session
from .notices import noting_warnings
from .plan import Plan, Policy, headroom_change, plan, with_headroom
from .policy_file import Policies, Resolution

MAX_SESSION_BYTES = 1 << 30  # 1 GiB: far above any real session (the largest real Live set is ~40 MB)
Progress = Callable[[str, float], None]


@dataclass(frozen=True, slots=True)
class Loaded:
    path: str
    data: bytes
    fmt: parsers.SessionFormat[Any]
    session: Session
    document: Any


def load(path: str) -> Loaded:
    """Read and parse a session; FormatError (one line, file named) for anything that is not one.

    Only a regular file is read, at most MAX_SESSION_BYTES (`files.read_regular`): a FIFO, a device (a symlink
    to /dev/zero) or a directory is refused, so nothing blocks or reads forever."""
    try:
        data = files.read_regular(path, MAX_SESSION_BYTES)
    except OSError as exc:
        raise FormatError(f"{path}: cannot read ({exc.strerror or exc}); expected a session file") from exc
    fmt = parsers.detect(data, path)
    try:
        session, document = fmt.parse(data, path)
    except (ValueError, IndexError, KeyError, UnicodeError, RecursionError) as exc:
        raise FormatError(f"{path}: not a readable {fmt.NAME} session ({type(exc).__name__}: {exc})") from exc
    return Loaded(path, data, fmt, session, document)


@dataclass(frozen=True, slots=True)
class Analysis:
    loaded: Loaded
    policy: Policy
    media: tuple[ClipMedia, ...]
    clip_levels: Mapping[str, Levels]
    track_levels: Mapping[str, Levels]
    master_peak_before_dbfs: float
    master_peak_after_dbfs: float
    plan: Plan
    edits: tuple[Edit, ...]
    headroom_change_db: float = 0.0
    notes: tuple[str, ...] = field(default=())
    scope: mix.MixScope | None = None  # project rate, solo, frozen tracks, what the prediction leaves out
    roles: Resolution | None = None  # each track's policy, role and the rule that gave it

    @property
    def session(self) -> Session:
        return self.loaded.session


class LevelCache:
    """Levels per (file, region, gains): each is measured once per run, across sessions of a batch."""

    def __init__(self) -> None:
        self._levels: dict[tuple[object, ...], Levels] = {}

    def measure(self, playable: render.Playable, pool: render.ReaderPool) -> Levels:
        c = playable.clip
        start = c.timeline_start_s  # the key is independent of where on the timeline the region plays
        key = (
            playable.path,
            os.path.getmtime(playable.path),
            tuple(dataclasses.replace(g, timeline_start_s=g.timeline_start_s - start) for g in c.segments),
            c.source_window_start_s,
            c.source_window_length_s,
            c.loop,
            c.reverse,
            c.fade_in_s,
            c.fade_out_s,
            c.channel_mode,
            c.stretch,
            playable.rate_hz,
            render.clip_gain_linear(c),
        )
        if key not in self._levels:
            self._levels[key] = render.measure_clip(playable, pool)
        return self._levels[key]


@noting_warnings  # a Python warning raised while analysing becomes a note of the report
def analyze(
    loaded: Loaded,
    policy: Policy | Policies,
    *,
    progress: Progress | None = None,
    cache: LevelCache | None = None,
) -> Analysis:
    """Measure and plan one session: with one `Policy` for every track, or with `Policies` (a policy file and
    command-line options) resolved per track, the master headroom and the rate staying global."""
    roles = (policy if isinstance(policy, Policies) else Policies.fixed(policy)).resolve(loaded.session)
    policy, track_policies = roles.policy, roles.track_policies()
    loaded = dataclasses.replace(loaded, session=mix.with_project_rate(loaded.session, policy.sample_rate_hz))
    session = loaded.session
    cache = cache or LevelCache()
    media = resolve_media(session)
    rate = session.sample_rate_hz
    playables = [render.Playable(m.clip, m.path, m.info, rate) for m in media if m.info is not None and m.path]
    pool = render.ReaderPool()
    try:
        clip_levels: dict[str, Levels] = {}
        skipped: dict[str, tuple[ClipStatus, str]] = {}
        for i, p in enumerate(playables):
            if progress:
                progress(f"measuring {p.clip.name or p.clip.clip_id}", i / max(len(playables), 1))
            try:
                levels = cache.measure(p, pool)
            except AudioError as exc:
                skipped[p.clip.clip_id] = (ClipStatus.UNREADABLE, str(exc))
                continue
            if not math.isfinite(levels.sample_peak_dbfs):
                skipped[p.clip.clip_id] = (ClipStatus.SILENT, "silent: nothing to measure")
            clip_levels[p.clip.clip_id] = levels
        media = [m.skipped(*skipped[m.clip.clip_id]) if m.clip.clip_id in skipped else m for m in media]
        playables = [p for p in playables if p.clip.clip_id in clip_levels]
        staged = {m.clip.clip_id for m in media if m.clip.status is ClipStatus.ACTIVE}
        stage_levels = {k: v for k, v in clip_levels.items() if k in staged}
        mixed = mix.mix(session, playables, pool, progress=_sub(progress, "summing tracks"))
        track_levels = _with_clip_true_peaks(session, mixed, clip_levels)
        first = plan(session, stage_levels, track_levels, policy, track_policies=track_policies)
        clip_gains, faders = _playing_after(session, first)
        after = (
            mix.mix(
                session,
                playables,
                pool,
                clip_gain_db=clip_gains,
                fader_db=faders,
                meter_tracks=False,
                progress=_sub(progress, "predicting master"),
            )
            if _changes_output(session, first)
            else mixed
        )
        change = headroom_change(after.master_peak_dbfs, policy)
        if change:  # the cut changes the faders' room: plan again knowing it (keep mode: outputs are unchanged)
            first = plan(
                session, stage_levels, track_levels, policy, feeder_shift_db=change, track_policies=track_policies
            )
        final = with_headroom(first, session, change)
        master_after = after.master_peak_dbfs + change
    finally:
        pool.close()
    notes = sorted({c.note for c in session.clips if c.note} | {t.note for t in session.tracks if t.note})
    return Analysis(
        loaded,
        policy,
        tuple(media),
        clip_levels,
        track_levels,
        mixed.master_peak_dbfs,
        master_after,
        final,
        tuple(final.edits(session)),
        change,
        (*final.notes, *notes),
        mix.mix_scope(session, playables),
        roles,
    )


def _with_clip_true_peaks(
    session: Session, mixed: mix.MixResult, clip_levels: Mapping[str, Levels]
) -> dict[str, Levels]:
    """Track levels whose true peak is the largest clip true peak (exact where clips do not overlap)."""
    out = dict(mixed.track_levels)
    for track_id, levels in mixed.track_levels.items():
        if track_id in mixed.overlapping:
            continue
        peaks = [clip_levels[c.clip_id].true_peak_dbtp for c in session.clips_of(track_id) if c.clip_id in clip_levels]
        out[track_id] = dataclasses.replace(levels, true_peak_dbtp=max([levels.sample_peak_dbfs, *peaks]))
    return out


def _sub(progress: Progress | None, label: str) -> Callable[[float], None] | None:
    if progress is None:
        return None
    return lambda fraction: progress(label, fraction)


def _playing_after(session: Session, p: Plan) -> tuple[dict[str, float], dict[str, float]]:
    clips = {k: v.new_gain_db for k, v in p.clips.items()}
    faders = {}
    for t in session.tracks:
        tp = p.tracks.get(t.track_id)
        if tp is not None:
            faders[t.track_id] = (
                mix.playing_fader_db(t) + (tp.new_fader_db - t.fader_db)
                if math.isfinite(t.fader_db)
                else mix.playing_fader_db(t)
            )
    return clips, faders


def _changes_output(session: Session, p: Plan) -> bool:
    """Whether any track's output changes (otherwise the master prediction is the measured one)."""
    for t in session.tracks:
        tp = p.tracks.get(t.track_id)
        if tp is None:
            continue
        fader_change = tp.new_fader_db - t.fader_db if math.isfinite(t.fader_db) else 0.0
        clip_changes = {
            round(cp.new_gain_db - c.gain_db, 6)
            for c in session.clips_of(t.track_id)
            if (cp := p.clips.get(c.clip_id)) is not None and math.isfinite(c.gain_db)
        }
        if any(abs(x + fader_change) > 1e-6 for x in clip_changes) or (not clip_changes and fader_change):
            return True
    return False
