"""Finding the sessions of an archive the way DAWs lay out their projects, and saying what was left out.

A producer's drive holds, beside each set, the copies the DAW keeps by itself: Live saves the previous
versions of a set in ``Backup/`` inside the project folder (``Song [2021-03-04 101112].als``); REAPER keeps
``Song.rpp-bak`` beside the project, timestamped copies in ``Backups/``, and its undo history in
``Song.RPP-UNDO``. Gain-staging those copies would multiply the work and litter the archive with outputs, so
they are skipped by default and counted, as are our own outputs (``*.gainstaged.*``), Live's
``Ableton Project Info`` folders and hidden files and folders (``.git``, macOS ``._Song.als`` resource
forks on exFAT drives).

The rules on names apply to every file, named on the command line or found; the rules on folders apply to
the folders found while walking, never to a folder the user named. Symlinked folders are followed once: each
folder and each file is taken at most once, by its (device, inode), so a link loop or a second link to the
same project is skipped and counted. Only regular files are sessions: a FIFO or a device named ``x.rpp`` is
never opened (opening a FIFO blocks until someone writes to it).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class SkipKind(StrEnum):
    LIVE_BACKUP = "live-backup"  # a Backup/ folder beside a Live set
    REAPER_BACKUP = "reaper-backup"  # *.rpp-bak files and a Backups/ folder beside a REAPER project
    REAPER_UNDO = "reaper-undo"  # *.RPP-UNDO: undo history, never a project (kept out even with backups)
    OUTPUT = "output"  # *.gainstaged.*: what we wrote
    PROJECT_INFO = "project-info"  # Ableton Project Info folders
    HIDDEN = "hidden"  # names starting with a dot
    REVISITED = "revisited"  # a folder or file reached a second time (symlink loop, second link, hard link)
    NOT_REGULAR = "not-regular"  # a FIFO, socket or device with a session's name
    UNREADABLE = "unreadable"  # a folder that cannot be listed, a broken link


SKIP_REASONS: dict[SkipKind, str] = {
    SkipKind.LIVE_BACKUP: "Live Backup/ folder",
    SkipKind.REAPER_BACKUP: "REAPER backup (*.rpp-bak, Backups/)",
    SkipKind.REAPER_UNDO: "REAPER undo history (*.RPP-UNDO)",
    SkipKind.OUTPUT: "gainstager output (*.gainstaged.*)",
    SkipKind.PROJECT_INFO: "Ableton Project Info folder",
    SkipKind.HIDDEN: "hidden file or folder",
    SkipKind.REVISITED: "already seen through another path (symlink loop or second link)",
    SkipKind.NOT_REGULAR: "not a regular file (FIFO, socket or device)",
    SkipKind.UNREADABLE: "cannot be read",
}

# Backup folders: the folder's name (lower case) -> the session suffix a project file beside it has. Only a
# folder next to such a file is the DAW's: a user's own folder called "Backup" elsewhere is walked.
_BACKUP_FOLDERS = {"backup": (".als", SkipKind.LIVE_BACKUP), "backups": (".rpp", SkipKind.REAPER_BACKUP)}
_BACKUP_SUFFIXES = (".rpp-bak",)  # REAPER 4-7: "Song.rpp-bak", also the timestamped copies in Backups/
_UNDO_SUFFIXES = (".rpp-undo",)
_PROJECT_INFO = "ableton project info"
_EXAMPLES = 3


@dataclass(frozen=True, slots=True)
class Skipped:
    kind: SkipKind
    count: int
    examples: tuple[str, ...]  # the first few paths, in walking order

    @property
    def reason(self) -> str:
        return SKIP_REASONS[self.kind]


@dataclass(frozen=True, slots=True)
class Discovery:
    sessions: tuple[str, ...]  # sorted; paths as reached from the roots given (through links, not resolved)
    skipped: tuple[Skipped, ...]  # one per kind that occurred, in SkipKind order
    missing: tuple[str, ...]  # roots that do not exist

    def count(self, kind: SkipKind) -> int:
        return next((s.count for s in self.skipped if s.kind == kind), 0)


def discover(
    paths: Sequence[str], *, suffixes: Sequence[str] | None = None, include_backups: bool = False
) -> Discovery:
    """The sessions under `paths` (files or folders), with what was skipped and why.

    `suffixes`: the session file suffixes, lower case with the dot (default: every registered format's).
    `include_backups`: also take Live's Backup/ folders and REAPER's backups (*.rpp-bak, Backups/)."""
    if suffixes is None:
        from .parsers import suffixes as registered

        suffixes = registered()
    return _Walk(tuple(s.lower() for s in suffixes), include_backups).run(paths)


class _Walk:
    def __init__(self, suffixes: tuple[str, ...], include_backups: bool) -> None:
        self.relevant = suffixes + _BACKUP_SUFFIXES + _UNDO_SUFFIXES  # names worth a look (and a count)
        self.include_backups = include_backups
        self.seen: set[tuple[int, int]] = set()
        self.sessions: set[str] = set()
        self.skips: dict[SkipKind, list[str]] = {}
        self.counts: dict[SkipKind, int] = {}

    def run(self, roots: Sequence[str]) -> Discovery:
        missing = []
        for root in roots:
            if not os.path.lexists(root):
                missing.append(root)
            elif os.path.isdir(root):
                self.folder(root)
            else:
                self.file(root)
        skipped = tuple(
            Skipped(kind, self.counts[kind], tuple(self.skips[kind])) for kind in SkipKind if kind in self.counts
        )
        return Discovery(tuple(sorted(self.sessions)), skipped, tuple(missing))

    def skip(self, kind: SkipKind, path: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        examples = self.skips.setdefault(kind, [])
        if len(examples) < _EXAMPLES:
            examples.append(path)

    def first_visit(self, st: os.stat_result, path: str) -> bool:
        key = (st.st_dev, st.st_ino)
        if key in self.seen:
            self.skip(SkipKind.REVISITED, path)
            return False
        self.seen.add(key)
        return True

    def name_kind(self, name: str) -> SkipKind | None:
        """Why a file with this name is never a session (None: it is one if its suffix is a session's)."""
        low = name.lower()
        if low.startswith("."):
            return SkipKind.HIDDEN
        if ".gainstaged." in low:
            return SkipKind.OUTPUT
        if low.endswith(_UNDO_SUFFIXES):
            return SkipKind.REAPER_UNDO
        if low.endswith(_BACKUP_SUFFIXES) and not self.include_backups:
            return SkipKind.REAPER_BACKUP
        return None

    def file(self, path: str) -> None:
        kind = self.name_kind(os.path.basename(path))
        if kind is not None:
            self.skip(kind, path)
            return
        try:
            st = os.stat(path)  # follows a link; never opens the file
        except OSError:
            self.skip(SkipKind.UNREADABLE, path)
            return
        if not stat.S_ISREG(st.st_mode):
            self.skip(SkipKind.NOT_REGULAR, path)
        elif self.first_visit(st, path):
            self.sessions.add(path)

    def folder(self, root: str) -> None:
        stack = [root]
        while stack:
            folder = stack.pop()
            try:
                if not self.first_visit(os.stat(folder), folder):
                    continue
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError:
                self.skip(SkipKind.UNREADABLE, folder)
                continue
            dirs = [e for e in entries if _is_dir(e)]
            files = [e for e in entries if not _is_dir(e)]
            present = {os.path.splitext(e.name)[1].lower() for e in files}
            for e in files:
                if e.name.lower().endswith(self.relevant):
                    self.file(e.path)
            subfolders = []
            for e in dirs:
                kind = self.folder_kind(e.name, present)
                if kind is None:
                    subfolders.append(e.path)
                else:
                    self.skip(kind, e.path)
            stack.extend(reversed(subfolders))  # depth first, in name order

    def folder_kind(self, name: str, present: set[str]) -> SkipKind | None:
        low = name.lower()
        if low.startswith("."):
            return SkipKind.HIDDEN
        if low == _PROJECT_INFO:
            return SkipKind.PROJECT_INFO
        beside, kind = _BACKUP_FOLDERS.get(low, ("", None))
        if kind is not None and beside in present and not self.include_backups:
            return kind
        return None


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows a link to a folder
    except OSError:
        return False
