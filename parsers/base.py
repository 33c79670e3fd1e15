"""What every session format shares: the interface it must satisfy, its written contract, and the helpers that
would otherwise be written once per format (the byte splice, Windows path rules).

A format is a module. ``parsers/__init__.py`` assigns each registered module to a `SessionFormat` variable,
so mypy checks every module against the interface below; ``tests/parsers/test_conformance.py`` checks the
contract on every registered format, over synthetic sessions and the real corpus. A new DAW is one module that
passes both.
"""

from __future__ import annotations

import math
import ntpath
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

from gainstager.errors import WriteError
from gainstager.model import Edit, EditField, Fingerprint, Session

D = TypeVar("D")  # the format's own document type: opaque to everyone else


class SessionFormat(Protocol[D]):
    """One DAW's session format, as a module.

    Contract:

    * ``NAME`` is the short name the session model carries (`Session.format`); ``SUFFIXES`` the lower-case file
      suffixes, with the dot.
    * ``sniff(data, path)`` is cheap (magic bytes, first line) and never raises.
    * ``parse(data, path)`` returns the session and the document `apply` needs. Anything that is not a readable
      session (junk, truncation, hostile input) raises `FormatError` with one line naming the path:
      ``<path>[:line]: <what> (<value>); expected <range>``.
    * ``apply(document, edits)`` splices new numbers into the original bytes and returns the new file. Every
      byte outside the edited numbers stays identical; with no edits the result is the input, byte for byte; a
      value that formats like the text already there leaves that text alone.
    * Edits: CLIP_GAIN and FADER carry absolute dB values (-inf is silence); FADER_ENVELOPE carries a relative
      dB change for every point of the volume envelope of a LINEAR_ENVELOPE track. At most one edit per
      (target, field).
    * ``apply`` raises `WriteError` (one line, path named) for an unknown target, a field the target does not
      have, two edits of one (target, field), NaN, +inf, or -inf for a relative change; never anything else.
    * Who clamps: the format. A value outside what the file can hold is clamped into that range by `apply`.
      ``quantize(field, value_db)`` returns exactly what a re-parse reads after `apply` wrote `value_db` to
      `field` (for FADER_ENVELOPE: the envelope's highest point): clamped, then rounded to the written
      precision. Verification compares quantized values, so it is exact and the same for every format. The
      model's ``gain_min_db``/``gain_max_db``/``fader_min_db``/``fader_max_db`` are what the planner may plan;
      they lie inside the format's range.
    * ``confirms(fingerprint, head)``: whether a file whose first ``fingerprint.head_bytes`` bytes are `head` is
      the media a `MediaRef.fingerprint` made by this format's `parse` describes.
    * Parsers never open files: they get bytes, and the session's path only to compute media candidates.
    """

    @property
    def NAME(self) -> str: ...

    @property
    def SUFFIXES(self) -> tuple[str, ...]: ...

    def sniff(self, data: bytes, path: str) -> bool: ...

    def parse(self, data: bytes, path: str) -> tuple[Session, D]: ...

    def apply(self, document: D, edits: Sequence[Edit]) -> bytes: ...

    def quantize(self, field: EditField, value_db: float) -> float: ...

    def confirms(self, fingerprint: Fingerprint, head: bytes) -> bool: ...


def check_edits(path: str, edits: Sequence[Edit]) -> dict[tuple[str, EditField], float]:
    """`edits` keyed by (target, field), after the checks of the contract that do not depend on the format:
    one edit per (target, field), no NaN, no +inf, no -inf for a relative change. `WriteError` otherwise."""
    checked: dict[tuple[str, EditField], float] = {}
    for edit in edits:
        key = (edit.target_id, EditField(edit.field))
        if key in checked:
            raise WriteError(f"{path}: two edits of {edit.field} on {edit.target_id}; expected one")
        relative = key[1] is EditField.FADER_ENVELOPE
        if math.isnan(edit.gain_db) or edit.gain_db == math.inf or (relative and edit.gain_db == -math.inf):
            allowed = "a finite dB change" if relative else "-inf or a finite dB value"
            raise WriteError(f"{path}: {edit.field} of {edit.target_id} ({edit.gain_db} dB); expected {allowed}")
        checked[key] = edit.gain_db
    return checked


def splice(data: bytes, replacements: Iterable[tuple[int, int, bytes]]) -> bytes:
    """`data` with each ``data[start:end]`` replaced by its new bytes; every other byte kept. Spans must not
    overlap; with no replacement the result is `data` itself."""
    out: list[bytes] = []
    cursor = 0
    for start, end, text in sorted(replacements):
        if start < cursor:
            raise ValueError(f"splice: span {start}..{end} overlaps the previous one (ends at {cursor})")
        out.append(data[cursor:start])
        out.append(text)
        cursor = end
    if not out:
        return data
    out.append(data[cursor:])
    return b"".join(out)


def windows_absolute(path: str) -> bool:
    """A Windows absolute path, with a drive (``C:\\x``, ``C:/x``) or UNC (``\\\\server\\share\\x``): absolute
    where it was written, but not a path on this machine."""
    drive, rest = ntpath.splitdrive(path)
    return (bool(drive) and rest[:1] in ("\\", "/")) or path.startswith("\\\\")


def absolute(path: str) -> bool:
    """Absolute as written by the DAW, on either kind of system (POSIX ``/x`` or a Windows drive or UNC path)."""
    return path.startswith("/") or windows_absolute(path)
