"""The session model: frozen, slotted dataclasses with units in every name.

A parser turns session bytes into a `Session` (plus an opaque document it keeps for writing). The renderer
reads `Clip.segments` to know exactly which source audio a clip plays where; the planner produces `Edit`s
that name a clip or track by id; the parser splices those edits back into the original bytes.

Ids are strings chosen by the parser, stable for one file (e.g. ``track:3`` and ``track:3/item:5``).
Change a value with `dataclasses.replace`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from enum import StrEnum

from .units import NEG_INF


class ClipStatus(StrEnum):
    """Why a clip is or is not staged. Anything but ACTIVE stays untouched and is listed with its reason."""

    ACTIVE = "active"
    MUTED = "muted"  # the clip itself is muted / disabled
    MIDI = "midi"  # not audio
    EMPTY = "empty"  # no take, empty take slot, or a non-audio source (click, video effect, ...)
    FROZEN = "frozen"  # the track plays freeze renders, not this clip
    SESSION_VIEW = "session-view"  # Live session clip: reported, not in the arrangement sum
    TAKE_LANE = "take-lane"  # Live 11+ alternative take: not played
    ALL_TAKES = "all-takes"  # REAPER ALLTAKES 1: several takes play at once
    INVALID = "invalid"  # a number of the clip is unreadable or implausible (Clip.note says which): never edited
    MISSING = "missing"  # media not found (set by the pipeline)
    UNREADABLE = "unreadable"  # media found but could not be decoded (set by the pipeline)
    SILENT = "silent"  # measured, but silent or too short to measure (set by the pipeline)
    # The audio a frozen track plays (REAPER's freeze items, Live's FreezeSequencer clips): measured and summed
    # like an active clip, but its gain is not written: the freeze is re-rendered from the original clips.
    FREEZE_RENDER = "freeze-render"


class TrackKind(StrEnum):
    AUDIO = "audio"
    MIDI = "midi"
    GROUP = "group"  # Live group track, REAPER folder parent
    RETURN = "return"
    MASTER = "master"


class RateSource(StrEnum):
    """Where the project rate comes from."""

    FORCED = "forced by the project"  # REAPER: SAMPLERATE <rate> 1 (project settings: "Project sample rate")
    PROJECT = "project setting, not forced"  # REAPER plays at the audio device's rate, often this one
    OPTION = "--sample-rate"
    DEFAULT = "default; the session stores none"  # Live sets store no rate


class Automation(StrEnum):
    """How the track's fader volume is automated, which decides where a fader change can go."""

    NONE = "none"  # the stored fader value is what plays
    TRIM = "trim"  # an envelope plays and the fader multiplies it (REAPER AUTOMODE 0): edit the fader
    LINEAR_ENVELOPE = "linear-envelope"  # an envelope overrides the fader; its points are linear: scale them
    FADER_ENVELOPE = "fader-envelope"  # an envelope overrides the fader in a scale we cannot edit exactly


