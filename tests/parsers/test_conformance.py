"""The contract of `parsers.base.SessionFormat`, checked on every registered format: on a session its builder in
fixtures/scenario.py writes, on junk, and on every real session in ../shared/corpus.

A new DAW is one module registered in `parsers.formats()`, one builder in fixtures/scenario.py, and one row in
`EDITABLE` below (what an edited line of that format starts with); then this suite runs on it.
"""

from __future__ import annotations

import dataclasses
import math
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from fixtures.scenario import FORMAT_IDS, FORMATS, Clip, Scenario, Track, build
from gainstager import parsers
from gainstager.errors import FormatError, WriteError
from gainstager.model import Automation, ClipStatus, Edit, EditField, Session
from gainstager.model import Clip as ClipModel
from gainstager.model import Track as TrackModel
from tests.conftest import CORPUS, EDITABLE, assert_local, parsed

REFUSED = {"29_tears_dont_fall__project.rpp": "truncated"}  # corpus files that are broken on purpose
SAMPLE = Scenario(
    (
        Track("Bus", folder=True, fader_db=-2.0),
        Track("Kick", parent="Bus", clips=(Clip("kick.wav", 0.0, 2.0, gain_db=-3.0),), fader_db=-1.0),
        Track(
            "Pad",
            clips=(Clip("pad.wav", 1.0, 2.0), Clip("pad.wav", 4.0, 1.0, offset_s=0.5, gain_db=4.0)),
            envelope=((1.0, -6.0), (2.0, 0.0)),
            pan=0.3,
        ),
    )
)


def test_every_registered_format_is_checked() -> None:
    assert {f.NAME for f in parsers.formats()} == {name for name, _ in FORMATS} == set(EDITABLE)


@cache
def _sample(name: str, version: int, root: Path) -> bytes:
    return build(SAMPLE, name, version, root / f"{name}{version}").read_bytes()


@pytest.fixture(params=FORMATS, ids=FORMAT_IDS)
def sample(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, bytes, str]:
    """(format, session bytes, path) of the SAMPLE scenario in one format and version."""
    name, version = request.param
    fmt = parsers.by_name(name)
    return fmt, _sample(name, version, tmp_path_factory.getbasetemp()), f"/music/Song Project/song{fmt.SUFFIXES[0]}"


def every_edit(session: Session, clip_db: float = -3.0, fader_db: float = 1.5, envelope_db: float = -2.0) -> list[Edit]:
    """An edit of every editable value: active clips' gains, every fader, every linear envelope."""
    edits = [Edit(c.clip_id, EditField.CLIP_GAIN, c.gain_db + clip_db) for c in session.clips if _active(c.status)]
    tracks = (*session.tracks, session.master)
    edits += [Edit(t.track_id, EditField.FADER, t.fader_db + fader_db) for t in tracks]
    edits += [
        Edit(t.track_id, EditField.FADER_ENVELOPE, envelope_db)
        for t in tracks
        if t.automation is Automation.LINEAR_ENVELOPE
    ]
    return edits


def absolute(edits: list[Edit]) -> list[Edit]:
    return [e for e in edits if e.field is not EditField.FADER_ENVELOPE]


def _active(status: ClipStatus) -> bool:
    return status is ClipStatus.ACTIVE


def assert_applied(fmt: Any, before: Session, edits: list[Edit], after: Session) -> None:
    """`after` is `before` with exactly `edits` applied, each as the format says it writes it (`quantize`)."""
    planned = {(e.target_id, e.field): e.gain_db for e in edits}
    assert dataclasses.replace(after, clips=(), tracks=(), master=after.master) == dataclasses.replace(
        before, clips=(), tracks=(), master=after.master
    )  # path, format, version, rate, pan law
    assert len(after.clips) == len(before.clips) and len(after.tracks) == len(before.tracks)
    pairs: list[tuple[ClipModel | TrackModel, ClipModel | TrackModel]] = [*zip(before.clips, after.clips, strict=True)]
    pairs += [*zip((*before.tracks, before.master), (*after.tracks, after.master), strict=True)]
    for old, new in pairs:
        ident = old.clip_id if isinstance(old, ClipModel) else old.track_id
        for f in dataclasses.fields(old):
            a, b = getattr(old, f.name), getattr(new, f.name)
            field_ = {"gain_db": EditField.CLIP_GAIN, "fader_db": EditField.FADER}.get(f.name)
            if f.name == "envelope_max_db":
                field_ = EditField.FADER_ENVELOPE
                if (ident, field_) in planned:
                    a = a + planned[(ident, field_)]
            elif field_ is not None:
                a = planned.get((ident, field_), a)
            if field_ is not None and (ident, field_) in planned:
                assert b == fmt.quantize(field_, a), (ident, f.name, a, b)
            else:
                assert a == b, (ident, f.name, a, b)


# --------------------------------------------------------------------------------------------------- junk


@pytest.mark.parametrize(
    "junk",
    [b"", b"  \r\n", b"\x00\x01\x02junk" * 10, b"hello world\n", b"\x1f\x8b\x08\x00junk", b"<?xml version='1.0'?><x/>"],
    ids=["empty", "blank", "binary", "text", "gzip-junk", "other-xml"],
)
def test_junk_raises_one_line_format_error(sample: tuple[Any, bytes, str], junk: bytes) -> None:
    fmt, _, path = sample
    with pytest.raises(FormatError) as info:
        fmt.parse(junk, path)
    message = str(info.value)
    assert message.startswith(path) and "\n" not in message and "expected" in message


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_session_raises_one_line_format_error(sample: tuple[Any, bytes, str], keep: float) -> None:
    fmt, data, path = sample
    with pytest.raises(FormatError) as info:
        fmt.parse(data[: int(len(data) * keep)], path)
    assert str(info.value).startswith(path) and "\n" not in str(info.value)


