"""The resume journal of a batch: which sessions are done, so that the same command run again goes on where
an interrupted run stopped (Ctrl-C, kill, a crash, a power cut).

The journal is a JSON-lines file. Its first line is a header: the tool, the journal's schema and the settings
that must match for its records to be reused (the policy, the tool's version, what else changes the outputs).
Every other line records one finished session: the input's identity (real path, size, mtime in ns), the
identity of each output written, and the caller's outcome record (any JSON value). Each line is written with
one write(2), then flushed and fsynced, so a kill -9 can tear at most the last line; a torn last line is
ignored when reading and cut off before the next append, so it never glues onto the next record.

A session counts as done when its input has the same identity as recorded and every output recorded is
still there, unchanged: a session edited since, or whose output was deleted or replaced, is done again.
A journal written with other settings is not reused (`Journal.state` says so) and is replaced, because the
outputs beside the inputs are overwritten by the new run anyway. `restart=True` replaces it too.

Where it lives (`journal_path`): in the output location, because the journal describes the outputs there and
must move, be backed up and be deleted with them. With an output folder, in it; when outputs go beside the
originals, in the first root folder of the batch (in sorted order of real paths; a root that is a file
counts as its folder). The same command therefore finds the same journal from any working directory; records
name inputs by real path, so one journal serves a batch over several roots. The file is hidden, named
``.gainstager-batch.jsonl`` so a user can tell what it is. Two batches on the same journal at once are
refused (an advisory lock), since they would also write the same outputs.

Input identity is taken by the caller no later than the session is read (`Identity.of`), so a session edited
while it is processed is not recorded as done in its new state. Media files are not part of the identity:
replaced samples under an unchanged session are not noticed (the measurement cache keys by media identity).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .errors import WriteError

JOURNAL_NAME = ".gainstager-batch.jsonl"
JOURNAL_SCHEMA = 1
_TOOL = "gainstager"


@dataclass(frozen=True, slots=True)
class Identity:
    path: str  # real path
    size_bytes: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str) -> Identity:
        st = os.stat(path)
        return cls(os.path.realpath(path), st.st_size, st.st_mtime_ns)

    def unchanged(self) -> bool:
        try:
            return Identity.of(self.path) == self
        except OSError:
            return False

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size_bytes": self.size_bytes, "mtime_ns": self.mtime_ns}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Identity:
        return cls(str(doc["path"]), int(doc["size_bytes"]), int(doc["mtime_ns"]))


@dataclass(frozen=True, slots=True)
class Entry:
    input: Identity
    outputs: tuple[Identity, ...]
    outcome: Any  # the caller's record, as it came back from JSON

    def still_valid(self) -> bool:
        return self.input.unchanged() and all(o.unchanged() for o in self.outputs)


class JournalState(StrEnum):
    NEW = "new"  # no journal was there
    RESUMED = "resumed"  # a journal with the same settings: its records are reused
    SETTINGS_CHANGED = "settings-changed"  # written with other settings: not reused, replaced
    RESTARTED = "restarted"  # restart=True: not read, replaced
    UNREADABLE = "unreadable"  # not a journal of ours (bad header): not reused, replaced


def journal_path(roots: Sequence[str], *, output_dir: str | None = None) -> str:
    """Where the journal of a batch over `roots` lives (see the module's docstring for why)."""
    if output_dir is not None:
        return os.path.join(output_dir, JOURNAL_NAME)
    folders = sorted(os.path.realpath(r if os.path.isdir(r) else os.path.dirname(r) or ".") for r in roots)
    if not folders:
        raise ValueError("journal_path needs at least one root")
    return os.path.join(folders[0], JOURNAL_NAME)


class Journal:
    """An open journal: `done(path)` for what can be skipped, `record(...)` after each finished session."""

    def __init__(self, path: str, fd: int, state: JournalState, entries: dict[str, Entry]) -> None:
        self.path = path
        self.state = state
        self._fd = fd
        self._entries = entries

    @classmethod
    def open(cls, path: str, settings: Mapping[str, Any], *, restart: bool = False) -> Journal:
        """Open (creating or replacing as needed) the journal at `path` for a run with `settings`.
        WriteError if it cannot be written or another batch holds it."""
        header = {"tool": _TOOL, "schema": JOURNAL_SCHEMA, "settings": _normal(settings)}
        try:
            # O_APPEND: every write goes to the end, whatever was read or cut before it
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            raise WriteError(f"{path}: cannot open the batch journal ({exc.strerror or exc})") from exc
        try:
            _lock(fd, path)
            with open(fd, "rb", closefd=False) as f:
                data = f.read()
            state, entries, keep = (JournalState.RESTARTED, {}, 0) if restart else _read(data, header)
            if state == JournalState.NEW and data:
                state = JournalState.UNREADABLE
            if state != JournalState.RESUMED:
                os.ftruncate(fd, 0)
                _append(fd, header, path)
                _fsync_folder(path)
            elif keep < len(data):
                os.ftruncate(fd, keep)  # cut a torn last line, so the next record starts on its own line
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, state, entries)

    @property
    def reused(self) -> int:
        """How many records were read back (before checking that their sessions are unchanged)."""
        return len(self._entries)

    def done(self, session_path: str) -> Entry | None:
        """The recorded outcome when this session is done and nothing changed since; else None."""
        entry = self._entries.get(os.path.realpath(session_path))
        return entry if entry is not None and entry.still_valid() else None

    def record(self, identity: Identity, outcome: Any, *, outputs: Sequence[str] = ()) -> Entry:
        """Record a finished session: `identity` as taken before it was read, `outcome` any JSON value,
        `outputs` the files it wrote (their identity is taken now)."""
        entry = Entry(identity, tuple(Identity.of(o) for o in outputs), _normal(outcome))
        line = {"input": identity.to_json(), "outputs": [o.to_json() for o in entry.outputs], "outcome": outcome}
        _append(self._fd, line, self.path)
        self._entries[identity.path] = entry
        return entry

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # also releases the lock
            self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _normal(value: Any) -> Any:
    """`value` as it reads back from JSON (tuples become lists...), so comparisons are like for like."""
    return json.loads(json.dumps(value, sort_keys=True))


