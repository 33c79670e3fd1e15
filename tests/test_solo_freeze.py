"""What the master hears: solo, mute, frozen tracks, groups, and what the prediction leaves out (issue 7).

Sessions are generated with the factories, with seeded audio; every expected master peak and group level is
computed here from the audio with numpy (sums of the tracks' signals times their fader and pan gains).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fixtures import als_factory as als
from fixtures.rpp_factory import ItemSpec, ProjectSpec, TrackSpec, make_project
from gainstager import pipeline
from gainstager.audio import write
from gainstager.model import ClipStatus
from gainstager.plan import Policy
from tests.conftest import cli

RATE = 48000
SECONDS = 3.0
LIVE_CENTRE = 10 ** (-3 / 20)  # Live's pan law: a centred track sits 3 dB under a hard-panned one


def noise(path: Path, seed: int, rms_dbfs: float) -> np.ndarray:
    """Seeded mono noise bursts (a high crest factor, so peaks of different tracks rarely coincide)."""
    rng = np.random.default_rng(seed)
    n = int(SECONDS * RATE)
    x = rng.standard_normal(n) * (1.0 + 3.0 * (rng.random(n) < 0.001))
    x *= 10 ** (rms_dbfs / 20) / np.sqrt(np.mean(x**2))
    path.parent.mkdir(parents=True, exist_ok=True)
    write(str(path), x[:, None].astype(np.float32), RATE, subtype="FLOAT")
    return x.astype(np.float32).astype(np.float64)


def peak_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.max(np.abs(x))))


def gated_rms_db(x: np.ndarray) -> float:
    """Independent gated RMS of a (frames, channels) signal: 400 ms blocks, 100 ms hop, -70 / -20 dB gates."""
    hop = RATE // 10
    sq = np.mean(x**2, axis=1)
    blocks = np.array([sq[i : i + 4 * hop].mean() for i in range(0, len(sq) - 4 * hop + 1, hop)])
    above = blocks[blocks >= 1e-7]
    return float(10 * np.log10(above[above >= above.mean() * 0.01].mean()))


def analyze(path: Path) -> pipeline.Analysis:
    return pipeline.analyze(pipeline.load(str(path)), Policy())


# ---------------------------------------------------------------- solo inside a group


def test_reaper_solo_in_a_folder_predicts_the_whole_mix(tmp_path: Path) -> None:
    """Kick is soloed inside the Bus folder: REAPER would play Bus and Kick, but a saved solo is a listening
    state, so the prediction is the whole mix (Vox, and the muted-free Bass too), and the report says so."""
    kick, bass, vox = (noise(tmp_path / f"{n}.wav", i, -20.0) for i, n in enumerate(("kick", "bass", "vox")))
    tracks = [
        TrackSpec("Bus", isbus=(1, 1), volume=0.5),
        TrackSpec("Kick", items=[ItemSpec("kick.wav", length_s=SECONDS)], solo=True),
        TrackSpec("Bass", items=[ItemSpec("bass.wav", length_s=SECONDS)], volume=0.8, isbus=(2, -1)),
        TrackSpec("Vox", items=[ItemSpec("vox.wav", length_s=SECONDS)]),
    ]
    path = tmp_path / "solo.rpp"
    path.write_bytes(make_project(ProjectSpec(tracks, master_volume=0.9)))
    a = analyze(path)
    # the factory's PANLAW 1 is a 0 dB law: a centred track plays at its fader gain on both sides
    whole = 0.9 * (0.5 * (kick + 0.8 * bass) + vox)
    assert a.master_peak_before_dbfs == pytest.approx(peak_db(whole), abs=0.01)
    assert a.master_peak_before_dbfs > peak_db(0.9 * 0.5 * kick) + 1.0  # more than the soloed track alone
    # the folder reads the sum of what its children send it (post their faders)
    bus = a.track_levels["track:0"]
    assert bus.gated_rms_dbfs == pytest.approx(gated_rms_db(np.stack([kick + 0.8 * bass] * 2, axis=1)), abs=0.01)
    text = cli("analyze", str(path)).stdout
    assert "soloed when saved: Kick (solo ignored" in text
    doc = json.loads(cli("analyze", str(path), "--json").stdout)
    assert doc["mix"]["soloed"] == ["Kick"]
    assert doc["tracks"][0]["levels"]["gated_rms_dbfs"] is not None


def test_reaper_mutes_are_respected(tmp_path: Path) -> None:
    kick, vox = noise(tmp_path / "kick.wav", 1, -20.0), noise(tmp_path / "vox.wav", 2, -20.0)
    tracks = [
        TrackSpec("Bus", isbus=(1, 1), mute=True),
        TrackSpec("Kick", items=[ItemSpec("kick.wav", length_s=SECONDS)], isbus=(2, -1), solo=True),
        TrackSpec("Vox", items=[ItemSpec("vox.wav", length_s=SECONDS)]),
    ]
    path = tmp_path / "mute.rpp"
    path.write_bytes(make_project(ProjectSpec(tracks)))
    assert analyze(path).master_peak_before_dbfs == pytest.approx(peak_db(vox), abs=0.01)
    del kick


def test_live_solo_in_a_group_predicts_the_whole_mix(tmp_path: Path) -> None:
    kick, bass, vox = (noise(tmp_path / f"{n}.wav", 10 + i, -20.0) for i, n in enumerate(("kick", "bass", "vox")))

    def clip(name: str) -> als.ClipSpec:
        return als.ClipSpec(0.0, SECONDS * 2, file_name=f"{name}.wav", warped=False, loop_end=SECONDS,
                            relative_path_type=1, relative_dirs=())

    tracks = [
        als.TrackSpec(20, "Bus", kind="group", volume=0.5),
        als.TrackSpec(21, "Kick", group_id=20, soloed=True, clips=(clip("kick"),)),
        als.TrackSpec(22, "Bass", group_id=20, volume=0.8, clips=(clip("bass"),)),
        als.TrackSpec(23, "Vox", clips=(clip("vox"),)),
    ]
    path = tmp_path / "solo.als"
    path.write_bytes(als.make_set(12, tracks, tempo_bpm=120.0))
    a = analyze(path)
    c = LIVE_CENTRE
    whole = c * 0.5 * c * (kick + 0.8 * bass) + c * vox  # children centred, then the centred group
    assert a.master_peak_before_dbfs == pytest.approx(peak_db(whole), abs=0.01)
    assert a.master_peak_before_dbfs > peak_db(c * 0.5 * c * kick) + 1.0
    assert a.scope is not None and a.scope.soloed == ("Kick",)
    assert a.track_levels["track:20"].gated_rms_dbfs == pytest.approx(
        gated_rms_db(np.stack([c * (kick + 0.8 * bass)] * 2, axis=1)), abs=0.01
    )
    assert "soloed when saved: Kick" in cli("analyze", str(path)).stdout


# ---------------------------------------------------------------- frozen tracks


def frozen_reaper(tmp_path: Path, with_audio: bool) -> tuple[Path, np.ndarray, np.ndarray]:
    """A frozen instrument track as REAPER 7 writes it: the MIDI item inside <FREEZE 0 …>, and on the track
    the item REAPER rendered (a FREEZE line, LOCK 1) playing Audio Files/synth_freeze.wav."""
    drums = noise(tmp_path / "drums.wav", 5, -18.0)
    synth = noise(tmp_path / "Audio Files" / "synth_freeze.wav", 6, -14.0)
    if not with_audio:
        (tmp_path / "Audio Files" / "synth_freeze.wav").unlink()
    tracks = [
        TrackSpec("Drums", items=[ItemSpec("drums.wav", length_s=SECONDS)]),
        TrackSpec(
            "Synth",
            frozen_items=[ItemSpec("", length_s=SECONDS, source="MIDI")],
            items=[ItemSpec("Audio Files\\synth_freeze.wav", length_s=SECONDS, freeze=True, take_volume=0.7)],
            volume=0.5,
        ),
    ]
    path = tmp_path / "frozen.rpp"
    path.write_bytes(make_project(ProjectSpec(tracks)))
    return path, drums, synth


def test_reaper_frozen_track_counts_with_its_freeze_audio(tmp_path: Path) -> None:
    path, drums, synth = frozen_reaper(tmp_path, True)
    a = analyze(path)
    status = {m.clip.clip_id: m.clip.status for m in a.media}
    assert status == {
        "track:0/item:0": ClipStatus.ACTIVE,
        "track:1/item:0": ClipStatus.FREEZE_RENDER,
        "track:1/frozen:0": ClipStatus.FROZEN,
    }
    assert a.master_peak_before_dbfs == pytest.approx(peak_db(drums + 0.5 * 0.7 * synth), abs=0.01)
    render_levels = a.clip_levels["track:1/item:0"]
    assert render_levels.gated_rms_dbfs == pytest.approx(gated_rms_db(0.7 * synth[:, None]), abs=0.01)
    assert a.track_levels["track:1"].gated_rms_dbfs == pytest.approx(render_levels.gated_rms_dbfs, abs=1e-6)
    assert all(e.target_id != "track:1/item:0" for e in a.edits)  # its gain is not written
    out = tmp_path / "out.rpp"
    proc = cli("apply", str(path), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert b"VOLPAN 1 0 0.7 -1" in out.read_bytes()  # the freeze item's take volume, as it was
    assert "frozen: Synth: measured from the freeze audio, clip gain not written" in proc.stdout
    assert "freeze render" in proc.stdout


def test_reaper_frozen_track_without_its_audio_is_left_out_and_said_so(tmp_path: Path) -> None:
    path, drums, _ = frozen_reaper(tmp_path, False)
    a = analyze(path)
    [m] = [m for m in a.media if m.clip.clip_id == "track:1/item:0"]
    assert m.clip.status is ClipStatus.MISSING and m.reason.startswith("freeze audio not found")
    assert a.master_peak_before_dbfs == pytest.approx(peak_db(drums), abs=0.01)
    assert a.scope is not None and (a.scope.frozen, a.scope.frozen_left_out) == ((), ("Synth",))
    assert "frozen, left out (no freeze audio found in the arrangement): Synth" in cli("analyze", str(path)).stdout


def test_live_frozen_instrument_track_counts_with_its_freeze_audio(tmp_path: Path) -> None:
    """A frozen MIDI track: Live keeps the render in Samples/Processed/Freeze and plays it from the
    FreezeSequencer, with the original clip's place on the timeline."""
    drums = noise(tmp_path / "drums.wav", 7, -18.0)
    synth = noise(tmp_path / "Samples" / "Processed" / "Freeze" / "Freeze Synth.wav", 8, -14.0)
    beats = SECONDS * 2
    render = als.ClipSpec(
        0.0,
        beats,
        file_name="Freeze Synth.wav",
        loop_end=beats,
        warp_markers=((0.0, 0.0), (4.0, 2.0)),  # the render is warped at the set's tempo: one to one
        relative_path_type=1,
        relative_dirs=("Samples", "Processed", "Freeze"),
        sample_volume=0.7,
    )
    drum_clip = als.ClipSpec(0.0, beats, file_name="drums.wav", warped=False, loop_end=SECONDS,
                             relative_path_type=1, relative_dirs=())
    tracks = [
        als.TrackSpec(10, "Drums", clips=(drum_clip,)),
        als.TrackSpec(11, "Synth", kind="midi", frozen=True, freeze_clips=(render,), volume=0.5),
    ]
    path = tmp_path / "frozen.als"
    path.write_bytes(als.make_set(11, tracks, tempo_bpm=120.0))
    a = analyze(path)
    [freeze] = [m for m in a.media if m.clip.track_id == "track:11"]
    assert (freeze.clip.clip_id, freeze.clip.status) == ("track:11/freeze:0", ClipStatus.FREEZE_RENDER)
    c = LIVE_CENTRE
    assert a.master_peak_before_dbfs == pytest.approx(peak_db(c * drums + c * 0.5 * 0.7 * synth), abs=0.01)
    assert a.clip_levels["track:11/freeze:0"].gated_rms_dbfs == pytest.approx(
        gated_rms_db(0.7 * synth[:, None]), abs=0.01
    )
    assert all(e.target_id != "track:11/freeze:0" for e in a.edits)
    assert a.scope is not None and a.scope.frozen == ("Synth",) and a.scope.instrument_tracks == 0


