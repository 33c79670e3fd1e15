"""Output: the new session's bytes, verified, written atomically beside (or over) the original.

`render_output` has the format splice the edits and checks the result by re-parsing it (`verify`); `write`
picks the target (default NAME.gainstaged.EXT beside the input), keeps a backup when replacing the input, and
writes through `write_atomic` (a temporary file beside the target, read back and checked, then renamed).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import tempfiles
from .errors import WriteError
from .pipeline import Analysis, Loaded
from .verify import verify


def default_output(path: str) -> str:
    p = Path(path)
    return str(p.with_name(f"{p.stem}.gainstaged{p.suffix}"))


def render_output(analysis: Analysis) -> bytes:
    """The new session's bytes, verified: re-parsed, only the planned values changed."""
    loaded = analysis.loaded
    out = loaded.fmt.apply(loaded.document, analysis.edits)
    if not analysis.edits and out != loaded.data:
        raise WriteError(f"{loaded.path}: writer changed bytes although no edit was planned; nothing written")
    verify(loaded.fmt, loaded.session, analysis.edits, out)
    return out


def write_atomic(
    path: str, data: bytes, *, check: Callable[[bytes], None] | None = None, mode: int | None = None
) -> None:
    """Write `data` to a temporary file beside `path` (mode 0600), read it back, check it, then rename it into
    place and fsync the folder (so the rename survives a crash). The file gets permission bits `mode` (default:
    those of the file it replaces, if any).

    The temporary file has no name until the instant before the rename where the file system allows it (Linux
    O_TMPFILE, then a link under a `tempfiles` name): a crash or `kill -9` leaves the old file or the new one,
    and a complete temporary file only if it lands between link and rename. Elsewhere it is named from the
    start. Either way the next write into the folder removes what a dead writer left (`tempfiles`)."""
    folder = os.path.dirname(os.path.abspath(path))
    tempfiles.remove_stale_once(folder)
    tmp: str | None = None
    try:
        fd, tmp = _temporary_file(folder)
        with os.fdopen(fd, "w+b") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            f.seek(0)
            back = f.read()
            if back != data:
                raise WriteError(f"{path}: the temporary file read back differently; nothing written")
            if check is not None:
                check(back)
            if mode is None and os.path.exists(path):
                mode = os.stat(path).st_mode
            if mode is not None:
                os.fchmod(f.fileno(), mode & 0o7777)
            if tmp is None:
                tmp = _link_into(folder, f.fileno())
            os.replace(tmp, path)
            tmp = None
        _fsync_folder(folder)
    except OSError as exc:
        raise WriteError(f"{path}: cannot write ({exc.strerror or exc}); nothing written") from exc
    finally:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)


def _temporary_file(folder: str) -> tuple[int, str | None]:
    """(descriptor, None) of an unnamed file in `folder`, or (descriptor, path) of a named one where unsupported."""
    if hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd"):
        try:
            return os.open(folder, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600), None
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise
    return tempfiles.create(folder)


def _link_into(folder: str, fd: int) -> str:
    """Give the unnamed file `fd` a temporary name in `folder`: linkat(AT_SYMLINK_FOLLOW) through /proc, as
    open(2) documents (a directory descriptor makes os.link call linkat rather than link, which would not follow)."""
    dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        while True:
            name = tempfiles.fresh_name()
            try:
                os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=dir_fd, follow_symlinks=True)
                return os.path.join(folder, name)
            except FileExistsError:
                continue
    finally:
        os.close(dir_fd)


def _fsync_folder(folder: str) -> None:
    """Flush a folder's entries (a rename) to disk; a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class WriteResult:
    output: str | None  # None for a dry run or an unchanged session in a batch
    backup: str | None = None
    changed: bool = False


def write(
    analysis: Analysis,
    *,
    output: str | None = None,
    in_place: bool = False,
    dry_run: bool = False,
    skip_unchanged: bool = False,
) -> WriteResult:
    loaded = analysis.loaded
    data = render_output(analysis)
    changed = data != loaded.data
    if dry_run or (skip_unchanged and not changed):
        return WriteResult(None, None, changed)
    target = loaded.path if in_place else output or default_output(loaded.path)
    if os.path.abspath(target) == os.path.abspath(loaded.path) and not in_place:
        raise WriteError(f"{target}: refusing to overwrite the input; use --in-place (a backup is kept)")
    mode = _mode_of(loaded.path)  # the output and the backup keep the input's permission bits

    def check(back: bytes) -> None:
        verify(loaded.fmt, loaded.session, analysis.edits, back)

    if not in_place:
        write_atomic(target, data, check=check, mode=mode)
        return WriteResult(target, None, changed)
    with _locked_unchanged(loaded):  # another gainstager on the same session fails here; nothing is mixed
        backup = None
        if changed:
            backup = _backup_name(loaded.path)
            write_atomic(backup, loaded.data, mode=mode)
        write_atomic(target, data, check=check, mode=mode)
    return WriteResult(target, backup, changed)


@contextlib.contextmanager
def _locked_unchanged(loaded: Loaded) -> Iterator[None]:
    """Hold an exclusive lock (flock) on the session file and make sure it still holds the bytes that were
    analysed; WriteError otherwise. The lock dies with the process, so a killed run never leaves it behind."""
    path = loaded.path
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise WriteError(f"{path}: cannot reopen the session ({exc.strerror or exc}); nothing written") from exc
    with open(fd, "rb") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise WriteError(f"{path}: another process is writing this session (locked); nothing written") from exc
        try:
            st = os.fstat(f.fileno())
            same = stat.S_ISREG(st.st_mode) and st.st_ino == os.stat(path).st_ino
            same = same and f.read(len(loaded.data) + 1) == loaded.data
        except OSError:
            same = False
        if not same:
            raise WriteError(f"{path}: the session changed on disk since it was read; nothing written")
        yield


def _mode_of(path: str) -> int | None:
    try:
        return os.stat(path).st_mode
    except OSError:
        return None


def _backup_name(path: str) -> str:
    candidate, n = f"{path}.bak", 1
    while os.path.exists(candidate):
        n += 1
        candidate = f"{path}.bak{n}"
    return candidate
