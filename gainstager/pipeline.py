"""Orchestration: file I/O, media resolution, measurement, planning, verified atomic writes, batches.

Follow one clip: `load` reads the session bytes and the parser turns them into a model; `resolve_media`
finds and probes the clip's audio file; `analyze` measures the clip (render.measure_clip), sums the tracks
and the master (render.mix), plans the gains (plan.plan), predicts the master after the plan and keeps the
headroom; `apply` has the parser splice the edits into the original bytes, re-parses the result, checks that
only the planned values changed, and only then replaces the output file atomically.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import math
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import parsers, render
from .audio import AudioInfo, probe
from .errors import AudioError, FormatError, GainstagerError, WriteError
from .model import Clip, ClipStatus, Edit, EditField, Levels, Session, Track
from .plan import Plan, Policy, headroom_change, plan, with_headroom

MAX_SESSION_BYTES = 1 << 30  # 1 GiB: far above any real session (the largest real Live set is ~40 MB)
SCHEMA_VERSION = 1
Progress = Callable[[str, float], None]


@dataclass(frozen=True, slots=True)
class Loaded:
    path: str
    data: bytes
    fmt: parsers.SessionFormat
    session: Session
    document: Any


def load(path: str) -> Loaded:
    """Read and parse a session; FormatError (one line, file named) for anything that is not one.

    Only a regular file is read, at most MAX_SESSION_BYTES: a FIFO, a device (a symlink to /dev/zero) or a
    directory is refused from its open descriptor (O_NONBLOCK, then fstat), so nothing blocks or reads forever."""
    try:
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            if not stat.S_ISREG(mode):
                kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device"
                raise FormatError(f"{path}: not a regular file ({kind}); expected a session file")
            data = f.read(MAX_SESSION_BYTES + 1)
    except OSError as exc:
        raise FormatError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if len(data) > MAX_SESSION_BYTES:
        raise FormatError(f"{path}: file too large (over {MAX_SESSION_BYTES} bytes); expected at most that")
    fmt = parsers.detect(data, path)
    try:
        session, document = fmt.parse(data, path)
    except GainstagerError:
        raise
    except (ValueError, IndexError, KeyError, UnicodeError, RecursionError) as exc:
        raise FormatError(f"{path}: not a readable {fmt.NAME} session ({type(exc).__name__}: {exc})") from exc
    return Loaded(path, data, fmt, session, document)


# ---------------------------------------------------------------- media


def live_crc16(data: bytes) -> int:
    """CRC-16/UMTS (poly 0x8005, init 0, no reflection), as Live stores for the first 16 KiB of a sample."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


class MediaFinder:
    """Finds media files: the parser's candidates in order, then a search by name under its search roots,
    confirmed by size and CRC where the session records them. Directory scans are cached per root."""

    def __init__(self) -> None:
        self._index: dict[str, dict[str, list[str]]] = {}

    def _names(self, root: str) -> dict[str, list[str]]:
        if root not in self._index:
            index: dict[str, list[str]] = {}
            count = 0
            for folder, dirs, files in os.walk(root):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                for name in files:
                    index.setdefault(name.lower(), []).append(os.path.join(folder, name))
                count += len(files)
                if count > 200_000:  # a session next to a whole disk: stop scanning, stay responsive
                    break
            self._index[root] = index
        return self._index[root]

    def find(self, clip: Clip) -> tuple[str | None, tuple[str, ...]]:
        """(path or None, every place tried)."""
        media = clip.media
        if media is None:
            return None, ()
        tried: list[str] = []
        for candidate in media.candidate_paths:
            tried.append(candidate)
            if os.path.isfile(candidate):
                return candidate, tuple(tried)
        for root in media.search_roots:
            if not os.path.isdir(root):
                continue
            tried.append(os.path.join(root, "**", media.file_name))
            for hit in self._names(root).get(media.file_name.lower(), []):
                if self._confirmed(hit, media.size_bytes, media.crc16):
                    return hit, tuple(tried)
        return None, tuple(tried)

    @staticmethod
    def _confirmed(path: str, size: int | None, crc: int | None) -> bool:
        try:
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode):  # a FIFO or a device found by name is never opened
                return False
            if size and st.st_size != size:
                return False
            if crc is not None and size:
                with open(path, "rb") as f:
                    return live_crc16(f.read(16384)) == crc
        except OSError:
            return False
        return True


