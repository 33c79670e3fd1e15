"""REAPER .rpp reader and splice writer: corpus round trips, corpus facts, edge cases, properties."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gainstager.errors import FormatError, WriteError
from gainstager.model import (
    Automation,
    ChannelMode,
    Clip,
    ClipStatus,
    Edit,
    EditField,
    Segment,
    Session,
    TrackKind,
)
from gainstager.parsers import rpp
from gainstager.units import NEG_INF, db_to_gain
from tests.conftest import CORPUS


def corpus(prefix: str) -> Path:
    """The corpus file whose name starts with `prefix` (skip when the corpus is not there)."""
    folder = CORPUS / "rpp"
    matches = sorted(folder.glob(f"{prefix}_*")) if folder.is_dir() else []
    if not matches:
        pytest.skip(f"{folder} not present")
    return matches[0]


def load(prefix: str) -> tuple[bytes, Session, rpp.RppDocument]:
    path = corpus(prefix)
    data = path.read_bytes()
    session, document = rpp.parse(data, str(path))
    return data, session, document


def clip(session: Session, clip_id: str) -> Clip:
    return next(c for c in session.clips if c.clip_id == clip_id)


def changed_lines(before: bytes, after: bytes) -> list[tuple[int, bytes, bytes]]:
    old = before.splitlines(keepends=True)
    new = after.splitlines(keepends=True)
    assert len(old) == len(new)
    return [(i + 1, a, b) for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]


# --------------------------------------------------------------------------------------------------------
# The whole corpus


# The whole corpus round trips and edits as planned: tests/parsers/test_conformance.py.


# --------------------------------------------------------------------------------------------------------
# Real corpus facts


def test_multi_take_item_uses_the_take_sel_take() -> None:
    data, session, document = load("15")
    first = clip(session, "track:0/item:0")  # four takes, the fourth is `TAKE SEL`
    assert first.name == "01-201205_2144.wav"
    assert first.media is not None and first.media.written_path == "01-201205_2144.wav"
    assert first.status is ClipStatus.ACTIVE
    # `VOLPAN 1` (empty take 0) / `TAKE NULL` / `TAKE` / `TAKE SEL`
    third = clip(session, "track:0/item:2")
    assert third.name == "01-201205_2144.wav" and third.status is ClipStatus.ACTIVE
    out = rpp.apply(document, [Edit("track:0/item:0", EditField.CLIP_GAIN, -6.0)])
    [(number, old, new)] = changed_lines(data, out)
    assert old.split() == [b"TAKEVOLPAN", b"0", b"1", b"-1"]
    assert new.split() == [b"TAKEVOLPAN", b"0", b"0.501187", b"-1"]
    lines = data.splitlines()
    take_line = max(i for i in range(number - 1) if lines[i].split()[:1] == [b"TAKE"])
    assert lines[take_line].strip() == b"TAKE SEL"


def test_empty_first_take_with_selected_later_take() -> None:
    data, session, document = load("20")
    named = [c for c in session.clips if c.name == "06-Fear of Blank Guitar1-240425_2218.flac"]
    assert [round(c.gain_db, 3) for c in named] == [0.0, 3.843]  # both take the 2nd take (TAKE SEL)
    c = named[1]  # `VOLPAN 1` / `TAKE SEL` / `TAKEVOLPAN 0 1.5565 -1`
    assert c.gain_db == pytest.approx(20 * math.log10(1.5565))
    assert c.fixed_gain_db == 0.0
    out = rpp.apply(document, [Edit(c.clip_id, EditField.CLIP_GAIN, 0.0)])
    [(_, old, new)] = changed_lines(data, out)
    assert old.strip() == b"TAKEVOLPAN 0 1.5565 -1"
    assert new.strip() == b"TAKEVOLPAN 0 1 -1"


def test_freeze_items_are_frozen_and_not_editable() -> None:
    _, session, document = load("27")
    frozen = [c for c in session.clips if c.status is ClipStatus.FROZEN]
    assert [c.clip_id for c in frozen] == ["track:2/frozen:0", "track:3/frozen:0", "track:4/frozen:0"]
    assert all(session.track(c.track_id).frozen for c in frozen)
    # what plays on a frozen track is the freeze render: an audio item that is measured but never edited
    render = clip(session, "track:2/item:0")
    assert render.status is ClipStatus.FREEZE_RENDER and render.media is not None
    assert render.media.source_kind == "FLAC"
    with pytest.raises(WriteError, match="frozen"):
        rpp.apply(document, [Edit("track:2/frozen:0", EditField.CLIP_GAIN, 0.0)])


def test_tricky_strings_names_parse_and_round_trip() -> None:
    _, session, document = load("04")
    names = [t.name for t in session.tracks]
    assert names[:4] == ["Track 1", '"', '""', '"""']  # an empty name shows as REAPER shows it
    assert names[4:10] == ["'", "''", "'''", "`", "``", "```"]
    assert names[10] == "'''```\"\"\""  # exact text from the <NAME |… sub-block, not the lossy NAME line
    assert names[11:] == ["NAME", 'hel"lo', 'hello"', "<HELLO world >", "<>", "<"]
    out = rpp.apply(document, [Edit(t.track_id, EditField.FADER, -1.0) for t in session.tracks])
    again, _ = rpp.parse(out, "x.rpp")
    assert [t.name for t in again.tracks] == names


