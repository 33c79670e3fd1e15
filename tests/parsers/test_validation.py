"""Numbers that cannot be trusted, and XML or gzip that would cost too much, in both parsers.

An implausible or malformed number in a clip skips that clip (ClipStatus.INVALID, the reason in its note, its
gain never rewritten); in a track (its fader, pan, flags, envelope points, a Live track's mixer) it skips that track
(Track.invalid_reason, its clips INVALID, nothing of it rewritten); in the project header, the master, the tempo or
a REAPER folder depth it refuses the session.
"""

from __future__ import annotations

import gzip
import re
import time

import pytest

from fixtures.als_factory import ClipSpec, TrackSpec, make_set
from gainstager.errors import FormatError, WriteError
from gainstager.model import ClipStatus, Edit, EditField
from gainstager.parsers import als, rpp

RPP = b"""<REAPER_PROJECT 0.1 "7.0/x64" 1
  SAMPLERATE %(rate)s 0 0
  <TRACK
    VOLPAN %(fader)s 0 -1 -1 1
    <ITEM
      POSITION %(position)s
      LENGTH 2
      VOLPAN 1 0 %(take)s -1
      <SOURCE SECTION
        LENGTH %(section)s
        <SOURCE WAVE
          FILE "a.wav"
        >
      >
    >
    <ITEM
      POSITION 3
      LENGTH 1
      VOLPAN 1 0 0.5 -1
      <SOURCE WAVE
        FILE "b.wav"
      >
    >
  >
>
"""
GOOD = {"rate": b"48000", "fader": b"1", "position": b"0", "take": b"1", "section": b"1"}


def rpp_with(**values: bytes) -> bytes:
    return RPP % {k.encode(): v for k, v in {**GOOD, **values}.items()}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("position", b"1e300"),
        ("position", b"nan"),
        ("take", b"abc"),
        ("take", b"1.5abc"),
        ("take", b"1,5"),
        ("take", b"1e308"),
        ("section", b"-1"),
        ("section", b"inf"),
    ],
)
def test_an_implausible_item_number_skips_that_item(field: str, value: bytes) -> None:
    session, document = rpp.parse(rpp_with(**{field: value}), "x.rpp")
    bad, good = session.clips
    assert bad.status is ClipStatus.INVALID and good.status is ClipStatus.ACTIVE
    assert repr(value.decode()) in bad.note and "line " in bad.note
    with pytest.raises(WriteError, match="clip status invalid"):  # its gain is never rewritten
        rpp.apply(document, [Edit(bad.clip_id, EditField.CLIP_GAIN, 0.0)])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            rpp_with(rate=b"1e308"),
            r"x\.rpp:2: SAMPLERATE field 1 \('1e308'\); expected a number from 4000 to 768000 Hz",
        ),
        (rpp_with(rate=b"100"), "SAMPLERATE field 1"),
        (rpp_with(rate=b"1.5abc"), "SAMPLERATE field 1"),
        (rpp_with().replace(b"<TRACK", b"MASTER_VOLUME 1e300 0\n  <TRACK"), "MASTER_VOLUME field 1"),
        (rpp_with().replace(b"    VOLPAN 1 0 -1", b"    ISBUS 1 abc\n    VOLPAN 1 0 -1"), "ISBUS field 2"),
    ],
)
def test_an_implausible_header_number_refuses_the_session(data: bytes, message: str) -> None:
    """The header, the master and a folder depth (which places every later track) cannot be skipped."""
    with pytest.raises(FormatError, match=message) as info:
        rpp.parse(data, "x.rpp")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (rpp_with(fader=b"1e300"), r"line 4: VOLPAN field 1 \('1e300'\); expected a number from 0 to 1e\+10"),
        (rpp_with(fader=b"abc"), "VOLPAN field 1"),
        (rpp_with(fader=b"-inf"), "VOLPAN field 1"),
        (rpp_with(fader=b"1,5"), "VOLPAN field 1 .* decimal comma"),  # read as REAPER does, but never rewritten
        (rpp_with().replace(b"VOLPAN 1 0 -1 -1 1", b"VOLPAN 1 nan -1 -1 1"), "VOLPAN field 2"),
        (rpp_with().replace(b"    VOLPAN 1 0 -1", b"    MUTESOLO x 0 0\n    VOLPAN 1 0 -1"), "MUTESOLO field 1"),
        (
            rpp_with().replace(b"    <ITEM", b"    <VOLENV2\n      PT 0 1e300 0\n    >\n    <ITEM", 1),
            "line 6: PT field 2",
        ),
    ],
)
def test_an_implausible_track_number_skips_that_track(data: bytes, message: str) -> None:
    session, document = rpp.parse(data, "x.rpp")
    (track,) = session.tracks
    assert re.search(message, track.invalid_reason) and "\n" not in track.invalid_reason
    assert all(c.status is ClipStatus.INVALID and track.invalid_reason in c.note for c in session.clips)
    assert document.spans == {}  # nothing of the track, nor of its items, may be rewritten
    with pytest.raises(WriteError, match="no volume field"):
        rpp.apply(document, [Edit(track.track_id, EditField.FADER, 0.0)])