@dataclass(frozen=True, slots=True)
class ClipMedia:
    clip: Clip  # with status MISSING / UNREADABLE / SILENT set where the audio is not usable
    path: str | None = None
    info: AudioInfo | None = None
    reason: str = ""

    def skipped(self, status: ClipStatus, reason: str) -> ClipMedia:
        """This clip marked as not staged, with why."""
        return dataclasses.replace(self, clip=dataclasses.replace(self.clip, status=status), reason=reason)


def resolve_media(session: Session, finder: MediaFinder | None = None) -> list[ClipMedia]:
    finder = finder or MediaFinder()
    out: list[ClipMedia] = []
    probed: dict[str, AudioInfo | AudioError] = {}
    for clip in session.clips:
        if clip.status != ClipStatus.ACTIVE or clip.media is None:
            out.append(ClipMedia(clip, reason=_status_reason(clip)))
            continue
        path, tried = finder.find(clip)
        if path is None:
            shown = "; ".join(tried[:4]) + (f"; … ({len(tried)} places)" if len(tried) > 4 else "")
            out.append(
                ClipMedia(clip).skipped(
                    ClipStatus.MISSING, f"media not found: {clip.media.written_path} (tried {shown})"
                )
            )
            continue
        if path not in probed:
            try:
                probed[path] = probe(path)
            except AudioError as exc:
                probed[path] = exc
        info = probed[path]
        if isinstance(info, AudioError):
            out.append(ClipMedia(clip, path).skipped(ClipStatus.UNREADABLE, str(info)))
        else:
            out.append(ClipMedia(clip, path, info))
    return out


def _status_reason(clip: Clip) -> str:
    reasons = {
        ClipStatus.MUTED: "clip muted",
        ClipStatus.MIDI: "MIDI, no audio to measure",
        ClipStatus.EMPTY: "no audio source",
        ClipStatus.FROZEN: "frozen track plays its freeze render",
        ClipStatus.SESSION_VIEW: "session-view clip, not in the arrangement",
        ClipStatus.TAKE_LANE: "take-lane alternative, not played",
        ClipStatus.ALL_TAKES: "item plays all takes at once",
    }
    if clip.status == ClipStatus.ACTIVE:
        return "no media reference"
    if clip.status == ClipStatus.INVALID:
        return f"unreadable or implausible value in the session: {clip.note}"
    return reasons.get(clip.status, str(clip.status))


# ---------------------------------------------------------------- analysis


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
            render.clip_gain(c),
        )
        if key not in self._levels:
            self._levels[key] = render.measure_clip(playable, pool)
        return self._levels[key]


