"""The lasting measurement cache: what was measured once is not measured again, across runs and processes.

Where: in the user's cache directory (`platformdirs`), or the one `--cache-dir` or the environment variable
GAINSTAGER_CACHE_DIR names. The store is a `diskcache.Cache` (SQLite in WAL mode: several processes may read and
write at once, with nothing hand-written for locking) in a folder of its own, `STORE`, inside that directory, so
clearing or rebuilding it never touches anything else there.

What: values are plain data (numbers, strings, lists, dicts and numpy arrays) that `cache_codec` encodes, never
pickles: a cache file is only ever read as data, so a foreign or corrupt one cannot run code. An entry that does
not decode is deleted and measured again. A store (`cache_store`) that cannot be opened or read is rebuilt once;
if that fails too, the run goes on without it (a store only busy with other processes is never rebuilt: the run
skips it instead). None of this is ever an error for the user: `notes` says what happened, for the report.

Which file: `file_identity` names a file's content by its real path, size and mtime_ns. When those match what
was seen before but the inode or ctime changed (the file was replaced, times preserved), or when the file was
modified so recently that a rewrite could keep its mtime (timestamps are coarse: up to 2 s on some file
systems), a blake2b hash of the content decides.

Claims: when two processes (a batch's workers) want the same region at once, the first `claim`s it (an atomic
`add` of a claim entry that lapses after `CLAIM_S`), measures it, `put`s it and releases the claim; the other
does not measure it but `wait`s for the value. A claim whose owner has died (same host, process gone) is taken
over; a claim released without a value (its owner could not measure it) leaves the region to the waiter.

Only the standard library is imported here (and in `cache_codec` and `cache_store`), and what only a cache in use
needs (diskcache, platformdirs, and hashlib, zlib, shutil, socket) where it is used, so that `gainstager --help`
and `measure` do not pay for it.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .cache_codec import decode, encode
from .cache_store import _DiskStore, _MemoryStore

ENV_DIR = "GAINSTAGER_CACHE_DIR"
STORE = "measurements-v1"  # the store's own folder inside the cache directory
CLAIM_S = 3600.0  # a claim lapses after this: its owner is presumed gone
RACY_NS = 3_000_000_000  # a file modified this recently may be rewritten without its mtime changing
_POLL_S = 0.02
_HASH_CHUNK = 1 << 20

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class CacheOptions:
    """How a command uses the measurement cache (the command line's --cache/--no-cache and --cache-dir)."""

    enabled: bool = True
    directory: str | None = None  # None: $GAINSTAGER_CACHE_DIR, else the user's cache directory


@dataclass(frozen=True, slots=True)
class CacheInfo:
    directory: str
    store: str
    entries: int
    size_bytes: int


def directory(given: str | None = None) -> str:
    """The cache directory: `given`, else $GAINSTAGER_CACHE_DIR, else the user's cache directory."""
    if given:
        return os.path.abspath(os.path.expanduser(given))
    env = os.environ.get(ENV_DIR)
    if env:
        return os.path.abspath(os.path.expanduser(env))
    import platformdirs

    return platformdirs.user_cache_dir("gainstager", appauthor=False)


def open(directory_: str | None = None, *, enabled: bool = True) -> MeasurementCache:
    """The measurement cache in `directory_` (see `directory`), or, with `enabled` False, one that lives in this
    process only (nothing is read from or written to disk). Never raises: a store that cannot be opened or
    rebuilt gives an in-process cache and a note."""
    if not enabled:
        return MeasurementCache(None)
    return MeasurementCache(os.path.join(directory(directory_), STORE))


def info(directory_: str | None = None) -> CacheInfo:
    """What the cache in `directory_` holds (opening, and so creating, it if needed)."""
    c = open(directory_)
    try:
        entries, size = c.size()
        return CacheInfo(os.path.dirname(c.path or ""), c.path or "", entries, size)
    finally:
        c.close()


def clear(directory_: str | None = None) -> int:
    """Empty the cache in `directory_`; how many entries were removed."""
    c = open(directory_)
    try:
        return c.clear()
    finally:
        c.close()


# ---------------------------------------------------------------- keys


def key(*parts: object) -> str:
    """A short key for plain data `parts` (JSON-able, floats exact)."""
    import hashlib

    text = json.dumps(parts, separators=(",", ":"), sort_keys=True)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def content_hash(path: str) -> str:
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    with builtins.open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_HASH_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------- the cache


class MeasurementCache:
    """Get and put measurements by key; claim a key so that only one process measures it.

    `path` is the store's folder, None for a cache that lives in this process only. `notes` says what went wrong
    with the store (rebuilt, or left for this run), for the report. Not thread-safe: one per process, used by
    the thread that runs the analysis."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.notes: list[str] = []
        self._claims: set[str] = set()
        self._files: dict[tuple[str, int, int, int, int], str] = {}  # this process's file identities
        self._rebuilt = False
        self._store: _MemoryStore | _DiskStore = _MemoryStore()
        if path is not None:
            try:
                self._store = _DiskStore(path)
            except Exception as exc:  # sqlite3, OS and diskcache errors alike: never the user's problem
                if _busy(exc):  # other processes hold it: leave it to them, measure without it this time
                    self.notes.append(f"measurement cache {path} busy ({_describe(exc)}): measured without it")
                else:
                    self._rebuild(exc)

    @property
    def lasting(self) -> bool:
        return isinstance(self._store, _DiskStore)

    # --- values

    def get(self, k: str) -> dict[str, Any] | None:
        data = self._guarded(lambda: self._store.get(k), None)
        if data is None:
            return None
        try:
            return decode(data)
        except (ValueError, TypeError, KeyError, IndexError, RecursionError, UnicodeDecodeError, OverflowError):
            self._guarded(lambda: self._store.delete(k), None)  # foreign or damaged: measured again
            return None

    def put(self, k: str, value: dict[str, Any]) -> None:
        data = encode(value)
        self._guarded(lambda: self._store.set(k, data), None)

    # --- claims

    def claim(self, k: str) -> bool:
        """Take the right to measure what goes under key `k` (True), unless another live process holds it (False).
        The holder `put`s the value, then `release`s the claim; the others `wait(k)`."""
        mine = encode({"pid": os.getpid(), "host": _host()})
        for _ in range(2):
            if self._guarded(lambda: self._store.add("claim:" + k, mine, CLAIM_S), True):
                self._claims.add(k)
                return True
            holder = self.get("claim:" + k)
            if holder is not None and _alive(holder):
                return False
            self._guarded(lambda: self._store.delete("claim:" + k), None)  # its owner is gone: take it over
        return False

    def release(self, k: str) -> None:
        if k in self._claims:
            self._claims.discard(k)
            self._guarded(lambda: self._store.delete("claim:" + k), None)

    def release_all(self) -> None:
        for k in list(self._claims):
            self.release(k)

    def wait(self, k: str) -> dict[str, Any] | None:
        """The value another process is measuring under `k`, once it is there; None when its claim goes without
        one (released, lapsed, or its owner died): then the caller measures it."""
        while True:
            value = self.get(k)
            if value is not None:
                return value
            holder = self.get("claim:" + k)
            if holder is None or not _alive(holder):
                return self.get(k)
            time.sleep(_POLL_S)

    # --- files

    def file_identity(self, path: str) -> str:
        """A key for the content of the file at `path` (see the module docstring); OSError if it cannot be
        read."""
        real = os.path.realpath(path)
        st = os.stat(real)
        now = time.time_ns()
        seen = (real, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
        if seen in self._files:
            return self._files[seen]
        racy = st.st_mtime_ns > now - RACY_NS
        # Nothing kept across runs: size, times and inode name the file within this one.
        token = self._file_token(real, st, racy) if self.lasting else key("file", *seen)
        if not racy:
            self._files[seen] = token
        return token

    def _file_token(self, real: str, st: os.stat_result, racy: bool) -> str:
        record = self.get("file:" + real)
        same_time = (
            record is not None and record.get("size") == st.st_size and record.get("mtime_ns") == st.st_mtime_ns
        )
        if (
            record is not None
            and same_time
            and not record.get("racy")
            and record.get("ino") == st.st_ino
            and record.get("ctime_ns") == st.st_ctime_ns
            and isinstance(record.get("token"), str)
        ):
            return str(record["token"])
        digest = content_hash(real) if same_time or racy else None
        if record is not None and same_time and digest is not None and record.get("hash") == digest:
            token = str(record["token"])  # replaced or touched, but the same content
        else:
            token = key("file", real, st.st_size, st.st_mtime_ns, digest)
        self.put(
            "file:" + real,
            {
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "ino": st.st_ino,
                "ctime_ns": st.st_ctime_ns,
                "racy": racy,
                "hash": digest,
                "token": token,
            },
        )
        return token

    # --- the store

    def size(self) -> tuple[int, int]:
        """(entries, bytes) in the store."""
        return self._guarded(self._store.size, (0, 0))

    def clear(self) -> int:
        return self._guarded(self._store.clear, 0)

    def close(self) -> None:
        self.release_all()
        self._guarded(self._store.close, None)

    def take_notes(self) -> list[str]:
        notes, self.notes = self.notes, []
        return notes

    def _guarded(self, op: Callable[[], T], default: T) -> T:
        """Run a store operation. A busy store skips it; any other failure of the lasting store rebuilds it
        once, and a second one leaves it for the rest of the run (an in-process store instead). Never raises
        for the store's sake."""
        try:
            return op()
        except Exception as exc:  # sqlite3, OS and diskcache errors alike: never the user's problem
            if not isinstance(self._store, _DiskStore):
                return default
            if _busy(exc):  # other processes hold it too long: skip this one operation, keep the store
                return default
            if self._rebuilt:
                self._leave(f"measurement cache {self.path} failed again ({_describe(exc)}): measured without it")
            else:
                self._rebuild(exc)
        try:
            return op()
        except Exception:
            return default

    def _rebuild(self, exc: Exception) -> None:
        """Throw the store away and start an empty one (or, failing that, go on without it)."""
        self._rebuilt = True
        what = _describe(exc)
        self._leave("")
        assert self.path is not None
        import shutil

        try:
            if os.path.isdir(self.path) and not os.path.islink(self.path):
                shutil.rmtree(self.path, ignore_errors=True)
            elif os.path.lexists(self.path):
                os.remove(self.path)  # a file where the store's folder belongs
            self._store = _DiskStore(self.path)
        except Exception as again:
            self._leave(
                f"measurement cache {self.path} unusable ({what}; rebuilding failed: {_describe(again)}): "
                "measured without it"
            )
            return
        self.notes.append(f"measurement cache {self.path} was unreadable ({what}): rebuilt")

    def _leave(self, note: str) -> None:
        """Close the lasting store and use an in-process one."""
        old, self._store = self._store, _MemoryStore()
        with contextlib.suppress(Exception):
            old.close()
        if note:
            self.notes.append(note)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1]}" if text else type(exc).__name__


def _host() -> str:
    import socket

    return socket.gethostname()


def _busy(exc: Exception) -> bool:
    """A store that is only busy (locked by other processes for longer than the timeout), not damaged."""
    text = str(exc).lower()
    return type(exc).__name__ == "Timeout" or "locked" in text or "busy" in text


def _alive(holder: dict[str, Any]) -> bool:
    """Whether a claim's owner may still be working: another host's always counts as alive (until the claim
    lapses); on this host, the process must exist."""
    if holder.get("host") != _host():
        return True
    pid = holder.get("pid")
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