def test_sample_rate_zero_means_unset_and_comma_decimals_read_as_reaper_does() -> None:
    session, _ = rpp.parse(rpp_with(rate=b"0", position=b"0,5"), "x.rpp")
    assert session.sample_rate_hz == 48000
    assert session.clips[0].status is ClipStatus.ACTIVE and session.clips[0].timeline_start_s == 0.5


def test_huge_lines_deep_nesting_and_millions_of_blank_lines_cost_little() -> None:
    head, tail = rpp_with().split(b"  <TRACK", 1)
    t0 = time.perf_counter()
    tokens = head + b"  PANLAW" + b" 1" * 2_000_000 + b"\n  <TRACK" + tail
    assert rpp.parse(tokens, "x.rpp")[0].pan_law_db == 0.0  # only the first fields of a line are kept
    blank = head + b"\n" * 3_000_000 + b"  <TRACK" + tail
    assert len(rpp.parse(blank, "x.rpp")[0].clips) == 2
    with pytest.raises(FormatError, match=r"nested deeper than 1000"):
        rpp.parse(head + b"<X\n" * 100_000 + b">\n" * 100_000 + b"  <TRACK" + tail, "x.rpp")
    assert time.perf_counter() - t0 < 10.0


def _live_set(**clip: object) -> bytes:
    return make_set(11, [TrackSpec(1, clips=(ClipSpec(0, 4, **clip),))], gzipped=False)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("target", "value"),
    [
        (b'<SampleVolume Value="1"', b'<SampleVolume Value="abc"'),
        (b'<SampleVolume Value="1"', b'<SampleVolume Value="1,5"'),
        (b'<SampleVolume Value="1"', b'<SampleVolume Value="NaN"'),
        (b'<CurrentEnd Value="4"', b'<CurrentEnd Value="1e300"'),
        (b'<PitchCoarse Value="0"', b'<PitchCoarse Value="1e308"'),
        (b'<WarpMarker Id="1" SecTime="2"', b'<WarpMarker Id="1" SecTime="1e5"'),
    ],
)
def test_an_implausible_live_clip_number_skips_that_clip(target: bytes, value: bytes) -> None:
    data = _live_set()
    assert target in data
    session, document = als.parse(data.replace(target, value, 1), "s.als")
    (clip,) = session.clips
    assert clip.status is ClipStatus.INVALID and clip.note and clip.segments == ()
    assert (als._Slot.CLIP_GAIN, clip.clip_id) not in document.spans  # never rewritten


