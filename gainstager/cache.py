"""The lasting measurement cache: what was measured once is not measured again, across runs and processes.

Where: in the user's cache directory (`platformdirs`), or the one `--cache-dir` or the environment variable
GAINSTAGER_CACHE_DIR names. The store is a `diskcache.Cache` (SQLite in WAL mode: several processes may read and
write at once, with nothing hand-written for locking) in a folder of its own, `STORE`, inside that directory, so
clearing or rebuilding it never touches anything else there.

What: values are plain data (numbers, strings, lists, dicts and numpy arrays) that this module encodes itself
(a magic header and a format version, then zlib-compressed JSON and raw array bytes), never pickles: a cache
file is only ever read as data, so a foreign or corrupt one cannot run code. An entry that does not decode is
deleted and measured again. A store that cannot be opened or read is rebuilt once; if that fails too, the run
goes on without it (a store only busy with other processes is never rebuilt: the run skips it instead). None of
this is ever an error for the user: `notes` says what happened, for the report.

Which file: `file_identity` names a file's content by its real path, size and mtime_ns. When those match what
was seen before but the inode or ctime changed (the file was replaced, times preserved), or when the file was
modified so recently that a rewrite could keep its mtime (timestamps are coarse: up to 2 s on some file
systems), a blake2b hash of the content decides.

Claims: when two processes (a batch's workers) want the same region at once, the first `claim`s it (an atomic
`add` of a claim entry that lapses after `CLAIM_S`), measures it, `put`s it and releases the claim; the other
does not measure it but `wait`s for the value. A claim whose owner has died (same host, process gone) is taken
over; a claim released without a value (its owner could not measure it) leaves the region to the waiter.

Only the standard library is imported here, and what only a cache in use needs (diskcache, platformdirs, and
hashlib, zlib, shutil, socket) where it is used, so that `gainstager --help` and `measure` do not pay for it.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import diskcache
    import numpy as np

ENV_DIR = "GAINSTAGER_CACHE_DIR"
STORE = "measurements-v1"  # the store's own folder inside the cache directory
FORMAT = 1  # the encoding of values (bump when it changes: older entries then read as misses)
MAGIC = b"gainstager-cache\x00"
SIZE_LIMIT_BYTES = 1 << 30  # diskcache evicts the least recently stored entries beyond this
CLAIM_S = 3600.0  # a claim lapses after this: its owner is presumed gone
RACY_NS = 3_000_000_000  # a file modified this recently may be rewritten without its mtime changing
_MEMORY_BYTES = 64 << 20  # what the in-process store (no lasting cache) keeps at most
_POLL_S = 0.02
_HASH_CHUNK = 1 << 20
_ARRAY_DTYPES = frozenset({"<f2", "<f4", "<f8", "<i4", "<i8"})

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


# ---------------------------------------------------------------- encoding


def encode(value: dict[str, Any]) -> bytes:
    """Plain data (dicts with str keys, lists, str, numbers incl. inf, bool, None, numpy arrays) -> bytes."""
    import numpy as np

    arrays: list[np.ndarray] = []

    def array(obj: object) -> dict[str, Any]:
        if not isinstance(obj, np.ndarray) or obj.dtype.str not in _ARRAY_DTYPES:
            raise TypeError(f"cannot store {type(obj).__name__}")
        arrays.append(np.ascontiguousarray(obj))
        return {"$array": len(arrays) - 1, "dtype": obj.dtype.str, "shape": list(obj.shape)}

    import zlib

    text = json.dumps(value, default=array, separators=(",", ":")).encode()
    body = b"".join([len(text).to_bytes(8, "little"), text, *(a.tobytes() for a in arrays)])
    return MAGIC + bytes([FORMAT]) + zlib.compress(body, 1)


def decode(data: bytes) -> dict[str, Any]:
    """The inverse of `encode`; ValueError for anything else (a foreign, older or damaged value)."""
    import zlib

    import numpy as np

    header = MAGIC + bytes([FORMAT])
    if not isinstance(data, bytes) or not data.startswith(header):
        raise ValueError("not a gainstager cache value of this format")
    try:
        body = zlib.decompress(data[len(header) :])
    except zlib.error as exc:
        raise ValueError(f"damaged value ({exc})") from exc
    size = int.from_bytes(body[:8], "little")
    if len(body) < 8 or 8 + size > len(body):
        raise ValueError("damaged value (short)")
    text, blob = body[8 : 8 + size], memoryview(body)[8 + size :]
    at = 0

    def array(obj: dict[str, Any]) -> Any:
        nonlocal at
        if "$array" not in obj:
            return obj
        dtype, shape = obj["dtype"], tuple(int(n) for n in obj["shape"])
        if dtype not in _ARRAY_DTYPES or any(n < 0 for n in shape):
            raise ValueError(f"damaged array ({dtype} {shape})")
        count = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        if at + count > len(blob):
            raise ValueError("damaged array (short)")
        out = np.frombuffer(blob[at : at + count], dtype=dtype).reshape(shape)
        at += count
        return out

    value = json.loads(text, object_hook=array)
    if not isinstance(value, dict):
        raise ValueError("damaged value (not a mapping)")
    return value


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


# ---------------------------------------------------------------- stores


class _MemoryStore:
    """A process's own store: no lasting cache, or the fallback when the lasting one cannot be used."""

    def __init__(self) -> None:
        self._data: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0

    def get(self, k: str) -> bytes | None:
        return self._data.get(k)

    def set(self, k: str, value: bytes) -> None:
        self.delete(k)
        self._data[k] = value
        self._bytes += len(value)
        while self._bytes > _MEMORY_BYTES and self._data:
            _, old = self._data.popitem(last=False)
            self._bytes -= len(old)

    def add(self, k: str, value: bytes, expire: float) -> bool:
        if k in self._data:
            return False
        self.set(k, value)
        return True

    def delete(self, k: str) -> None:
        old = self._data.pop(k, None)
        if old is not None:
            self._bytes -= len(old)

    def size(self) -> tuple[int, int]:
        return len(self._data), self._bytes

    def clear(self) -> int:
        n = len(self._data)
        self._data.clear()
        self._bytes = 0
        return n

    def close(self) -> None:
        pass


