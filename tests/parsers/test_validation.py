"""Numbers that cannot be trusted, and XML or gzip that would cost too much, in both parsers.

An implausible or malformed number in a clip skips that clip (ClipStatus.INVALID, the reason in its note, its
gain never rewritten); anywhere else (project header, track, envelope, mixer, tempo) it refuses the session.
"""

from __future__ import annotations

import gzip
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
    ("field", "value", "message"),
    [
        ("rate", b"1e308", r"x\.rpp:2: SAMPLERATE field 1 \('1e308'\); expected a number from 4000 to 768000 Hz"),
        ("rate", b"100", "SAMPLERATE field 1"),
        ("rate", b"1.5abc", "SAMPLERATE field 1"),
        ("fader", b"1e300", r"x\.rpp:4: VOLPAN field 1 \('1e300'\); expected a number from 0 to 1e\+10"),
        ("fader", b"abc", "VOLPAN field 1"),
        ("fader", b"-inf", "VOLPAN field 1"),
    ],
)
def test_an_implausible_header_or_track_number_refuses_the_session(field: str, value: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message) as info:
        rpp.parse(rpp_with(**{field: value}), "x.rpp")
    assert "\n" not in str(info.value)


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
    ("target", "value", "message"),
    [
        (b'<Manual Value="1" />', b'<Manual Value="abc" />', r"Volume \('abc'\); expected a number from 0 to 1000"),
        (b'<Manual Value="120" />', b'<Manual Value="0" />', r"Tempo \('0'\)"),
        (b'<Manual Value="120" />', b'<Manual Value="1e999" />', r"Tempo \('1e999'\)"),
    ],
)
def test_an_implausible_live_mixer_or_tempo_number_refuses_the_set(target: bytes, value: bytes, message: str) -> None:
    data = _live_set()
    assert target in data
    with pytest.raises(FormatError, match=message):
        als.parse(data.replace(target, value, 1), "s.als")


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