@pytest.mark.parametrize(
    ("target", "nth", "value", "message"),
    [
        (b'<Manual Value="1" />', 1, b'<Manual Value="abc" />', r"Volume \('abc'\); expected a number from 0 to 1000"),
        (b'<Manual Value="120" />', 0, b'<Manual Value="0" />', r"Tempo \('0'\)"),
        (b'<Manual Value="120" />', 0, b'<Manual Value="1e999" />', r"Tempo \('1e999'\)"),
    ],
)
def test_an_implausible_live_master_or_tempo_number_refuses_the_set(
    target: bytes, nth: int, value: bytes, message: str
) -> None:
    data = _live_set()
    at = -1
    for _ in range(nth + 1):
        at = data.index(target, at + 1)
    assert at > data.index(b"<MasterTrack") or b"Tempo" in message.encode()
    with pytest.raises(FormatError, match=message):
        als.parse(data[:at] + value + data[at + len(target) :], "s.als")


@pytest.mark.parametrize(
    ("target", "value", "message"),
    [
        (b'<Manual Value="1" />', b'<Manual Value="abc" />', r"Volume \('abc'\); expected a number from 0 to 1000"),
        (b'<Manual Value="0" />', b'<Manual Value="-2" />', r"Pan \('-2'\)"),
    ],
)
def test_an_implausible_live_track_mixer_number_skips_that_track(target: bytes, value: bytes, message: str) -> None:
    data = _live_set()
    assert data.index(target) < data.index(b"<MasterTrack")  # the first is the track's
    session, document = als.parse(data.replace(target, value, 1), "s.als")
    (track,) = session.tracks
    assert re.search(message, track.invalid_reason)
    assert [c.status for c in session.clips] == [ClipStatus.INVALID]
    assert {key for _, key in document.spans} <= {"master"}  # only the master's fader may be rewritten


def test_gzip_members_are_read_in_turn_and_trailing_data_refused() -> None:
    xml = _live_set()
    split = gzip.compress(xml[:500], mtime=0) + gzip.compress(xml[500:], mtime=0)
    assert als.parse(split, "s.als")[1].xml == xml
    with pytest.raises(FormatError, match="trailing data after the gzip stream"):
        als.parse(gzip.compress(xml, mtime=0) + b"JUNK", "s.als")


def test_xml_costs_are_bounded() -> None:
    head = b'<?xml version="1.0"?>\n<Ableton MinorVersion="11.0_433"><LiveSet>'
    with pytest.raises(FormatError, match="tags in"):  # 2 million empty elements: 8 MB that lxml would make 240 MB
        als.parse(head + b"<a/>" * 2_000_000 + b"</LiveSet></Ableton>", "s.als")
    with pytest.raises(FormatError, match="Excessive depth"):  # libxml2's depth limit stays on (2048)
        als.parse(
            _live_set().replace(b"<LiveSet>", b"<LiveSet>" + b"<Nested>" * 3000 + b"</Nested>" * 3000, 1), "s.als"
        )
    big = _live_set().replace(b'<Annotation Value=""', b'<Annotation Value="' + b"x" * (12 << 20) + b'"', 1)
    assert als.parse(big, "s.als")[1].xml == big  # a 12 MB value (a plugin state can be that big) is fine
    t0 = time.perf_counter()
    zeros = gzip.compress(b"<" + b" " * (200 << 20), compresslevel=1, mtime=0)  # 200 MiB in about 200 KB
    with pytest.raises(FormatError, match="decompressed size"):
        als.parse(zeros, "bomb.als")
    assert time.perf_counter() - t0 < 10.0


@pytest.mark.parametrize(
    "prolog",
    [
        b"<!-- <a> -->\n<!DOCTYPE Ableton>\n",
        b"<?pi x?>\n<!DOCTYPE Ableton [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>\n",
        b"<!ENTITY e 'x'>\n",
    ],
)
def test_any_declaration_before_the_root_is_refused(prolog: bytes) -> None:
    data = _live_set().replace(b"?>\n", b"?>\n" + prolog, 1)
    with pytest.raises(FormatError, match="declares a DTD"):
        als.parse(data, "s.als")


def test_xml_error_messages_are_one_line() -> None:
    data = _live_set().replace(b'<Name Value="', b'<Name Value="\x00', 1)
    with pytest.raises(FormatError, match="broken XML") as info:
        als.parse(data, "s.als")
    assert "\n" not in str(info.value)