def analyze(
    loaded: Loaded,
    policy: Policy,
    *,
    progress: Progress | None = None,
    cache: LevelCache | None = None,
) -> Analysis:
    session = loaded.session
    cache = cache or LevelCache()
    media = resolve_media(session)
    playables = [render.Playable(m.clip, m.path, m.info) for m in media if m.info is not None and m.path]
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
        stage_levels = {k: v for k, v in clip_levels.items() if k not in skipped}
        mixed = render.mix(session, playables, pool, progress=_sub(progress, "summing tracks"))
        track_levels = _with_clip_true_peaks(session, mixed, clip_levels)
        first = plan(session, stage_levels, track_levels, policy)
        clip_gains, faders = _playing_after(session, first)
        after = (
            render.mix(
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
            first = plan(session, stage_levels, track_levels, policy, feeder_shift_db=change)
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
    )


def _with_clip_true_peaks(
    session: Session, mixed: render.MixResult, clip_levels: Mapping[str, Levels]
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
                render.playing_fader_db(t) + (tp.new_fader_db - t.fader_db)
                if math.isfinite(t.fader_db)
                else render.playing_fader_db(t)
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


# ---------------------------------------------------------------- writing


def default_output(path: str) -> str:
    p = Path(path)
    return str(p.with_name(f"{p.stem}.gainstaged{p.suffix}"))


def render_output(analysis: Analysis) -> bytes:
    """The new session's bytes, verified: re-parsed, only the planned values changed."""
    loaded = analysis.loaded
    out = loaded.fmt.apply(loaded.document, analysis.edits)
    if not analysis.edits and out != loaded.data:
        raise WriteError(f"{loaded.path}: writer changed bytes although no edit was planned; nothing written")
    verify(loaded, analysis.edits, out)
    return out


def verify(loaded: Loaded, edits: Sequence[Edit], out: bytes) -> None:
    """Re-parse `out` and check that it is the input session with exactly `edits` applied."""
    try:
        again, _ = loaded.fmt.parse(out, loaded.path)
    except GainstagerError as exc:
        raise WriteError(f"{loaded.path}: the written session does not parse again ({exc}); nothing written") from exc
    expected = expected_session(loaded.session, edits)
    problems = _differences(expected, again)
    if problems:
        raise WriteError(f"{loaded.path}: verification failed, {problems[0]}; nothing written")


def expected_session(session: Session, edits: Sequence[Edit]) -> Session:
    clips = {c.clip_id: c for c in session.clips}
    tracks = {t.track_id: t for t in (*session.tracks, session.master)}
    for e in edits:
        if e.field == EditField.CLIP_GAIN:
            clips[e.target_id] = dataclasses.replace(clips[e.target_id], gain_db=e.gain_db)
        elif e.field == EditField.FADER:
            tracks[e.target_id] = dataclasses.replace(tracks[e.target_id], fader_db=e.gain_db)
        else:
            t = tracks[e.target_id]
            tracks[e.target_id] = dataclasses.replace(t, envelope_max_db=t.envelope_max_db + e.gain_db)
    return dataclasses.replace(
        session,
        clips=tuple(clips[c.clip_id] for c in session.clips),
        tracks=tuple(tracks[t.track_id] for t in session.tracks),
        master=tracks[session.master.track_id],
    )


_GAIN_FIELDS = {"gain_db", "fader_db", "envelope_max_db"}
_TOLERANCE_DB = 0.01  # written numbers are rounded (REAPER item gains to 6 decimals)


def _differences(expected: Session, actual: Session) -> list[str]:
    problems: list[str] = []
    if (len(expected.clips), len(expected.tracks)) != (len(actual.clips), len(actual.tracks)):
        return ["the number of clips or tracks changed"]
    pairs: list[tuple[Clip | Track, Clip | Track]] = [
        *zip(expected.clips, actual.clips, strict=True),
        *zip(expected.tracks, actual.tracks, strict=True),
        (expected.master, actual.master),
    ]
    for want, got in pairs:
        for f in dataclasses.fields(want):
            a, b = getattr(want, f.name), getattr(got, f.name)
            if f.name in _GAIN_FIELDS:
                if not _close_db(a, b, got):
                    problems.append(f"{f.name} of {_ident(want)} is {b:.3f} dB, planned {a:.3f} dB")
            elif a != b:
                problems.append(f"{f.name} of {_ident(want)} changed ({a!r} -> {b!r})")
    return problems


def _close_db(a: float, b: float, obj: Clip | Track) -> bool:
    if math.isinf(a) or math.isinf(b):
        return a == b or (math.isinf(a) and b < -100) or (math.isinf(b) and a < -100)
    low = getattr(obj, "fader_min_db", getattr(obj, "gain_min_db", -math.inf))
    if math.isfinite(low) and a < low:  # clamped by the writer to the DAW's range
        a = low
    return abs(a - b) <= _TOLERANCE_DB or (a < -60 and b < -60)


def _ident(obj: Clip | Track) -> str:
    return obj.clip_id if isinstance(obj, Clip) else obj.track_id


def write_atomic(path: str, data: bytes, *, check: Callable[[bytes], None] | None = None) -> None:
    """Write `data` to a temporary file beside `path` (mode 0600), read it back, check it, give it the mode of the
    file it replaces, then rename it into place.

    The temporary file has no name until the instant before the rename (Linux O_TMPFILE, then a link), so a crash
    or `kill -9` leaves the old file or the new one, and a complete `.gainstager-PID-*.tmp` only if it lands in
    the microseconds between link and rename; the next write into the folder removes such files once PID is
    gone. Where the file system cannot do O_TMPFILE, the temporary file is named from the start."""
    folder = os.path.dirname(os.path.abspath(path))
    _remove_stale_temporaries(folder)
    tmp: str | None = None
    try:
        fd, tmp = _temporary_file(folder)
        with os.fdopen(fd, "w+b") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            f.seek(0)
            back = f.read()
            if back != data:
                raise WriteError(f"{path}: the temporary file read back differently; nothing written")
            if check is not None:
                check(back)
            if os.path.exists(path):
                os.fchmod(f.fileno(), os.stat(path).st_mode & 0o7777)
            if tmp is None:
                tmp = _link_into(folder, f.fileno())
            os.replace(tmp, path)
            tmp = None
    except OSError as exc:
        raise WriteError(f"{path}: cannot write ({exc.strerror or exc}); nothing written") from exc
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)


def _temporary_file(folder: str) -> tuple[int, str | None]:
    """(descriptor, None) of an unnamed file in `folder`, or (descriptor, name) of a named one where unsupported."""
    if hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd"):
        try:
            return os.open(folder, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600), None
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise
    fd, name = tempfile.mkstemp(prefix=f".gainstager-{os.getpid()}-", suffix=".tmp", dir=folder)
    return fd, name


_TEMPORARY = re.compile(r"\.gainstager-(\d+)-\w+\.tmp")


def _remove_stale_temporaries(folder: str) -> None:
    """Remove our temporary files in `folder` whose process is gone (left by a crash; see write_atomic)."""
    try:
        names = [e.name for e in os.scandir(folder) if _TEMPORARY.fullmatch(e.name)]
    except OSError:
        return
    for name in names:
        pid = int(_TEMPORARY.fullmatch(name).group(1))  # type: ignore[union-attr]
        try:
            os.kill(pid, 0)
            continue  # alive (or another user's): perhaps writing right now
        except ProcessLookupError:
            pass
        except OSError:
            continue
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(folder, name))