def _data_disk() -> type[diskcache.Disk]:
    import diskcache

    class DataDisk(diskcache.Disk):
        """diskcache's Disk, refusing to unpickle: values here are bytes, and anything else in the file is
        foreign (it raises, and the entry is dropped)."""

        def fetch(self, mode: int, filename: str | None, value: Any, read: bool) -> Any:
            if mode not in (diskcache.core.MODE_RAW, diskcache.core.MODE_BINARY):
                raise ValueError(f"foreign cache entry (mode {mode})")
            return super().fetch(mode, filename, value, read)  # type: ignore[arg-type]

        def get(self, k: Any, raw: bool) -> Any:
            if not raw:
                raise ValueError("foreign cache key")
            return super().get(k, raw)

    return DataDisk


class _DiskStore:
    def __init__(self, path: str) -> None:
        import diskcache

        os.makedirs(path, exist_ok=True)
        self._cache = diskcache.Cache(
            path,
            disk=_data_disk(),
            size_limit=SIZE_LIMIT_BYTES,
            eviction_policy="least-recently-stored",
            statistics=0,
            tag_index=0,
            timeout=60,
        )
        self._cache.get("")  # a damaged or foreign database fails here, not later

    def get(self, k: str) -> bytes | None:
        try:
            value = self._cache.get(k)
        except ValueError:  # a foreign entry (see DataDisk): dropped
            value = None
        return value if isinstance(value, bytes) else None

    def set(self, k: str, value: bytes) -> None:
        self._cache.set(k, value)

    def add(self, k: str, value: bytes, expire: float) -> bool:
        return bool(self._cache.add(k, value, expire=expire))

    def delete(self, k: str) -> None:
        self._cache.delete(k)

    def size(self) -> tuple[int, int]:
        return len(self._cache), int(self._cache.volume())

    def clear(self) -> int:
        return int(self._cache.clear())

    def close(self) -> None:
        self._cache.close()


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