def test_blank_lines_are_ignored() -> None:
    data, session, document = load("10")
    assert re.search(rb"\n[ \t]*\n", data)
    assert session.version == "5.979"
    assert session.tracks == ()
    assert rpp.apply(document, [Edit("master", EditField.FADER, -2.0)]) != data


@pytest.mark.parametrize(("prefix", "eol"), [("01", b"\r\n"), ("17", b"\n")])
def test_line_endings_are_kept_on_changed_lines(prefix: str, eol: bytes) -> None:
    data, session, document = load(prefix)
    edits = [Edit(c.clip_id, EditField.CLIP_GAIN, -3.0) for c in session.clips]
    changes = changed_lines(data, rpp.apply(document, edits))
    assert len(changes) == len(session.clips)
    for _, _old, new in changes:
        assert new.endswith(eol) and (eol == b"\r\n" or not new.endswith(b"\r\n"))


def test_mp3_file_with_trailing_flag() -> None:
    path = corpus("33")
    _, session, _ = load("33")
    [c] = session.clips
    assert c.media is not None
    assert c.media.written_path == "Recordings\\trss-mr-death.mp3"
    assert c.media.source_kind == "MP3"
    assert c.media.file_name == "trss-mr-death.mp3"
    folder = str(path.parent)
    assert c.media.candidate_paths[0] == f"{folder}/Recordings/trss-mr-death.mp3"
    assert c.media.candidate_paths[-1] == f"{folder}/trss-mr-death.mp3"
    assert c.media.search_roots == (folder,)


def test_absolute_macos_path_comes_first() -> None:
    _, session, _ = load("32")
    [c] = session.clips
    assert c.media is not None
    assert c.media.candidate_paths[0] == "/Users/vova/Downloads/В ночь.mp3"
    assert c.media.file_name == "В ночь.mp3"


def test_legacy_section_sources() -> None:
    _, session, _ = load("37")
    assert session.version == ""
    c = clip(session, "track:1/item:0")
    assert c.status is ClipStatus.ACTIVE
    assert c.media is not None and c.media.source_kind == "VORBIS"
    assert c.media.written_path == "120_loop_005.ogg"
    assert (c.source_window_start_s, c.source_window_length_s, c.reverse, c.loop) == (
        10.02071,
        1.0,
        False,
        True,
    )
    assert c.segments[0].duration_s == 16.0
    assert clip(session, "track:0/item:0").status is ClipStatus.EMPTY  # CLICK source
    assert session.master.fader_db == pytest.approx(20 * math.log10(0.986597))


