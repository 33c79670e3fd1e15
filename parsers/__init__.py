"""Session formats: one module per DAW, each a `SessionFormat` (see `parsers.base` for the interface and its
contract), registered in `formats`.

Parsers never open files: the pipeline hands them bytes and the session's path (for resolving media).
A new DAW is a new module added to `formats`; mypy then checks it against the interface, and
tests/parsers/test_conformance.py checks the contract on it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from gainstager.errors import FormatError

from .base import SessionFormat

__all__ = ["SessionFormat", "by_name", "detect", "formats", "suffixes"]


@cache
def formats() -> tuple[SessionFormat[Any], ...]:
    """Every registered format, in sniffing order. Imported on first use, so that importing the package (e.g.
    for `gainstager measure`) does not load lxml."""
    from . import als, rpp

    # Typed assignments: mypy checks each module against the interface, document type included.
    reaper: SessionFormat[rpp.RppDocument] = rpp
    live: SessionFormat[als.AlsDocument] = als
    return (reaper, live)


def suffixes() -> tuple[str, ...]:
    return tuple(s for f in formats() for s in f.SUFFIXES)


def by_name(name: str) -> SessionFormat[Any]:
    """The format whose NAME is `name` (a `Session.format`)."""
    for fmt in formats():
        if name == fmt.NAME:
            return fmt
    raise KeyError(name)


def detect(data: bytes, path: str) -> SessionFormat[Any]:
    """The format whose sniff accepts `data`; raise FormatError naming the file otherwise."""
    for fmt in formats():
        if fmt.sniff(data, path):
            return fmt
    if not data:
        raise FormatError(f"{path}: empty file; expected a REAPER .rpp or Ableton Live .als session")
    raise FormatError(f"{path}: not a REAPER or Ableton Live session (starts with {data[:16]!r})")
