"""How the command line reports and exits: results to stdout (a table, or JSON), errors as one line on stderr,
a progress line on stderr only when it is a terminal, report files (--html, --junit) written atomically, and the
exit codes. With `cli` and `cli_batch`, the only modules that print or exit; nothing below the command line
imports them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from .errors import GainstagerError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_SKIPPED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

T = TypeVar("T")


def _err(message: str) -> None:
    """One line, always: a newline that reached a message (a file name holds one) is shown escaped."""
    one_line = message.replace("\r", "\\r").replace("\n", "\\n")
    print(f"error: {one_line}", file=sys.stderr)


def _run(fn: Callable[[], T], path: str = "") -> T:
    """Turn errors into one line on stderr (naming `path` where the error itself cannot) and an exit code;
    Ctrl-C exits 130."""
    try:
        return fn()
    except GainstagerError as exc:
        _err(str(exc))
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except MemoryError:
        _err(f"{path}: out of memory" if path else "out of memory")
        raise typer.Exit(EXIT_ERROR) from None


class _Progress:
    """A one-line progress display on stderr, only when stderr is a terminal."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._last = 0.0

    def __call__(self, label: str, fraction: float) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < 0.1:
            return
        self._last = now
        print(f"\r\x1b[K{label[:60]} {fraction * 100:5.1f}%", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.enabled:
            print("\r\x1b[K", end="", file=sys.stderr, flush=True)


def _emit(doc: Any, as_json: bool, text: str) -> None:
    print(json.dumps(doc, indent=2, ensure_ascii=False) if as_json else text)


def _write_report(path: str | None, content: Callable[[], str | bytes]) -> None:
    """Write a report file (--html, --junit) atomically when asked for one; a WriteError names the file. A new
    file gets the permissions any new file gets (not the temporary file's owner-only ones)."""
    if path is None:
        return
    from .output import write_atomic

    data = content()
    umask = os.umask(0)
    os.umask(umask)
    mode = None if os.path.exists(path) else 0o666 & ~umask
    write_atomic(path, data.encode("utf-8") if isinstance(data, str) else data, mode=mode)