def test_folder_parents_and_children() -> None:
    _, session, _ = load("25")
    ez = session.track("track:7")
    assert (ez.name, ez.kind, ez.parent_id, ez.feeds_parent) == ("EZdrummer", TrackKind.GROUP, None, False)
    children = [t.track_id for t in session.tracks if t.parent_id == "track:7"]
    assert children == [f"track:{i}" for i in range(8, 18)]
    assert session.track("track:6").parent_id is None


def test_nested_folders_close_several_levels() -> None:
    _, session, _ = load("27")
    parents = {t.track_id: t.parent_id for t in session.tracks}
    assert parents["track:0"] is None and parents["track:1"] == "track:0"
    assert parents["track:2"] == "track:1" and parents["track:5"] == "track:0"
    assert parents["track:29"] == "track:13"
    assert session.track("track:14").kind is TrackKind.MIDI


def test_zero_item_volume_is_minus_infinity() -> None:
    data, session, document = load("16")
    silent = [c for c in session.clips if c.fixed_gain_db == NEG_INF]
    assert len(silent) == 6  # `VOLPAN 0 …` items
    target = silent[0]
    out = rpp.apply(document, [Edit(target.clip_id, EditField.CLIP_GAIN, target.gain_db - 3.0)])
    [(_, old, new)] = changed_lines(data, out)
    assert old.split()[1] == b"0" and new.split()[1] == b"0"  # item volume left alone


def test_take_fx_note_and_envelope_automation() -> None:
    _, session, _ = load("02")
    assert "take FX present" in session.clips[0].note
    _, session, _ = load("21")
    assert session.track("track:0").automation is Automation.TRIM  # VOLENV2 with AUTOMODE 0
    _, session, _ = load("18")
    assert any("stretch markers ignored" in c.note for c in session.clips)


def test_reaper4_zero_padded_value_not_rewritten_needlessly() -> None:
    data, session, document = load("09")
    same = [Edit(t.track_id, EditField.FADER, t.fader_db) for t in (*session.tracks, session.master)]
    assert rpp.apply(document, same) == data
    out = rpp.apply(document, [Edit("track:0", EditField.FADER, -6.0)])
    [(_, old, new)] = changed_lines(data, out)
    assert old.split()[1] == b"1.00000000000000"
    assert new.split()[1] == b"0.50118723362727"


# --------------------------------------------------------------------------------------------------------
# Hand-made projects

PROJECT = b"""<REAPER_PROJECT 0.1 "7.16/linux-x86_64" 1700000000
  RECORD_PATH "Audio Files" ""
  SAMPLERATE 44100 0 0
  PANLAW 0.70710678118655
  MASTERAUTOMODE 0
  MASTERMUTESOLO 1
  MASTER_VOLUME 0.5 0 -1 -1 1
  <TRACK {A}
    NAME "Drum Bus"
    VOLPAN 1 0.25 -1 -1 1
    MUTESOLO 0 1 0
    ISBUS 1 1
    FX 1
    MAINSEND 1 0
    <FXCHAIN
      BYPASS 1 0 0
      <JS loudness_meter ""
        0 0 -
      >
      BYPASS 0 0 0
      <VST "VST3: Comp" comp.vst3 0 "" 123
        AAAA
      >
    >
  >
  <TRACK {B}
    NAME Kick
    AUTOMODE 1
    VOLPAN 2 0 -1 -1 1
    MUTESOLO 1 0 0
    ISBUS 2 -1
    MAINSEND 0 0
    AUXRECV 0 3 0.5 0 0 0 0 0 0 -1:U 0 -1 ''
    <VOLENV2
      ACT 1 -1
      PT 0 0.5 0
      PT 1.5 1.25 0
    >
    <ITEM
      POSITION 1.5
      LENGTH 2
      LOOP 0
      FADEIN 1 0.01 0 1 0 0 0
      FADEOUT 1 0.25 0.5 1 0 0 0
      MUTE 0 0
      NAME kick.wav
      VOLPAN 0.5 0 -2 -1
      SOFFS 0.25
      PLAYRATE 1.5 1 0 -1 0 0.0025
      CHANMODE 3
      <SOURCE WAVE
        FILE "Audio Files\\kick.wav"
      >
      <TAKEFX
        BYPASS 0 0 0
        <JS gain ""
        >
      >
    >
    <ITEM
      POSITION 4
      LENGTH 1
      MUTE 1 0
      NAME "muted one"
      VOLPAN 1 0 1 -1
      <SOURCE FLAC
        FILE "C:\\Users\\me\\muted one.flac"
      >
    >
  >
  <TRACK {C}
    NAME Keys
    AUTOMODE 0
    <VOLENV2
      ACT 1 -1
      VOLTYPE 1
      PT 0 0.7 0
    >
    <ITEM
      POSITION 0
      LENGTH 1
      ALLTAKES 1
      NAME "all takes"
      VOLPAN 1 0 1 -1
      <SOURCE WAVE
        FILE "/abs/x\\y.wav"
      >
    >
    <ITEM
      POSITION 0
      LENGTH 1
      NAME midi
      VOLPAN 1 0 1 -1
      <SOURCE MIDI
        HASDATA 1 960 QN
      >
    >
  >
>
"""


