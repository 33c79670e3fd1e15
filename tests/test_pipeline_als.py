"""End to end, Live only, on generated sets (Live 9-12): warping, tempo maps, sample paths, Live's fader range,
clips that do not play (what every format shares is in test_end_to_end.py).

Each test writes audio at exact levels into a Live project folder (``Song Project/Samples/Imported`` beside an
``Ableton Project Info`` folder, as Live lays projects out), builds a set with fixtures.als_factory, runs the real
pipeline (or the real CLI), then reads and measures the written set again and checks the outcome in dB.

Timing conventions of the factory: a warped clip's default warp markers are (beat 0, 0 s) and (beat 4, 2 s), a
120 BPM source; loop and marker values are clip beats for warped clips and source seconds for unwarped ones.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fixtures.als_factory import ClipSpec, TrackSpec, make_set
from fixtures.rpp_factory import ItemSpec, make_project
from fixtures.rpp_factory import TrackSpec as RppTrack
from gainstager.audio import write
from gainstager.model import Automation, ClipStatus, Session
from gainstager.parsers import als
from gainstager.plan import Policy
from tests.conftest import again, assert_refused, cli, invoke, post_fader_rms, stage

VERSIONS = (9, 10, 11, 12)
EDITABLE = ("SampleVolume", "Manual", "FloatEvent")
PROJECT = "Song Project"


# ---------------------------------------------------------------- audio and sets


def samples(project: Path) -> Path:
    return project / "Samples" / "Imported"


def tone(
    path: Path, parts: Sequence[tuple[float, float]], *, freq: float = 440.0, channels: int = 1, rate: int
) -> None:
    """A sine made of (seconds, RMS dBFS) parts, each of exact RMS (an integer frequency fits whole cycles into
    every whole second); float WAV so nothing is quantised."""
    n = [round(seconds * rate) for seconds, _ in parts]
    t = np.arange(sum(n)) / rate
    amp = np.concatenate([np.full(k, np.sqrt(2) * 10 ** (db / 20)) for k, (_, db) in zip(n, parts, strict=True)])
    x = amp * np.sin(2 * np.pi * freq * t)
    path.parent.mkdir(parents=True, exist_ok=True)
    write(str(path), np.repeat(x[:, None], channels, axis=1).astype(np.float32), rate, subtype="FLOAT")


def sine(
    project: Path,
    name: str,
    seconds: float,
    rms_dbfs: float,
    *,
    freq: float = 440.0,
    channels: int = 1,
    rate: int = 48000,
) -> None:
    tone(samples(project) / name, [(seconds, rms_dbfs)], freq=freq, channels=channels, rate=rate)


def clip(project: Path, name: str, start_beat: float, beats: float, **kw: Any) -> ClipSpec:
    """An arrangement clip playing `name` from Samples/Imported (RelativePathType 3) from its start, unlooped,
    with the file's real size and CRC as Live records them (so the search fallback could confirm it)."""
    path = samples(project) / name
    spec = ClipSpec(float(start_beat), float(start_beat + beats), file_name=name, loop_end=float(beats))
    if path.is_file():
        spec = replace(spec, file_size=path.stat().st_size, crc=als.live_crc16(path.read_bytes()))
    return replace(spec, **kw)


def live_project(tmp_path: Path) -> Path:
    project = tmp_path / PROJECT
    (project / "Ableton Project Info").mkdir(parents=True)
    samples(project).mkdir(parents=True)
    return project


def live_set(
    project: Path,
    version: int,
    tracks: Sequence[TrackSpec],
    name: str = "song.als",
    *,
    tempo_bpm: float = 120.0,
    tempo_changes: Sequence[tuple[float, float]] = (),
    crlf: bool = False,
) -> Path:
    path = project / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(make_set(version, tracks, tempo_bpm=tempo_bpm, tempo_changes=tempo_changes, crlf=crlf))
    return path


def by_name(session: Session) -> dict[str, str]:
    return {t.name: t.track_id for t in session.tracks}


