"""Reading a file the user named: only a regular file, and never more than a cap.

A FIFO would block `open` forever, /dev/zero (or a symlink to it) would never end, and a directory is not a
file: each is refused from its open descriptor (O_NONBLOCK, then fstat), so swapping the file in between
changes nothing.
"""

from __future__ import annotations

import errno
import os
import stat

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"))


def kind(mode: int) -> str:
    """What a non-regular file is, for messages."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def read_regular(path: str, cap: int) -> bytes:
    """The bytes of the regular file `path`; OSError (with a strerror for messages) for anything else, or for a
    file of more than `cap` bytes."""
    with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), "rb") as f:
        mode = os.fstat(f.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"not a regular file: {kind(mode)}")
        data = f.read(cap + 1)
    if len(data) > cap:
        raise OSError(errno.EFBIG, f"larger than {cap} bytes")
    return data