def parse(data: bytes) -> tuple[Session, rpp.RppDocument]:
    return rpp.parse(data, "/projects/song/song.rpp")


def test_hand_made_project_model() -> None:
    session, _ = parse(PROJECT)
    assert (session.version, session.sample_rate_hz) == ("7.16/linux-x86_64", 44100)
    assert session.pan_law_db == pytest.approx(-3.0103, abs=1e-4)
    master = session.master
    assert (master.track_id, master.kind, master.muted) == ("master", TrackKind.MASTER, True)
    assert master.fader_db == pytest.approx(-6.0206, abs=1e-4)

    bus, kick, keys = session.tracks
    assert (bus.name, bus.kind, bus.pan, bus.soloed, bus.has_fx) == (
        "Drum Bus",
        TrackKind.GROUP,
        0.25,
        True,
        True,
    )
    assert (kick.parent_id, kick.muted, kick.feeds_parent, kick.has_fx) == ("track:0", True, False, False)
    assert kick.automation is Automation.LINEAR_ENVELOPE
    assert kick.envelope_max_db == pytest.approx(20 * math.log10(1.25))
    assert "receives from track:0 (pre-fader post-FX, -6.0 dB)" in kick.note
    assert keys.parent_id is None and keys.automation is Automation.TRIM and keys.kind is TrackKind.AUDIO

    first = clip(session, "track:1/item:0")
    assert first.status is ClipStatus.ACTIVE
    assert first.gain_db == pytest.approx(20 * math.log10(2)) and first.polarity_inverted
    assert first.fixed_gain_db == pytest.approx(20 * math.log10(0.5))
    assert first.segments[0] == Segment(1.5, 2.0, 0.25, 1.5)
    assert (first.fade_in_s, first.fade_out_s, first.loop) == (0.01, 0.5, False)
    assert first.channel_mode is ChannelMode.LEFT
    assert first.note == "take FX present: measured pre-FX"
    assert first.media is not None
    assert first.media.candidate_paths == (
        "/projects/song/Audio Files/kick.wav",
        "/projects/song/kick.wav",
    )
    muted = clip(session, "track:1/item:1")
    assert muted.status is ClipStatus.MUTED
    assert muted.media is not None and muted.media.file_name == "muted one.flac"
    assert muted.media.candidate_paths == (
        "C:\\Users\\me\\muted one.flac",
        "/projects/song/Audio Files/muted one.flac",
        "/projects/song/muted one.flac",
    )
    all_takes = clip(session, "track:2/item:0")
    assert all_takes.status is ClipStatus.ALL_TAKES
    assert all_takes.media is not None and all_takes.media.file_name == "x\\y.wav"  # POSIX name with '\'
    assert clip(session, "track:2/item:1").status is ClipStatus.MIDI


