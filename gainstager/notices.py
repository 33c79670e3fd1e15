"""Python warnings become report notes: none reaches the user's terminal as a Python warning.

A warning raised while gainstager works (numpy meeting odd numbers, a library deprecating something) says
something about the work, not about the code: it goes into the report of that work as a one-line note, next
to the other notes, in the text table and in the JSON. `recorded` catches the warnings of a piece of work;
`noting_warnings` wraps a function whose result has `notes` (`pipeline.analyze`) so that its warnings join them.
Under both, `as_note_lines` is the last net of a process (the command line, a batch worker): a warning no
`recorded` catches is written as one note line, never as Python's warning with its source line.

The warnings machinery is process-wide, not per thread: while `recorded` is active, a warning from any thread
(a decode thread, a worker pool) is recorded too. Nested uses are fine; parallel ones in threads are not (the
command line and batch workers analyse one session at a time per process).
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, Protocol, TextIO, TypeVar, cast

MAX_NOTES = 10  # distinct warnings kept for one piece of work; a last note counts the rest
_MAX_CHARS = 200  # of one warning's message


def note_of(category: type[Warning], message: Warning | str) -> str:
    """One line: the category and the first line of the message, cut at _MAX_CHARS."""
    text = str(message).strip().splitlines()[0] if str(message).strip() else ""
    if len(text) > _MAX_CHARS:
        text = text[: _MAX_CHARS - 1] + "…"
    return f"Python warning ({category.__name__}): {text}"


@contextmanager
def recorded() -> Iterator[list[str]]:
    """Record every Python warning raised inside (each one, whatever the filters outside say) instead of showing
    it; on leaving, the yielded list holds one note per distinct warning (how often it came, if more than once),
    at most MAX_NOTES and a count of the rest."""
    notes: list[str] = []
    counts: dict[str, int] = {}

    def record(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
        text = note_of(category, message)
        counts[text] = counts.get(text, 0) + 1

    with warnings.catch_warnings():
        warnings.simplefilter("always")  # "default" would show a repeated warning once per process, not per work
        warnings.showwarning = record
        try:
            yield notes
        finally:
            shown = list(counts.items())
            notes.extend(text if n == 1 else f"{text} ({n} times)" for text, n in shown[:MAX_NOTES])
            if len(shown) > MAX_NOTES:
                notes.append(f"Python warnings: {len(shown) - MAX_NOTES} more of other kinds")


def as_note_lines(stream: TextIO) -> None:
    """From now on, in this process, a Python warning that no `recorded` catches is written to `stream` as one
    line, ``note: Python warning (Category): message`` (where the filters let it through, as before)."""

    def show(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
        stream.write(f"note: {note_of(category, message)}\n")

    warnings.showwarning = show


class _Noted(Protocol):
    @property
    def notes(self) -> tuple[str, ...]: ...


P = ParamSpec("P")
R = TypeVar("R", bound=_Noted)


def noting_warnings(fn: Callable[P, R]) -> Callable[P, R]:
    """`fn`, with the Python warnings raised while it runs added to the `notes` of its (dataclass) result."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with recorded() as notes:
            result = fn(*args, **kwargs)
        if not notes:
            return result
        return cast(R, dataclasses.replace(cast(Any, result), notes=(*result.notes, *notes)))

    return wrapper
