"""REAPER project files (.rpp): read a session into the model, splice new gains back into the bytes.

The authority on the format is ``shared/docs/FORMAT-RPP.md`` (cited below as "§n"). In short:

* An .rpp is one statement per line; a line whose first token starts with ``<`` opens a block, a line
  starting with ``>`` closes it (§3). We keep the original bytes and record, while scanning once, the byte
  span of every number we may rewrite: the active take volume of each item (``VOLPAN`` field 3 for take 0,
  ``TAKEVOLPAN`` field 2 for take k, §6), each track fader (``VOLPAN`` field 1, §4), the master fader
  (``MASTER_VOLUME`` field 1, §5) and the points of a linear volume envelope (``PT`` field 2, §8).
* `apply` replaces exactly those spans with freshly formatted numbers; every other byte (EOLs, quoting,
  indentation, trailing spaces, base64) stays as it was (§11).
* Only the lines we need are tokenized, with REAPER's own rules (WDL ``LineParser``, §3): separators are
  space and tab, a token starting with ``"``, ``'`` or `````` runs to the next same character, no escapes;
  ``,`` is accepted as a decimal point. Base64 and ``|`` text lines are never tokenized.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeAlias

from gainstager.errors import FormatError, WriteError
from gainstager.model import (
    Automation,
    ChannelMode,
    Clip,
    ClipStatus,
    Edit,
    EditField,
    Fingerprint,
    MediaRef,
    RateSource,
    Segment,
    Session,
    Track,
    TrackKind,
)
from gainstager.units import NEG_INF, db_to_gain, gain_to_db

from .base import absolute, check_edits, splice, windows_absolute

NAME = "rpp"
SUFFIXES = (".rpp",)

MAX_BYTES = 512 * 1024 * 1024  # the largest corpus file is 1.9 MB; anything near this cap is not a project
DEFAULT_SAMPLE_RATE_HZ = 48000  # REAPER writes SAMPLERATE 0 / omits it when "project sample rate" is off
CLIP_GAIN_MAX_DB = 24.0  # SCD: item/take volume handle "16.00 = +24 dB" (§9)
FADER_MAX_DB = 12.0  # track fader soft maximum, 3.98 (§9)
MAX_DEPTH = 1000  # nested blocks; REAPER writes about 8 (project, track, item, source, section, FX, plugin)
MAX_EDIT_DB = 200.0  # apply() clamps gains to this: far above any DAW limit, well below float overflow
_MAX_GAIN = db_to_gain(MAX_EDIT_DB)

# Decimals REAPER itself writes (§3 "Numbers"): item/take volumes have <= 6, track/master volumes 14,
# envelope points 8. Trailing zeros and then a trailing point are stripped, as REAPER does.
TAKE_VOLUME_DECIMALS = 6
FADER_DECIMALS = 14
ENVELOPE_POINT_DECIMALS = 8
_DECIMALS = {
    EditField.CLIP_GAIN: TAKE_VOLUME_DECIMALS,
    EditField.FADER: FADER_DECIMALS,
    EditField.FADER_ENVELOPE: ENVELOPE_POINT_DECIMALS,
}

# Version quirks seen in shared/corpus/rpp and how this module copes with each (version: quirk -> handling).
# Kept as comments: no code branches on the version, the scanner copes with every one of them.
#   pre-2.x legacy (file 37): header `<REAPER_PROJECT 0.1` has no version string -> Session.version = ''
#   pre-2.x legacy (file 37): short lines (track VOLPAN 2 fields, item VOLPAN 3, FADEIN 3, ISBUS/MAINSEND/PLAYRATE
#       1) -> fields are read by position with REAPER's defaults for missing ones
#   pre-2.x legacy (file 37): numbers printed with %.6f (`VOLPAN 1.000000 0.000000`) -> a value equal at the
#       output precision is not rewritten
#   pre-2.x legacy (file 37): <SOURCE SECTION> (section/reverse) wrapping the file -> window + reverse
#   4.32 (file 09): track volumes zero-padded to 14 decimals (`VOLPAN 1.00000000000000`) -> not rewritten when
#       the new value formats equal
#   5.18-6.18 / 6.69-7.27: FADEIN/FADEOUT have 6 / 7 fields -> only fields 2 and 3 are read
#   5.70-7.27: MP3 sources `FILE "x.mp3" 1` (trailing flag) -> only the path token is read
#   6.18+ (files 15, 20, 21): `TAKE NULL` slots; 1-field `VOLPAN` when take 0 is empty -> EMPTY take
#   7.x (file 27): `<ITEM {GUID}` inside `<FREEZE` -> FROZEN clips, never edited
#   6.81 / 7.x (files 19, 27): a frozen track's own items are its freeze renders, each with a `FREEZE pos len offs`
#       line and `LOCK 1` -> FREEZE_RENDER clips: measured and summed, never edited
#   7.x backups, interrupted saves: NUL bytes after the closing `>` of the project -> accepted and kept byte for
#       byte; a NUL anywhere else is refused
#   5.979 (file 10): blank and oddly indented lines written by an extension -> ignored, kept

_MIDI_SOURCES = frozenset({"MIDI", "MIDIPOOL"})
# freezes are re-rendered, not edited; an item with a number that cannot be trusted is left as it is
_NOT_EDITABLE = frozenset({ClipStatus.FROZEN, ClipStatus.FREEZE_RENDER, ClipStatus.INVALID})
_NON_AUDIO_SOURCES = frozenset({"CLICK", "EMPTY", "VIDEOEFFECT", "LTC"})
# Block names inside <FXCHAIN>/<TAKEFX>/<MASTERFXLIST> that are plugins (VST3 is written as <VST "VST3: …").
_PLUGIN_BLOCKS = frozenset({"VST", "AU", "JS", "CLAP", "DX", "LV2", "VIDEO_EFFECT", "REWIRE"})
_CHANNEL_MODES = {
    0: ChannelMode.NORMAL,
    1: ChannelMode.REVERSE_STEREO,
    2: ChannelMode.MONO_DOWNMIX,
    3: ChannelMode.LEFT,
    4: ChannelMode.RIGHT,
}
_RECEIVE_MODES = {0: "post-fader", 1: "pre-FX", 2: "post-FX", 3: "pre-fader post-FX"}

# Every statement keyword some context reads; all other lines are only checked for '<' and '>'.
_KEYWORDS = frozenset(
    {
        b"SAMPLERATE",
        b"PANLAW",
        b"RECORD_PATH",
        b"MASTER_VOLUME",
        b"MASTERMUTESOLO",
        b"MASTERAUTOMODE",
        b"MASTER_FX",
        b"NAME",
        b"VOLPAN",
        b"MUTESOLO",
        b"ISBUS",
        b"MAINSEND",
        b"AUTOMODE",
        b"FX",
        b"AUXRECV",
        b"POSITION",
        b"LENGTH",
        b"LOOP",
        b"ALLTAKES",
        b"FADEIN",
        b"FADEOUT",
        b"MUTE",
        b"TAKE",
        b"TAKEVOLPAN",
        b"SOFFS",
        b"PLAYRATE",
        b"CHANMODE",
        b"SM",
        b"FREEZE",
        b"FILE",
        b"AUDIO",
        b"STARTPOS",
        b"MODE",
        b"PT",
        b"ACT",
        b"VOLTYPE",
        b"BYPASS",
    }
)
_TOKEN = re.compile(rb'"([^"]*)"|\'([^\']*)\'|`([^`]*)`|([^ \t]+)')
_BARE = re.compile(rb"[^ \t]+")
_QUOTES = b"\"'`"
_MAX_TOKENS = 64  # the longest statement read (AUXRECV) has 13 fields


# --------------------------------------------------------------------------------------------------------
# Numbers


def format_number(value: float, decimals: int) -> str:
    """REAPER's number style: fixed point with `decimals`, then trailing zeros and a trailing point stripped.

    Never exponent notation; ``-0`` becomes ``0``; NaN and infinities are refused.
    """
    if not math.isfinite(value):
        raise ValueError(f"cannot write a non-finite number ({value!r}); expected a finite value")
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text


class _Invalid(Exception):
    """A number that is not one, or not plausible: skips the item it sits in, or refuses the session."""


@dataclass(frozen=True, slots=True)
class _Range:
    low: float
    high: float
    unit: str = ""
    also: tuple[float, ...] = ()  # exact values allowed outside [low, high]


_DAY_S = 86_400.0
_TIMELINE_S = 1_000_000.0  # 11.6 days either side of the project start
_FLAG = _Range(-(2.0**31), 2.0**31 - 1)  # flags, modes, counts and indices: REAPER writes them as C ints
# Linear gains, up to what apply() itself may write (MAX_EDIT_DB, +200 dB): far above any DAW's limit, and what is
# written must read back.
_GAIN = _Range(0.0, _MAX_GAIN)
_SIGNED_GAIN = _Range(-_MAX_GAIN, _MAX_GAIN)

# The plausible range of every number read, by (context, keyword, field); anything unlisted is a _FLAG. A value
# that is not a plain number (as C atof would read all of it, after REAPER's ',' -> '.'), not finite or out of
# range skips the item it sits in (ClipStatus.INVALID, with the reason); outside an item, the track it sits in
# (its statements, its envelopes, its FX chain: Track.invalid_reason; its items are INVALID too); anywhere else
# (the project header, the master, _STRUCTURE) it refuses the session.
_PLAUSIBLE: Mapping[tuple[str, bytes, int], _Range] = MappingProxyType(
    {
        # 0 = "not set" (REAPER then uses the device rate, §9); the K-weighting shelf at 1.7 kHz needs a Nyquist
        # above it; 768 kHz is the top of REAPER's rate list.
        ("_Project", b"SAMPLERATE", 1): _Range(4000.0, 768_000.0, "Hz", also=(0.0,)),
        ("_Project", b"PANLAW", 1): _Range(0.0, 4.0),  # linear, at most +12 dB (REAPER offers 0 to -6 dB)
        ("_Project", b"MASTER_VOLUME", 1): _GAIN,  # +12 dB soft max, more is legal (§9)
        ("_Project", b"MASTER_VOLUME", 2): _Range(-1.0, 1.0),  # pan (§5)
        ("_Track", b"VOLPAN", 1): _GAIN,  # fader
        ("_Track", b"VOLPAN", 2): _Range(-1.0, 1.0),  # pan (§4)
        ("_Track", b"AUXRECV", 3): _GAIN,  # receive level
        ("_Item", b"POSITION", 1): _Range(-_TIMELINE_S, _TIMELINE_S, "s"),
        ("_Item", b"LENGTH", 1): _Range(0.0, _DAY_S, "s"),  # measuring costs what the item plays: a day at most
        ("_Item", b"FADEIN", 2): _Range(-1.0, _DAY_S, "s"),  # negative lengths count as 0
        ("_Item", b"FADEIN", 3): _Range(-1.0, _DAY_S, "s"),
        ("_Item", b"FADEOUT", 2): _Range(-1.0, _DAY_S, "s"),
        ("_Item", b"FADEOUT", 3): _Range(-1.0, _DAY_S, "s"),
        ("_Item", b"VOLPAN", 1): _GAIN,  # item volume (SCD: 16 = +24 dB handle maximum)
        ("_Item", b"VOLPAN", 3): _SIGNED_GAIN,  # take volume; negative = polarity inverted (§6)
        ("_Item", b"TAKEVOLPAN", 2): _SIGNED_GAIN,
        ("_Item", b"SOFFS", 1): _Range(-_TIMELINE_S, _TIMELINE_S, "s"),
        ("_Item", b"PLAYRATE", 1): _Range(0.0, 1000.0, "x"),  # 0 in old video items: played at 1 (with a note)
        ("_Source", b"LENGTH", 1): _Range(0.0, _TIMELINE_S, "s"),  # SECTION window
        ("_Source", b"STARTPOS", 1): _Range(-_TIMELINE_S, _TIMELINE_S, "s"),
        ("_Envelope", b"PT", 2): _GAIN,  # linear (16 = +24 dB) or fader-scaled 0..1000 (§8)
    }
)
# Track statements that place other tracks: the folder depth decides which folder every later track sums into,
# so an unreadable one refuses the session rather than skipping one track.
_STRUCTURE = frozenset({b"ISBUS"})
_PLAIN_NUMBER = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _read_number(token: bytes, where: _Range) -> float:
    """The value of a whole token (REAPER maps ',' to '.'), if finite and inside `where`; else _Invalid."""
    text = token.replace(b",", b".")
    value = float(text) if _PLAIN_NUMBER.fullmatch(text) else math.nan
    if not (where.low <= value <= where.high or value in where.also):
        shown = token[:40].decode("utf-8", "replace")
        unit = f" {where.unit}" if where.unit else ""
        raise _Invalid(f"({shown!r}); expected a number from {where.low:g} to {where.high:g}{unit}")
    return value


# --------------------------------------------------------------------------------------------------------
# The document


@dataclass(frozen=True, slots=True)
class NumberSpan:
    """Where one editable number sits: ``data[start:end]``, written with `decimals`, read as `original`."""

    start: int
    end: int
    line: int  # 1-based, for messages
    decimals: int
    original: float


@dataclass(frozen=True, slots=True)
class RppDocument:
    """The original bytes plus the byte spans of every number `apply` may rewrite, keyed by (id, field).

    ``automation`` maps every track id (and ``master``) to its automation kind and ``clip_status`` every clip
    id to its status, so that an edit naming an existing but non-editable target gets a precise error.
    """

    path: str
    data: bytes
    spans: Mapping[tuple[str, EditField], tuple[NumberSpan, ...]]
    automation: Mapping[str, Automation]
    clip_status: Mapping[str, ClipStatus]


# --------------------------------------------------------------------------------------------------------
# Scanner state (mutable while scanning, turned into the frozen model at the end)


@dataclass(slots=True)
class _Source:
    kind: str
    file: str | None = None
    section_length_s: float | None = None
    section_start_s: float = 0.0
    mode: int = 0
    audio_off: bool = False
    child: _Source | None = None


@dataclass(slots=True)
class _Take:
    null: bool = False
    name: str = ""
    exact_name: str | None = None
    volume: float = 1.0
    volume_span: NumberSpan | None = None
    source_offset_s: float = 0.0
    rate: float = 1.0
    channel_mode: int = 0
    source: _Source | None = None
    fx: bool = False
    volume_envelope: bool = False
    stretch_markers: bool = False
    preserve_pitch: bool = False  # PLAYRATE field 2: a rate other than 1 time-stretches instead of resampling
    pitch_semitones: float = 0.0


@dataclass(slots=True)
class _Item:
    line: int
    position_s: float = 0.0
    length_s: float = 0.0
    loop: bool = False
    all_takes: bool = False
    fade_in_s: float = 0.0
    fade_out_s: float = 0.0
    muted: bool = False
    volume: float = 1.0
    takes: list[_Take] = field(default_factory=lambda: [_Take()])
    selected_take: int | None = None
    freeze_render: bool = False  # a `FREEZE` line: REAPER made this item when it froze the track
    invalid: str = ""  # why a number of this item cannot be trusted: the clip is skipped


@dataclass(slots=True)
class _Envelope:
    name: str
    active: bool = True
    fader_scaled: bool = False
    points: list[NumberSpan] = field(default_factory=list)


@dataclass(slots=True)
class _Track:
    track_id: str
    line: int
    parent_id: str | None = None
    name: str = ""
    exact_name: str | None = None
    volume: float = 1.0
    volume_span: NumberSpan | None = None
    pan: float = 0.0
    muted: bool = False
    soloed: bool = False
    folder: int = 0  # ISBUS field 1: 1 = folder parent, 2 = last child
    folder_close: int = 0  # ISBUS field 2 when closing: -n
    main_send: bool = True
    auto_mode: int = 0
    fx_enabled: bool = True
    plugins: int = 0
    frozen: bool = False
    envelopes: list[_Envelope] = field(default_factory=list)
    items: list[_Item] = field(default_factory=list)
    frozen_items: list[_Item] = field(default_factory=list)
    receives: list[str] = field(default_factory=list)
    receive_sources: list[int] = field(default_factory=list)  # source track index of each unmuted receive
    invalid: str = ""  # why a number of this track cannot be trusted: the track and its items are skipped


@dataclass(slots=True)
class _Project:
    version: str = ""
    sample_rate_hz: int = DEFAULT_SAMPLE_RATE_HZ
    sample_rate_source: RateSource = RateSource.DEFAULT
    pan_law_db: float = 0.0
    record_paths: tuple[str, ...] = ()


@dataclass(slots=True)
class _Freeze:
    track: _Track


@dataclass(slots=True)
class _FxChain:
    owner: _Track | _Take
    bypassed: bool = False


@dataclass(slots=True)
class _Text:
    owner: _Track | _Take
    lines: list[str] = field(default_factory=list)


_Context: TypeAlias = _Project | _Track | _Freeze | _Item | _Source | _Envelope | _FxChain | _Text | None


@dataclass(slots=True)
class _Frame:
    name: str
    line: int
    context: _Context


@dataclass(slots=True)
class _Line:
    """One tokenized line: token texts, and (computed on demand) their absolute byte spans in the file."""

    number: int
    tokens: list[bytes]
    content: bytes
    start: int  # absolute offset of `content`
    quoted: bool

    def text(self, index: int, default: str = "") -> str:
        if index >= len(self.tokens):
            return default
        return self.tokens[index].decode("utf-8", "replace")

    def has(self, index: int) -> bool:
        return index < len(self.tokens)

    def span(self, index: int) -> tuple[int, int]:
        pattern = _TOKEN if self.quoted else _BARE
        for i, match in enumerate(pattern.finditer(self.content)):
            if i == index:
                group = match.lastindex or 0
                a, b = match.span(group)
                return self.start + a, self.start + b
        raise IndexError(index)


# --------------------------------------------------------------------------------------------------------
# Public interface


def sniff(data: bytes, path: str) -> bool:
    """True if the first non-blank line starts with ``<REAPER_PROJECT`` (a UTF-8 BOM is allowed)."""
    head = data[:4096]
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    return head.lstrip(b" \t\r\n").startswith(b"<REAPER_PROJECT")


def parse(data: bytes, path: str) -> tuple[Session, RppDocument]:
    """Read `data` (the bytes of the .rpp at `path`) into a Session and the document `apply` needs."""
    return _Scanner(data, path).run()


def apply(document: RppDocument, edits: Sequence[Edit]) -> bytes:
    """Splice `edits` into the document's bytes, as the contract in `parsers.base` says.

    A take volume keeps its sign (polarity). Values are clamped to at most `MAX_EDIT_DB`; nothing is clamped
    below (0 is silence). FADER_ENVELOPE exists only for tracks whose automation is LINEAR_ENVELOPE.
    """
    replacements: list[tuple[int, int, bytes]] = []
    for (target, field_), gain_db in check_edits(document.path, edits).items():
        spans = document.spans.get((target, field_))
        if spans is None:
            raise WriteError(_not_editable(document, Edit(target, field_, gain_db)))
        factor = db_to_gain(gain_db)
        for span in spans:
            if field_ is EditField.FADER_ENVELOPE:
                value = span.original * factor
            elif field_ is EditField.CLIP_GAIN:
                value = -factor if span.original < 0 else factor  # keep the take's polarity
            else:
                value = factor
            value = math.copysign(min(abs(value), _MAX_GAIN), value)
            text = format_number(value, span.decimals)
            if text != format_number(span.original, span.decimals):
                replacements.append((span.start, span.end, text.encode("ascii")))
    return splice(document.data, replacements)


def quantize(field_: EditField, value_db: float) -> float:
    """What a re-parse reads after `apply` wrote `value_db` to `field_`: clamped, rounded to REAPER's decimals."""
    return gain_to_db(float(format_number(min(db_to_gain(value_db), _MAX_GAIN), _DECIMALS[field_])))