def test_negative_take_volume_keeps_its_polarity_on_write() -> None:
    _, document = parse(PROJECT)
    out = rpp.apply(document, [Edit("track:1/item:0", EditField.CLIP_GAIN, 0.0)])
    [(_, old, new)] = changed_lines(PROJECT, out)
    assert (old.strip(), new.strip()) == (b"VOLPAN 0.5 0 -2 -1", b"VOLPAN 0.5 0 -1 -1")
    again, _ = parse(out)
    assert clip(again, "track:1/item:0").polarity_inverted


def test_linear_envelope_points_are_scaled() -> None:
    _, document = parse(PROJECT)
    out = rpp.apply(document, [Edit("track:1", EditField.FADER_ENVELOPE, -6.0)])
    changes = [(old.strip(), new.strip()) for _, old, new in changed_lines(PROJECT, out)]
    assert changes == [(b"PT 0 0.5 0", b"PT 0 0.25059362 0"), (b"PT 1.5 1.25 0", b"PT 1.5 0.62648404 0")]


@pytest.mark.parametrize("track_id", ["track:0", "track:2", "master"])
def test_envelope_edit_refused_unless_linear_envelope(track_id: str) -> None:
    _, document = parse(PROJECT)
    with pytest.raises(WriteError, match="expected a track with automation linear-envelope"):
        rpp.apply(document, [Edit(track_id, EditField.FADER_ENVELOPE, -1.0)])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (Edit("track:9", EditField.FADER, 0.0), "unknown id"),
        (Edit("track:1/item:7", EditField.CLIP_GAIN, 0.0), "unknown id"),
        (Edit("track:1/item:0", EditField.FADER, 0.0), "a clip"),
        (Edit("track:1", EditField.CLIP_GAIN, 0.0), "a track"),
        (Edit("track:1/item:0", EditField.CLIP_GAIN, math.nan), "nan dB"),
        (Edit("track:1", EditField.FADER, math.inf), "finite dB value"),
        (Edit("track:1", EditField.FADER_ENVELOPE, NEG_INF), "finite"),
    ],
)
def test_bad_edits_are_refused(edit: Edit, message: str) -> None:
    _, document = parse(PROJECT)
    with pytest.raises(WriteError, match=message):
        rpp.apply(document, [edit])


def test_absurd_gains_are_clamped_to_plus_200_db() -> None:
    _, document = parse(PROJECT)
    out = rpp.apply(document, [Edit("track:1", EditField.FADER, 1e6)])
    [(_, _old, new)] = changed_lines(PROJECT, out)
    assert new.strip() == b"VOLPAN 10000000000 0 -1 -1 1"  # +200 dB
    assert rpp.quantize(EditField.FADER, 1e6) == pytest.approx(200.0, abs=1e-9)


def test_duplicate_edits_are_refused() -> None:
    _, document = parse(PROJECT)
    with pytest.raises(WriteError, match="two edits"):
        rpp.apply(document, [Edit("track:1", EditField.FADER, 0.0), Edit("track:1", EditField.FADER, 1.0)])


def test_fader_to_minus_infinity_writes_zero() -> None:
    _, document = parse(PROJECT)
    out = rpp.apply(document, [Edit("master", EditField.FADER, NEG_INF)])
    [(_, _old, new)] = changed_lines(PROJECT, out)
    assert new.strip() == b"MASTER_VOLUME 0 0 -1 -1 1"


def test_edits_leave_every_other_byte_alone() -> None:
    _, document = parse(PROJECT)
    edits = [Edit(i, EditField.FADER, -0.5) for i in ("track:0", "track:1")]
    out = rpp.apply(document, edits)
    assert [(old, new) for _, old, new in changed_lines(PROJECT, out)] == [
        (b"    VOLPAN 1 0.25 -1 -1 1\n", b"    VOLPAN 0.94406087628592 0.25 -1 -1 1\n"),
        (b"    VOLPAN 2 0 -1 -1 1\n", b"    VOLPAN 0.94406087628592 0 -1 -1 1\n"),
    ]
    with pytest.raises(WriteError, match="no volume field"):
        rpp.apply(document, [Edit("track:2", EditField.FADER, 0.0)])  # Keys has no VOLPAN line


