"""The stores under the measurement cache, one interface (get, set, add, delete, size, clear, close) over
bytes values: a process's own bounded in-memory store, and a `diskcache.Cache` on disk that refuses to unpickle
anything. diskcache is imported only when a store on disk is opened.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import diskcache

SIZE_LIMIT_BYTES = 1 << 30  # diskcache evicts the least recently stored entries beyond this
_MEMORY_BYTES = 64 << 20  # what the in-process store (no lasting cache) keeps at most


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
