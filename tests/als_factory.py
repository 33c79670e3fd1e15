"""Small synthetic Ableton Live sets (Live 9, 10, 11, 12) for tests, built as plain XML text.

The element layout follows real Live-written sets (FORMAT-ALS.md §2-§8): tab indentation, one element per
line, ``" />"`` self-closing tags, per-version differences (Live 9 per-parameter ``ArrangerAutomation``;
Live 10+ track-level ``AutomationEnvelopes``; Live ≤10 ``RelativePathElement`` FileRefs with hex ``Data``;
Live 11+ ``RelativePath``/``Path`` strings and take lanes; Live 12 ``MainTrack`` and ``AudioOut/Main``).
Only the elements a gain-staging reader needs are written; Live itself writes many more.

Usage::

    from tests.als_factory import ClipSpec, TrackSpec, make_set

    data = make_set(
        11,
        [
            TrackSpec(10, "Drums", clips=(ClipSpec(0, 8, loop_on=True, loop_end=4.0),)),
            TrackSpec(20, "Bus", kind="group"),
            TrackSpec(21, "Bass", group_id=20, volume=0.5, volume_automation=((4.0, 0.25),)),
            TrackSpec(30, "Reverb", kind="return"),
        ],
        tempo_bpm=120.0,
        tempo_changes=((8.0, 120.0), (8.0, 90.0)),  # (beat, bpm) points after the initial tempo
    )

`make_set` returns the bytes of an ``.als`` (gzip like Live: no name, mtime 0; or plain XML with
``gzipped=False``). Track and AutomationTarget ids are unique; AutomationTarget ids start at 1000 (the master
uses Live's fixed ids: Volume 5, Tempo 8, TimeSignature 10).
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

SENTINEL = "-63072000"

_VERSIONS: dict[int, tuple[str, str, str]] = {
    # major: (MajorVersion, MinorVersion, Creator) as Live writes them (FORMAT-ALS.md §2)
    9: ("4", "9.5_327", "Ableton Live 9.7.7"),
    10: ("5", "10.0_377", "Ableton Live 10.1.43"),
    11: ("5", "11.0_11300", "Ableton Live 11.3.4"),
    12: ("5", "12.0_12300", "Ableton Live 12.3.2"),
}


@dataclass(frozen=True, slots=True)
class ClipSpec:
    """One audio clip. Beats are arrangement beats; loop/fade values are clip time (beats if warped,
    source seconds if not). ``warp_markers`` are (BeatTime, SecTime) pairs."""

    start_beat: float
    end_beat: float
    file_name: str = "loop.wav"
    warped: bool = True
    loop_on: bool = False
    loop_start: float = 0.0
    loop_end: float = 4.0
    start_relative: float = 0.0
    warp_markers: tuple[tuple[float, float], ...] = ((0.0, 0.0), (4.0, 2.0))
    sample_volume: float = 1.0  # linear clip gain (SampleVolume)
    disabled: bool = False
    fade_in: float = 0.0
    fade_out: float = 0.0
    pitch_coarse: int = 0
    pitch_fine: float = 0.0
    relative_path_type: int = 3  # 1 = relative to the .als folder, 3 = relative to the project folder
    relative_dirs: tuple[str, ...] = ("Samples", "Imported")  # "" means ".." (Live ≤10 style)
    absolute_dir: str = "/Users/me/Music/Song Project/Samples/Imported"
    file_size: int = 176444
    crc: int = 4321
    session: bool = False  # in a session-view clip slot instead of the arrangement
    name: str = ""
    warp_mode: int = 0  # 0 Beats, 1 Tones, 2 Texture, 3 Re-Pitch, 4 Complex, 6 Complex Pro
    default_sample_rate: int = 44100  # SampleRef/DefaultSampleRate (informational: readers use the file)


@dataclass(frozen=True, slots=True)
class TrackSpec:
    """One track. ``kind``: "audio", "midi", "group" or "return". ``volume`` is the linear fader value;
    ``volume_automation`` adds (beat, linear value) envelope points after the sentinel."""

    track_id: int
    name: str = "Audio"
    kind: str = "audio"
    volume: float = 1.0
    pan: float = 0.0
    muted: bool = False
    soloed: bool = False
    group_id: int = -1
    output: str | None = None  # routing target; default Master/Main, or GroupTrack when grouped
    clips: tuple[ClipSpec, ...] = ()
    take_lane_clips: tuple[ClipSpec, ...] = ()  # Live 11+ only
    volume_automation: tuple[tuple[float, float], ...] = ()
    frozen: bool = False
    devices: int = 0  # number of (empty) devices in the device chain
    # The audio clips of the FreezeSequencer (Live's renders in Samples/Processed/Freeze); give them with
    # frozen=True, as Live writes them only for frozen tracks.
    freeze_clips: tuple[ClipSpec, ...] = ()
    sends: tuple[float, ...] = ()  # linear Send/Manual levels, one TrackSendHolder each


@dataclass(slots=True)
class _Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[_Node] = field(default_factory=list)
    text: str | None = None

    def add(self, *children: _Node) -> _Node:
        self.children.extend(children)
        return self


def _n(tag: str, value: object = None, **attrs: str) -> _Node:
    node = _Node(tag, dict(attrs))
    if value is not None:
        node.attrs["Value"] = _fmt(value)
    return node


def _fmt(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = f"{value:.12f}".rstrip("0").rstrip(".")
        return text if text not in ("", "-0") else "0"
    return str(value)


def _render(node: _Node, depth: int, out: list[str]) -> None:
    pad = "\t" * depth
    attrs = "".join(f' {k}="{escape(v, quote=True)}"' for k, v in node.attrs.items())
    if node.text is not None:
        out.append(f"{pad}<{node.tag}{attrs}>")
        out.extend(f"{pad}\t{line}" for line in node.text.splitlines())
        out.append(f"{pad}</{node.tag}>")
    elif node.children:
        out.append(f"{pad}<{node.tag}{attrs}>")
        for child in node.children:
            _render(child, depth + 1, out)
        out.append(f"{pad}</{node.tag}>")
    else:
        out.append(f"{pad}<{node.tag}{attrs} />")


class _Builder:
    def __init__(self, version: int) -> None:
        if version not in _VERSIONS:
            raise ValueError(f"version ({version}); expected one of {sorted(_VERSIONS)}")
        self.v = version
        self.next_id = 1000

    def pointee(self) -> str:
        self.next_id += 1
        return str(self.next_id)

    # mixer parameters -----------------------------------------------------------------------------------
    def param(self, tag: str, value: float, target_id: str, low: float, high: float) -> _Node:
        node = _Node(tag).add(_n("LomId", 0))
        if self.v == 9:
            events = _Node("Events").add(_n("FloatEvent", value, Time=SENTINEL))
            node.add(_Node("ArrangerAutomation").add(events))
        node.add(_n("Manual", value))
        node.add(_Node("MidiControllerRange").add(_n("Min", low), _n("Max", high)))
        node.add(_Node("AutomationTarget", {"Id": target_id}).add(_n("LockEnvelope", 0)))
        node.add(_Node("ModulationTarget", {"Id": self.pointee()}).add(_n("LockEnvelope", 0)))
        if self.v == 9:
            node.add(_Node("ModulationAutomation").add(_Node("Events")))
        return node

    def bool_param(self, tag: str, value: bool) -> _Node:
        node = _Node(tag).add(_n("LomId", 0))
        if self.v == 9:
            events = _Node("Events").add(_n("BoolEvent", value, Time=SENTINEL))
            node.add(_Node("ArrangerAutomation").add(events))
        node.add(_n("Manual", value))
        node.add(_Node("AutomationTarget", {"Id": self.pointee()}).add(_n("LockEnvelope", 0)))
        return node

    def envelope(self, env_id: int, pointee: str, points: Sequence[tuple[float, float]], first: float) -> _Node:
        events = _Node("Events")
        for i, (beat, value) in enumerate([(None, first), *points]):
            attrs = {"Time": SENTINEL if beat is None else _fmt(float(beat))}
            if self.v >= 10:
                attrs = {"Id": str(i), **attrs}
            events.add(_n("FloatEvent", float(value), **attrs))
        automation = _Node("Automation").add(events)
        if self.v >= 11:
            view = _Node("AutomationTransformViewState").add(
                _n("IsTransformPending", False), _Node("TimeAndValueTransforms")
            )
            automation.add(view)
        return _Node("AutomationEnvelope", {"Id": str(env_id)}).add(
            _Node("EnvelopeTarget").add(_n("PointeeId", pointee)), automation
        )

    def live9_events(self, param: _Node, points: Sequence[tuple[float, float]]) -> None:
        events = param.children[1].children[0]
        for beat, value in points:
            events.add(_n("FloatEvent", float(value), Time=_fmt(float(beat))))

    # clips ------------------------------------------------------------------------------------------------
    def file_ref(self, c: ClipSpec) -> _Node:
        ref = _Node("FileRef")
        if self.v >= 11:
            rel = "/".join([*(d or ".." for d in c.relative_dirs), c.file_name])
            ref.add(
                _n("RelativePathType", c.relative_path_type),
                _n("RelativePath", rel),
                _n("Path", f"{c.absolute_dir}/{c.file_name}"),
                _n("Type", 1),
                _n("LivePackName", ""),
                _n("LivePackId", ""),
                _n("OriginalFileSize", c.file_size),
                _n("OriginalCrc", c.crc),
            )
            if self.v >= 12:
                ref.add(_n("SourceHint", ""))
            return ref
        rel_path = _Node("RelativePath")
        for i, d in enumerate(c.relative_dirs):
            attrs = {"Id": str(i), "Dir": d} if self.v >= 10 else {"Dir": d}
            rel_path.add(_Node("RelativePathElement", attrs))
        hint = _Node("PathHint")
        for i, d in enumerate(p for p in c.absolute_dir.split("/") if p):
            attrs = {"Id": str(i), "Dir": d} if self.v >= 10 else {"Dir": d}
            hint.add(_Node("RelativePathElement", attrs))
        # Windows-style absolute path as UTF-16LE hex, 80 hex digits per line like Live
        win = ("C:" + c.absolute_dir + "/" + c.file_name).replace("/", "\\")
        hexdata = (win.encode("utf-16-le") + b"\x00\x00").hex().upper()
        data = _Node("Data")
        data.text = "\n".join(hexdata[i : i + 80] for i in range(0, len(hexdata), 80))
        ref.add(
            _n("HasRelativePath", True),
            _n("RelativePathType", c.relative_path_type),
            rel_path,
            _n("Name", c.file_name),
            _n("Type", 1),
            data,
            _n("RefersToFolder", False),
            _Node("SearchHint").add(
                hint,
                _n("FileSize", c.file_size),
                _n("Crc", c.crc),
                _n("MaxCrcSize", 16384),
                _n("HasExtendedInfo", True),
            ),
            _n("LivePackName", ""),
            _n("LivePackId", ""),
        )
        return ref

    def audio_clip(self, c: ClipSpec, clip_id: int) -> _Node:
        attrs = (
            {"Id": str(clip_id), "Time": _fmt(float(c.start_beat))}
            if self.v >= 10
            else {"Time": _fmt(float(c.start_beat))}
        )
        clip = _Node("AudioClip", attrs)
        markers = _Node("WarpMarkers")
        for i, (beat, sec) in enumerate(c.warp_markers):
            m_attrs = {"SecTime": _fmt(float(sec)), "BeatTime": _fmt(float(beat))}
            markers.add(_Node("WarpMarker", {"Id": str(i), **m_attrs} if self.v >= 10 else m_attrs))
        clip.add(
            _n("LomId", 0),
            _n("LomIdView", 0),
            _n("CurrentStart", float(c.start_beat)),
            _n("CurrentEnd", float(c.end_beat)),
        )
        clip.add(
            _Node("Loop").add(
                _n("LoopStart", float(c.loop_start)),
                _n("LoopEnd", float(c.loop_end)),
                _n("StartRelative", float(c.start_relative)),
                _n("LoopOn", c.loop_on),
                _n("OutMarker", float(c.loop_end)),
                _n("HiddenLoopStart", float(c.loop_start)),
                _n("HiddenLoopEnd", float(c.loop_end)),
            )
        )
        clip.add(_n("Name", c.name or c.file_name.rsplit(".", 1)[0]), _n("Annotation", ""))
        clip.add(_n("Color", 2) if self.v >= 11 else _n("ColorIndex", 2))
        if self.v <= 10:  # Live 9-10 keep WarpMarkers near the top (FORMAT-ALS.md §7)
            clip.add(markers, _n("MarkersGenerated", False))
        clip.add(_Node("Envelopes").add(_Node("Envelopes")), _n("Disabled", c.disabled), _n("IsWarped", c.warped))
        if self.v >= 11:
            clip.add(_n("TakeId", 1))
        clip.add(
            _Node("SampleRef").add(
                self.file_ref(c),
                _n("LastModDate", 1700000000),
                _Node("SourceContext"),
                _n("SampleUsageHint", 0),
                _n("DefaultDuration", 88200),
                _n("DefaultSampleRate", c.default_sample_rate),
            )
        )
        clip.add(_n("WarpMode", c.warp_mode), _n("Fade", True))
        clip.add(
            _Node("Fades").add(
                _n("FadeInLength", float(c.fade_in)),
                _n("FadeOutLength", float(c.fade_out)),
                _n("ClipFadesAreInitialized", True),
                _n("CrossfadeInState", 0),
            )
        )
        clip.add(
            _n("PitchCoarse", c.pitch_coarse),
            _n("PitchFine", float(c.pitch_fine)),
            _n("SampleVolume", float(c.sample_volume)),
        )
        if self.v >= 11:
            clip.add(markers, _Node("SavedWarpMarkersForStretched"), _n("MarkersGenerated", False))
        clip.add(_n("IsSongTempoLeader" if self.v >= 12 else "IsSongTempoMaster", False))
        return clip

    # tracks -----------------------------------------------------------------------------------------------
    def track(self, t: TrackSpec) -> _Node:
        tag = {"audio": "AudioTrack", "midi": "MidiTrack", "group": "GroupTrack", "return": "ReturnTrack"}[t.kind]
        node = _Node(tag, {"Id": str(t.track_id)})
        node.add(_n("LomId", 0), _n("LomIdView", 0))
        node.add(_Node("Name").add(_n("EffectiveName", t.name), _n("UserName", t.name), _n("Annotation", "")))
        node.add(_n("Color", 1) if self.v >= 11 else _n("ColorIndex", 1))
        volume_target = self.pointee()
        envelopes = _Node("Envelopes")
        if self.v >= 10:
            node.add(_Node("AutomationEnvelopes").add(envelopes))
        node.add(_n("TrackGroupId", t.group_id), _n("TrackUnfolded", True))
        if self.v >= 11 and t.kind in ("audio", "midi"):
            lanes = _Node("TakeLanes")
            if t.take_lane_clips:
                events = _Node("Events")
                for i, c in enumerate(t.take_lane_clips):
                    events.add(self.audio_clip(c, 100 + i))
                lane = _Node("TakeLane", {"Id": "0"}).add(_n("Name", "Take 1"), _Node("ClipAutomation").add(events))
                lanes.add(lane)
            node.add(_Node("TakeLanes").add(lanes, _n("AreTakeLanesFolded", True)))
        if t.kind in ("audio", "midi"):
            node.add(_n("SavedPlayingSlot", -1), _n("SavedPlayingOffset", 0), _n("Freeze", t.frozen))
        main = "Main" if self.v >= 12 else "Master"
        target = t.output or ("AudioOut/GroupTrack" if t.group_id != -1 else f"AudioOut/{main}")
        chain = _Node("DeviceChain")
        chain.add(
            _Node("AudioOutputRouting").add(
                _n("Target", target), _n("UpperDisplayString", main), _n("LowerDisplayString", "")
            )
        )
        volume = self.param("Volume", t.volume, volume_target, 0.0003162277571, 1.99526238)
        if t.volume_automation:
            if self.v == 9:
                self.live9_events(volume, t.volume_automation)
            else:
                envelopes.add(self.envelope(0, volume_target, t.volume_automation, t.volume))
        sends = _Node("Sends")
        for i, level in enumerate(t.sends):
            send = self.param("Send", level, self.pointee(), 0.0003162277571, 1.0)
            sends.add(_Node("TrackSendHolder", {"Id": str(i)}).add(send, _n("Active", True)))
        mixer = _Node("Mixer").add(
            _n("LomId", 0),
            _n("IsExpanded", True),
            sends,
            self.bool_param("Speaker", not t.muted),
            _n("SoloSink", t.soloed),
        )
        if self.v >= 10:
            mixer.add(_n("PanMode", 0))
        mixer.add(self.param("Pan", t.pan, self.pointee(), -1.0, 1.0), volume)
        chain.add(mixer)
        if t.kind in ("audio", "midi"):
            slots = _Node("ClipSlotList")
            arrangement = _Node("Events")
            for i, c in enumerate(t.clips):
                clip = self.audio_clip(c, i)
                if c.session:
                    slots.add(
                        _Node("ClipSlot", {"Id": str(i)}).add(
                            _n("LomId", 0),
                            _Node("ClipSlot").add(_Node("Value").add(clip)),
                            _n("HasStop", True),
                        )
                    )
                else:
                    arrangement.add(clip)
            sequencer = _Node("MainSequencer").add(_n("LomId", 0), slots, _n("MonitoringEnum", 1))
            if t.kind == "audio":
                sequencer.add(_Node("Sample").add(_Node("ArrangerAutomation").add(arrangement)))
            else:
                sequencer.add(_Node("ClipTimeable").add(_Node("ArrangerAutomation").add(_Node("Events"))))
            freeze = _Node("FreezeSequencer").add(_n("LomId", 0), _Node("ClipSlotList"), _n("MonitoringEnum", 1))
            renders = _Node("Events").add(*(self.audio_clip(c, i) for i, c in enumerate(t.freeze_clips)))
            freeze.add(_Node("Sample").add(_Node("ArrangerAutomation").add(renders)))
            chain.add(sequencer, freeze)
        devices = _Node("Devices")
        for i in range(t.devices):
            devices.add(_Node("StereoGain", {"Id": str(i)}).add(_n("LomId", 0), self.bool_param("On", True)))
        chain.add(_Node("DeviceChain").add(devices))
        node.add(chain)
        return node

    def master(self, tempo_bpm: float, tempo_changes: Sequence[tuple[float, float]], volume: float) -> _Node:
        node = _Node("MainTrack" if self.v >= 12 else "MasterTrack")
        node.add(_n("LomId", 0), _n("LomIdView", 0))
        node.add(
            _Node("Name").add(
                _n("EffectiveName", "Main" if self.v >= 12 else "Master"),
                _n("UserName", ""),
                _n("Annotation", ""),
            )
        )
        envelopes = _Node("Envelopes")
        if self.v >= 10:
            node.add(_Node("AutomationEnvelopes").add(envelopes))
            time_sig = _Node("Events").add(_n("EnumEvent", 201, Id="0", Time=SENTINEL))
            envelopes.add(
                _Node("AutomationEnvelope", {"Id": "0"}).add(
                    _Node("EnvelopeTarget").add(_n("PointeeId", 10)), _Node("Automation").add(time_sig)
                )
            )
            envelopes.add(self.envelope(1, "8", tempo_changes, tempo_bpm))
        node.add(_n("TrackGroupId", -1))
        chain = _Node("DeviceChain")
        chain.add(
            _Node("AudioOutputRouting").add(
                _n("Target", "AudioOut/External/S0"),
                _n("UpperDisplayString", "Ext. Out"),
                _n("LowerDisplayString", "1/2"),
            )
        )
        tempo = self.param("Tempo", tempo_bpm, "8", 60.0, 200.0)
        if self.v == 9 and tempo_changes:
            self.live9_events(tempo, tempo_changes)
        mixer = _Node("Mixer").add(
            _n("LomId", 0),
            _Node("Sends"),
            self.bool_param("Speaker", True),
            _n("SoloSink", False),
            self.param("Pan", 0.0, "3", -1.0, 1.0),
            self.param("Volume", volume, "5", 0.0003162277571, 1.99526238),
            tempo,
            self.param("TimeSignature", 201.0, "10", 0.0, 494.0),
        )
        chain.add(mixer, _Node("DeviceChain").add(_Node("Devices")))
        node.add(chain)
        return node


def make_set(
    version: int,
    tracks: Sequence[TrackSpec],
    *,
    tempo_bpm: float = 120.0,
    tempo_changes: Sequence[tuple[float, float]] = (),
    master_volume: float = 1.0,
    crlf: bool = False,
    gzipped: bool = True,
) -> bytes:
    """The bytes of a synthetic Live `version` (9-12) set holding `tracks` in the given order.

    ``tempo_changes`` are (beat, bpm) points of the master tempo envelope after the initial ``tempo_bpm``
    (Live 10+: an AutomationEnvelope with PointeeId 8; Live 9: Tempo/ArrangerAutomation events); BPM ramps
    linearly between points and two points on one beat make a jump. ``crlf`` writes Windows line endings.
    """
    b = _Builder(version)
    major, minor, creator = _VERSIONS[version]
    root = _Node(
        "Ableton",
        {
            "MajorVersion": major,
            "MinorVersion": minor,
            "SchemaChangeCount": "3",
            "Creator": creator,
            "Revision": "0123456789abcdef0123456789abcdef01234567",
        },
    )
    live_set = _Node("LiveSet")
    if version >= 10:
        live_set.add(_n("NextPointeeId", 0))  # patched below once all ids are handed out
    live_set.add(_n("OverwriteProtectionNumber", 2819), _n("LomId", 0), _n("LomIdView", 0))
    tracks_node = _Node("Tracks")
    for spec in tracks:
        tracks_node.add(b.track(spec))
    live_set.add(tracks_node, b.master(tempo_bpm, tempo_changes, master_volume))
    prehear = _Node("PreHearTrack").add(
        _n("LomId", 0),
        _Node("DeviceChain").add(_Node("Mixer").add(b.param("Volume", 1.0, b.pointee(), 0.0003162277571, 1.99526238))),
    )
    live_set.add(prehear, _Node("Locators").add(_Node("Locators")))
    if version >= 10:
        live_set.children[0].attrs["Value"] = str(b.next_id + 1)
    root.add(live_set)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>']
    _render(root, 0, lines)
    eol = "\r\n" if crlf else "\n"
    xml = (eol.join(lines) + eol).encode("utf-8")
    return gzip.compress(xml, mtime=0) if gzipped else xml
