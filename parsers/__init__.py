"""Session formats. One module per DAW, each behind the same small interface (`SessionFormat`):

- ``sniff(data, path) -> bool``: does this look like my format? (cheap, by magic bytes / first line)
- ``parse(data, path) -> (Session, document)``: raise `FormatError` for junk, truncation or hostile input.
  The document is opaque to everyone else; it records where each editable number sits in the bytes.
- ``apply(document, edits) -> bytes``: splice the new values into the original bytes. Every other byte
  stays identical. With no edits the result is the input, byte for byte.

Parsers never open files: the pipeline hands them bytes and the session's path (for resolving media).
A new DAW is a new module added to `FORMATS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from gainstager.errors import FormatError
from gainstager.model import Edit, Session


class SessionFormat(Protocol):
    NAME: str  # "rpp", "als"
    SUFFIXES: tuple[str, ...]  # lower-case file suffixes, with the dot

    def sniff(self, data: bytes, path: str) -> bool: ...

    def parse(self, data: bytes, path: str) -> tuple[Session, Any]: ...

    def apply(self, document: Any, edits: Sequence[Edit]) -> bytes: ...


def formats() -> tuple[SessionFormat, ...]:
    from . import als, rpp

    return (rpp, als)  # type: ignore[return-value]  # modules satisfy the protocol structurally


def suffixes() -> tuple[str, ...]:
    return tuple(s for f in formats() for s in f.SUFFIXES)


def detect(data: bytes, path: str) -> SessionFormat:
    """The format whose sniff accepts `data`; raise FormatError naming the file otherwise."""
    for fmt in formats():
        if fmt.sniff(data, path):
            return fmt
    if not data:
        raise FormatError(f"{path}: empty file; expected a REAPER .rpp or Ableton Live .als session")
    raise FormatError(f"{path}: not a REAPER or Ableton Live session (starts with {data[:16]!r})")
