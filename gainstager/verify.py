"""Verification, pure: what the session must read after the edits, and how a re-read differs from it.

`expected_session` applies edits to the model (session + edits -> expected session); `differences` compares a
re-parsed session with it, edited values as the format writes them (its `quantize`), exactly; `verify` does
both for the bytes about to be written. No I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from .errors import GainstagerError, WriteError
from .model import Clip, Edit, EditField, Session, Track
from .parsers import SessionFormat


def verify(fmt: SessionFormat[Any], session: Session, edits: Sequence[Edit], out: bytes) -> None:
    """Re-parse `out` (the bytes written for `session`) and check that it is `session` with exactly `edits`
    applied; `WriteError` naming the first difference otherwise."""
    try:
        again, _ = fmt.parse(out, session.path)
    except GainstagerError as exc:
        raise WriteError(f"{session.path}: the written session does not parse again ({exc}); nothing written") from exc
    problems = differences(expected_session(session, edits), again, fmt.quantize)
    if problems:
        raise WriteError(f"{session.path}: verification failed, {problems[0]}; nothing written")


def expected_session(session: Session, edits: Sequence[Edit]) -> Session:
    """`session` with `edits` applied to the model, as planned (before the format clamps and rounds)."""
    clips = {c.clip_id: c for c in session.clips}
    tracks = {t.track_id: t for t in (*session.tracks, session.master)}
    for e in edits:
        if e.field == EditField.CLIP_GAIN:
            clips[e.target_id] = dataclasses.replace(clips[e.target_id], gain_db=e.gain_db)
        elif e.field == EditField.FADER:
            tracks[e.target_id] = dataclasses.replace(tracks[e.target_id], fader_db=e.gain_db)
        else:
            t = tracks[e.target_id]
            tracks[e.target_id] = dataclasses.replace(t, envelope_max_db=t.envelope_max_db + e.gain_db)
    return dataclasses.replace(
        session,
        clips=tuple(clips[c.clip_id] for c in session.clips),
        tracks=tuple(tracks[t.track_id] for t in session.tracks),
        master=tracks[session.master.track_id],
    )


# The model fields an edit writes, and the field of the edit that writes each.
_EDITED = {"gain_db": EditField.CLIP_GAIN, "fader_db": EditField.FADER, "envelope_max_db": EditField.FADER_ENVELOPE}


def differences(expected: Session, actual: Session, quantize: Callable[[EditField, float], float]) -> list[str]:
    """How `actual` differs from `expected`: edited values are compared as the format writes them
    (`quantize`, exactly), every other field for equality."""
    problems: list[str] = []
    if (len(expected.clips), len(expected.tracks)) != (len(actual.clips), len(actual.tracks)):
        return ["the number of clips or tracks changed"]
    pairs: list[tuple[Clip | Track, Clip | Track]] = [
        *zip(expected.clips, actual.clips, strict=True),
        *zip(expected.tracks, actual.tracks, strict=True),
        (expected.master, actual.master),
    ]
    for want, got in pairs:
        for f in dataclasses.fields(want):
            a, b = getattr(want, f.name), getattr(got, f.name)
            edited = _EDITED.get(f.name)
            if edited is not None:
                if quantize(edited, a) != quantize(edited, b):
                    problems.append(f"{f.name} of {_ident(want)} is {b:.3f} dB, planned {a:.3f} dB")
            elif a != b:
                problems.append(f"{f.name} of {_ident(want)} changed ({a!r} -> {b!r})")
    return problems


def _ident(obj: Clip | Track) -> str:
    return obj.clip_id if isinstance(obj, Clip) else obj.track_id