def test_sniff_knows_its_own_and_no_other(sample: tuple[Any, bytes, str]) -> None:
    fmt, data, path = sample
    assert fmt.sniff(data, path)
    assert not fmt.sniff(b"\x00\x01\x02junk", path) and not fmt.sniff(b"", path)
    assert parsers.detect(data, path) is fmt


# --------------------------------------------------------------------------------------------------- apply


def test_no_edit_returns_the_input_bytes(sample: tuple[Any, bytes, str]) -> None:
    fmt, data, path = sample
    _, document = fmt.parse(data, path)
    assert fmt.apply(document, []) == data


def test_edits_stay_local_and_reparse_as_planned(sample: tuple[Any, bytes, str]) -> None:
    fmt, data, path = sample
    session, document = fmt.parse(data, path)
    edits = every_edit(session)
    assert {e.field for e in edits} == set(EditField)  # the sample has every kind of editable value
    out = fmt.apply(document, edits)
    assert_local(fmt.NAME, data, out)
    again, document2 = fmt.parse(out, path)
    assert_applied(fmt, session, edits, again)
    assert fmt.apply(document2, absolute(edits)) == out  # absolute values again change nothing


def test_quantize_is_close_and_idempotent(sample: tuple[Any, bytes, str]) -> None:
    fmt, _, _ = sample
    for field_ in EditField:
        for value in (-20.0, -3.3, 0.0, 2.5):
            q = fmt.quantize(field_, value)
            assert q == pytest.approx(value, abs=0.001) and fmt.quantize(field_, q) == q


def test_out_of_range_values_are_clamped_by_the_format(sample: tuple[Any, bytes, str]) -> None:
    fmt, data, path = sample
    session, document = fmt.parse(data, path)
    clip = next(c for c in session.clips if _active(c.status))
    track = session.tracks[0]
    edits = [Edit(clip.clip_id, EditField.CLIP_GAIN, 1000.0), Edit(track.track_id, EditField.FADER, -1000.0)]
    again, _ = fmt.parse(fmt.apply(document, edits), path)
    assert_applied(fmt, session, edits, again)
    # clamped: beyond the range every value reads back as the range's end
    assert fmt.quantize(EditField.CLIP_GAIN, 1000.0) == fmt.quantize(EditField.CLIP_GAIN, 5000.0) < 1000.0
    assert fmt.quantize(EditField.FADER, -1000.0) == fmt.quantize(EditField.FADER, -5000.0)


@pytest.mark.parametrize(
    "bad,message",
    [
        (lambda s: [Edit("no-such-id", EditField.FADER, 0.0)], "no-such-id"),
        (lambda s: [Edit(s.tracks[0].track_id, EditField.FADER, math.nan)], "nan"),
        (lambda s: [Edit(s.tracks[0].track_id, EditField.FADER, math.inf)], "inf"),
        (lambda s: [Edit(_envelope(s), EditField.FADER_ENVELOPE, -math.inf)], "finite"),
        (lambda s: [Edit(s.tracks[0].track_id, EditField.FADER, x) for x in (0.0, 1.0)], "two edits"),
        (lambda s: [Edit(s.tracks[0].track_id, EditField.FADER_ENVELOPE, -1.0)], "envelope"),
    ],
    ids=["unknown-target", "nan", "plus-inf", "relative-minus-inf", "duplicate", "field-the-target-lacks"],
)
def test_bad_edits_raise_one_line_write_error(sample: tuple[Any, bytes, str], bad: Any, message: str) -> None:
    fmt, data, path = sample
    session, document = fmt.parse(data, path)
    with pytest.raises(WriteError, match=message) as info:
        fmt.apply(document, bad(session))
    assert str(info.value).startswith(path) and "\n" not in str(info.value)


def _envelope(session: Session) -> str:
    return next(t.track_id for t in session.tracks if t.automation is Automation.LINEAR_ENVELOPE)


# --------------------------------------------------------------------------------------------------- corpus


def _corpus() -> list[object]:
    files = [
        p for f in parsers.formats() for p in sorted((CORPUS / f.NAME).glob("*")) if p.suffix.lower() in f.SUFFIXES
    ]
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{CORPUS} not present"))]
    return [pytest.param(p, id=p.name) for p in files]


@pytest.mark.parametrize("path", _corpus())
def test_corpus_round_trips_and_edits_as_planned(path: Path) -> None:
    data = path.read_bytes()
    fmt = parsers.detect(data, str(path))
    if path.name in REFUSED:
        with pytest.raises(FormatError, match=REFUSED[path.name]) as info:
            fmt.parse(data, str(path))
        assert "\n" not in str(info.value)
        return
    _, session, document, _ = parsed(path)
    assert session.format == fmt.NAME
    assert fmt.apply(document, []) == data
    edits = every_edit(session)
    out = fmt.apply(document, edits)
    assert_local(fmt.NAME, data, out)
    again, document2 = fmt.parse(out, str(path))
    assert_applied(fmt, session, edits, again)
    assert (out != data) == (again != session)  # the bytes change exactly when a value does
    assert fmt.apply(document2, absolute(edits)) == out
