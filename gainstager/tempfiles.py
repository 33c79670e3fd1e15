"""Temporary files of atomic writes, named so that a later run can tell whose they are and remove them once
their writer is dead.

An atomic write puts the new bytes in a temporary file beside the target, then renames it over the target.
A writer killed in between (kill -9, power loss, a batch worker stopped at Ctrl-C) leaves the temporary file
behind. The name of each one says who wrote it:

    .gainstager-tmp.<host>.<boot>.<pid>.<start>.<random>.tmp

host and boot (the kernel's boot id) say where the writer ran, pid and start (the process's start time in
clock ticks since boot) which process it was: a pid can be reused, the pair (pid, start time) on one boot
cannot. `remove_stale(folder)` removes, in one folder, only files that match this pattern exactly and whose
writer is provably gone: same host, and another boot, or no process with that pid, or one with another start
time. A file written from another host (a NAS folder shared by a cluster) is only removed when it is older
than a day, which no atomic write lasts; the same age rule covers the names of earlier versions
(``.gainstager-XXXXXXXX.tmp`` from mkstemp), which do not name their writer. A live writer's file, ours or
another run's on this machine, is never removed, and neither is anything that is not exactly our pattern.

Where the file system offers it (Linux O_TMPFILE), output.write_atomic writes an unnamed file and gives it one
of these names only in the instant before the rename (`fresh_name`), so a kill during the write itself leaves
nothing; an atomic replace still needs that named link, so a kill between link and rename leaves a (complete)
file, which `remove_stale` removes. Elsewhere (macOS, NFS, SMB, exFAT drives) the file is named from the start
(`create`), and a kill at any moment of the write leaves one, also removed by the next run.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import stat
import time
from collections.abc import Callable

STALE_AGE_S = 24 * 3600  # no atomic write lasts a day: the limit for files whose writer cannot be checked
_PREFIX = ".gainstager-tmp"
_OURS = re.compile(
    r"\.gainstager-tmp\.(?P<host>[A-Za-z0-9-]{1,40})\.(?P<boot>[0-9a-f]{1,32})\.(?P<pid>[0-9]{1,10})"
    r"\.(?P<start>[0-9]{1,20})\.[0-9a-f]{8}\.tmp"
)
_LEGACY = re.compile(r"\.gainstager-[a-z0-9_]{8}\.tmp")  # tempfile.mkstemp(prefix=".gainstager-", suffix=".tmp")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def _boot_id() -> str:
    """The kernel's boot id (Linux), or "0" where there is none: then pid and start time are all we know."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip().replace("-", "")[:32] or "0"
    except OSError:
        return "0"


def _start_ticks(pid: int) -> int | None:
    """A process's start time in clock ticks since boot (Linux /proc), 0 where unknown, None if no such pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()  # the name, in parentheses, may hold spaces
        return int(fields[19])  # field 22 of proc(5); fields[0] is field 3 (state)
    except FileNotFoundError:
        return None
    except (OSError, IndexError, ValueError):
        pass
    try:  # no /proc (macOS): is the pid alive at all?
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        pass
    return 0


def _me() -> str:
    pid = os.getpid()
    return f"{_PREFIX}.{_host()}.{_boot_id()}.{pid}.{_start_ticks(pid) or 0}"


def fresh_name() -> str:
    """A new name (no folder) for a temporary file of this process."""
    return f"{_me()}.{secrets.token_hex(4)}.tmp"


def create(folder: str) -> tuple[int, str]:
    """Create a new temporary file in `folder` (mode 0600, read-write, like mkstemp); return (fd, path)."""
    while True:
        path = os.path.join(folder, fresh_name())
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600), path
        except FileExistsError:
            continue


def _stale(name: str, mtime_s: float, now_s: float) -> bool:
    old = now_s - mtime_s > STALE_AGE_S
    m = _OURS.fullmatch(name)
    if m is None:
        return _LEGACY.fullmatch(name) is not None and old
    if m["host"] != _host():
        return old
    boot = _boot_id()
    if boot != "0" and m["boot"] != boot:
        return True  # written before this machine last booted: its writer is gone
    ticks, recorded = _start_ticks(int(m["pid"])), int(m["start"])
    if ticks is None:
        return True  # no such process
    if ticks and recorded:
        return ticks != recorded  # another start time: that pid is now another process
    return old  # alive, start time unknown (no /proc): only the age can tell


def remove_stale(folder: str, *, now_s: Callable[[], float] = time.time) -> tuple[str, ...]:
    """Remove our temporary files in `folder` whose writer is gone; return their paths. Never raises for a
    folder that cannot be listed or a file that cannot be removed (they stay, and the write goes on)."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return ()
    now = now_s()
    for entry in entries:
        if not entry.name.startswith(".gainstager-"):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and _stale(entry.name, st.st_mtime, now):
                os.unlink(entry.path)
                removed.append(entry.path)
        except OSError:  # gone already (another run cleaned it), or not ours to remove
            continue
    return tuple(sorted(removed))


_CLEANED: set[str] = set()  # folders cleaned by this process: a batch writing many sessions lists each once


def remove_stale_once(folder: str) -> tuple[str, ...]:
    """`remove_stale` the first time this process writes into `folder`, nothing afterwards."""
    key = os.path.realpath(folder)
    if key in _CLEANED:
        return ()
    _CLEANED.add(key)
    return remove_stale(folder)
