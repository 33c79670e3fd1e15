"""Orchestration of one session: read it, resolve its media, measure, plan, predict the master.

Follow one clip: `load` reads the session bytes and the format parses them into the model; `analyze` has
`media.resolve_media` find and probe the clip's audio file, then measures the session in one pass (`mix.mix`:
the clip decoded and rendered once, feeding its meter, its track's, its folders' and the master), unless the
measurement cache (`cache`) has it; plans the gains (plan.plan); derives the master after the plan from that
pass (`predict`, nothing played again) and keeps the headroom. `output.write` then has the format splice the
edits into the original bytes, re-parses the result (`verify`), and only then replaces the output file
atomically.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import cache as cache_
from . import files, mix, parsers, predict, render, routing, track_render
from .cache import MeasurementCache
from .errors import AudioError, FormatError
from .media import ClipMedia, resolve_media
from .meters import METER_VERSION
from .model import ClipStatus, Edit, Levels, Session
from .notices import noting_warnings
from .plan import Plan, Policy, headroom_change, plan, with_headroom
from .policy_file import Policies, Resolution
from .units import gain_to_db

_LEVEL_FIELDS = tuple(f.name for f in dataclasses.fields(Levels))
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
class Regions:
    """How many distinct regions (a file's audio as one clip plays it) a run metered, and how many it took from
    the measurement cache (or from another process that was metering them)."""

    measured: int
    cached: int


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
    scope: routing.MixScope | None = None  # project rate, solo, frozen tracks, what the prediction leaves out
    roles: Resolution | None = None  # each track's policy, role and the rule that gave it
    regions: Regions = field(default_factory=lambda: Regions(0, 0))


    @property
    def session(self) -> Session:
        return self.loaded.session


@noting_warnings  # a Python warning raised while analysing becomes a note of the report
def analyze(
    loaded: Loaded,
    policy: Policy | Policies,
    *,
    progress: Progress | None = None,
    cache: MeasurementCache | None = None,
    threads: int | None = None,
) -> Analysis:
    """Measure the session in one pass (or take it from `cache`), plan, and predict the master after the plan:
    with one `Policy` for every track, or with `Policies` (a policy file and command-line options) resolved per
    track, the master headroom and the rate staying global.

    `cache` is the measurement cache (`cache.open`); None measures everything and keeps nothing. `threads` render
    and meter the tracks in parallel (default: one per CPU core); the result does not depend on it."""
    roles = (policy if isinstance(policy, Policies) else Policies.fixed(policy)).resolve(loaded.session)
    policy, track_policies = roles.policy, roles.track_policies()
    loaded = dataclasses.replace(loaded, session=routing.with_project_rate(loaded.session, policy.sample_rate_hz))
    session = loaded.session
    store = cache or cache_.open(enabled=False)
    threads = threads or os.cpu_count() or 1
    media = resolve_media(session)
    rate = session.sample_rate_hz
    playables = [render.Playable(m.clip, m.path, m.info, rate) for m in media if m.info is not None and m.path]
    measured = _measure(session, playables, store, threads, progress)
    clip_levels = measured.clip_levels
    skipped = {k: (ClipStatus.UNREADABLE, reason) for k, reason in measured.unreadable.items()}
    for k, v in clip_levels.items():
        if not math.isfinite(v.sample_peak_dbfs):
            skipped[k] = (ClipStatus.SILENT, "silent: nothing to measure")
    media = [m.skipped(*skipped[m.clip.clip_id]) if m.clip.clip_id in skipped else m for m in media]
    playables = [p for p in playables if p.clip.clip_id in clip_levels]
    staged = {m.clip.clip_id for m in media if m.clip.status is ClipStatus.ACTIVE}
    stage_levels = {k: v for k, v in clip_levels.items() if k in staged}
    track_levels = mix.track_levels(measured.routing, measured.mixed, clip_levels)
    first = plan(session, stage_levels, track_levels, policy, track_policies=track_policies)
    after = _master_after(session, measured, first, store, threads)
    change = headroom_change(after, policy)
    if change:  # the cut changes the faders' room: plan again knowing it (keep mode: outputs are unchanged)
        first = plan(session, stage_levels, track_levels, policy, feeder_shift_db=change, track_policies=track_policies)
    final = with_headroom(first, session, change)
    notes = sorted({c.note for c in session.clips if c.note} | {t.note for t in session.tracks if t.note})
    return Analysis(
        loaded,
        policy,
        tuple(media),
        clip_levels,
        track_levels,
        measured.mixed.master_peak_dbfs,
        after + change,
        final,
        tuple(final.edits(session)),
        change,
        (*final.notes, *notes, *store.take_notes()),
        routing.mix_scope(session, playables),
        roles,
        Regions(measured.regions_measured, measured.regions_cached),
    )


# ---------------------------------------------------------------- measuring, once


@dataclass(frozen=True, slots=True)
class _Measured:
    clip_levels: dict[str, Levels]  # every clip measured (unreadable ones left out)
    unreadable: dict[str, str]  # clip id -> why its audio could not be played
    routing: routing.Routing  # of the clips that played
    mixed: mix.MixResult
    session_key: str
    regions_measured: int  # distinct regions this run metered
    regions_cached: int  # distinct regions taken from the cache (or from another process that metered them)


def clip_key(p: render.Playable, file_identity: str) -> str:
    """The cache key of what a clip plays and how it is measured: the file's content and everything that changes
    what is played (segments relative to the clip's start, so not where it sits on the timeline; source
    window, loop, reverse, rates and stretch, project rate, channel mode, fades, gains), and the versions of
    the renderer and the meters."""
    c = p.clip
    start = c.timeline_start_s
    return cache_.key(
        "clip",
        render.RENDER_VERSION,
        METER_VERSION,
        file_identity,
        [(s.timeline_start_s - start, s.duration_s, s.source_start_s, s.rate) for s in c.segments],
        c.source_window_start_s,
        c.source_window_length_s,
        c.loop,
        c.reverse,
        c.stretch,
        c.fade_in_s,
        c.fade_out_s,
        str(c.channel_mode),
        p.out_rate_hz,
        render.clip_gain_linear(c),
    )


def _session_key(session: Session, r: routing.Routing, keys: Mapping[str, str]) -> str:
    """The cache key of the whole mix: every clip's region and place, the routing, and the gains that play."""
    g = routing.gains(session, r)
    clips = sorted((c, keys[c], r.offset[c]) for c in r.offset)
    tracks = [(t, r.bus.get(t, "-"), [p.clip.clip_id for p in r.clips.get(t, ())], g.post[t].tolist()) for t in r.order]
    return cache_.key("session", render.RENDER_VERSION, METER_VERSION, r.rate_hz, tracks, g.master, clips)


def _measure(
    session: Session,
    playables: list[render.Playable],
    store: MeasurementCache,
    threads: int,
    progress: Progress | None,
) -> _Measured:
    """Every clip's levels, the track and folder levels and the master before the plan: from the cache, or from
    one pass over the audio (`mix.mix`) that meters the regions this process claimed; a region another process
    is metering at the same time is waited for, not metered twice."""
    keys: dict[str, str] = {}
    unreadable: dict[str, str] = {}
    for p in playables:
        try:
            keys[p.clip.clip_id] = clip_key(p, store.file_identity(p.path))
        except OSError as exc:
            unreadable[p.clip.clip_id] = f"{p.path}: cannot read ({exc.strerror or exc})"
    playables = [p for p in playables if p.clip.clip_id in keys]
    session_key = _session_key(session, routing.routing(session, playables), keys)
    hit = _from_entry(store.get("session:" + session_key), session, playables, keys)
    if hit is not None:
        clip_levels, gone, r, mixed = hit
        regions = len({keys[c] for c in clip_levels})
        return _Measured(clip_levels, unreadable | gone, r, mixed, session_key, 0, regions)
    by_key: dict[str, Levels] = {}
    mine: dict[str, str] = {}  # region -> the clip this run meters it on
    others: dict[str, render.Playable] = {}  # region -> a clip of it that another process is metering
    for p in playables:
        k = keys[p.clip.clip_id]
        if k in by_key or k in mine or k in others:
            continue
        levels = _levels(store.get("clip:" + k))
        if levels is None and store.claim("clip:" + k):
            levels = _levels(store.get("clip:" + k))  # put by another process between our look and our claim?
            if levels is None:
                mine[k] = p.clip.clip_id
                continue
            store.release("clip:" + k)
        if levels is None:
            others[k] = p
        else:
            by_key[k] = levels
    cached = set(by_key)
    try:
        while True:
            r = routing.routing(session, [p for p in playables if p.clip.clip_id not in unreadable])
            try:
                progress_ = _sub(progress, "measuring")
                mixed = mix.mix(session, r, meter_clips=mine.values(), threads=threads, progress=progress_)
                break
            except track_render.ClipFailed as failed:  # its region goes (every clip of it), and the mix plays again
                k = keys[failed.clip_id]
                unreadable.update((c, str(failed.error)) for c, ck in keys.items() if ck == k)
                store.release("clip:" + k)
        for k, clip_id in mine.items():
            if clip_id in mixed.clip_levels:
                by_key[k] = mixed.clip_levels[clip_id]
                store.put("clip:" + k, _levels_json(by_key[k]))
    finally:
        store.release_all()
    measured = {k for k in mine if k in by_key}
    for k, p in others.items():
        levels = _levels(store.wait("clip:" + k))
        if levels is None:  # its owner could not meter it: this run does, on its own
            try:
                levels = render.measure_clip(p, render.ReaderPool())
            except AudioError as exc:
                unreadable.update((c, str(exc)) for c, ck in keys.items() if ck == k)
                continue
            store.put("clip:" + k, _levels_json(levels))
            measured.add(k)
        else:
            cached.add(k)
        by_key[k] = levels
    clip_levels = {c: by_key[k] for c, k in keys.items() if c not in unreadable and k in by_key}
    store.put("session:" + session_key, _entry(keys, clip_levels, unreadable, mixed))
    return _Measured(clip_levels, unreadable, r, mixed, session_key, len(measured), len(cached))


def _master_after(session: Session, m: _Measured, p: Plan, store: MeasurementCache, threads: int) -> float:
    """The master's predicted sample peak (dBFS) after plan `p`, derived from the first pass (`predict`) and kept
    in the cache under the session and the gains it plays at."""
    clip_gains, faders = _playing_after(session, p)
    r = m.routing
    before = routing.gains(session, r)
    after = routing.gains(session, r, clip_gain_db=clip_gains, fader_db=faders)
    k = "after:" + cache_.key(
        m.session_key,
        sorted(after.clips.items()),
        sorted((t, v.tolist()) for t, v in after.post.items()),
        after.master,
    )
    value = store.get(k)
    if value is not None and isinstance(value.get("peak"), float):
        return gain_to_db(value["peak"])
    peak = predict.master_after(
        r, m.mixed.peaks, before, after, lambda blocks: mix.block_peaks(r, after, blocks, threads=threads)
    )
    store.put(k, {"peak": peak})
    return gain_to_db(peak)


# ---------------------------------------------------------------- cache entries


def _levels_json(levels: Levels) -> dict[str, Any]:
    return {"levels": [getattr(levels, f) for f in _LEVEL_FIELDS]}


def _levels(value: Mapping[str, Any] | None) -> Levels | None:
    """Levels from a cache value, None for anything else."""
    raw = value.get("levels") if value else None
    if not isinstance(raw, list) or len(raw) != len(_LEVEL_FIELDS) or not all(isinstance(x, float) for x in raw):
        return None
    return Levels(*raw)


def _entry(
    keys: Mapping[str, str], clip_levels: Mapping[str, Levels], unreadable: Mapping[str, str], mixed: mix.MixResult
) -> dict[str, Any]:
    """What a warm run needs instead of playing the session: every region's levels, the tracks' and folders',
    the master before, and the block peaks the prediction reads (rounded up: they are bounds)."""
    peaks = mixed.peaks
    return {
        "clips": {keys[c]: _levels_json(v) for c, v in clip_levels.items()},
        "unreadable": dict(unreadable),
        "tracks": {t: _levels_json(v) for t, v in mixed.track_levels.items()},
        "master_peak_dbfs": mixed.master_peak_dbfs,
        "master_peak": peaks.master_peak,
        "blocks": peaks.blocks,
        "master": _rounded_up(peaks.master),
        "peaks": {c: [first, _rounded_up(a)] for c, (first, a) in peaks.clips.items()},
    }


def _from_entry(
    value: Mapping[str, Any] | None, session: Session, playables: list[render.Playable], keys: Mapping[str, str]
) -> tuple[dict[str, Levels], dict[str, str], routing.Routing, mix.MixResult] | None:
    """A cached session entry read back (None when there is none, or it does not fit this session)."""
    if value is None:
        return None
    try:
        gone = {str(c): str(why) for c, why in value["unreadable"].items()}
        regions = {k: _levels(v) for k, v in value["clips"].items()}
        clip_levels = {c: regions[k] for c, k in keys.items() if c not in gone}
        tracks = {t: _levels(v) for t, v in value["tracks"].items()}
        peaks = mix.BlockPeaks(
            float(value["master_peak"]),
            np.asarray(value["blocks"], dtype=np.int64),
            np.asarray(value["master"], dtype=np.float32),
            {c: (int(first), np.asarray(a, dtype=np.float32)) for c, (first, a) in value["peaks"].items()},
        )
        mixed = mix.MixResult({}, tracks, float(value["master_peak_dbfs"]), peaks)  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if any(v is None for v in clip_levels.values()) or any(v is None for v in tracks.values()):
        return None
    r = routing.routing(session, [p for p in playables if p.clip.clip_id not in gone])
    return clip_levels, gone, r, mixed  # type: ignore[return-value]


def _rounded_up(a: np.ndarray) -> np.ndarray:
    """Peaks as float16 (half the bytes), each rounded up so that it still bounds the true one; float32 when
    a value is beyond float16's range."""
    if not len(a) or float(a.max()) >= 60000.0:
        return np.asarray(a, dtype=np.float32)
    h = a.astype(np.float16)
    low = h.astype(np.float32) < a
    h[low] = np.nextafter(h[low], np.float16(np.inf))
    return h


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
                routing.playing_fader_db(t) + (tp.new_fader_db - t.fader_db)
                if math.isfinite(t.fader_db)
                else routing.playing_fader_db(t)
            )
    return clips, faders