def _link_into(folder: str, fd: int) -> str:
    """Give the unnamed file `fd` a fresh temporary name in `folder`: linkat(AT_SYMLINK_FOLLOW) through /proc, as
    open(2) documents (a directory descriptor makes os.link call linkat rather than link, which would not follow)."""
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        while True:
            name = f".gainstager-{os.getpid()}-{secrets.token_hex(8)}.tmp"
            try:
                os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=dir_fd, follow_symlinks=True)
                return os.path.join(folder, name)
            except FileExistsError:
                continue
    finally:
        os.close(dir_fd)


@dataclass(frozen=True, slots=True)
class WriteResult:
    output: str | None  # None for a dry run or an unchanged session in a batch
    backup: str | None = None
    changed: bool = False


def write(
    analysis: Analysis,
    *,
    output: str | None = None,
    in_place: bool = False,
    dry_run: bool = False,
    skip_unchanged: bool = False,
) -> WriteResult:
    loaded = analysis.loaded
    data = render_output(analysis)
    changed = data != loaded.data
    if dry_run or (skip_unchanged and not changed):
        return WriteResult(None, None, changed)
    target = loaded.path if in_place else output or default_output(loaded.path)
    if os.path.abspath(target) == os.path.abspath(loaded.path) and not in_place:
        raise WriteError(f"{target}: refusing to overwrite the input; use --in-place (a backup is kept)")

    def check(back: bytes) -> None:
        verify(loaded, analysis.edits, back)

    if not in_place:
        write_atomic(target, data, check=check)
        return WriteResult(target, None, changed)
    with _locked_unchanged(loaded):  # another gainstager on the same session fails here; nothing is mixed
        backup = None
        if changed:
            backup = _backup_name(loaded.path)
            write_atomic(backup, loaded.data)
        write_atomic(target, data, check=check)
    return WriteResult(target, backup, changed)


@contextlib.contextmanager
def _locked_unchanged(loaded: Loaded) -> Iterator[None]:
    """Hold an exclusive lock (flock) on the session file and make sure it still holds the bytes that were
    analysed; WriteError otherwise. The lock dies with the process, so a killed run never leaves it behind."""
    path = loaded.path
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise WriteError(f"{path}: cannot reopen the session ({exc.strerror or exc}); nothing written") from exc
    with open(fd, "rb") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise WriteError(f"{path}: another process is writing this session (locked); nothing written") from exc
        try:
            st = os.fstat(f.fileno())
            same = stat.S_ISREG(st.st_mode) and st.st_ino == os.stat(path).st_ino
            same = same and f.read(len(loaded.data) + 1) == loaded.data
        except OSError:
            same = False
        if not same:
            raise WriteError(f"{path}: the session changed on disk since it was read; nothing written")
        yield


def _backup_name(path: str) -> str:
    candidate, n = f"{path}.bak", 1
    while os.path.exists(candidate):
        n += 1
        candidate = f"{path}.bak{n}"
    return candidate


# ---------------------------------------------------------------- batch


def find_sessions(paths: Sequence[str]) -> Iterator[str]:
    """Session files under `paths` (files given directly are always included), sorted, no backups or outputs."""
    suffixes = parsers.suffixes()
    for root in paths:
        if os.path.isfile(root):
            yield root
            continue
        found = []
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in files:
                low = name.lower()
                if low.endswith(suffixes) and ".gainstaged." not in low:
                    found.append(os.path.join(folder, name))
        yield from sorted(found)
