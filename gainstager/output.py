"""Output: the new session's bytes, verified, written atomically beside (or over) the original.

`render_output` has the format splice the edits and checks the result by re-parsing it (`verify`); `write`
picks the target (default NAME.gainstaged.EXT beside the input), keeps a backup when replacing the input, and
writes through `write_atomic` (a temporary file beside the target, read back and checked, then renamed).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import tempfiles
from .errors import WriteError
from .pipeline import Analysis
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
    """Write `data` to a temporary file beside `path`, re-read it, check it, then rename it into place and
    fsync the folder (so the rename survives a crash). The file gets permission bits `mode` (default: those
    of the file it replaces, if any). The temporary file's name says which process wrote it (`tempfiles`), so
    the first write of a later run into the folder removes those a killed writer left behind."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        tempfiles.remove_stale_once(folder)  # what a killed earlier run left in this folder
        fd, tmp = tempfiles.create(folder)
    except OSError as exc:
        raise WriteError(f"{path}: cannot write ({exc.strerror or exc}); nothing written") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        with open(tmp, "rb") as f:
            back = f.read()
        if back != data:
            raise WriteError(f"{path}: the temporary file read back differently; nothing written")
        if check is not None:
            check(back)
        if mode is None and os.path.exists(path):
            mode = os.stat(path).st_mode
        if mode is not None:
            os.chmod(tmp, mode & 0o7777)
        os.replace(tmp, path)
        _fsync_folder(folder)
    except OSError as exc:
        raise WriteError(f"{path}: cannot write ({exc.strerror or exc}); nothing written") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


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
    backup = None
    mode = _mode_of(loaded.path)  # the output and the backup keep the input's permission bits
    if in_place and changed:
        backup = _backup_name(loaded.path)
        write_atomic(backup, loaded.data, mode=mode)

    def check(back: bytes) -> None:
        verify(loaded.fmt, loaded.session, analysis.edits, back)

    write_atomic(target, data, check=check, mode=mode)
    return WriteResult(target, backup, changed)


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
