"""Ableton Live Set (.als) reader and splicing writer, Live 8-12 (FORMAT-ALS.md is the authority).

Document structure: an ``.als`` is gzip (or plain) UTF-8 XML ``<Ableton MinorVersion=…><LiveSet>``; tracks sit
in ``LiveSet/Tracks``, the master in ``LiveSet/MasterTrack`` (<= 11) or ``LiveSet/MainTrack`` (12), and every
editable number is the ``Value`` attribute of one element (SampleVolume, Volume/Manual, FloatEvent).

Reading: lxml (no DTD, no entities, no network) builds the tree; explicit paths (never ``.//Tempo``) pick out
tracks, mixers, clips, envelopes and the tempo map. Writing never re-serializes: at parse time the document
records the byte span of each editable ``Value="…"`` in the decompressed XML, found by numbering elements in
document order (lxml) and counting start tags in the bytes with a small tag scanner; ``apply`` replaces
exactly
those spans. lxml's ``sourceline`` is never used (it drifts past 65,535 lines, FORMAT-ALS.md §9.2).

Decisions (see also the docstrings below):

* Tempo ramps are integrated exactly (60/BPM over a linear BPM ramp). Live's own warp markers on
  ``L12.3.2_pyableton_…`` agree with exact integration to about 1e-6 s over a 162→150 BPM ramp, so positions
  are not quantised to 16ths. Inside a ramp a warped clip's rate changes continuously; it is cut into one
  segment per 16th note (0.25 beat) whose rate is the exact chord, so segment ends are exact.
* Bezier tempo curves (``CurveControl*``, Live 11+) are treated as linear ramps (no corpus set has one).
* Fades: ``Fades/FadeInLength``/``FadeOutLength`` are used whatever ``Fade`` says. ``Fade`` is the clip's
  declick switch; arrangement fade handles play with ``Fade`` false too (slamka engage2 has such clips).
* Session-view clips get segments as if launched at timeline 0, so they can be measured for the report.
* ``pan_law_db`` is -3.0: Live's default stereo pan is constant-power-like (about -3 dB at centre relative to
  hard-panned). ``sample_rate_hz`` stays 48000: a Live set stores no project sample rate.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from lxml import etree

from gainstager.errors import FormatError, WriteError
from gainstager.model import (
    Automation,
    Clip,
    ClipStatus,
    Edit,
    EditField,
    Fingerprint,
    MediaRef,
    Segment,
    Session,
    Track,
    TrackKind,
)
from gainstager.units import NEG_INF, db_to_gain, gain_to_db

from .base import absolute as is_absolute
from .base import check_edits, splice

NAME: Final = "als"
SUFFIXES: Final = (".als",)

MAX_XML_BYTES: Final = 512 * 1024 * 1024  # decompressed size cap (the largest real set seen is 41 MB)
# Real sets compress 15-25x (the corpus); past 64 MiB of XML, a file that inflates more than this is a bomb.
MAX_GZIP_RATIO: Final = 100
_MIN_RATIO_CAP: Final = 64 * 1024 * 1024
# Tags ('<') per document and per byte: the largest real set has 720,000 in 27.5 MB (38 bytes each); lxml spends
# about 120 bytes per element, so these keep a parse under about 500 MB and under 15x the XML's size.
MAX_XML_TAGS: Final = 4_000_000
MIN_BYTES_PER_TAG: Final = 8
_CHUNK: Final = 1 << 20

FADER_MIN_GAIN: Final = 0.0003162277571  # -70 dB, Live 9-12 MidiControllerRange Min (FORMAT-ALS.md §4)
FADER_MAX_GAIN: Final = 1.99526238  # +6.0 dB, MidiControllerRange Max
FADER_MAX_DB: Final = 6.0
FADER_MIN_DB: Final = -70.0
CLIP_GAIN_MAX: Final = 15.8489  # +24 dB (assumed UI maximum; highest observed 15.18, FORMAT-ALS.md §13)
CLIP_GAIN_MAX_DB: Final = 24.0
PAN_LAW_DB: Final = -3.0
CRC_BYTES: Final = 16384  # Live checks a sample found elsewhere by the CRC of its first 16 KiB (MaxCrcSize)

SENTINEL_TIME: Final = -63072000.0  # "value before the first point" event time (FORMAT-ALS.md §5)
_RAMP_STEP_BEATS: Final = 0.25  # warped clips inside a tempo ramp: one segment per 16th note
_MAX_SEGMENTS_PER_CLIP: Final = 100_000
_MAX_RATE: Final = 1000.0  # source seconds per second: far beyond any warp, and positions stay exact in int64
_TYPE3_ANCESTOR_LEVELS: Final = 3


# --- version quirks ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Quirks:
    master_tag: str  # LiveSet child holding the master track
    master_mixer: str  # path from the master track to its Mixer
    track_envelopes: bool  # track-level AutomationEnvelopes (PointeeId) rather than per-parameter events
    string_paths: bool  # FileRef RelativePath@Value + Path (else RelativePathElement list + Data)
    take_lanes: bool


# Keyed by the major version from MinorVersion ("12.0_12300" -> 12); see FORMAT-ALS.md §2 and §10.
_QUIRKS: Final[dict[int, _Quirks]] = {
    # Live 8.1.4/8.2.1 (8.1_226): MasterChain instead of DeviceChain; mixer values live only in the sentinel
    # FloatEvent of ArrangerAutomation (no Manual); RelativePathElement + hex Data paths.
    8: _Quirks("MasterTrack", "MasterChain/Mixer", False, False, False),
    # Live 9.0-9.7 (9.0_305, 9.5_326/327): Manual plus per-parameter ArrangerAutomation/Events.
    9: _Quirks("MasterTrack", "DeviceChain/Mixer", False, False, False),
    # Live 10.0/10.1 (10.0_370/377): track-level AutomationEnvelopes keyed by AutomationTarget Id.
    10: _Quirks("MasterTrack", "DeviceChain/Mixer", True, False, False),
    # Live 11.0-11.3 (11.0_433 … 11.0_11300): RelativePath@Value + Path strings; TakeLanes.
    11: _Quirks("MasterTrack", "DeviceChain/Mixer", True, True, True),
    # Live 12.0-12.4 (12.0_12043 … 12.0_12402): MainTrack replaces MasterTrack, AudioOut/Main AudioOut/Master.
    12: _Quirks("MainTrack", "DeviceChain/Mixer", True, True, True),
}
_OLDEST: Final = min(_QUIRKS)
_NEWEST: Final = max(_QUIRKS)

_TRACK_KINDS: Final[dict[str, TrackKind]] = {
    "AudioTrack": TrackKind.AUDIO,
    "MidiTrack": TrackKind.MIDI,
    "GroupTrack": TrackKind.GROUP,
    "ReturnTrack": TrackKind.RETURN,
}
# Output routing targets that sum into the parent (group) or the master; anything else (another track's
# input, External, Sends Only, None) leaves the master sum. FORMAT-ALS.md §3.
_FEEDS_MASTER: Final = frozenset({"AudioOut/Master", "AudioOut/Main"})
_FEEDS_GROUP: Final = "AudioOut/GroupTrack"


# --- the document -----------------------------------------------------------------------------------------


class _Slot(Enum):
    CLIP_GAIN = "clip_gain"  # AudioClip/SampleVolume
    FADER = "fader"  # Mixer/Volume/Manual (+ Live 9 unautomated sentinel, Live 8 sentinel)
    ENVELOPE = "envelope"  # every FloatEvent of the track's volume envelope


@dataclass(frozen=True, slots=True)
class _Span:
    start: int  # byte offsets of the attribute value (inside the quotes) in the decompressed XML
    end: int
    tag: str
    low: float  # clamp range for this value
    high: float


@dataclass(frozen=True, slots=True)
class AlsDocument:
    """Everything `apply` needs: the decompressed XML and where each editable value sits in it."""

    path: str
    xml: bytes
    gzipped: bool
    gzip_os: int  # the input's gzip OS byte, kept on output
    major_version: int
    spans: dict[tuple[_Slot, str], tuple[_Span, ...]] = field(default_factory=dict)
    original: bytes = b""  # the file as read: returned unchanged when no value changes


# --- container and safe parsing ---------------------------------------------------------------------------


def sniff(data: bytes, path: str) -> bool:
    """gzip with an .als suffix, or XML whose first KiB names ``<Ableton``."""
    if data[:2] == b"\x1f\x8b":
        return path.lower().endswith(SUFFIXES)
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<?xml") and b"<Ableton" in head


def _gunzip(data: bytes, path: str, cap: int) -> bytes:
    """The XML inside, every gzip member in turn (RFC 1952 §2.2; zlib's gzread does the same), at most
    `cap` bytes and at most MAX_GZIP_RATIO times the compressed size (past 64 MiB): a bomb stops early."""
    cap = min(cap, max(_MIN_RATIO_CAP, MAX_GZIP_RATIO * len(data)))
    parts: list[bytes] = []
    total = 0
    pending = data
    try:
        while pending:
            if pending[:2] != b"\x1f\x8b":
                raise FormatError(
                    f"{path}: {len(pending)} bytes of trailing data after the gzip stream "
                    f"(starting {pending[:8]!r}); expected the file to end with it"
                )
            inflater = zlib.decompressobj(wbits=31)
            while True:
                chunk = inflater.decompress(pending, _CHUNK)
                total += len(chunk)
                if total > cap:
                    raise FormatError(
                        f"{path}: decompressed size (over {cap} bytes from {len(data)}); expected at most "
                        f"{cap} bytes (MAX_XML_BYTES, and at most {MAX_GZIP_RATIO}x the file past 64 MiB)"
                    )
                parts.append(chunk)
                pending = inflater.unconsumed_tail
                if inflater.eof or (not pending and not chunk):
                    break
            if not inflater.eof:
                raise FormatError(
                    f"{path}: truncated gzip ({len(data)} bytes read, stream not finished); expected a complete file"
                )
            pending = inflater.unused_data
    except zlib.error as exc:
        raise FormatError(f"{path}: corrupt gzip data ({exc}); expected a gzip-compressed Live set") from None
    return b"".join(parts)


_PROLOG_ITEM = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->)", re.S)  # the XML declaration, PIs, comments


def _reject_dtd(xml: bytes, path: str) -> None:
    """Refuse a DOCTYPE (or any other declaration) before the root element, however it is hidden."""
    pos = 3 if xml.startswith(b"\xef\xbb\xbf") else 0
    while (item := _PROLOG_ITEM.match(xml, pos)) is not None:
        pos = item.end()
    rest = xml[pos : pos + 64].lstrip()
    if rest.startswith(b"<!"):
        word = rest[2:].split(None, 1)[0][:16].decode("ascii", "replace") if rest[2:].split() else ""
        raise FormatError(
            f"{path}: XML declares a DTD ({word!r}); expected a Live set without DOCTYPE "
            "or entity declarations (refused: entity expansion attacks)"
        )


def _check_size(xml: bytes, path: str) -> None:
    """Bound what lxml will spend: tags in all, and tags per byte (millions of ``<a/>`` cost ~30x their size)."""
    tags = xml.count(b"<")
    limit = min(MAX_XML_TAGS, len(xml) // MIN_BYTES_PER_TAG + 1000)
    if tags > limit:
        raise FormatError(
            f"{path}: XML with {tags} tags in {len(xml)} bytes; expected at most {limit} "
            f"(at most {MAX_XML_TAGS}, and one per {MIN_BYTES_PER_TAG} bytes on average)"
        )


def _parse_xml(xml: bytes, path: str) -> etree._Element:
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        # Plugin states can pass libxml2's default 10 MB per text node, so its huge mode stays on: depth is still
        # capped (2048) and _check_size has bounded the element count and the size before this point.
        huge_tree=True,
        load_dtd=False,
        dtd_validation=False,
        remove_blank_text=False,
    )
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError as exc:
        msg = " ".join(str(exc.msg or "unknown error").split())  # libxml2 messages may hold newlines
        raise FormatError(f"{path}: broken XML ({msg}); expected a well-formed Live set") from None
    if root.getroottree().docinfo.internalDTD is not None:
        raise FormatError(f"{path}: XML declares a DTD; expected a Live set without DOCTYPE")
    if root.tag != "Ableton":
        raise FormatError(f"{path}: root element ({root.tag!s}); expected <Ableton>")
    return root


def _major_version(root: etree._Element, path: str) -> int:
    minor = root.get("MinorVersion", "")
    head = minor.split(".", 1)[0]
    if not head.isdigit():
        raise FormatError(f"{path}: MinorVersion ({minor!r}); expected '<major>.<minor>_<build>' like '12.0_12300'")
    major = int(head)
    if major < _OLDEST:
        raise FormatError(
            f"{path}: Live version ({minor!r}, {root.get('Creator', '?')!r}); expected Live {_OLDEST} or newer"
        )
    return major


# --- number helpers ---------------------------------------------------------------------------------------


class _Invalid(Exception):
    """A number that is not one, or not plausible: skips the clip it sits in, or refuses the set."""


_BEATS: Final = 1_000_000.0  # beats or source seconds: 8 days at 120 BPM
_DAY_S: Final = 86_400.0  # the longest a clip may play: measuring costs what it plays

# The plausible range of every number read, by the element (or attribute) holding it. A value that is not a plain
# decimal number, not finite or out of range skips the clip it sits in (ClipStatus.INVALID, with the reason); in a
# track's mixer or its volume envelope, that track (Track.invalid_reason; its clips are INVALID too); anywhere else
# (the master's mixer, the tempo) it refuses the set.
_PLAUSIBLE: Final[dict[str, tuple[float, float]]] = {
    "SampleVolume": (0.0, 1000.0),  # linear clip gain; Live's handle stops at +24 dB (15.85), FORMAT-ALS.md §7
    "Volume": (0.0, 1000.0),  # linear fader and its envelope points; Live's range is -70..+6 dB (§4)
    "Pan": (-1.0, 1.0),
    "Send": (0.0, 1000.0),  # linear send level
    "Tempo": (1.0, 1000.0),  # BPM; Live offers 20-999
    "CurrentStart": (-_BEATS, _BEATS),
    "CurrentEnd": (-_BEATS, _BEATS),
    "LoopStart": (-_BEATS, _BEATS),
    "LoopEnd": (-_BEATS, _BEATS),
    "StartRelative": (-_BEATS, _BEATS),
    "FadeInLength": (-1.0, _BEATS),  # tiny negative lengths occur (-2.5e-8 in the corpus) and count as 0
    "FadeOutLength": (-1.0, _BEATS),
    "PitchCoarse": (-48.0, 48.0),  # semitones; Live offers -48..+48
    "PitchFine": (-100.0, 100.0),  # cents; Live offers -50..+50
    "BeatTime": (-_BEATS, _BEATS),  # warp markers
    "SecTime": (-_BEATS, _BEATS),
    "Time": (SENTINEL_TIME, _BEATS),  # automation event times, the "before the first point" sentinel included
    "RelativePathType": (0.0, 255.0),
    "WarpMode": (0.0, 255.0),  # Beats, Tones, Texture, Re-Pitch, Complex, Complex Pro (0-6)
    "FileSize": (0.0, 2.0**53),
    "OriginalFileSize": (0.0, 2.0**53),
    "Crc": (0.0, 65535.0),  # CRC-16
    "OriginalCrc": (0.0, 65535.0),
}
_PLAIN_NUMBER: Final = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _number(text: str, name: str) -> float:
    """`text` as a number, if it is a plain decimal one, finite and inside the range of `name`; else _Invalid."""
    low, high = _PLAUSIBLE[name]
    value = float(text) if _PLAIN_NUMBER.fullmatch(text) else math.nan
    if not low <= value <= high:
        raise _Invalid(f"{name} ({text[:40]!r}); expected a number from {low:g} to {high:g}")
    return value


def _float(el: etree._Element | None, default: float = 0.0, name: str | None = None) -> float:
    """The element's Value (`default` when the element or the attribute is missing), checked against the range
    of `name` (default: the element's tag)."""
    if el is None:
        return default
    text = el.get("Value")
    return default if text is None else _number(text, name or str(el.tag))


def _bool(el: etree._Element | None, default: bool = False) -> bool:
    if el is None:
        return default
    text = el.get("Value")
    return default if text is None else text.strip().lower() == "true"


def format_value(value: float) -> str:
    """Live's number style: fixed point, 10 significant digits, trailing zeros stripped ("0.8912508488")."""
    if not math.isfinite(value):
        raise WriteError(f"value ({value}); expected a finite number")
    if value == 0.0:
        return "0"
    decimals = min(20, max(0, 9 - math.floor(math.log10(abs(value)))))
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# --- tempo map --------------------------------------------------------------------------------------------


class TempoMap:
    """Arrangement beats -> seconds, integrating 60/BPM over a piecewise-linear BPM curve.

    Points are (beat, bpm); two points at one beat are a jump; the tempo is constant before the first and
    after the last point. Linear ramps are integrated exactly (see the module docstring).
    """

    def __init__(self, points: Sequence[tuple[float, float]]) -> None:
        pts = sorted(points, key=lambda p: p[0])  # stable: same-beat jumps keep document order
        if not pts:
            raise ValueError("tempo map needs at least one point")
        self._beats = [b for b, _ in pts]
        self._bpms = [v for _, v in pts]
        self._secs = [0.0]
        for i in range(1, len(pts)):
            self._secs.append(self._secs[-1] + self._piece(i - 1, self._beats[i]))
        self._origin = self._before(0.0)

    def _piece(self, i: int, beat: float) -> float:
        """Seconds from point i to `beat` (beat >= point i, within its piece)."""
        b0, v0 = self._beats[i], self._bpms[i]
        db = beat - b0
        if db <= 0.0:
            return 0.0
        if i + 1 >= len(self._beats):
            return 60.0 * db / v0
        b1, v1 = self._beats[i + 1], self._bpms[i + 1]
        if b1 <= b0 or v1 == v0:
            return 60.0 * db / v0
        slope = (v1 - v0) / (b1 - b0)
        return 60.0 / slope * math.log1p(slope * db / v0)

    def _before(self, beat: float) -> float:
        """Seconds from the first point to `beat` (negative before it)."""
        if beat <= self._beats[0]:
            return (beat - self._beats[0]) * 60.0 / self._bpms[0]
        lo, hi = 0, len(self._beats) - 1
        while lo < hi:  # last point with beats[i] <= beat
            mid = (lo + hi + 1) // 2
            if self._beats[mid] <= beat:
                lo = mid
            else:
                hi = mid - 1
        return self._secs[lo] + self._piece(lo, beat)

    def seconds(self, beat: float) -> float:
        """Timeline seconds of arrangement `beat` (beat 0 is 0 s)."""
        return self._before(beat) - self._origin

    def breakpoints(self, start: float, end: float) -> list[float]:
        """Beats in (start, end) where the tempo curve bends, plus a 16th grid inside ramps."""
        out: list[float] = []
        n = len(self._beats)
        for i in range(n):
            b0 = self._beats[i]
            if start < b0 < end:
                out.append(b0)
            if i + 1 < n:
                b1 = self._beats[i + 1]
                if b1 > b0 and self._bpms[i + 1] != self._bpms[i] and b1 > start and b0 < end:
                    k = math.floor(max(b0, start) / _RAMP_STEP_BEATS) + 1
                    while (x := k * _RAMP_STEP_BEATS) < min(b1, end) and len(out) <= _MAX_SEGMENTS_PER_CLIP:
                        if x > start:
                            out.append(x)
                        k += 1
        return out


# --- warp map ---------------------------------------------------------------------------------------------


class _WarpMap:
    """Clip beats -> source seconds, piecewise linear through the WarpMarkers, extrapolating at both ends."""

    def __init__(self, markers: Sequence[tuple[float, float]]) -> None:
        pts = sorted(markers)
        dedup: list[tuple[float, float]] = []
        for beat, sec in pts:
            if dedup and beat - dedup[-1][0] < 1e-12:
                continue
            dedup.append((beat, sec))
        if not dedup:
            dedup = [(0.0, 0.0)]
        if len(dedup) == 1:  # one marker: Live's default 120 BPM grid around it
            dedup.append((dedup[0][0] + 1.0, dedup[0][1] + 0.5))
        self.beats = [b for b, _ in dedup]
        self.secs = [s for _, s in dedup]

    def __call__(self, beat: float) -> float:
        b, s = self.beats, self.secs
        if beat <= b[0]:
            i = 0
        elif beat >= b[-1]:
            i = len(b) - 2
        else:
            lo, hi = 0, len(b) - 2
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if b[mid] <= beat:
                    lo = mid
                else:
                    hi = mid - 1
            i = lo
        return s[i] + (s[i + 1] - s[i]) * (beat - b[i]) / (b[i + 1] - b[i])


# --- segments ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ClipTiming:
    start_beat: float  # CurrentStart (arrangement beats)
    end_beat: float  # CurrentEnd
    loop_start: float  # clip time: beats (warped) or source seconds (unwarped)
    loop_end: float
    start_relative: float
    loop_on: bool
    warped: bool
    pitch_rate: float  # unwarped playback speed from PitchCoarse/PitchFine


def _merge(segments: Iterable[Segment]) -> list[Segment]:
    out: list[Segment] = []
    for seg in segments:
        if out:
            prev = out[-1]
            joined = abs(prev.timeline_end_s - seg.timeline_start_s) <= 1e-9
            same_rate = abs(prev.rate - seg.rate) <= 1e-9 * max(1.0, abs(prev.rate))
            expected = prev.source_start_s + prev.rate * prev.duration_s
            if joined and same_rate and abs(expected - seg.source_start_s) <= 1e-7:
                out[-1] = Segment(
                    prev.timeline_start_s, prev.duration_s + seg.duration_s, prev.source_start_s, prev.rate
                )
                continue
        out.append(seg)
    return out


def _iterations(t: _ClipTiming, length: float) -> list[tuple[float, float, float]]:
    """(elapsed_from, elapsed_to, clip_pos_at_from) runs of contiguous clip time over `length` elapsed."""
    runs: list[tuple[float, float, float]] = []
    pos = t.loop_start + t.start_relative if t.loop_on else t.loop_start
    loop_len = t.loop_end - t.loop_start
    elapsed = 0.0
    while elapsed < length - 1e-12:
        if pos >= t.loop_end - 1e-12:
            if not t.loop_on or loop_len <= 1e-9:
                break
            pos = t.loop_start + math.fmod(pos - t.loop_start, loop_len) if pos > t.loop_end else t.loop_start
        run = min(t.loop_end - pos, length - elapsed)
        runs.append((elapsed, elapsed + run, pos))
        elapsed += run
        pos += run
        if len(runs) > _MAX_SEGMENTS_PER_CLIP:
            break
    return runs


def clip_segments(t: _ClipTiming, tempo: TempoMap, warp: _WarpMap | None, offset_beats: float = 0.0) -> list[Segment]:
    """Segments of one clip. `offset_beats` moves the clip on the timeline (session clips: to beat 0)."""
    start_beat = t.start_beat + offset_beats
    end_beat = t.end_beat + offset_beats
    if end_beat <= start_beat:
        return []
    out: list[Segment] = []
    if not t.warped or warp is None:
        t0 = tempo.seconds(start_beat)
        length_s = tempo.seconds(end_beat) - t0
        rate = t.pitch_rate
        for e0, e1, pos in _iterations(t, length_s * rate):
            out.append(Segment(t0 + e0 / rate, (e1 - e0) / rate, pos, rate))
        return _merge(out)
    for e0, e1, pos in _iterations(t, end_beat - start_beat):
        a0, a1 = start_beat + e0, start_beat + e1
        cuts = {a0, a1}
        cuts.update(tempo.breakpoints(a0, a1))
        p_end = pos + (e1 - e0)
        cuts.update(a0 + (m - pos) for m in warp.beats if pos < m < p_end)
        xs = sorted(cuts)
        for x0, x1 in itertools.pairwise(xs):
            s0, s1 = tempo.seconds(x0), tempo.seconds(x1)
            if s1 - s0 <= 1e-12:
                continue
            src0 = warp(pos + (x0 - a0))
            src1 = warp(pos + (x1 - a0))
            out.append(Segment(s0, s1 - s0, src0, (src1 - src0) / (s1 - s0)))
        if len(out) > _MAX_SEGMENTS_PER_CLIP:
            break
    return _merge(out)


# --- media ------------------------------------------------------------------------------------------------


def live_crc16(data: bytes) -> int:
    """Live's sample CRC: CRC-16/UMTS (poly 0x8005, init 0, no reflection) of the first `CRC_BYTES` bytes."""
    crc = 0
    for byte in data[:CRC_BYTES]:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def _decode_data(hex_text: str) -> str | None:
    """The absolute path in a Live <= 10 FileRef ``Data``: Windows UTF-16LE, or a macOS alias record."""
    try:
        raw = bytes.fromhex("".join(hex_text.split()))
    except ValueError:
        return None
    if len(raw) >= 4 and len(raw) % 2 == 0 and raw[1] == 0 and raw[3] == 0:
        try:
            text = raw.decode("utf-16-le").split("\x00", 1)[0]
        except UnicodeDecodeError:
            return None
        return text.replace("\\", "/") or None
    return _alias_posix_path(raw)


def _alias_posix_path(raw: bytes) -> str | None:
    """POSIX path from a classic Mac OS alias record (version 2): extended tags 0x12 (path), 0x13 (mount)."""
    if len(raw) < 150 or struct.unpack(">H", raw[6:8])[0] != 2:
        return None
    pos = 150
    posix: str | None = None
    mount = "/"
    while pos + 4 <= len(raw):
        tag, size = struct.unpack(">hH", raw[pos : pos + 4])
        if tag == -1:
            break
        value = raw[pos + 4 : pos + 4 + size]
        if tag == 0x12:
            posix = value.decode("utf-8", "replace")
        elif tag == 0x13:
            mount = value.decode("utf-8", "replace") or "/"
        pos += 4 + size + (size & 1)
    if posix is None:
        return None
    return mount.rstrip("/") + "/" + posix.lstrip("/")


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for item in items:
        seen.setdefault(item, None)
    return tuple(seen)


def _media(file_ref: etree._Element, quirks: _Quirks, als_path: str) -> MediaRef | None:
    rel_type = int(_float(file_ref.find("RelativePathType"), -1))
    size: int | None = None
    crc: int | None = None
    if quirks.string_paths:
        rel_el, path_el = file_ref.find("RelativePath"), file_ref.find("Path")
        rel = rel_el.get("Value", "") if rel_el is not None else ""
        absolute = path_el.get("Value", "") if path_el is not None else ""
        file_name = (absolute or rel).replace("\\", "/").rsplit("/", 1)[-1]
        size_el, crc_el = file_ref.find("OriginalFileSize"), file_ref.find("OriginalCrc")
    else:
        name = file_ref.find("Name")
        file_name = name.get("Value", "") if name is not None else ""
        dirs = [(e.get("Dir") or "..") for e in file_ref.findall("RelativePath/RelativePathElement")]
        rel = "/".join([*dirs, file_name]) if file_name else ""
        data = file_ref.findtext("Data")
        absolute = (_decode_data(data) if data and data.strip() else None) or ""
        if not absolute:
            hint = [e.get("Dir", "") for e in file_ref.findall("SearchHint/PathHint/RelativePathElement")]
            if hint and file_name:
                absolute = "/" + "/".join([*hint, file_name])
        size_el, crc_el = file_ref.find("SearchHint/FileSize"), file_ref.find("SearchHint/Crc")
    if not file_name:
        return None
    if size_el is not None and size_el.get("Value") is not None:
        size = int(_float(size_el))
    if crc_el is not None and crc_el.get("Value") is not None:
        crc = int(_float(crc_el))
    als_dir = os.path.dirname(als_path)
    parent = os.path.dirname(als_dir) if als_dir else ".."
    in_backup = os.path.basename(os.path.normpath(als_dir or ".")).lower() == "backup"
    cands: list[str] = []

    def under(base: str, relative: str) -> str:
        return os.path.normpath(os.path.join(base, relative)) if base else os.path.normpath(relative)

    if rel and rel_type == 1:
        cands.append(under(als_dir, rel))
        if in_backup:
            cands.append(under(parent, rel))
    elif rel and rel_type == 3:
        base = als_dir
        for _ in range(_TYPE3_ANCESTOR_LEVELS + 1):
            cands.append(under(base, rel))
            up = os.path.dirname(base)
            if up == base:
                break
            base = up
    elif rel_type == 0 and absolute and not is_absolute(absolute):
        cands.append(under(als_dir, absolute))
    if absolute and is_absolute(absolute):
        cands.append(absolute)
    return MediaRef(
        written_path=absolute or rel,
        candidate_paths=_unique(cands),
        file_name=file_name,
        search_roots=_unique([als_dir or ".", parent or ".."]),
        size_bytes=size,
        fingerprint=Fingerprint(CRC_BYTES, crc) if crc is not None else None,
    )


# --- the parse --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Collector:
    """Elements whose Value attribute may be edited, keyed by edit slot, before their byte spans are known."""

    wanted: dict[etree._Element, list[tuple[_Slot, str, float, float]]] = field(default_factory=dict)

    def add(self, el: etree._Element, slot: _Slot, key: str, low: float, high: float) -> None:
        self.wanted.setdefault(el, []).append((slot, key, low, high))

    def take(self, other: _Collector) -> None:
        for el, slots in other.wanted.items():
            self.wanted.setdefault(el, []).extend(slots)


def _events(parent: etree._Element | None, tag: str = "FloatEvent") -> list[etree._Element]:
    if parent is None:
        return []
    return parent.findall(tag)


def _time(el: etree._Element) -> float:
    return _number(el.get("Time", "0"), "Time")


def _param_manual(param: etree._Element | None) -> tuple[float | None, etree._Element | None]:
    """(value, element holding it): ``Manual`` (Live 9+) or the ArrangerAutomation sentinel (Live 8)."""
    if param is None:
        return None, None
    manual = param.find("Manual")
    if manual is not None:
        return _float(manual, name=str(param.tag)), manual
    events = param.findall("ArrangerAutomation/Events/*")
    if events:
        return _float(events[0], name=str(param.tag)), events[0]
    return None, None


def _envelope_events(track: etree._Element, param: etree._Element | None, quirks: _Quirks) -> list[etree._Element]:
    """FloatEvents of the envelope that drives `param` (empty when unautomated)."""
    if param is None:
        return []
    if quirks.track_envelopes:
        target = param.find("AutomationTarget")
        if target is None or target.get("Id") is None:
            return []
        for env in track.findall("AutomationEnvelopes/Envelopes/AutomationEnvelope"):
            pointee = env.find("EnvelopeTarget/PointeeId")
            if pointee is not None and pointee.get("Value") == target.get("Id"):
                return _events(env.find("Automation/Events"))
        return []
    events = _events(param.find("ArrangerAutomation/Events"))
    manual = param.find("Manual")
    if len(events) > 1:
        return events
    name = str(param.tag)
    if len(events) == 1 and manual is not None and format_value(_float(events[0], name=name)) != format_value(
        _float(manual, name=name)
    ):
        return events  # Live 9: a lone sentinel that differs from Manual is what plays (FORMAT-ALS.md §5)
    return []


def _tempo_map(master: etree._Element, mixer: etree._Element | None, quirks: _Quirks, path: str) -> TempoMap:
    tempo = mixer.find("Tempo") if mixer is not None else None
    base, _ = _param_manual(tempo)
    bpm0 = 120.0 if base is None else base  # Live's default tempo when the set has none
    events = _envelope_events(master, tempo, quirks) if tempo is not None else []
    if quirks.track_envelopes is False and tempo is not None:
        events = _events(tempo.find("ArrangerAutomation/Events"))
    points: list[tuple[float, float]] = []
    for ev in events:
        value = _float(ev, float("nan"), "Tempo")
        when = _time(ev)
        points.append((0.0 if when <= SENTINEL_TIME / 2 else when, value))
    if not points:
        points = [(0.0, bpm0)]
    elif points[0][0] > 0.0:
        points.insert(0, (0.0, points[0][1]))
    return TempoMap(points)


def _output_target(track: etree._Element, device_chain: str) -> str:
    target = track.find(f"{device_chain}/AudioOutputRouting/Target")
    return target.get("Value", "") if target is not None else ""


def _track_name(track: etree._Element, fallback: str) -> str:
    for path in ("Name/EffectiveName", "Name/UserName"):
        el = track.find(path)
        if el is not None and el.get("Value"):
            return el.get("Value", "")
    return fallback


def _mixer_track(
    el: etree._Element,
    track_id: str,
    name: str,
    kind: TrackKind,
    mixer_path: str,
    quirks: _Quirks,
    col: _Collector,
    *,
    parent_id: str | None = None,
    feeds_parent: bool = True,
    note: str = "",
) -> Track:
    mixer = el.find(mixer_path)
    volume = mixer.find("Volume") if mixer is not None else None
    fader, fader_el = _param_manual(volume)
    envelope = _envelope_events(el, volume, quirks)
    if fader_el is not None:
        col.add(fader_el, _Slot.FADER, track_id, FADER_MIN_GAIN, FADER_MAX_GAIN)
        if volume is not None and fader_el.tag == "Manual" and not quirks.track_envelopes and not envelope:
            sentinel = _events(volume.find("ArrangerAutomation/Events"))
            if len(sentinel) == 1:  # Live 9 unautomated: keep the sentinel equal to Manual
                col.add(sentinel[0], _Slot.FADER, track_id, FADER_MIN_GAIN, FADER_MAX_GAIN)
    for ev in envelope:
        col.add(ev, _Slot.ENVELOPE, track_id, FADER_MIN_GAIN, FADER_MAX_GAIN)
    pan, _ = _param_manual(mixer.find("Pan") if mixer is not None else None)
    sends = 0
    for holder in mixer.findall("Sends/TrackSendHolder") if mixer is not None else []:
        level, _ = _param_manual(holder.find("Send"))
        enabled = holder.find("EnabledByUser") if holder.find("EnabledByUser") is not None else holder.find("Active")
        sends += bool(level is not None and level > FADER_MIN_GAIN * 1.001 and _bool(enabled, True))
    speaker, _ = _param_manual_bool(mixer.find("Speaker") if mixer is not None else None)
    devices = el.find(mixer_path.rsplit("/", 1)[0] + "/DeviceChain/Devices")
    # without a fader value there is nothing to rewrite: a range of one value keeps the planner off it
    low, high = (FADER_MIN_DB, FADER_MAX_DB) if fader_el is not None else (0.0, 0.0)
    return Track(
        track_id=track_id,
        name=name,
        kind=kind,
        fader_db=gain_to_db(fader) if fader is not None else 0.0,
        pan=max(-1.0, min(1.0, pan or 0.0)),
        muted=not speaker,
        soloed=_bool(mixer.find("SoloSink") if mixer is not None else None),
        parent_id=parent_id,
        feeds_parent=feeds_parent,
        frozen=_bool(el.find("Freeze")),
        has_fx=devices is not None and len(devices) > 0,
        automation=Automation.LINEAR_ENVELOPE if envelope else Automation.NONE,
        envelope_max_db=gain_to_db(max(_float(e, name="Volume") for e in envelope)) if envelope else NEG_INF,
        fader_max_db=high,
        fader_min_db=low,
        note=note if fader_el is not None else "; ".join(filter(None, (note, "no fader value: not edited"))),
        sends=sends,
    )


def _param_manual_bool(param: etree._Element | None) -> tuple[bool, etree._Element | None]:
    if param is None:
        return True, None
    manual = param.find("Manual")
    if manual is not None:
        return _bool(manual, True), manual
    events = param.findall("ArrangerAutomation/Events/*")
    return (_bool(events[0], True), events[0]) if events else (True, None)


_ARRANGEMENT_AUDIO = "DeviceChain/MainSequencer/Sample/ArrangerAutomation/Events/AudioClip"
_ARRANGEMENT_MIDI = "DeviceChain/MainSequencer/ClipTimeable/ArrangerAutomation/Events/MidiClip"
_SESSION_CLIPS = "DeviceChain/MainSequencer/ClipSlotList/ClipSlot/ClipSlot/Value/*"
_TAKE_LANE_CLIPS = "TakeLanes/TakeLanes/TakeLane/ClipAutomation/Events/*"
# Live 9-12.3 hold the freeze clips in FreezeSequencer like a MainSequencer; the 12.4 beta wraps them in an
# AudioSequencer (FORMAT-ALS.md §7)
_FREEZE_SEQUENCERS = ("DeviceChain/FreezeSequencer", "DeviceChain/FreezeSequencer/AudioSequencer")
_RE_PITCH = 3  # WarpMode: 0 Beats, 1 Tones, 2 Texture, 3 Re-Pitch, 4 Complex, 6 Complex Pro


def _clip_timing(clip: etree._Element) -> _ClipTiming:
    warped = _bool(clip.find("IsWarped"), True)
    coarse = _float(clip.find("PitchCoarse"))
    fine = _float(clip.find("PitchFine"))
    return _ClipTiming(
        start_beat=_float(clip.find("CurrentStart")),
        end_beat=_float(clip.find("CurrentEnd")),
        loop_start=_float(clip.find("Loop/LoopStart")),
        loop_end=_float(clip.find("Loop/LoopEnd")),
        start_relative=_float(clip.find("Loop/StartRelative")),
        loop_on=_bool(clip.find("Loop/LoopOn")),
        warped=warped,
        pitch_rate=1.0 if warped else 2.0 ** ((coarse + fine / 100.0) / 12.0),
    )


def _fades(clip: etree._Element, t: _ClipTiming, tempo: TempoMap, offset: float) -> tuple[float, float]:
    fin = max(0.0, _float(clip.find("Fades/FadeInLength")))
    fout = max(0.0, _float(clip.find("Fades/FadeOutLength")))
    if not t.warped:
        return fin / t.pitch_rate, fout / t.pitch_rate
    a, b = t.start_beat + offset, t.end_beat + offset
    fade_in = tempo.seconds(min(b, a + fin)) - tempo.seconds(a) if fin else 0.0
    fade_out = tempo.seconds(b) - tempo.seconds(max(a, b - fout)) if fout else 0.0
    return fade_in, fade_out


@dataclass(frozen=True, slots=True)
class _RawClip:
    el: etree._Element
    status: ClipStatus
    session: bool
    freeze: bool = False  # a clip of the FreezeSequencer: the rendered audio a frozen track plays


def _track_clips(track: etree._Element, frozen: bool, quirks: _Quirks) -> list[_RawClip]:
    found: list[_RawClip] = []
    for clip in track.findall(_ARRANGEMENT_AUDIO):
        status = (
            ClipStatus.FROZEN if frozen else (ClipStatus.MUTED if _bool(clip.find("Disabled")) else ClipStatus.ACTIVE)
        )
        found.append(_RawClip(clip, status, False))
    for clip in track.findall(_ARRANGEMENT_MIDI):
        found.append(_RawClip(clip, ClipStatus.MIDI, False))
    for clip in track.findall(_SESSION_CLIPS):
        if clip.tag in ("AudioClip", "MidiClip"):
            status = ClipStatus.SESSION_VIEW if clip.tag == "AudioClip" else ClipStatus.MIDI
            found.append(_RawClip(clip, status, True))
    if quirks.take_lanes:
        for clip in track.findall(_TAKE_LANE_CLIPS):
            if clip.tag in ("AudioClip", "MidiClip"):
                status = ClipStatus.TAKE_LANE if clip.tag == "AudioClip" else ClipStatus.MIDI
                found.append(_RawClip(clip, status, False))
    return found


def _freeze_clips(track: etree._Element) -> list[_RawClip]:
    """A frozen track's freeze audio (FORMAT-ALS.md §7). Live renders every clip of the track (audio or
    instrument) to Samples/Processed/Freeze and keeps, in the FreezeSequencer, one audio clip per original clip
    (plus "(Freeze tail)" clips for tails) with the original's position on the timeline and its own loop and
    warp markers into the render, so these clips play exactly like ordinary arrangement and session clips
    (as `L11.3.3_alstools_WithPlugins.als`'s frozen track and the flattened "(Freeze)" clips of
    `L11.1.6_slamka_engage2.als` show)."""
    found: list[_RawClip] = []
    for sequencer in _FREEZE_SEQUENCERS:
        for clip in track.findall(f"{sequencer}/Sample/ArrangerAutomation/Events/AudioClip"):
            status = ClipStatus.MUTED if _bool(clip.find("Disabled")) else ClipStatus.FREEZE_RENDER
            found.append(_RawClip(clip, status, False, True))
        for clip in track.findall(f"{sequencer}/ClipSlotList/ClipSlot/ClipSlot/Value/AudioClip"):
            found.append(_RawClip(clip, ClipStatus.SESSION_VIEW, True, True))
    return found


def parse(data: bytes, path: str) -> tuple[Session, AlsDocument]:
    """Parse Live set bytes into a `Session` and the `AlsDocument` that `apply` splices into."""
    try:
        return _parse(data, path)
    except _Invalid as exc:  # outside a clip or a track: the master's mixer, the tempo
        raise FormatError(f"{path}: {exc}") from None


def _parse(data: bytes, path: str) -> tuple[Session, AlsDocument]:
    if not data:
        raise FormatError(f"{path}: empty file (0 bytes); expected an Ableton Live set")
    gzipped = data[:2] == b"\x1f\x8b"
    if gzipped:
        if len(data) < 18:
            raise FormatError(f"{path}: truncated gzip ({len(data)} bytes); expected a complete file")
        xml = _gunzip(data, path, MAX_XML_BYTES)
    else:
        if len(data) > MAX_XML_BYTES:
            raise FormatError(f"{path}: XML size ({len(data)} bytes); expected at most {MAX_XML_BYTES} bytes")
        xml = data
    head = xml[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"<"):
        raise FormatError(f"{path}: not XML (starts with {xml[:16]!r}); expected gzip or '<?xml' of a Live set")
    _reject_dtd(xml, path)
    _check_size(xml, path)
    root = _parse_xml(xml, path)
    major = _major_version(root, path)
    quirks = _QUIRKS[min(major, _NEWEST)]
    live_set = root.find("LiveSet")
    if live_set is None:
        raise FormatError(f"{path}: <Ableton> without <LiveSet>; expected <Ableton><LiveSet>…")
    col = _Collector()

    master_el = live_set.find(quirks.master_tag)
    if master_el is None:  # tolerate the other spelling (hand-made or converted sets)
        master_el = live_set.find("MainTrack" if quirks.master_tag == "MasterTrack" else "MasterTrack")
    if master_el is None:
        raise FormatError(f"{path}: no <{quirks.master_tag}> in LiveSet; expected the master track")
    master_mixer_path = (
        quirks.master_mixer if master_el.find(quirks.master_mixer) is not None else ("DeviceChain/Mixer")
    )
    tempo = _tempo_map(master_el, master_el.find(master_mixer_path), quirks, path)
    master = _mixer_track(
        master_el,
        "master",
        _track_name(master_el, "Master"),
        TrackKind.MASTER,
        master_mixer_path,
        quirks,
        col,
    )

    tracks: list[Track] = []
    raw_clips: list[tuple[str, _RawClip]] = []
    tracks_el = live_set.find("Tracks")
    for index, el in enumerate(tracks_el if tracks_el is not None else [], start=1):
        kind = _TRACK_KINDS.get(str(el.tag))
        if kind is None:
            continue
        track_id = f"track:{el.get('Id', f'#{index}')}"
        group = el.find("TrackGroupId")
        group_id = group.get("Value", "-1") if group is not None else "-1"
        target = _output_target(el, "DeviceChain")
        parent_id = f"track:{group_id}" if group_id not in ("-1", "") else None
        notes: list[str] = []
        if target == _FEEDS_GROUP:
            feeds = parent_id is not None
        elif target in _FEEDS_MASTER:
            feeds = True
            if parent_id is not None:
                notes.append(f"in group {parent_id} but routed to the master")
                parent_id = None
        else:
            feeds = False
            notes.append(f"output routed to {target or 'nowhere'}: not in the master sum")
        name = _track_name(el, f"{index}-{el.tag}")
        track_col = _Collector()  # the track's editable values count only once all of its numbers are read
        try:
            track = _mixer_track(
                el,
                track_id,
                name,
                kind,
                "DeviceChain/Mixer",
                quirks,
                track_col,
                parent_id=parent_id,
                feeds_parent=feeds,
                note="; ".join(notes),
            )
            col.take(track_col)
        except _Invalid as exc:  # how it plays is unknown: skipped, and a range of one value keeps the planner off it
            track = Track(
                track_id,
                name,
                kind,
                parent_id=parent_id,
                feeds_parent=feeds,
                frozen=_bool(el.find("Freeze")),
                fader_max_db=0.0,
                fader_min_db=0.0,
                note="; ".join(notes),
                invalid_reason=str(exc),
            )
        tracks.append(track)
        raw_clips.extend((track_id, rc) for rc in _track_clips(el, track.frozen, quirks))
        if track.frozen:
            raw_clips.extend((track_id, rc) for rc in _freeze_clips(el))

    volumes = [v for _, rc in raw_clips if (v := rc.el.find("SampleVolume")) is not None]
    order = _index_elements(root, [*col.wanted, *(rc.el for _, rc in raw_clips), *volumes])
    clips: list[Clip] = []
    for track in tracks:
        mine = sorted((rc for tid, rc in raw_clips if tid == track.track_id), key=lambda rc: order[rc.el])
        for freeze, label in ((False, "clip"), (True, "freeze")):
            own = [rc for rc in mine if rc.freeze is freeze]
            for n, rc in enumerate(own):
                clip_id = f"{track.track_id}/{label}:{n}"
                if track.invalid_reason:  # the track is skipped: none of its clips is staged
                    reason = f"its track is skipped ({track.invalid_reason})"
                    clips.append(_invalid_clip(rc, clip_id, track.track_id, reason))
                else:
                    clips.append(_clip(rc, clip_id, track.track_id, tempo, quirks, path, col))
    order.update(_index_elements(root, [el for el in col.wanted if el not in order]))

    spans = _find_spans(xml, col, order, path)
    session = Session(
        path=path,
        format=NAME,
        version=root.get("Creator", f"Ableton Live {major}"),
        tracks=tuple(tracks),
        clips=tuple(clips),
        master=master,
        pan_law_db=PAN_LAW_DB,
    )
    doc = AlsDocument(
        path=path,
        xml=xml,
        gzipped=gzipped,
        gzip_os=data[9] if gzipped else 255,
        major_version=major,
        spans=spans,
        original=data,
    )
    return session, doc


def _clip(
    rc: _RawClip, clip_id: str, track_id: str, tempo: TempoMap, quirks: _Quirks, path: str, col: _Collector
) -> Clip:
    """The clip, or an INVALID one (no segments, never edited) saying which number cannot be trusted."""
    try:
        clip, volume_el = _checked_clip(rc, clip_id, track_id, tempo, quirks, path)
    except _Invalid as exc:
        return _invalid_clip(rc, clip_id, track_id, str(exc))
    if volume_el is not None and not rc.freeze:  # a freeze clip is re-rendered by Live: never edited
        col.add(volume_el, _Slot.CLIP_GAIN, clip_id, 0.0, CLIP_GAIN_MAX)
    return clip


def _invalid_clip(rc: _RawClip, clip_id: str, track_id: str, reason: str) -> Clip:
    name_el = rc.el.find("Name")
    name = name_el.get("Value", "") if name_el is not None else ""
    return Clip(clip_id, track_id, name, ClipStatus.INVALID, None, (), note=reason)


def _checked_clip(
    rc: _RawClip, clip_id: str, track_id: str, tempo: TempoMap, quirks: _Quirks, path: str
) -> tuple[Clip, etree._Element | None]:
    el = rc.el
    name_el = el.find("Name")
    name = name_el.get("Value", "") if name_el is not None else ""
    t = _clip_timing(el)
    offset = -t.start_beat if rc.session else 0.0
    if el.tag == "MidiClip":
        s0, s1 = tempo.seconds(t.start_beat + offset), tempo.seconds(t.end_beat + offset)
        segs = [Segment(s0, s1 - s0, 0.0, 1.0)] if s1 > s0 else []
        return Clip(clip_id, track_id, name, ClipStatus.MIDI, None, tuple(segs)), None
    plays_s = tempo.seconds(t.end_beat + offset) - tempo.seconds(t.start_beat + offset)
    if not plays_s <= _DAY_S:
        raise _Invalid(f"clip plays {plays_s:.0f} s (CurrentStart to CurrentEnd); expected at most {_DAY_S:g} s")
    volume_el = el.find("SampleVolume")
    gain = _float(volume_el, 1.0)
    file_ref = el.find("SampleRef/FileRef")
    media = _media(file_ref, quirks, path) if file_ref is not None else None
    status = rc.status
    notes: list[str] = []
    if media is None and status is ClipStatus.ACTIVE:
        status = ClipStatus.EMPTY
    warp = None
    if t.warped:
        warp = _WarpMap(
            [
                (_number(m.get("BeatTime", "0"), "BeatTime"), _number(m.get("SecTime", "0"), "SecTime"))
                for m in el.findall("WarpMarkers/WarpMarker")
            ]
        )
    segs = clip_segments(t, tempo, warp, offset)
    fastest = max((abs(g.rate) for g in segs), default=0.0)
    if not fastest <= _MAX_RATE:
        raise _Invalid(f"warp markers play the source at {fastest:.3g}x; expected at most {_MAX_RATE:g}x")
    if len(segs) >= _MAX_SEGMENTS_PER_CLIP:
        notes.append(f"more than {_MAX_SEGMENTS_PER_CLIP} segments: truncated")
    if rc.session:
        notes.append("session clip: placed at timeline 0 for measurement")
    if rc.freeze:
        notes.append("freeze audio of a frozen track: gain not written")
    fade_in, fade_out = _fades(el, t, tempo, offset)
    return Clip(
        clip_id=clip_id,
        track_id=track_id,
        name=name,
        status=status,
        media=media,
        segments=tuple(segs),
        gain_db=gain_to_db(gain),
        fade_in_s=fade_in,
        fade_out_s=fade_out,
        # warped clips keep their pitch (time-stretch) in every mode but Re-Pitch; unwarped ones resample
        stretch=t.warped and int(_float(el.find("WarpMode"), 0)) != _RE_PITCH,
        gain_max_db=CLIP_GAIN_MAX_DB,
        gain_min_db=NEG_INF,
        note="; ".join(notes),
    ), volume_el


# --- byte spans -------------------------------------------------------------------------------------------


def _index_elements(root: etree._Element, elements: Iterable[etree._Element]) -> dict[etree._Element, int]:
    """Document-order index (root = 0, elements only) of each of `elements`."""
    wanted = set(elements)
    found: dict[etree._Element, int] = {}
    if not wanted:
        return found
    for index, el in enumerate(root.iter(tag=etree.Element)):
        if el in wanted:
            found[el] = index
            if len(found) == len(wanted):
                break
    return found


# One token per markup construct. Raw "<" cannot occur in XML text or attribute values, so every "<" starts
# one of these; only comments, PIs and CDATA sections need to be skipped whole. Group 1 = start-tag name.
_TOKEN = re.compile(
    rb"<(?:([^\s/>!?]+)|/|!--.*?-->|\?.*?\?>|!\[CDATA\[.*?\]\]>|!)",
    re.S,
)
_ATTR = re.compile(rb"""\s+([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def _find_spans(
    xml: bytes, col: _Collector, order: dict[etree._Element, int], path: str
) -> dict[tuple[_Slot, str], tuple[_Span, ...]]:
    """Byte span of the Value attribute of every collected element, by counting start tags in `xml`."""
    targets = sorted((order[el], el) for el in col.wanted if el in order)
    missing = [el for el in col.wanted if el not in order]
    if missing:
        raise FormatError(f"{path}: internal: {len(missing)} editable elements not found in the tree")
    by_key: dict[tuple[_Slot, str], list[_Span]] = {}
    count = -1
    it = iter(targets)
    nxt = next(it, None)
    for match in _TOKEN.finditer(xml):
        if nxt is None:
            break
        if match.group(1) is None:
            continue
        count += 1
        if count != nxt[0]:
            continue
        index, el = nxt
        name = match.group(1).decode("utf-8", "replace")
        if name != el.tag:
            raise FormatError(f"{path}: tag scanner out of step at element {index} ({name}); expected <{el.tag}>")
        span = None
        pos = match.end()
        while (attr := _ATTR.match(xml, pos)) is not None:
            if attr.group(1) == b"Value":
                grp = 2 if attr.group(2) is not None else 3
                span = (attr.start(grp), attr.end(grp))
                break
            pos = attr.end()
        if span is None:
            raise FormatError(f"{path}: <{el.tag}> (element {index}) has no Value attribute; expected one")
        for slot, key, low, high in col.wanted[el]:
            by_key.setdefault((slot, key), []).append(_Span(span[0], span[1], str(el.tag), low, high))
        nxt = next(it, None)
    if nxt is not None:
        raise FormatError(f"{path}: tag scanner found {count + 1} start tags; expected element {nxt[0]}")
    return {key: tuple(sorted(spans, key=lambda s: s.start)) for key, spans in by_key.items()}


# --- writing ----------------------------------------------------------------------------------------------

_EDIT_SLOTS: Final[dict[EditField, _Slot]] = {
    EditField.CLIP_GAIN: _Slot.CLIP_GAIN,
    EditField.FADER: _Slot.FADER,
    EditField.FADER_ENVELOPE: _Slot.ENVELOPE,
}
# The linear range each edited value is clamped into (the same bounds parse gives each span).
_RANGES: Final[dict[EditField, tuple[float, float]]] = {
    EditField.CLIP_GAIN: (0.0, CLIP_GAIN_MAX),
    EditField.FADER: (FADER_MIN_GAIN, FADER_MAX_GAIN),
    EditField.FADER_ENVELOPE: (FADER_MIN_GAIN, FADER_MAX_GAIN),
}


def _gzip(xml: bytes, os_byte: int) -> bytes:
    """gzip as Live writes it: no file name, mtime 0, XFL 0, the given OS byte (FORMAT-ALS.md §1)."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = deflater.compress(xml) + deflater.flush()
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00" + bytes([os_byte & 0xFF])
    return header + body + struct.pack("<II", zlib.crc32(xml) & 0xFFFFFFFF, len(xml) & 0xFFFFFFFF)


def apply(document: AlsDocument, edits: Sequence[Edit]) -> bytes:
    """Splice `edits` into the original bytes, as the contract in `parsers.base` says.

    FADER_ENVELOPE multiplies every point of the track's volume envelope (the sentinel included). Values are
    clamped to Live's ranges and written in Live's number style.
    """
    xml = document.xml
    changes: dict[int, tuple[int, bytes]] = {}
    for (target, field_), gain_db in check_edits(document.path, edits).items():
        slot = _EDIT_SLOTS[field_]
        spans = document.spans.get((slot, target))
        if spans is None:
            raise WriteError(
                f"{document.path}: edit target ({target}, {field_}); expected a "
                f"{'track with a volume envelope' if slot is _Slot.ENVELOPE else 'clip or track'} of this set"
            )
        factor = db_to_gain(gain_db)
        for span in spans:
            if slot is not _Slot.ENVELOPE:
                _change(changes, xml, span, factor)
                continue
            try:
                point = float(xml[span.start : span.end])
            except ValueError:
                raise WriteError(
                    f"{document.path}: envelope point of {target} ({xml[span.start : span.end]!r}); expected a number"
                ) from None
            _change(changes, xml, span, point * factor)
    if not changes:  # nothing to change: the file as it was, container bytes included
        return document.original or (_gzip(xml, document.gzip_os) if document.gzipped else xml)
    xml = splice(xml, ((start, end, text) for start, (end, text) in changes.items()))
    return _gzip(xml, document.gzip_os) if document.gzipped else xml


def quantize(field_: EditField, value_db: float) -> float:
    """What a re-parse reads after `apply` wrote `value_db` to `field_`: clamped to Live's range, then written
    with 10 significant digits."""
    low, high = _RANGES[field_]
    return gain_to_db(float(format_value(min(high, max(low, db_to_gain(value_db))))))


def confirms(fingerprint: Fingerprint, head: bytes) -> bool:
    """Live's check of a sample found elsewhere: the CRC of its first 16 KiB (`live_crc16`)."""
    return live_crc16(head[: fingerprint.head_bytes]) == fingerprint.value


def _change(changes: dict[int, tuple[int, bytes]], xml: bytes, span: _Span, value: float) -> None:
    value = min(span.high, max(span.low, value))
    text = format_value(value)
    old = xml[span.start : span.end].decode("ascii", "replace")
    try:
        if format_value(float(old)) == text:
            changes.pop(span.start, None)
            return
    except (ValueError, WriteError):
        pass
    changes[span.start] = (span.end, text.encode("ascii"))