@dataclass(frozen=True, slots=True)
class Segment:
    """One linear piece of a clip: timeline time t in [timeline_start_s, timeline_start_s + duration_s)
    plays source time ``source_start_s + rate * (t - timeline_start_s)``.

    ``rate`` is source seconds per timeline second: 1.0 plays at normal speed, 2.0 twice as fast,
    a negative rate plays backwards (reverse). Loops and warp markers become several segments.
    """

    timeline_start_s: float
    duration_s: float
    source_start_s: float
    rate: float = 1.0

    @property
    def timeline_end_s(self) -> float:
        return self.timeline_start_s + self.duration_s


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What a session recorded about a media file's first bytes. Opaque outside the format that made it: that
    format's ``confirms(fingerprint, head)`` says whether a file whose first `head_bytes` bytes are `head` is
    the one recorded."""

    head_bytes: int
    value: int


@dataclass(frozen=True, slots=True)
class MediaRef:
    """Where a clip's audio may be. Parsers compute candidates as strings; the media finder checks the disk.

    ``candidate_paths`` are absolute paths in the order the DAW would try them. If none exists, the finder
    searches ``search_roots`` recursively for ``file_name`` (in that order, within a budget: media.MediaFinder)
    and, when the session recorded them, confirms a match by ``size_bytes`` and by the format's ``fingerprint``.
    """

    written_path: str
    candidate_paths: tuple[str, ...]
    file_name: str
    search_roots: tuple[str, ...] = ()
    size_bytes: int | None = None
    fingerprint: Fingerprint | None = None
    source_kind: str = ""  # the DAW's own name for the source type (WAVE, FLAC, MP3, ...)


class ChannelMode(StrEnum):
    """Which source channels a clip plays (REAPER CHANMODE; Live always plays NORMAL)."""

    NORMAL = "normal"
    REVERSE_STEREO = "reverse-stereo"
    MONO_DOWNMIX = "mono-downmix"
    LEFT = "left"
    RIGHT = "right"


@dataclass(frozen=True, slots=True)
class Clip:
    """One audio region on a track's timeline.

    ``gain_db`` is the stage gainstager writes (REAPER: active take volume; Live: SampleVolume).
    ``fixed_gain_db`` is every other clip-level gain that plays but is not written (REAPER item volume).
    Both are part of what the clip plays, so both are in the measurement.
    """

    clip_id: str
    track_id: str
    name: str
    status: ClipStatus
    media: MediaRef | None
    segments: tuple[Segment, ...]
    gain_db: float = 0.0
    fixed_gain_db: float = 0.0
    polarity_inverted: bool = False
    fade_in_s: float = 0.0
    fade_out_s: float = 0.0
    channel_mode: ChannelMode = ChannelMode.NORMAL
    # The part of the file the clip treats as its source (REAPER SECTION; Live: the whole file). Segment
    # source times are positions inside this window. With `loop`, positions wrap modulo the window length;
    # with `reverse`, position p plays window time (length - p). A None length means "to the end of file".
    source_window_start_s: float = 0.0
    source_window_length_s: float | None = None
    loop: bool = False
    reverse: bool = False
    # A rate other than 1 keeps the pitch (REAPER preserve-pitch, Live warp modes but Re-Pitch): time-stretched
    # at the source's own pitch, instead of resampled (speed and pitch change together).
    stretch: bool = False
    gain_max_db: float = math.inf  # the range the planner may set `gain_db` in (the parser sets the DAW's)
    gain_min_db: float = NEG_INF
    note: str = ""  # parser remarks the report should show (e.g. "take FX: measured pre-FX")

    @property
    def timeline_start_s(self) -> float:
        return min((s.timeline_start_s for s in self.segments), default=0.0)

    @property
    def timeline_end_s(self) -> float:
        return max((s.timeline_end_s for s in self.segments), default=0.0)


@dataclass(frozen=True, slots=True)
class Track:
    """A mixer channel. ``parent_id`` is the folder/group it sums into; None means it feeds the master.

    ``feeds_parent`` is False when the main output is off (REAPER MAINSEND 0) or routed elsewhere; such a
    track is not part of the master sum.

    ``invalid_reason`` says why the track is skipped: a number of its own (fader, pan, envelope point, a flag)
    is unreadable or implausible, so how it plays is unknown. Such a track is never edited, its clips are
    INVALID (never edited either), and the master prediction leaves it out, with what sums through it.
    """

    track_id: str
    name: str
    kind: TrackKind
    fader_db: float = 0.0
    pan: float = 0.0  # -1 (left) .. +1 (right)
    muted: bool = False
    soloed: bool = False
    parent_id: str | None = None
    feeds_parent: bool = True
    frozen: bool = False
    has_fx: bool = False
    automation: Automation = Automation.NONE
    envelope_max_db: float = NEG_INF  # highest point of the overriding volume envelope, when there is one
    fader_max_db: float = math.inf  # the range the planner may set `fader_db` in (the parser sets the DAW's)
    fader_min_db: float = NEG_INF
    note: str = ""
    sends: int = 0  # active sends from this track to returns or other tracks (not in the master prediction)
    invalid_reason: str = ""  # why the track is skipped (see above); empty for a track read in full


@dataclass(frozen=True, slots=True)
class Session:
    path: str
    format: str  # the NAME of the format that parsed it
    version: str  # the DAW version that wrote the file, as the file says it
    tracks: tuple[Track, ...]
    clips: tuple[Clip, ...]
    master: Track
    pan_law_db: float = 0.0  # gain at pan centre relative to hard-panned, e.g. -3.0
    sample_rate_hz: int = 48000  # the project rate: clips are measured and tracks summed at it
    sample_rate_source: RateSource = RateSource.DEFAULT

    def track(self, track_id: str) -> Track:
        if track_id == self.master.track_id:
            return self.master
        for t in self.tracks:
            if t.track_id == track_id:
                return t
        raise KeyError(track_id)

    def clips_of(self, track_id: str) -> tuple[Clip, ...]:
        return tuple(c for c in self.clips if c.track_id == track_id)


class EditField(StrEnum):
    CLIP_GAIN = "clip_gain"  # absolute new value of Clip.gain_db
    FADER = "fader"  # absolute new value of Track.fader_db
    FADER_ENVELOPE = "fader_envelope"  # relative: add gain_db to every point of the track's volume envelope


@dataclass(frozen=True, slots=True)
class Edit:
    target_id: str  # a Clip.clip_id or Track.track_id (the master's id for the master fader)
    field: EditField
    gain_db: float


@dataclass(frozen=True, slots=True)
class Levels:
    """What the meters report. Every level is -inf for silence or when too short to measure; never NaN."""

    sample_peak_dbfs: float = NEG_INF
    true_peak_dbtp: float = NEG_INF
    rms_dbfs: float = NEG_INF
    gated_rms_dbfs: float = NEG_INF
    integrated_lufs: float = NEG_INF
    momentary_max_lufs: float = NEG_INF
    short_term_max_lufs: float = NEG_INF
    loudness_range_lu: float = 0.0
    duration_s: float = 0.0


# The level fields the meters report (all but the duration), in the order reports show them.
LEVEL_KEYS: tuple[str, ...] = tuple(f.name for f in fields(Levels) if f.name != "duration_s")


@dataclass(frozen=True, slots=True)
class FileLevels:
    """`gainstager measure` result for one audio file."""

    path: str
    sample_rate_hz: int
    channels: int
    levels: Levels = field(default_factory=Levels)