def confirms(fingerprint: Fingerprint, head: bytes) -> bool:
    """REAPER records no fingerprint of its media: a file found by name is taken as it is."""
    return True


def _not_editable(document: RppDocument, edit: Edit) -> str:
    where = f"{document.path}: cannot apply {edit.field} to {edit.target_id!r}"
    field_ = EditField(edit.field)
    if edit.target_id in document.clip_status:
        if field_ is not EditField.CLIP_GAIN:
            return f"{where} (a clip); expected {EditField.CLIP_GAIN} for clips"
        status = document.clip_status[edit.target_id]
        return f"{where} (clip status {status}, no editable take volume); expected an active clip with a take"
    if edit.target_id in document.automation:
        if field_ is EditField.CLIP_GAIN:
            return f"{where} (a track); expected {EditField.FADER} or {EditField.FADER_ENVELOPE} for tracks"
        if field_ is EditField.FADER_ENVELOPE:
            kind = document.automation[edit.target_id]
            return f"{where} (automation {kind}); expected a track with automation {Automation.LINEAR_ENVELOPE}"
        return f"{where} (the track has no volume field); expected a track with VOLPAN"
    return f"{where} (unknown id); expected an id from this session"


# --------------------------------------------------------------------------------------------------------
# Scanning

_BLANKS = re.compile(rb"[ \t\r\n]*")