MINIMAL = b'<REAPER_PROJECT 0.1 "6.13/OSX64" 1596466608\r\n  <TRACK\r\n    VOLPAN 1 0 -1 -1 1\r\n  >\r\n>'


def test_missing_final_eol_bom_and_leading_blank_lines() -> None:
    data = b"\xef\xbb\xbf\r\n\r\n" + MINIMAL
    assert rpp.sniff(data, "x.rpp")
    session, document = rpp.parse(data, "x.rpp")
    assert session.version == "6.13/OSX64"
    assert rpp.apply(document, []) == data
    out = rpp.apply(document, [Edit("track:0", EditField.FADER, 6.0)])
    assert out == data.replace(b"VOLPAN 1 0", b"VOLPAN 1.99526231496888 0")


def test_comma_decimals_are_read_never_rewritten_and_zero_sample_rate() -> None:
    item = b"    <ITEM\n      VOLPAN %s -1\n      <SOURCE WAVE\n        FILE a.wav\n      >\n    >\n"
    data = (
        b'<REAPER_PROJECT 0.1 "6.0/x64" 1\n  SAMPLERATE 0 0 0\n  <TRACK\n    VOLPAN 1 0,5 -1 -1 1\n'
        + item % b"0,5 0 1"
        + item % b"1 0 0,25"
        + b"  >\n>\n"
    )
    session, document = rpp.parse(data, "x.rpp")
    assert session.sample_rate_hz == 48000
    assert session.tracks[0].pan == 0.5  # ',' is a decimal point to REAPER (§3)
    read, skipped = session.clips
    assert read.status is ClipStatus.ACTIVE and read.fixed_gain_db == pytest.approx(-6.0206, abs=1e-4)
    # a gain we would rewrite is left alone when written with a comma: the clip is skipped, saying why
    assert skipped.status is ClipStatus.INVALID and "('0,25') has a decimal comma" in skipped.note
    with pytest.raises(WriteError, match="clip status invalid"):
        rpp.apply(document, [Edit(skipped.clip_id, EditField.CLIP_GAIN, 0.0)])
    session, document = rpp.parse(data.replace(b"VOLPAN 1 0,5", b"VOLPAN 0,5 0"), "x.rpp")  # a track fader
    assert session.tracks[0].invalid_reason.startswith("line 4: VOLPAN field 1 ('0,5') has a decimal comma")
    assert [c.status for c in session.clips] == [ClipStatus.INVALID] * 2 and not document.spans  # never rewritten


SECTION_PROJECT = b"""<REAPER_PROJECT 0.1 "7.0/x64" 1
  <TRACK
    <ITEM
      VOLPAN 1 0 1 -1
      <SOURCE SECTION
        LENGTH 2
        STARTPOS 3
        OVERLAP 0
        MODE %s
        <SOURCE WAVE
          FILE "a.wav"
        >
      >
    >
    <ITEM
      VOLPAN 1 0 1 -1
      <SOURCE SECTION
        LENGTH 1
        STARTPOS 0.5
        <SOURCE SECTION
          LENGTH 4
          STARTPOS 10
          MODE 2
          <SOURCE WAVE
            FILE "b.wav"
          >
        >
      >
    >
  >
>
"""


@pytest.mark.parametrize(
    ("mode", "window"),
    [(b"0", (3.0, 2.0, False)), (b"2", (3.0, 2.0, True)), (b"3", (0.0, None, True))],
)
def test_section_window_and_reverse(mode: bytes, window: tuple[float, float | None, bool]) -> None:
    session, _ = rpp.parse(SECTION_PROJECT % mode, "x.rpp")
    c = session.clips[0]
    assert (c.source_window_start_s, c.source_window_length_s, c.reverse) == window
    assert c.media is not None and c.media.written_path == "a.wav"


