"""Media finding: where each clip's audio file is, and whether it can be read.

The parser lists where the DAW would look (`MediaRef.candidate_paths`); `MediaFinder` checks those in order,
then searches the session's folders by file name, confirming a hit by size and by the format's fingerprint
where the session recorded them. `resolve_media` turns every clip into a `ClipMedia`: found and probed, or
marked MISSING / UNREADABLE with the reason, or left with the reason the parser gave it a status.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from . import parsers, render
from .audio import AudioInfo, probe
from .errors import AudioError
from .model import Clip, ClipStatus, Fingerprint, MediaRef, Session


class MediaFinder:
    """Finds media files: the parser's candidates in order, then a search by name under its search roots,
    confirmed by size and by the format's fingerprint where the session records them (`confirms` is the
    format's). Directory scans are cached per root."""

    def __init__(self, confirms: Callable[[Fingerprint, bytes], bool]) -> None:
        self._index: dict[str, dict[str, list[str]]] = {}
        self._confirms = confirms

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
                if self._confirmed(hit, media):
                    return hit, tuple(tried)
        return None, tuple(tried)

    def _confirmed(self, path: str, media: MediaRef) -> bool:
        try:
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode):  # a FIFO or a device found by name is never opened
                return False
            if media.size_bytes and st.st_size != media.size_bytes:
                return False
            if media.fingerprint is not None:
                with open(path, "rb") as f:
                    return self._confirms(media.fingerprint, f.read(media.fingerprint.head_bytes))
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
    finder = finder or MediaFinder(parsers.by_name(session.format).confirms)
    out: list[ClipMedia] = []
    probed: dict[str, AudioInfo | AudioError] = {}
    for clip in session.clips:
        if not render.plays(clip) or clip.media is None:
            out.append(ClipMedia(clip, reason=_status_reason(clip)))
            continue
        path, tried = finder.find(clip)
        if path is None:
            shown = "; ".join(tried[:4]) + (f"; … ({len(tried)} places)" if len(tried) > 4 else "")
            what = "freeze audio" if clip.status is ClipStatus.FREEZE_RENDER else "media"
            out.append(
                ClipMedia(clip).skipped(
                    ClipStatus.MISSING, f"{what} not found: {clip.media.written_path} (tried {shown})"
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
            out.append(ClipMedia(clip, path, info, "" if clip.status is ClipStatus.ACTIVE else _status_reason(clip)))
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
        ClipStatus.FREEZE_RENDER: "freeze render: measured and summed, gain not written (unfreeze to change it)",
    }
    if clip.status == ClipStatus.ACTIVE:
        return "no media reference"
    if clip.status == ClipStatus.INVALID:
        return f"unreadable or implausible value in the session: {clip.note}"
    return reasons.get(clip.status, str(clip.status))