def _read(data: bytes, header: dict[str, Any]) -> tuple[JournalState, dict[str, Entry], int]:
    """(state, entries by real input path, length of the part of `data` made of whole lines)."""
    keep = data.rfind(b"\n") + 1
    lines = data[:keep].splitlines()
    if not lines:
        return JournalState.NEW, {}, 0
    try:
        head = json.loads(lines[0])
    except ValueError:
        return JournalState.UNREADABLE, {}, keep
    if not isinstance(head, dict) or head.get("tool") != _TOOL or head.get("schema") != JOURNAL_SCHEMA:
        return JournalState.UNREADABLE, {}, keep
    if head.get("settings") != header["settings"]:
        return JournalState.SETTINGS_CHANGED, {}, keep
    entries: dict[str, Entry] = {}
    for raw in lines[1:]:
        try:
            doc = json.loads(raw)
            entry = Entry(
                Identity.from_json(doc["input"]),
                tuple(Identity.from_json(o) for o in doc["outputs"]),
                doc["outcome"],
            )
        except (ValueError, KeyError, TypeError):
            continue  # a damaged line: that session is simply done again
        entries[entry.input.path] = entry  # a later record of the same input wins
    return JournalState.RESUMED, entries, keep


def _append(fd: int, doc: Any, path: str) -> None:
    data = (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    try:
        written = os.write(fd, data)  # one write: a kill can only leave a prefix of this line
        while written < len(data):
            written += os.write(fd, data[written:])
        os.fsync(fd)
    except OSError as exc:
        raise WriteError(f"{path}: cannot write the batch journal ({exc.strerror or exc})") from exc


def _fsync_folder(path: str) -> None:
    """Make the journal's directory entry durable (a new file can vanish in a power cut otherwise)."""
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (and platforms) cannot fsync a folder: the data itself is synced
    finally:
        os.close(fd)


def _lock(fd: int, path: str) -> None:
    try:
        import fcntl
    except ImportError:  # no advisory locks (Windows): concurrent batches are the user's business
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise WriteError(f"{path}: another batch is running on this folder (its journal is locked)") from None
    except OSError:
        pass  # a file system without locks (some network mounts): go on without