# ---------------------------------------------------------------- what the prediction leaves out


def test_left_out_counts_in_text_and_json(tmp_path: Path) -> None:
    noise(tmp_path / "a.wav", 3, -20.0)

    def clip() -> als.ClipSpec:
        return als.ClipSpec(0.0, 4.0, file_name="a.wav", warped=False, loop_end=2.0,
                            relative_path_type=1, relative_dirs=())

    tracks = [
        als.TrackSpec(10, "Audio", clips=(clip(),), sends=(0.5, 0.0003162277571), devices=2),
        als.TrackSpec(11, "Keys", kind="midi"),
        als.TrackSpec(12, "Muted keys", kind="midi", muted=True),
        als.TrackSpec(30, "Reverb", kind="return"),
    ]
    path = tmp_path / "scope.als"
    path.write_bytes(als.make_set(12, tracks))
    doc = json.loads(cli("analyze", str(path), "--json").stdout)
    assert doc["mix"]["left_out"] == {"instrument_tracks": 1, "return_tracks": 1, "sends": 1, "plugin_tracks": 1}
    text = cli("analyze", str(path)).stdout
    assert (
        "master prediction leaves out: 1 instrument track without audio, 1 return track, 1 send, "
        "1 track with plug-ins (levels are pre-FX)"
    ) in text