def test_nested_sections_compose() -> None:
    session, _ = rpp.parse(SECTION_PROJECT % b"0", "x.rpp")
    c = session.clips[1]
    # inner: p -> 10 + 4 - p (reversed); outer: p -> 0.5 + p
    # together: p -> 13.5 - p, i.e. the window [12.5, 13.5) played reversed
    assert (c.source_window_start_s, c.source_window_length_s, c.reverse) == (12.5, 1.0, True)
    assert c.media is not None and c.media.written_path == "b.wav"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (b"  \r\n\n", "empty file"),
        (b"\x00\x01\x02junk", "NUL byte"),
        (b"hello world\n", "not a REAPER project"),
        (b'<REAPER_PROJECT 0.1 "7.0" 1\n  <TRACK\n', "truncated file .2 block"),
        (b'<REAPER_PROJECT 0.1 "7.0" 1\n>\n>\n', "'>' with no open block"),
        (b'<REAPER_PROJECT 0.1 "7.0" 1\n>\nMORE\n', "content after the end"),
        (b'<REAPER_PROJECT 0.1 "7.0" 1\n  <TRACK\n    NAME "open\n  >\n>\n', 'unterminated quote.*closing "'),
        (b'<REAPER_PROJECT 0.1 "7.0" 1\n  MASTER_VOLUME 1e999\n>\n', "from 0 to 1e\\+10"),
    ],
)
def test_bad_files_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(FormatError, match=message) as info:
        rpp.parse(data, "bad.rpp")
    text = str(info.value)
    assert text.startswith("bad.rpp") and "\n" not in text and "expected" in text


def test_error_names_the_line() -> None:
    with pytest.raises(FormatError, match=r"^bad\.rpp:3: unterminated quote"):
        rpp.parse(b'<REAPER_PROJECT 0.1 "7.0" 1\n  <TRACK\n    NAME \'x\n  >\n>\n', "bad.rpp")


def test_too_large_files_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rpp, "MAX_BYTES", 10)
    with pytest.raises(FormatError, match="file too large"):
        rpp.parse(MINIMAL, "big.rpp")


def test_invalid_utf8_in_names_is_replaced() -> None:
    data = b'<REAPER_PROJECT 0.1 "7.0" 1\n  <TRACK\n    NAME "caf\xe9 bar"\n  >\n>\n'
    session, document = rpp.parse(data, "x.rpp")
    assert session.tracks[0].name == "caf\ufffd bar"
    assert rpp.apply(document, []) == data


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (MINIMAL, True),
        (b"\xef\xbb\xbf  \r\n<REAPER_PROJECT 0.1", True),
        (b"<Ableton>", False),
        (b"PK\x03\x04", False),
        (b"", False),
    ],
)
def test_sniff(data: bytes, expected: bool) -> None:
    assert rpp.sniff(data, "x") is expected