def xml_of(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


def changed_lines(before: bytes, after: bytes) -> list[tuple[str, float, float]]:
    """(tag, old value, new value) of every line that differs; fails unless only a Value="…" attribute of a
    SampleVolume, Manual or FloatEvent element changed and every other byte is the same."""
    old, new = before.split(b"\n"), after.split(b"\n")
    assert len(old) == len(new)
    out = []
    value = re.compile(rb'Value="([^"]*)"')
    for a, b in zip(old, new, strict=True):
        if a == b:
            continue
        tag = re.match(rb"\s*<(\w+)", a)
        assert tag is not None and tag.group(1).decode() in EDITABLE, a
        assert value.sub(b'Value=""', a) == value.sub(b'Value=""', b), (a, b)
        va, vb = value.search(a), value.search(b)
        assert va is not None and vb is not None
        out.append((tag.group(1).decode(), float(va.group(1)), float(vb.group(1))))
    return out


def assert_gzip_like_live(path: Path) -> None:
    data = path.read_bytes()
    assert data[:3] == b"\x1f\x8b\x08"  # gzip, deflate
    assert data[3] == 0  # no file name or other optional fields
    assert data[4:8] == b"\x00\x00\x00\x00"  # mtime 0


# ---------------------------------------------------------------- targets, faders, balance, headroom


@pytest.mark.parametrize("version", VERSIONS)
def test_fader_limit_of_plus_6_db_limits_the_clip_change(tmp_path: Path, version: int) -> None:
    """Keep mode on a clip 12 dB above the target: the fader would have to go to +12 dB (plain fader at 0 dB)
    or to +9 dB (an envelope peaking at +3 dB); Live stops at +6, so the clip comes down only as far as the
    fader can follow. (A -30 dB target keeps the master below the headroom, so no headroom cut interferes.)"""
    project = live_project(tmp_path)
    sine(project, "loud.wav", 2.0, -18.0)
    plus3 = 10 ** (3 / 20)
    path = live_set(
        project,
        version,
        [
            TrackSpec(10, "Plain", clips=(clip(project, "loud.wav", 0, 4),)),
            TrackSpec(
                11, "Auto", volume=0.5, volume_automation=((2.0, plus3),), clips=(clip(project, "loud.wav", 0, 4),)
            ),
        ],
    )
    policy = Policy(target_db=-30.0)
    a, out = stage(path, policy)
    assert a.headroom_change_db == 0.0
    ids = by_name(a.session)
    plain, auto = f"{ids['Plain']}/clip:0", f"{ids['Auto']}/clip:0"
    assert a.session.track(ids["Auto"]).automation == Automation.LINEAR_ENVELOPE
    assert a.plan.clips[plain].bound_by == "range" and a.plan.clips[auto].bound_by == "range"
    assert a.plan.clips[plain].new_gain_db == pytest.approx(-6.0, abs=1e-6)
    assert a.plan.clips[auto].new_gain_db == pytest.approx(-3.0, abs=1e-6)
    after = again(out, policy)
    assert after.clip_levels[plain].gated_rms_dbfs == pytest.approx(-24.0, abs=0.05)
    assert after.clip_levels[auto].gated_rms_dbfs == pytest.approx(-21.0, abs=0.05)
    assert after.session.track(ids["Plain"]).fader_db == pytest.approx(6.0, abs=0.001)
    assert after.session.track(ids["Auto"]).envelope_max_db == pytest.approx(6.0, abs=0.001)
    b, c = post_fader_rms(a), post_fader_rms(after)
    for name in b:
        assert c[name] == pytest.approx(b[name], abs=0.01), name


def test_range_bound_clip_and_headroom_cut_restage_as_a_no_op(tmp_path: Path) -> None:
    """Keep mode, a clip 15 dB above the target on a fader at 0 dB: the clip comes down 6 dB (range), the
    fader goes to +6, and the master is then 3 dB over the headroom, so the fader comes down to about +3.
    Staging the written set again should change nothing."""
    project = live_project(tmp_path)
    sine(project, "loud.wav", 2.0, -3.0)
    a, out = stage(live_set(project, 12, [TrackSpec(10, "Loud", clips=(clip(project, "loud.wav", 0, 4),))]))
    assert a.plan.clips["track:10/clip:0"].bound_by == "range"
    assert a.headroom_change_db < -1.0
    after = again(out)
    assert after.master_peak_before_dbfs == pytest.approx(-6.0, abs=0.02)
    assert after.edits == ()


# ---------------------------------------------------------------- what a clip plays


@pytest.mark.parametrize("version", VERSIONS)
def test_warped_looped_and_unwarped_clips_play_the_right_source_seconds(tmp_path: Path, version: int) -> None:
    """A 2 s file, its first second at -20 dBFS and its second at -30: a clip that reads only the first second
    (whatever its length on the timeline) measures -20.0 exactly, one that reads further measures less."""
    project = live_project(tmp_path)
    rate = 44100
    tone(samples(project) / "steps.wav", [(1.0, -20.0), (1.0, -30.0)], rate=rate)
    tone(samples(project) / "one.wav", [(1.0, -20.0)], rate=rate)
    path = live_set(
        project,
        version,
        [
            TrackSpec(
                10,
                "Clips",
                clips=(
                    # warped, looped: the 1 s file (2 beats at its 120 BPM) looped over 6 beats (4 s at 90 BPM)
                    clip(project, "one.wav", 0, 6, loop_on=True, loop_end=2.0),
                    # warped, the loop region (the first second) shorter than the clip and the file
                    clip(project, "steps.wav", 8, 6, loop_on=True, loop_end=2.0),
                    # warped, unlooped, own warp markers: 3 clip beats are source 0-1 s (1.5 s by the default grid)
                    clip(project, "steps.wav", 16, 3, warp_markers=((0.0, 0.0), (3.0, 1.0))),
                    # unwarped, looped over source seconds 0-1
                    clip(project, "steps.wav", 20, 6, warped=False, loop_on=True, loop_start=0.0, loop_end=1.0),
                    # unwarped, unlooped: 1.5 s of source, a third of it at -30 dBFS
                    clip(project, "steps.wav", 28, 3 * 90 / 120, warped=False, loop_end=2.0),
                ),
            )
        ],
        tempo_bpm=90.0,
    )
    a = again(path)
    lv = [a.clip_levels[f"track:10/clip:{i}"] for i in range(5)]
    beat = 60 / 90
    assert [x.duration_s for x in lv] == pytest.approx([6 * beat, 6 * beat, 3 * beat, 6 * beat, 1.5], abs=1e-3)
    for x in lv[:4]:
        assert x.rms_dbfs == pytest.approx(-20.0, abs=0.02)
    want = 10 * math.log10((10 ** (-20 / 10) * 1.0 + 10 ** (-30 / 10) * 0.5) / 1.5)
    assert lv[4].rms_dbfs == pytest.approx(want, abs=0.02)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("ramp", [False, True], ids=["jump", "ramp"])
def test_tempo_automation(tmp_path: Path, version: int, ramp: bool) -> None:
    """A warped clip (120 BPM source, 4 s) over beats 4-12 while the tempo jumps 120 -> 90 at beat 8, or ramps
    120 -> 80 from beat 4 to 12: it plays exactly the 4 s of the file over the arrangement seconds the tempo
    map gives, and a second, unwarped clip plays source seconds at rate 1."""
    project = live_project(tmp_path)
    tone(samples(project) / "steps.wav", [(4.0, -20.0), (2.0, -30.0)], rate=48000)
    changes = ((4.0, 120.0), (12.0, 80.0)) if ramp else ((8.0, 120.0), (8.0, 90.0))
    path = live_set(
        project,
        version,
        [
            TrackSpec(10, "Warped", clips=(clip(project, "steps.wav", 4, 8),)),
            TrackSpec(11, "Unwarped", clips=(clip(project, "steps.wav", 4, 8, warped=False, loop_end=6.0),)),
        ],
        tempo_changes=changes,
    )
    # by hand: 120 BPM is 0.5 s a beat; a linear ramp from v0 by s BPM/beat takes 60/s * ln(1 + s*beats/v0)
    slope = (80.0 - 120.0) / 8.0
    seconds = 60.0 / slope * math.log1p(slope * 8.0 / 120.0) if ramp else 4 * 0.5 + 4 * 60.0 / 90.0
    a = again(path)
    warped, unwarped = a.clip_levels["track:10/clip:0"], a.clip_levels["track:11/clip:0"]
    clip_w = a.session.clips[0]
    assert clip_w.timeline_start_s == pytest.approx(2.0, abs=1e-9)
    assert warped.duration_s == pytest.approx(seconds, abs=1e-3)
    assert clip_w.timeline_end_s - clip_w.timeline_start_s == pytest.approx(seconds, abs=1e-6)
    assert sum(s.rate * s.duration_s for s in clip_w.segments) == pytest.approx(4.0, abs=1e-6)
    assert warped.rms_dbfs == pytest.approx(-20.0, abs=0.05)  # nothing of the -30 dBFS part after 4 s
    assert unwarped.duration_s == pytest.approx(seconds, abs=1e-3)
    extra = seconds - 4.0  # source seconds past the -20 dBFS part
    want = 10 * math.log10((10 ** (-20 / 10) * 4.0 + 10 ** (-30 / 10) * extra) / seconds)
    assert unwarped.rms_dbfs == pytest.approx(want, abs=0.02)


# ---------------------------------------------------------------- groups, automation, paths


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("where", [".", "Sets"], ids=["set-in-project", "set-in-subfolder"])
def test_sample_in_project_imported_folder(tmp_path: Path, version: int, where: str) -> None:
    """RelativePathType 3: the path is relative to the project folder (the one holding Ableton Project Info),
    also for a set saved in a subfolder of the project; the absolute path Live recorded is elsewhere."""
    project = live_project(tmp_path)
    sine(project, "take.wav", 2.0, -27.0)
    spec = clip(project, "take.wav", 0, 4, relative_path_type=3, absolute_dir="/Volumes/Gone/Song Project/Samples")
    path = live_set(project, version, [TrackSpec(10, "Take", clips=(spec,))], name=f"{where}/song.als")
    a, out = stage(path)
    (m,) = a.media
    assert m.clip.status == ClipStatus.ACTIVE
    assert m.path is not None and Path(m.path).resolve() == (samples(project) / "take.wav").resolve()
    assert m.clip.media is not None  # Live <= 10 record it as a Windows path in Data (the factory's choice)
    assert m.clip.media.written_path.endswith("/Volumes/Gone/Song Project/Samples/take.wav")
    assert again(out).clip_levels["track:10/clip:0"].gated_rms_dbfs == pytest.approx(-18.0, abs=0.1)


@pytest.mark.parametrize("version", VERSIONS)
def test_clips_that_do_not_play_are_listed_and_untouched(tmp_path: Path, version: int) -> None:
    """A disabled clip, a session-view clip, a take-lane clip (Live 11+), a frozen track and a MIDI track are
    listed with their status; only the playing clip and its track's fader change."""
    project = live_project(tmp_path)
    sine(project, "a.wav", 2.0, -24.0)
    main = TrackSpec(
        10,
        "Main",
        clips=(
            clip(project, "a.wav", 0, 4),
            clip(project, "a.wav", 8, 4, disabled=True, sample_volume=0.7),
            clip(project, "a.wav", 0, 4, session=True, sample_volume=0.7),
        ),
        take_lane_clips=(clip(project, "a.wav", 0, 4, sample_volume=0.7),) if version >= 11 else (),
    )
    frozen = TrackSpec(11, "Frozen", frozen=True, volume=0.7, clips=(clip(project, "a.wav", 0, 4, sample_volume=0.7),))
    path = live_set(project, version, [main, frozen, TrackSpec(12, "Keys", kind="midi", volume=0.7)])
    a, out = stage(path)
    status = sorted(str(m.clip.status) for m in a.media)
    want = ["active", "frozen", "muted", "session-view", *(["take-lane"] if version >= 11 else [])]
    assert status == sorted(want)
    assert all(m.reason for m in a.media if m.clip.status != ClipStatus.ACTIVE)
    (active,) = (m.clip.clip_id for m in a.media if m.clip.status == ClipStatus.ACTIVE)
    assert {e.target_id for e in a.edits} == {active, "track:10"}
    changes = changed_lines(xml_of(path), xml_of(out))
    assert all(not math.isclose(old, 0.7) for _, old, _ in changes)
    assert len(changes) == (3 if version == 9 else 2)  # SampleVolume, Manual (and the Live 9 sentinel)


@pytest.mark.parametrize("version", [9, 12])
def test_moved_sample_is_found_by_name_size_and_crc(tmp_path: Path, version: int) -> None:
    """The sample is not where the set says (Samples/Imported) but in Samples/Processed; a file of the same
    name but other content sits in another folder. The search finds the one whose size and CRC Live recorded."""
    project = live_project(tmp_path)
    sine(project, "vox.wav", 2.0, -30.0)
    spec = clip(project, "vox.wav", 0, 4)
    moved = project / "Samples" / "Processed" / "vox.wav"
    moved.parent.mkdir(parents=True)
    (samples(project) / "vox.wav").rename(moved)
    tone(project / "Other" / "vox.wav", [(2.0, -10.0)], freq=300, rate=48000)  # the same size, another CRC
    assert (project / "Other" / "vox.wav").stat().st_size == moved.stat().st_size
    a, out = stage(live_set(project, version, [TrackSpec(10, "Vox", clips=(spec,))]))
    assert a.media[0].path == str(moved)
    assert a.clip_levels["track:10/clip:0"].gated_rms_dbfs == pytest.approx(-30.0, abs=0.02)
    assert again(out).clip_levels["track:10/clip:0"].gated_rms_dbfs == pytest.approx(-18.0, abs=0.1)


def test_cli_batch_leaves_an_unchanged_live_set_alone(tmp_path: Path) -> None:
    project = live_project(tmp_path)
    live_set(project, 11, [TrackSpec(10, "Gone", clips=(clip(project, "gone.wav", 0, 4),))])
    proc = invoke("batch", str(tmp_path), "--json", "-j", "1")
    assert proc.returncode == 0, proc.stderr
    (session,) = json.loads(proc.stdout)["sessions"]
    assert session["ok"] and session["report"]["clips"][0]["status"] == "missing"
    assert session["report"]["output"]["changed"] is False
    assert not (project / "song.gainstaged.als").exists()


# ---------------------------------------------------------------- the command line


def test_cli_batch_handles_live_and_reaper_sessions(tmp_path: Path) -> None:
    project = live_project(tmp_path / "live")
    sine(project, "quiet.wav", 2.0, -30.0)
    live_set(project, 12, [TrackSpec(10, "Quiet", clips=(clip(project, "quiet.wav", 0, 4),))])
    reaper = tmp_path / "reaper"
    tone(reaper / "media" / "hot.wav", [(2.0, -12.0)], rate=48000)
    (reaper / "mix.rpp").write_bytes(make_project([RppTrack("Hot", [ItemSpec("media/hot.wav", 0.0, 2.0)])]))
    proc = cli("batch", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    formats = {Path(s["path"]).name: s["report"]["session"]["format"] for s in doc["sessions"]}
    assert formats == {"song.als": "als", "mix.rpp": "rpp"}
    assert all(s["ok"] for s in doc["sessions"]) and doc["failed"] == 0
    written = project / "song.gainstaged.als"
    assert written.exists() and (reaper / "mix.gainstaged.rpp").exists()
    assert_gzip_like_live(written)
    assert again(written).clip_levels["track:10/clip:0"].gated_rms_dbfs == pytest.approx(-18.0, abs=0.1)


def _truncated_set() -> bytes:
    data = make_set(11, [TrackSpec(1, clips=(ClipSpec(0, 4),))])
    return data[: len(data) // 2]


_DOCTYPE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE Ableton [\n<!ENTITY a "aaaaaaaaaa">\n'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">\n]>\n'
    b'<Ableton MajorVersion="5" MinorVersion="11.0_11300" Creator="Ableton Live 11.3.4">\n'
    b'\t<LiveSet>\n\t\t<Tracks>\n\t\t\t<AudioTrack Id="1"><Name><EffectiveName Value="&b;" /></Name></AudioTrack>\n'
    b"\t\t</Tracks>\n\t</LiveSet>\n</Ableton>\n"
)


@pytest.mark.parametrize(
    "content,what",
    [
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"junk, not deflate" * 20, "corrupt gzip"),
        (_truncated_set(), "truncated gzip"),
        (_DOCTYPE, "DTD"),
        (gzip.compress(_DOCTYPE, mtime=0), "DTD"),
    ],
    ids=["gzip-junk", "truncated-gzip", "doctype-entities", "gzipped-doctype"],
)
def test_cli_bad_live_set_one_line_no_traceback_nothing_written(tmp_path: Path, content: bytes, what: str) -> None:
    bad = tmp_path / "bad.als"
    bad.write_bytes(content)
    assert_refused(cli("apply", str(bad)), bad, what, content)