def _lines(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(line number, offset, content) of every non-blank line, as REAPER reads lines (§3): indentation and one
    trailing CR dropped, and a UTF-8 BOM before the first line. Lazy, and blank runs are skipped in one regex
    step, so a file of millions of lines never becomes a list of millions."""
    number, pos, end, first = 1, 0, len(data), True
    while True:
        skip = _BLANKS.match(data, pos).end()  # type: ignore[union-attr]  # `*` always matches
        number += data.count(b"\n", pos, skip)
        if skip >= end:
            return
        stop = data.find(b"\n", skip)
        stop = end if stop < 0 else stop
        start = skip
        if first and data.startswith(b"\xef\xbb\xbf", start):
            start += 3
            while start < stop and data[start] in b" \t\r":
                start += 1
        content = data[start:stop]
        if content.endswith(b"\r"):
            content = content[:-1]
        if content:
            yield number, start, content
            first = False
        pos = stop + 1
        number += 1


class _Scanner:
    def __init__(self, data: bytes, path: str) -> None:
        self.data = data
        self.path = path
        self.project = _Project()
        self.master = _Track(track_id="master", line=0)
        self.tracks: list[_Track] = []
        self.folders: list[str] = []  # ids of the folder parents enclosing the next track
        self.stack: list[_Frame] = []
        self.context_kind = ""  # the type name of the context whose statement is being read (for _PLAUSIBLE)

    # -- errors ------------------------------------------------------------------------------------------
    def error(self, line: int | None, what: str) -> FormatError:
        where = f"{self.path}:{line}" if line is not None else self.path
        return FormatError(f"{where}: {what}")

    # -- the one pass ------------------------------------------------------------------------------------
    def run(self) -> tuple[Session, RppDocument]:
        data = self.data
        if len(data) > MAX_BYTES:
            raise self.error(None, f"file too large ({len(data)} bytes); expected at most {MAX_BYTES} bytes")
        if not data.strip(b" \t\r\n\xef\xbb\xbf"):
            raise self.error(None, "empty file; expected a REAPER project starting with <REAPER_PROJECT")
        nul = data.find(b"\x00")
        end = len(data)
        if nul >= 0:
            # REAPER opens a project followed by NUL padding (a REAPER 7 backup ends with one NUL, and so do
            # crash-interrupted saves): only the text before it is read, and the bytes are kept as they are.
            if data[nul:].strip(b"\x00 \t\r\n"):
                line = data.count(b"\n", 0, nul) + 1
                raise self.error(line, f"binary data (NUL byte at offset {nul}); expected a text .rpp")
            end = nul

        seen_root = False
        closed_at = 0
        number = 0
        for number, start, content in _lines(data[:end]):
            if not seen_root:
                if not content.startswith(b"<REAPER_PROJECT"):
                    raise self.error(
                        number,
                        f"not a REAPER project (starts with {content[:24]!r}); expected <REAPER_PROJECT",
                    )
                seen_root = True
                self.header(self.tokenize(content, start, number))
                self.stack.append(_Frame("REAPER_PROJECT", number, self.project))
                continue
            first = content[0]
            if not self.stack:
                if first == 0x3E:  # '>'
                    raise self.error(
                        number,
                        f"'>' with no open block (project closed at line {closed_at}); expected end of file",
                    )
                raise self.error(
                    number,
                    f"content after the end of the project ({content[:24]!r}, project closed at line "
                    f"{closed_at}); expected end of file",
                )
            if first == 0x3E:  # '>'
                frame = self.stack.pop()
                self.close(frame)
                if not self.stack:
                    closed_at = number
                continue
            if first == 0x3C:  # '<'
                if len(self.stack) >= MAX_DEPTH:
                    raise self.error(number, f"blocks nested deeper than {MAX_DEPTH}; expected at most {MAX_DEPTH}")
                name = content.split(None, 1)[0][1:].decode("ascii", "replace")
                parent = self.stack[-1].context
                context = self.open(parent, name, content, start, number)
                self.stack.append(_Frame(name, number, context))
                continue
            context = self.stack[-1].context
            if context is None:
                continue
            if isinstance(context, _Text):
                if first == 0x7C:  # '|': the rest of the line is raw text
                    context.lines.append(content[1:].decode("utf-8", "replace"))
                continue
            words = content.split(None, 1)
            if words and words[0] in _KEYWORDS:
                self.statement(context, words[0], content, start, number)

        if not seen_root:
            raise self.error(None, "empty file; expected a REAPER project starting with <REAPER_PROJECT")
        if self.stack:
            inner = self.stack[-1]
            raise self.error(
                number,
                f"truncated file ({len(self.stack)} block(s) still open at end of file, innermost "
                f"<{inner.name} from line {inner.line}); expected every '<' block closed by '>'",
            )
        return self.build()

    def tokenize(self, content: bytes, start: int, number: int) -> _Line:
        """The first _MAX_TOKENS tokens of a line (no statement has more; a line of millions costs no memory)."""
        if b'"' not in content and b"'" not in content and b"`" not in content:
            bare = [m.group() for m in itertools.islice(_BARE.finditer(content), _MAX_TOKENS)]
            return _Line(number, bare, content, start, False)  # the common, fast case
        tokens: list[bytes] = []
        for match in _TOKEN.finditer(content):
            group = match.lastindex or 4
            token = match.group(group)
            if group == 4 and token[0] in _QUOTES:
                shown = content[:60].decode("utf-8", "replace")
                raise self.error(number, f"unterminated quote in line ({shown!r}); expected a closing {chr(token[0])}")
            if len(tokens) < _MAX_TOKENS:
                tokens.append(token)
        return _Line(number, tokens, content, start, True)

    def number(self, line: _Line, index: int, default: float) -> float:
        if index >= len(line.tokens):
            return default
        keyword = line.tokens[0]
        where = _PLAUSIBLE.get((self.context_kind, keyword, index), _FLAG)
        try:
            return _read_number(line.tokens[index], where)
        except _Invalid as exc:
            raise _Invalid(f"{keyword.decode('ascii', 'replace')} field {index} {exc}") from None

    def span(self, line: _Line, index: int, decimals: int) -> NumberSpan | None:
        if index >= len(line.tokens):
            return None
        start, end = line.span(index)
        value = self.number(line, index, 0.0)
        if b"," in line.tokens[index]:  # rewriting it would replace text we read by REAPER's rules, not Python's
            raise _Invalid(
                f"{line.text(0)} field {index} ({line.text(index)!r}) has a decimal comma; expected a plain number "
                "(a gain is only rewritten where it reads unambiguously)"
            )
        return NumberSpan(start, end, line.number, decimals, value)

    # -- structure ---------------------------------------------------------------------------------------
    def header(self, line: _Line) -> None:
        # <REAPER_PROJECT 0.1 "6.13/OSX64" 1596466608; the legacy format stops after 0.1
        self.project.version = line.text(2)

    def open(self, parent: _Context, keyword: str, content: bytes, start: int, number: int) -> _Context:
        if isinstance(parent, _Project):
            if keyword == "TRACK":
                track = _Track(
                    track_id=f"track:{len(self.tracks)}",
                    line=number,
                    parent_id=self.folders[-1] if self.folders else None,
                )
                self.tracks.append(track)
                return track
            if keyword in ("MASTERVOLENV2", "MASTERVOLENV"):
                envelope = _Envelope(keyword)
                self.master.envelopes.append(envelope)
                return envelope
            if keyword == "MASTERFXLIST":
                return _FxChain(self.master)
            return None
        if isinstance(parent, _Track):
            if keyword == "ITEM":
                item = _Item(number)
                parent.items.append(item)
                return item
            if keyword == "FREEZE":
                parent.frozen = True
                return _Freeze(parent)
            if keyword == "FXCHAIN":
                return _FxChain(parent)
            if keyword in ("VOLENV2", "VOLENV"):
                envelope = _Envelope(keyword)
                parent.envelopes.append(envelope)
                return envelope
            if keyword == "NAME":
                return _Text(parent)
            return None
        if isinstance(parent, _Freeze):
            if keyword == "ITEM":
                item = _Item(number)
                parent.track.frozen_items.append(item)
                return item
            return None
        if isinstance(parent, _Item):
            take = parent.takes[-1]
            if keyword == "SOURCE":
                source = _Source(self.tokenize(content, start, number).text(1))
                if take.source is None:
                    take.source = source
                return source
            if keyword == "TAKEFX":
                return _FxChain(take)
            if keyword == "VOLENV":
                take.volume_envelope = True
            if keyword == "NAME":
                return _Text(take)
            return None
        if isinstance(parent, _Source):
            if keyword == "SOURCE":
                child = _Source(self.tokenize(content, start, number).text(1))
                if parent.child is None:
                    parent.child = child
                return child
            return None
        if isinstance(parent, _FxChain):
            if keyword in _PLUGIN_BLOCKS and not parent.bypassed:
                if isinstance(parent.owner, _Track):
                    parent.owner.plugins += 1
                else:
                    parent.owner.fx = True
            parent.bypassed = False
            return None
        return None

    def close(self, frame: _Frame) -> None:
        context = frame.context
        if isinstance(context, _Track):
            # ISBUS is applied after the track: the folder it opens or closes starts/ends with the next one.
            if context.folder == 1:
                self.folders.append(context.track_id)
            elif context.folder == 2 and context.folder_close < 0:
                del self.folders[max(0, len(self.folders) + context.folder_close) :]
        elif isinstance(context, _Text) and context.lines:
            context.owner.exact_name = "\n".join(context.lines)

    def statement(self, context: _Context, keyword: bytes, content: bytes, start: int, number: int) -> None:
        """One statement; an implausible number skips the enclosing item or track, or refuses the session (see
        _PLAUSIBLE)."""
        self.context_kind = type(context).__name__
        try:
            self.dispatch(context, keyword, content, start, number)
        except _Invalid as exc:
            owner = next((f.context for f in reversed(self.stack) if isinstance(f.context, _Item | _Track)), None)
            if owner is None or (isinstance(owner, _Track) and keyword in _STRUCTURE):
                raise self.error(number, str(exc)) from None
            owner.invalid = owner.invalid or f"line {number}: {exc}"

    def dispatch(self, context: _Context, keyword: bytes, content: bytes, start: int, number: int) -> None:
        if isinstance(context, _Item):
            self.item_statement(context, keyword, content, start, number)
        elif isinstance(context, _Source):
            self.source_statement(context, keyword, content, start, number)
        elif isinstance(context, _Envelope):
            self.envelope_statement(context, keyword, content, start, number)
        elif isinstance(context, _Track):
            self.track_statement(context, keyword, content, start, number)
        elif isinstance(context, _Project):
            self.project_statement(keyword, content, start, number)
        elif isinstance(context, _FxChain) and keyword == b"BYPASS":
            line = self.tokenize(content, start, number)
            # BYPASS bypassed offline wet: either flag means the next plugin does not process
            context.bypassed = self.number(line, 1, 0) != 0 or self.number(line, 2, 0) != 0

    def project_statement(self, keyword: bytes, content: bytes, start: int, number: int) -> None:
        if keyword == b"SAMPLERATE":
            # SAMPLERATE rate force ?: `force` is the "Project sample rate" box; unticked, REAPER plays at the
            # audio device's rate, which the file does not record
            line = self.tokenize(content, start, number)
            rate = int(self.number(line, 1, 0))
            if rate > 0:
                self.project.sample_rate_hz = rate
                forced = self.number(line, 2, 0) != 0
                self.project.sample_rate_source = RateSource.FORCED if forced else RateSource.PROJECT
        elif keyword == b"PANLAW":
            law = self.number(self.tokenize(content, start, number), 1, 1.0)
            self.project.pan_law_db = gain_to_db(law) if law > 0 else 0.0
        elif keyword == b"RECORD_PATH":
            line = self.tokenize(content, start, number)
            self.project.record_paths = tuple(line.text(i) for i in range(1, len(line.tokens)))
        elif keyword == b"MASTER_VOLUME":
            line = self.tokenize(content, start, number)
            self.master.volume = self.number(line, 1, 1.0)
            self.master.volume_span = self.span(line, 1, FADER_DECIMALS)
            self.master.pan = self.number(line, 2, 0.0)
        elif keyword == b"MASTERMUTESOLO":
            bits = int(self.number(self.tokenize(content, start, number), 1, 0))
            self.master.muted = bool(bits & 1)
            self.master.soloed = bool(bits & 2)
        elif keyword == b"MASTERAUTOMODE":
            self.master.auto_mode = int(self.number(self.tokenize(content, start, number), 1, 0))
        elif keyword == b"MASTER_FX":
            self.master.fx_enabled = self.number(self.tokenize(content, start, number), 1, 1) != 0

    def track_statement(self, track: _Track, keyword: bytes, content: bytes, start: int, number: int) -> None:
        if keyword == b"NAME":
            track.name = self.tokenize(content, start, number).text(1)
        elif keyword == b"VOLPAN":
            line = self.tokenize(content, start, number)
            track.volume = self.number(line, 1, 1.0)
            track.volume_span = self.span(line, 1, FADER_DECIMALS)
            track.pan = self.number(line, 2, 0.0)
        elif keyword == b"MUTESOLO":
            line = self.tokenize(content, start, number)
            track.muted = self.number(line, 1, 0) != 0
            track.soloed = self.number(line, 2, 0) != 0
        elif keyword == b"ISBUS":
            line = self.tokenize(content, start, number)
            track.folder = int(self.number(line, 1, 0))
            track.folder_close = int(self.number(line, 2, 0))
        elif keyword == b"MAINSEND":
            track.main_send = self.number(self.tokenize(content, start, number), 1, 1) != 0
        elif keyword == b"AUTOMODE":
            track.auto_mode = int(self.number(self.tokenize(content, start, number), 1, 0))
        elif keyword == b"FX":
            track.fx_enabled = self.number(self.tokenize(content, start, number), 1, 1) != 0
        elif keyword == b"AUXRECV":
            line = self.tokenize(content, start, number)
            source = int(self.number(line, 1, -1))
            mode = int(self.number(line, 2, 0))
            level_db = gain_to_db(self.number(line, 3, 1.0))
            muted = " muted" if self.number(line, 5, 0) != 0 else ""
            if not muted:
                track.receive_sources.append(source)
            track.receives.append(
                f"track:{source} ({_RECEIVE_MODES.get(mode, f'mode {mode}')}, {level_db:+.1f} dB{muted})"
            )

    def item_statement(self, item: _Item, keyword: bytes, content: bytes, start: int, number: int) -> None:
        take = item.takes[-1]
        if keyword == b"POSITION":
            item.position_s = self.number(self.tokenize(content, start, number), 1, 0.0)
        elif keyword == b"LENGTH":
            item.length_s = self.number(self.tokenize(content, start, number), 1, 0.0)
        elif keyword == b"LOOP":
            item.loop = self.number(self.tokenize(content, start, number), 1, 0) != 0
        elif keyword == b"ALLTAKES":
            item.all_takes = self.number(self.tokenize(content, start, number), 1, 0) != 0
        elif keyword in (b"FADEIN", b"FADEOUT"):
            line = self.tokenize(content, start, number)
            automatic = self.number(line, 3, 0.0)  # auto-crossfade length overrides the manual one (§6)
            length = automatic if automatic > 0 else self.number(line, 2, 0.0)
            if keyword == b"FADEIN":
                item.fade_in_s = max(0.0, length)
            else:
                item.fade_out_s = max(0.0, length)
        elif keyword == b"MUTE":
            item.muted = self.number(self.tokenize(content, start, number), 1, 0) != 0
        elif keyword == b"NAME":
            take.name = self.tokenize(content, start, number).text(1)
        elif keyword == b"VOLPAN":
            # VOLPAN item_vol take0_pan take0_vol take0_panlaw; just `VOLPAN item_vol` when take 0 is empty
            line = self.tokenize(content, start, number)
            item.volume = self.number(line, 1, 1.0)
            if line.has(3):
                item.takes[0].volume = self.number(line, 3, 1.0)
                item.takes[0].volume_span = self.span(line, 3, TAKE_VOLUME_DECIMALS)
        elif keyword == b"TAKE":
            line = self.tokenize(content, start, number)
            flags = {token.upper() for token in line.tokens[1:]}
            item.takes.append(_Take(null=b"NULL" in flags))
            if b"SEL" in flags:
                item.selected_take = len(item.takes) - 1
        elif keyword == b"TAKEVOLPAN":
            line = self.tokenize(content, start, number)  # TAKEVOLPAN pan vol panlaw
            if line.has(2):
                take.volume = self.number(line, 2, 1.0)
                take.volume_span = self.span(line, 2, TAKE_VOLUME_DECIMALS)
        elif keyword == b"SOFFS":
            take.source_offset_s = self.number(self.tokenize(content, start, number), 1, 0.0)
        elif keyword == b"PLAYRATE":
            line = self.tokenize(content, start, number)  # PLAYRATE rate preserve_pitch semitones mode …
            take.rate = self.number(line, 1, 1.0)
            take.preserve_pitch = self.number(line, 2, 0) != 0
            take.pitch_semitones = self.number(line, 3, 0.0)
        elif keyword == b"CHANMODE":
            take.channel_mode = int(self.number(self.tokenize(content, start, number), 1, 0))
        elif keyword == b"SM":
            take.stretch_markers = True
        elif keyword == b"FREEZE":
            item.freeze_render = True

    def source_statement(self, source: _Source, keyword: bytes, content: bytes, start: int, number: int) -> None:
        if keyword == b"FILE":
            if source.file is None:
                source.file = self.tokenize(content, start, number).text(1)
        elif source.kind != "SECTION":
            if keyword == b"AUDIO" and source.kind == "VIDEO":
                source.audio_off = self.number(self.tokenize(content, start, number), 1, 1) == 0
        elif keyword == b"LENGTH":
            source.section_length_s = self.number(self.tokenize(content, start, number), 1, 0.0)
        elif keyword == b"STARTPOS":
            source.section_start_s = self.number(self.tokenize(content, start, number), 1, 0.0)
        elif keyword == b"MODE":
            source.mode = int(self.number(self.tokenize(content, start, number), 1, 0))

    def envelope_statement(self, envelope: _Envelope, keyword: bytes, content: bytes, start: int, number: int) -> None:
        if keyword == b"PT":
            span = self.span(self.tokenize(content, start, number), 2, ENVELOPE_POINT_DECIMALS)
            if span is not None:
                envelope.points.append(span)
        elif keyword == b"ACT":
            envelope.active = self.number(self.tokenize(content, start, number), 1, 1) != 0
        elif keyword == b"VOLTYPE":
            envelope.fader_scaled = self.number(self.tokenize(content, start, number), 1, 0) == 1

    # -- the model ---------------------------------------------------------------------------------------
    def build(self) -> tuple[Session, RppDocument]:
        spans: dict[tuple[str, EditField], tuple[NumberSpan, ...]] = {}
        automation: dict[str, Automation] = {}
        clip_status: dict[str, ClipStatus] = {}
        rpp_dir = os.path.dirname(os.path.abspath(self.path))
        clips: list[Clip] = []
        tracks: list[Track] = []
        parents = {t.parent_id for t in self.tracks if t.parent_id is not None}
        # AUXRECV lives on the receiving track and names its source by index: count them per source
        sends = Counter(source for t in self.tracks for source in t.receive_sources)
        for index, track in enumerate(self.tracks):
            track_clips = [
                self.clip(item, track, f"{track.track_id}/item:{j}", False, rpp_dir, track.frozen)
                for j, item in enumerate(track.items)
            ]
            track_clips += [
                self.clip(item, track, f"{track.track_id}/frozen:{k}", True, rpp_dir)
                for k, item in enumerate(track.frozen_items)
            ]
            for clip, item in zip(track_clips, track.items + track.frozen_items, strict=True):
                clips.append(clip)
                clip_status[clip.clip_id] = clip.status
                take = _active_take(item)
                if clip.status not in _NOT_EDITABLE and take.volume_span is not None:
                    spans[(clip.clip_id, EditField.CLIP_GAIN)] = (take.volume_span,)
            if track.folder == 1 or track.track_id in parents:
                kind = TrackKind.GROUP
            elif _is_midi_track(track.items):
                kind = TrackKind.MIDI
            else:
                kind = TrackKind.AUDIO
            name = track.exact_name or track.name or f"Track {index + 1}"  # REAPER's own label for no name
            tracks.append(self.track(track, kind, spans, automation, name=name, sends=sends.get(index, 0)))
        master = self.track(self.master, TrackKind.MASTER, spans, automation, name="MASTER")
        session = Session(
            path=self.path,
            format=NAME,
            version=self.project.version,
            tracks=tuple(tracks),
            clips=tuple(clips),
            master=master,
            pan_law_db=self.project.pan_law_db,
            sample_rate_hz=self.project.sample_rate_hz,
            sample_rate_source=self.project.sample_rate_source,
        )
        document = RppDocument(
            path=self.path,
            data=self.data,
            spans=MappingProxyType(spans),
            automation=MappingProxyType(automation),
            clip_status=MappingProxyType(clip_status),
        )
        return session, document

    def track(
        self,
        track: _Track,
        kind: TrackKind,
        spans: dict[tuple[str, EditField], tuple[NumberSpan, ...]],
        automation_of: dict[str, Automation],
        *,
        name: str,
        sends: int = 0,
    ) -> Track:
        notes: list[str] = []
        envelope = _volume_envelope(track.envelopes)
        automation = Automation.NONE
        envelope_max_db = NEG_INF
        if envelope is not None:
            if track.auto_mode == 0:
                automation = Automation.TRIM
            elif envelope.fader_scaled:
                automation = Automation.FADER_ENVELOPE
            else:
                automation = Automation.LINEAR_ENVELOPE
                envelope_max_db = gain_to_db(max(p.original for p in envelope.points))
                spans[(track.track_id, EditField.FADER_ENVELOPE)] = tuple(envelope.points)
            others = [e.name for e in track.envelopes if e is not envelope and e.active and e.points]
            if others:
                notes.append(f"also active: {', '.join(others)} (not edited)")
        automation_of[track.track_id] = automation
        fader_db = gain_to_db(track.volume)
        fader_range = (NEG_INF, FADER_MAX_DB)
        if track.invalid:  # how it plays is unknown: no span of it may be rewritten, and the planner skips it
            fader_range = (fader_db, fader_db)
            spans.pop((track.track_id, EditField.FADER_ENVELOPE), None)
        elif track.volume_span is not None:
            spans[(track.track_id, EditField.FADER)] = (track.volume_span,)
        elif kind is not TrackKind.MASTER:  # nothing to rewrite: a range of one value keeps the planner off it
            fader_range = (fader_db, fader_db)
            notes.append("no VOLPAN line: the fader plays at 0 dB and is not edited")
        if track.receives:
            notes.append("receives from " + "; ".join(track.receives))
        return Track(
            track_id=track.track_id,
            name=name,
            kind=kind,
            fader_db=fader_db,
            pan=track.pan,
            muted=track.muted,
            soloed=track.soloed,
            parent_id=track.parent_id,
            feeds_parent=track.main_send,
            frozen=track.frozen,
            has_fx=track.fx_enabled and track.plugins > 0,
            automation=automation,
            envelope_max_db=envelope_max_db,
            fader_min_db=fader_range[0],
            fader_max_db=fader_range[1],
            note="; ".join(notes),
            sends=sends,
            invalid_reason=track.invalid,
        )

    def clip(
        self, item: _Item, track: _Track, clip_id: str, frozen: bool, rpp_dir: str, on_frozen_track: bool = False
    ) -> Clip:
        """`frozen`: an original item kept inside <FREEZE>; `on_frozen_track`: an item of a frozen track itself,
        which is what REAPER made when freezing (it also carries a FREEZE line) and what plays."""
        notes: list[str] = []
        take = _active_take(item)
        chain = _source_chain(take.source)
        inner = chain[-1] if chain else None
        kind = inner.kind if inner is not None else ""

        if track.invalid:  # the track is skipped: none of its items is staged
            status = ClipStatus.INVALID
            notes.append(f"its track is skipped ({track.invalid})")
        elif frozen:
            status = ClipStatus.FROZEN
        elif item.invalid:
            status = ClipStatus.INVALID
            notes.append(item.invalid)
        elif item.muted:
            status = ClipStatus.MUTED
        elif kind in _MIDI_SOURCES:
            status = ClipStatus.MIDI
        elif (
            take.null
            or inner is None
            or kind in _NON_AUDIO_SOURCES
            or not inner.file
            or inner.audio_off
            or take.volume_span is None
        ):
            status = ClipStatus.EMPTY
        elif item.all_takes:
            status = ClipStatus.ALL_TAKES
        elif item.freeze_render or on_frozen_track:
            status = ClipStatus.FREEZE_RENDER
        else:
            status = ClipStatus.ACTIVE

        media = None
        if inner is not None and inner.file and kind not in _MIDI_SOURCES:
            media = _media_ref(inner.file, kind, rpp_dir, self.project.record_paths)

        window_start_s, window_length_s, reverse, approximate = _window(chain)
        if approximate:
            notes.append("nested SECTION sources approximated")
        channel_mode = _CHANNEL_MODES.get(take.channel_mode)
        if channel_mode is None:
            notes.append(f"CHANMODE {take.channel_mode} (channel pair) treated as normal")
            channel_mode = ChannelMode.NORMAL
        rate = take.rate
        if not rate > 0:
            notes.append(f"PLAYRATE {rate} treated as 1")
            rate = 1.0
        if take.fx:
            notes.append("take FX present: measured pre-FX")
        if take.stretch_markers:
            notes.append("stretch markers ignored")
        if take.preserve_pitch and take.pitch_semitones:
            notes.append(f"pitch shift {take.pitch_semitones:+g} st ignored (measured at the source's pitch)")
        if take.volume_envelope:
            notes.append("take volume envelope ignored")
        return Clip(
            clip_id=clip_id,
            track_id=track.track_id,
            name=take.exact_name or take.name,
            status=status,
            media=media,
            segments=(Segment(item.position_s, item.length_s, take.source_offset_s, rate),),
            gain_db=gain_to_db(take.volume),
            fixed_gain_db=gain_to_db(item.volume),
            polarity_inverted=take.volume < 0,
            fade_in_s=item.fade_in_s,
            fade_out_s=item.fade_out_s,
            channel_mode=channel_mode,
            source_window_start_s=window_start_s,
            source_window_length_s=window_length_s,
            loop=item.loop,
            reverse=reverse,
            stretch=take.preserve_pitch,
            gain_max_db=CLIP_GAIN_MAX_DB,
            note="; ".join(notes),
        )


# --------------------------------------------------------------------------------------------------------
# Helpers for the model


def _active_take(item: _Item) -> _Take:
    index = item.selected_take if item.selected_take is not None else 0
    return item.takes[index]


def _source_chain(source: _Source | None) -> list[_Source]:
    chain: list[_Source] = []
    while source is not None:
        chain.append(source)
        source = source.child
    return chain


def _is_midi_track(items: list[_Item]) -> bool:
    """At least one MIDI item and no audio item; empty/text/click items do not count either way."""
    has_midi = False
    for item in items:
        chain = _source_chain(_active_take(item).source)
        if not chain:
            continue
        inner = chain[-1]
        if inner.kind in _MIDI_SOURCES:
            has_midi = True
        elif inner.file and inner.kind not in _NON_AUDIO_SOURCES and not inner.audio_off:
            return False
    return has_midi


def _volume_envelope(envelopes: list[_Envelope]) -> _Envelope | None:
    """The active post-FX volume envelope with points, else the pre-FX one (§8)."""
    for name in ("VOLENV2", "MASTERVOLENV2", "VOLENV", "MASTERVOLENV"):
        for envelope in envelopes:
            if envelope.name == name and envelope.active and envelope.points:
                return envelope
    return None


def _window(chain: list[_Source]) -> tuple[float, float | None, bool, bool]:
    """(window start, window length, reverse, approximated) of the SECTION wrappers around the file.

    Each SECTION maps a position p inside it to ``start + p`` in the source it wraps, or to
    ``start + length - p`` with MODE 2 (section reversed). Composing those maps from the outside in gives
    ``a + s * p`` with s = ±1, which is exactly the model's (window start, length, reverse). MODE 3 reverses
    the whole source, whose length we do not know here: exact only when it is the only wrapper.
    """
    sections = [s for s in chain if s.kind == "SECTION"]
    if not sections:
        return 0.0, None, False, False
    if any(s.mode == 3 for s in sections):
        return 0.0, None, True, len(sections) > 1
    offset, slope = 0.0, 1.0
    outer_length = sections[0].section_length_s
    window_length = outer_length if outer_length is not None and outer_length > 0 else None
    approximate = False
    for section in sections:
        length = section.section_length_s if section.section_length_s and section.section_length_s > 0 else None
        if section.mode == 2:
            if length is None:
                approximate = True
                offset, slope = section.section_start_s + offset, slope
            else:
                offset, slope = section.section_start_s + length - offset, -slope
        else:
            offset = section.section_start_s + offset
    if slope > 0:
        return offset, window_length, False, approximate
    if window_length is None:
        return 0.0, None, True, True
    return offset - window_length, window_length, True, approximate


def _media_ref(written: str, kind: str, rpp_dir: str, record_paths: tuple[str, ...]) -> MediaRef:
    """Candidate locations in the order of the resolver in §7 (strings only, no filesystem access)."""
    posix_absolute = written.startswith("/")
    # a POSIX absolute path may hold a literal backslash in a file name; elsewhere "\\" is a separator
    file_name = written.rsplit("/", 1)[-1] if posix_absolute and "\\" in written else re.split(r"[\\/]", written)[-1]
    candidates: list[str] = []
    if absolute(written):
        candidates.append(written)
    else:
        candidates.append(os.path.normpath(os.path.join(rpp_dir, written.replace("\\", "/"))))
    if file_name:
        for folder in record_paths:
            if not folder or windows_absolute(folder):
                continue
            candidates.append(os.path.normpath(os.path.join(rpp_dir, folder.replace("\\", "/"), file_name)))
        candidates.append(os.path.normpath(os.path.join(rpp_dir, file_name)))
    unique = tuple(dict.fromkeys(candidates))
    return MediaRef(
        written_path=written,
        candidate_paths=unique,
        file_name=file_name,
        search_roots=(rpp_dir,),
        source_kind=kind,
    )