@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [
        (0.5, 6, "0.5"),
        (1e-7, 6, "0"),
        (-1e-7, 6, "0"),
        (1.3648049999, 6, "1.364805"),
        (1.0, 14, "1"),
        (2.0, 6, "2"),
        (-2.5, 6, "-2.5"),
        (0.0, 8, "0"),
        (1e20, 6, "100000000000000000000"),
        (0.51365752360357, 14, "0.51365752360357"),
        (0.25118864, 8, "0.25118864"),
    ],
)
def test_format_number_golden(value: float, decimals: int, text: str) -> None:
    assert rpp.format_number(value, decimals) == text


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_format_number_refuses_non_finite(value: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        rpp.format_number(value, 6)


# --------------------------------------------------------------------------------------------------------
# Properties


@settings(max_examples=200, deadline=None)
@given(gain_db=st.floats(min_value=-19.9, max_value=24.0), negative=st.booleans())
def test_clip_gain_round_trips_and_is_idempotent(gain_db: float, negative: bool) -> None:
    data = PROJECT if negative else PROJECT.replace(b"VOLPAN 0.5 0 -2 -1", b"VOLPAN 0.5 0 2 -1")
    _, document = parse(data)
    edits = [Edit("track:1/item:0", EditField.CLIP_GAIN, gain_db)]
    out = rpp.apply(document, edits)
    session, document2 = parse(out)
    c = clip(session, "track:1/item:0")
    assert c.polarity_inverted is negative
    assert db_to_gain(c.gain_db) == pytest.approx(db_to_gain(gain_db), rel=5e-6)
    assert rpp.apply(document2, edits) == out
    assert len(changed_lines(data, out)) <= 1


@settings(max_examples=100, deadline=None)
@given(fader_db=st.floats(min_value=-60.0, max_value=24.0))
def test_fader_round_trips_and_is_idempotent(fader_db: float) -> None:
    _, document = parse(PROJECT)
    edits = [Edit("track:0", EditField.FADER, fader_db), Edit("master", EditField.FADER, fader_db)]
    out = rpp.apply(document, edits)
    session, document2 = parse(out)
    assert session.tracks[0].fader_db == pytest.approx(fader_db, abs=1e-9)
    assert rpp.apply(document2, edits) == out


ODD_ITEMS = b"""<REAPER_PROJECT 0.1 "7.0/x64" 1
  RECORD_PATH "D:\\Rec" "/mnt/rec"
  <TRACK
    <ITEM
      VOLPAN 1 0 1 -1
      <SOURCE WAVE
        FILE "a.wav"
      >
      TAKE NULL SEL
    >
    <ITEM
      NAME x
      VOLPAN 1 0 1 -1
      PLAYRATE 0 1 0 -1 0 0.0025
      CHANMODE 7
      <SOURCE VIDEO
        FILE "v.mp4"
        AUDIO 0
      >
    >
    <ITEM
      NAME "take one"
      VOLPAN 1 0 1 -1
      <SOURCE WAVE
        FILE "sub/b.wav"
      >
      <VOLENV
        PT 0 1
      >
      SM 0 0 + 1 1
    >
  >
>
"""


def test_odd_items() -> None:
    session, document = rpp.parse(ODD_ITEMS, "/p/song.rpp")
    null_selected, video, enveloped = session.clips
    assert null_selected.status is ClipStatus.EMPTY
    with pytest.raises(WriteError, match="clip status empty"):
        rpp.apply(document, [Edit(null_selected.clip_id, EditField.CLIP_GAIN, 0.0)])
    assert video.status is ClipStatus.EMPTY  # VIDEO with AUDIO 0
    assert video.channel_mode is ChannelMode.NORMAL and "CHANMODE 7" in video.note
    assert video.segments[0].rate == 1.0 and "PLAYRATE 0" in video.note
    assert enveloped.status is ClipStatus.ACTIVE
    assert enveloped.note == "stretch markers ignored; take volume envelope ignored"
    assert enveloped.media is not None
    assert enveloped.media.candidate_paths == ("/p/sub/b.wav", "/mnt/rec/b.wav", "/p/b.wav")
    assert session.tracks[0].automation is Automation.NONE  # a take envelope is not a track envelope


@settings(max_examples=300, deadline=None)
@given(position=st.integers(min_value=0, max_value=len(PROJECT)), junk=st.binary(max_size=40))
def test_mutated_projects_parse_or_raise_format_error(position: int, junk: bytes) -> None:
    data = PROJECT[:position] + junk + PROJECT[position + len(junk) // 2 :]
    try:
        session, document = rpp.parse(data, "fuzz.rpp")
    except FormatError as error:
        assert str(error).startswith("fuzz.rpp") and "\n" not in str(error)
        return
    assert rpp.apply(document, []) == data
    edits = [Edit(c.clip_id, EditField.CLIP_GAIN, -1.0) for c in session.clips if c.status is ClipStatus.ACTIVE]
    rpp.parse(rpp.apply(document, edits), "fuzz.rpp")
