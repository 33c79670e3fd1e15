"""Media finding: where each clip's audio file is, and whether it can be read.

The parser lists where the DAW would look (`MediaRef.candidate_paths`); `MediaFinder` checks those in order,
then searches the session's folders by file name, confirming a hit by size and by the format's fingerprint
where the session recorded them. `resolve_media` turns every clip into a `ClipMedia`: found and probed, or
marked MISSING / UNREADABLE with the reason, or left with the reason the parser gave it a status.
"""

from __future__ import annotations

import dataclasses
import heapq
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import parsers, render
from .audio import AudioInfo, probe
from .errors import AudioError
from .model import Clip, ClipStatus, Fingerprint, MediaRef, Session

SEARCH_BUDGET_ENTRIES = 20_000  # folder entries one session's search by name may visit (a project folder has fewer)
SEARCH_BUDGET_S = 2.0  # and the time it may take: a cold or network disk can take 100 µs an entry
# Folders DAWs keep audio in (Live: Samples/Imported, Recorded, Processed; Logic, Pro Tools: Audio Files; REAPER by
# custom: Media, Audio): searched before the rest of a root, wherever they sit in it.
LIKELY_FOLDERS = frozenset(
    {"samples", "audio files", "media", "audio", "imported", "recorded", "processed", "freeze", "consolidated"}
)


class MediaFinder:
    """Finds media files: the parser's candidates in order, then a search by name under its search roots,
    confirmed by size and by the format's fingerprint where the session records them (`confirms` is the
    format's).

    The search by name is bounded: one finder (one session) visits at most `budget_entries` folder entries and
    spends at most `budget_s` seconds, so that a session saved in ~/Downloads or /tmp does not walk the whole
    folder. Roots are searched in the parser's order (the session's own folder first), a folder already searched
    is not searched again under a later root, and within a root the folders named like LIKELY_FOLDERS come first,
    then the others, shallowest first. Symbolic links to folders are not followed. `visited` counts the entries
    visited; `stopped_early` says, for a clip not found, that the search stopped before the end."""

    def __init__(
        self,
        confirms: Callable[[Fingerprint, bytes], bool],
        *,
        budget_entries: int = SEARCH_BUDGET_ENTRIES,
        budget_s: float = SEARCH_BUDGET_S,
    ) -> None:
        self._index: dict[str, dict[str, list[str]]] = {}
        self._confirms = confirms
        self._budget_entries = budget_entries
        self._budget_s = budget_s
        self._started: float | None = None
        self._stopped = ""  # why the search stopped early, once it has
        self._incomplete: set[str] = set()  # roots not searched to the end
        self.visited = 0

    def _names(self, root: str) -> dict[str, list[str]]:
        """Lower-case file name -> paths under `root`, as far as the budget allows (walked once per root)."""
        if root in self._index:
            return self._index[root]
        index: dict[str, list[str]] = {}
        self._index[root] = index
        searched = {os.path.normpath(r) for r in self._index if r != root}
        if self._started is None:
            self._started = time.monotonic()
        queue: list[tuple[int, int, int, str]] = [(0, 0, 0, root)]  # (unlikely, depth, order, folder)
        order = 0
        while queue:
            unlikely, depth, _, folder = heapq.heappop(queue)
            try:
                with os.scandir(folder) as entries:
                    for entry in entries:
                        if self._spent():
                            self._incomplete.add(root)
                            return index
                        self.visited += 1
                        if not entry.is_dir(follow_symlinks=False):
                            index.setdefault(entry.name.lower(), []).append(entry.path)
                        elif not entry.name.startswith(".") and os.path.normpath(entry.path) not in searched:
                            likely = entry.name.lower() in LIKELY_FOLDERS or (depth > 0 and not unlikely)
                            order += 1
                            heapq.heappush(queue, (0 if likely else 1, depth + 1, order, entry.path))
            except OSError:  # unreadable folder: skipped
                continue
        return index

    def _spent(self) -> bool:
        elapsed = time.monotonic() - (self._started or 0.0)
        if self.visited < self._budget_entries and elapsed < self._budget_s:
            return False
        if not self._stopped:
            self._stopped = (
                f"the search by name stopped early, after {self.visited} folder entries in {elapsed:.1f} s "
                f"(limits {self._budget_entries} entries, {self._budget_s:g} s)"
            )
        return True

    def stopped_early(self, media: MediaRef) -> str:
        """Why a search by name for `media` may have missed it ("" when its roots were searched in full)."""
        roots = [r for r in media.search_roots if r in self._incomplete]
        if not roots:
            return ""
        return f"{self._stopped}: not searched in full: {', '.join(roots)}"

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
            early = finder.stopped_early(clip.media)
            reason = f"{what} not found: {clip.media.written_path} (tried {shown})" + (f"; {early}" if early else "")
            out.append(ClipMedia(clip).skipped(ClipStatus.MISSING, reason))
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
