"""The encoding of the measurement cache's values: plain data (dicts with str keys, lists, str, numbers incl.
inf, bool, None, numpy arrays) as a magic header and a format version, then zlib-compressed JSON and the raw
array bytes. Never pickles: a value is only ever read as data, so a foreign or corrupt one cannot run code, and
anything that is not a value of this format fails to decode (ValueError). numpy and zlib are imported where
they are used, so that `gainstager --help` and `measure` do not pay for them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

FORMAT = 1  # the encoding of values (bump when it changes: older entries then read as misses)
MAGIC = b"gainstager-cache\x00"
_ARRAY_DTYPES = frozenset({"<f2", "<f4", "<f8", "<i4", "<i8"})


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
