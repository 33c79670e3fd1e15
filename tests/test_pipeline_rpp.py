"""End to end, REAPER only: what a REAPER item plays (loops, playrate, offsets, sections), its envelope kinds, and
the command line on REAPER projects (what every format shares is in test_end_to_end.py).

Each test writes audio at exact levels, builds a project with fixtures.rpp_factory, runs the real pipeline
(or the real CLI), then measures the written session again and checks the outcome in dB.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fixtures.rpp_factory import ItemSpec, ProjectSpec, TrackSpec, make_project
from gainstager import routing
from gainstager.audio import write
from gainstager.model import ClipStatus, Levels
from tests.conftest import again, assert_refused, cli, invoke, stage

RATE = 48000


def sine(
    path: Path, seconds: float, rms_dbfs: float, *, freq: float = 440.0, channels: int = 1, rate: int = RATE
) -> None:
    """A sine whose RMS (and gated RMS) is exactly rms_dbfs; float WAV so nothing is quantised."""
    t = np.arange(int(seconds * rate)) / rate
    x = np.sqrt(2) * 10 ** (rms_dbfs / 20) * np.sin(2 * np.pi * freq * t)
    path.parent.mkdir(parents=True, exist_ok=True)
    write(str(path), np.repeat(x[:, None], channels, axis=1).astype(np.float32), rate, subtype="FLOAT")


def project(tmp_path: Path, tracks: list[TrackSpec], **kw: object) -> Path:
    path = tmp_path / "song.rpp"
    path.write_bytes(make_project(ProjectSpec(tracks=tracks, sample_rate_hz=RATE, **kw)))  # type: ignore[arg-type]
    return path


@pytest.fixture
def three_tracks(tmp_path: Path) -> Path:
    sine(tmp_path / "media/quiet.wav", 3.0, -32.0, freq=220)
    sine(tmp_path / "media/hot.wav", 3.0, -20.0, freq=330, channels=2)
    sine(tmp_path / "media/mid.wav", 3.0, -24.0, freq=550)
    return project(
        tmp_path,
        [
            TrackSpec("Quiet", [ItemSpec("media/quiet.wav", 0.0, 3.0)], volume=0.5),
            TrackSpec("Hot", [ItemSpec("media/hot.wav", 0.0, 3.0)]),
            TrackSpec(
                "Mid",
                [ItemSpec("media/mid.wav", 1.0, 2.0), ItemSpec("media/mid.wav", 3.5, 1.0, soffs_s=1.0)],
                volume=1.25,
            ),
        ],
    )


def test_loop_playrate_and_offset_are_rendered(tmp_path: Path) -> None:
    sine(tmp_path / "media/one.wav", 1.0, -20.0)
    path = project(
        tmp_path,
        [
            TrackSpec(
                "Loop",
                [
                    ItemSpec("media/one.wav", 0.0, 3.0, loop=True),  # 3 s of a looped 1 s file
                    ItemSpec("media/one.wav", 5.0, 1.0, playrate=0.5),  # the first half, at half speed
                    ItemSpec("media/one.wav", 7.0, 3.0, loop=False),  # no loop: 1 s of sound, then silence
                ],
            )
        ],
    )
    a = again(path)
    loop_id, slow_id, once_id = (c.clip_id for c in a.session.clips)
    assert a.clip_levels[loop_id].duration_s == pytest.approx(3.0, abs=1e-3)
    assert a.clip_levels[loop_id].rms_dbfs == pytest.approx(-20.0, abs=0.01)
    assert a.clip_levels[slow_id].duration_s == pytest.approx(1.0, abs=1e-3)
    assert a.clip_levels[slow_id].rms_dbfs == pytest.approx(-20.0, abs=0.05)
    # two thirds of the unlooped item is silence: the plain RMS drops by 10*log10(3). The gated RMS leaves the
    # silent blocks out; of the 10 blocks (400 ms, 100 ms hop) that hold sound, the last three are 3/4, 1/2
    # and 1/4 full, so the gated mean is 8.5/10 of the tone's power.
    assert a.clip_levels[once_id].rms_dbfs == pytest.approx(-20.0 - 10 * np.log10(3), abs=0.05)
    assert a.clip_levels[once_id].gated_rms_dbfs == pytest.approx(-20.0 + 10 * np.log10(0.85), abs=0.02)


def test_analyze_reads_what_measure_reads(tmp_path: Path) -> None:
    """A clip playing a whole file at 0 dB measures exactly as `gainstager measure` on the file."""
    from gainstager.measure import measure_file

    rng = np.random.default_rng(7)
    x = (0.1 * rng.standard_normal((RATE * 3, 2))).astype(np.float32)
    (tmp_path / "media").mkdir()
    write(str(tmp_path / "media/noise.wav"), x, RATE, subtype="PCM_24")
    path = project(tmp_path, [TrackSpec("N", [ItemSpec("media/noise.wav", 2.0, 3.0)])])
    a = again(path)
    session_levels = next(iter(a.clip_levels.values()))
    file_levels = measure_file(str(tmp_path / "media/noise.wav")).levels
    for key in Levels.__slots__:
        assert getattr(session_levels, key) == pytest.approx(getattr(file_levels, key), abs=1e-6), key


def test_volume_envelopes(tmp_path: Path) -> None:
    sine(tmp_path / "media/a.wav", 2.0, -24.0)
    path = project(
        tmp_path,
        [
            TrackSpec("Read", [ItemSpec("media/a.wav", 0.0, 2.0)], automode=1, volenv=[(0.0, 0.5), (1.0, 1.0)]),
            TrackSpec("Faderscaled", [ItemSpec("media/a.wav", 0.0, 2.0)], automode=1, voltype=1, volenv=[(0.0, 0.7)]),
            TrackSpec("Trim", [ItemSpec("media/a.wav", 0.0, 2.0)], automode=0, volenv=[(0.0, 0.5)]),
        ],
    )
    a, out = stage(path)
    text = out.read_text()
    assert "PT 0 0.25059362" in text and "PT 1 0.50118723" in text  # linear envelope: points scaled by -6 dB
    assert "PT 0 0.7 0" in text  # fader-scaled envelope left alone ...
    by_track = {a.session.track(m.clip.track_id).name: m.clip.clip_id for m in a.media}
    assert a.plan.clips[by_track["Faderscaled"]].new_gain_db == 0.0  # ... and its clip kept with it
    after = again(out)
    trim = next(t for t in after.session.tracks if t.name == "Trim")
    assert trim.fader_db == pytest.approx(-6.0, abs=0.01)  # trim/read: the fader carries the change


# ---------------------------------------------------------------- the command line


def test_cli_apply_json_and_default_output(three_tracks: Path) -> None:
    proc = invoke("apply", str(three_tracks), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == 1 and doc["session"]["format"] == "rpp"
    out = three_tracks.with_name("song.gainstaged.rpp")
    assert doc["output"]["path"] == str(out) and out.exists()
    clip = doc["clips"][0]
    assert set(clip) >= {"track", "file", "status", "clip_gain_db", "new_clip_gain_db", "levels", "bound_by"}
    assert set(clip["levels"]) >= {
        "sample_peak_dbfs",
        "true_peak_dbtp",
        "rms_dbfs",
        "gated_rms_dbfs",
        "integrated_lufs",
    }
    assert clip["levels"]["gated_rms_dbfs"] == pytest.approx(-32.0, abs=0.05)  # measured as read
    assert clip["new_clip_gain_db"] == pytest.approx(14.0, abs=0.05)
    assert {t["name"] for t in doc["tracks"]} == {"Quiet", "Hot", "Mid"}
    assert doc["master"]["predicted_peak_dbfs_after"] <= -6.0 + 1e-6


def test_cli_in_place_keeps_a_backup_and_dry_run_writes_nothing(three_tracks: Path) -> None:
    original = three_tracks.read_bytes()
    proc = invoke("apply", str(three_tracks), "--dry-run")
    assert proc.returncode == 0 and "dry run" in proc.stdout
    assert sorted(p.name for p in three_tracks.parent.iterdir()) == ["media", "song.rpp"]
    proc = invoke("apply", str(three_tracks), "--in-place")
    assert proc.returncode == 0, proc.stderr
    assert three_tracks.with_name("song.rpp.bak").read_bytes() == original
    assert three_tracks.read_bytes() != original
    proc = invoke("apply", str(three_tracks), "-o", str(three_tracks))
    assert proc.returncode == 1 and "--in-place" in proc.stderr


@pytest.mark.parametrize(
    "content,what",
    [
        (b"\x00\x01\x02junk" * 10, "not a REAPER or Ableton Live session"),
        (b"", "empty"),
        (b'<REAPER_PROJECT 0.1 "7.0/x64" 0\r\n  <TRACK\r\n    NAME a\r\n', "trunc"),
    ],
)
def test_cli_bad_input_one_line_no_traceback_nothing_written(tmp_path: Path, content: bytes, what: str) -> None:
    bad = tmp_path / "bad.rpp"
    bad.write_bytes(content)
    assert_refused(cli("apply", str(bad)), bad, what, content)


def test_cli_usage_errors_exit_2(three_tracks: Path) -> None:
    proc = invoke("apply", str(three_tracks), "--target", "+5")
    assert proc.returncode == 2 and "expected -60 to 0 dB" in proc.stderr
    proc = invoke("apply", str(three_tracks), "--per", "song")
    assert proc.returncode == 2


def test_cli_batch_continues_past_failures(tmp_path: Path, three_tracks: Path) -> None:
    other = tmp_path / "b" / "other.rpp"
    other.parent.mkdir()
    other.write_bytes(make_project([TrackSpec("X", [ItemSpec("missing.wav")])]))  # nothing to change
    (tmp_path / "b" / "junk.rpp").write_bytes(b"<REAPER_PROJECT\n<TRACK\n")
    proc = invoke("batch", str(tmp_path), "--json")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    result = {Path(s["path"]).name: s for s in doc["sessions"]}
    assert set(result) == {"song.rpp", "other.rpp", "junk.rpp"}
    assert result["song.rpp"]["ok"] and tmp_path.joinpath("song.gainstaged.rpp").exists()
    assert result["other.rpp"]["ok"] and not other.with_name("other.gainstaged.rpp").exists()  # unchanged
    assert not result["junk.rpp"]["ok"] and "junk.rpp" in result["junk.rpp"]["error"]
    assert doc["failed"] == 1
    assert proc.stderr.count("error:") == 1


def test_render_pan_law_and_mono_sum() -> None:
    left, right = routing.pan_gains(0.0, -3.0)
    assert left == pytest.approx(10 ** (-3 / 20)) and right == pytest.approx(left)
    assert routing.pan_gains(-1.0, -3.0)[1] == pytest.approx(0.0, abs=1e-12)
    assert routing.pan_gains(0.0, 0.0) == pytest.approx((1.0, 1.0))


def test_section_window_past_the_end_of_the_file_plays_silence(tmp_path: Path) -> None:
    """A SECTION that starts after the file ends (media replaced by a shorter file) is silent, not a hang."""
    sine(tmp_path / "media/short.wav", 1.0, -20.0)
    text = make_project([TrackSpec("S", [ItemSpec("media/short.wav", 0.0, 4.0, loop=True)])]).decode()
    text = text.replace(
        '<SOURCE WAVE\r\n        FILE "media/short.wav"\r\n      >',
        "<SOURCE SECTION\r\n        LENGTH 1\r\n        STARTPOS 10\r\n        OVERLAP 0\r\n"
        '        <SOURCE WAVE\r\n          FILE "media/short.wav"\r\n        >\r\n      >',
    )
    path = tmp_path / "section.rpp"
    path.write_bytes(text.encode())
    a = again(path)
    assert a.session.clips[0].source_window_start_s == 10.0
    assert [m.clip.status for m in a.media] == [ClipStatus.SILENT]
    assert a.edits == ()
