"""The one pass (mix.py) and the master after a plan derived from it (predict.py), on a session that has a bit
of everything: several clips on a track with fades, a 44.1 kHz file resampled, a time-stretched clip, a folder
with a fader and panned children, an automated fader, a muted track, a loud track that forces a headroom cut.

* The derived prediction equals a full re-render of the master at the plan's gains within 0.01 dB, for keep,
  unity, --per clip, and with the headroom cut; and the master measured on the written session (a pass of its
  own over the new gains) equals the prediction made before writing it.
* The result does not depend on the number of threads, nor on the run: the same JSON bytes every time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from fixtures.rpp_factory import ItemSpec, ProjectSpec, TrackSpec, make_project
from gainstager import mix, output, pipeline, predict, render, report_json, routing, track_render
from gainstager.audio import write
from gainstager.plan import Faders, Per, Policy
from gainstager.units import gain_to_db
from tests.conftest import cli

RATE = 48000


def music(seconds: float, rate: int, seed: int, level: float, channels: int = 1) -> np.ndarray:
    """Seeded band-limited noise bursts under a slow envelope: peaks land in different places per file."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    x = np.convolve(rng.standard_normal(n), np.hanning(24) / 6.0, mode="same")
    x *= 0.3 + 0.7 * np.abs(np.sin(2 * np.pi * t / (0.9 + seed % 5 * 0.37)))
    x = level * x / np.max(np.abs(x))
    out = np.stack([x, np.roll(x, 101) * 0.8], axis=1) if channels == 2 else x[:, None]
    return out.astype(np.float32)


def session(folder: Path, loud_db: float = -6.0) -> Path:
    media = folder / "media"
    media.mkdir(parents=True, exist_ok=True)
    write(str(media / "a.wav"), music(8.0, RATE, 1, 0.3), RATE)
    write(str(media / "b44.wav"), music(7.0, 44100, 2, 0.5, 2), 44100)
    write(str(media / "c.wav"), music(8.0, RATE, 3, 0.2, 2), RATE)
    write(str(media / "d.wav"), music(7.0, RATE, 4, 0.05), RATE)
    write(str(media / "e.wav"), music(7.0, RATE, 5, 0.4), RATE)
    write(str(media / "loud.wav"), music(6.0, RATE, 6, 10 ** (loud_db / 20), 2), RATE)
    tracks = [
        TrackSpec(
            "Multi",
            items=[
                ItemSpec("media/a.wav", 0.0, 2.5, fade_in_s=0.05, fade_out_s=0.3),
                ItemSpec("media/a.wav", 3.0, 3.0, soffs_s=4.0, take_volume=0.5, fade_out_s=0.2),
            ],
            volume=0.8,
        ),
        TrackSpec("Resampled", items=[ItemSpec("media/b44.wav", 0.5, 5.5)], pan=-0.5),
        TrackSpec("Bus", isbus=(1, 1), volume=0.7),
        TrackSpec("Stretched", items=[ItemSpec("media/c.wav", 0.2, 5.0, playrate=0.8)], pan=0.3),
        TrackSpec("Quiet", items=[ItemSpec("media/d.wav", 1.0, 5.0)], pan=0.6, isbus=(2, -1)),
        TrackSpec("Automated", items=[ItemSpec("media/e.wav", 0.0, 6.0)], automode=1, volenv=[(0, 0.5), (6, 0.9)]),
        TrackSpec("Muted", items=[ItemSpec("media/e.wav", 0.0, 6.0)], mute=True),
        TrackSpec("Loud", items=[ItemSpec("media/loud.wav", 0.3, 5.5)], volume=1.0),
        TrackSpec("Late", items=[ItemSpec("media/e.wav", 600.0, 2.0)], volume=0.5),  # ten minutes of silence first
    ]
    path = folder / "song.rpp"
    path.write_bytes(make_project(ProjectSpec(tracks, sample_rate_hz=RATE)))
    return path


POLICIES = {
    "keep": Policy(),
    "unity": Policy(faders=Faders.UNITY),
    "per-clip": Policy(per=Per.CLIP),
    "per-clip-unity": Policy(per=Per.CLIP, faders=Faders.UNITY),
    "headroom-cut": Policy(target_db=-12.0, peak_ceiling_dbtp=0.0, headroom_dbfs=-12.0),
    "unity-cut": Policy(faders=Faders.UNITY, target_db=-10.0, peak_ceiling_dbtp=0.0, headroom_dbfs=-10.0),
}


@pytest.mark.parametrize("name", list(POLICIES))
def test_the_derived_master_equals_a_full_render(tmp_path: Path, name: str) -> None:
    policy = POLICIES[name]
    a = pipeline.analyze(pipeline.load(str(session(tmp_path))), policy)
    s = a.session
    playables = [
        render.Playable(m.clip, m.path, m.info, s.sample_rate_hz)
        for m in a.media
        if m.clip.clip_id in a.clip_levels and m.info is not None and m.path
    ]
    r = routing.routing(s, playables)
    first = mix.mix(s, r)
    clip_gains, faders = pipeline._playing_after(s, a.plan)
    before, after = routing.gains(s, r), routing.gains(s, r, clip_gain_db=clip_gains, fader_db=faders)
    rendered: list[int] = []

    def checked(blocks: Sequence[int]) -> dict[int, float]:
        rendered.extend(blocks)
        return mix.block_peaks(r, after, blocks)

    derived = gain_to_db(predict.master_after(r, first.peaks, before, after, checked))
    blocks = len(first.peaks.blocks)  # where something plays: the silence between is never rendered
    assert blocks < r.total_frames // track_render.PEAK_BLOCK_FRAMES // 50
    full = gain_to_db(max(mix.block_peaks(r, after, first.peaks.blocks.tolist()).values()) * after.master)
    assert math.isfinite(full)
    assert derived == pytest.approx(full, abs=0.01)
    # The analysis' own prediction is the same thing (made for the plan before the headroom cut, then cut).
    assert a.master_peak_after_dbfs == pytest.approx(full, abs=0.01)
    assert len(set(rendered)) < blocks  # the derivation never needed the whole master again
    if name == "keep":
        assert rendered == []  # every clip moves as its fader compensates: the master scales, nothing to render
    if name.endswith("cut"):
        assert a.headroom_change_db < 0.0 and a.master_peak_after_dbfs == pytest.approx(
            policy.headroom_dbfs, abs=0.01
        )


@pytest.mark.parametrize("name", ["keep", "per-clip", "headroom-cut"])
def test_the_written_session_plays_the_predicted_master(tmp_path: Path, name: str) -> None:
    """Independent of the derivation: the pass over the written session (its new gains) measures the master
    the first analysis predicted."""
    path = session(tmp_path)
    a = pipeline.analyze(pipeline.load(str(path)), POLICIES[name])
    written = tmp_path / "staged.rpp"
    output.write(a, output=str(written))
    b = pipeline.analyze(pipeline.load(str(written)), POLICIES[name])
    assert b.master_peak_before_dbfs == pytest.approx(a.master_peak_after_dbfs, abs=0.01)


def test_the_same_json_with_one_thread_or_two_and_every_run(tmp_path: Path) -> None:
    path = session(tmp_path)
    docs = [
        json.dumps(report_json.analysis_json(pipeline.analyze(pipeline.load(str(path)), POLICIES[name], threads=n)))
        for name in ("keep", "unity")
        for n in (1, 2, 2)
    ]
    assert docs[0] == docs[1] == docs[2] and docs[3] == docs[4] == docs[5]
    # whole processes, no cache: the same bytes again
    runs = [cli("analyze", str(path), "--json", "--no-cache", "--faders", "unity") for _ in range(2)]
    assert runs[0].returncode == 0 and runs[0].stdout == runs[1].stdout
    assert json.loads(runs[0].stdout)["regions"] == {"measured": 8, "cached": 0}


def test_clip_levels_are_what_the_clip_plays_wherever_it_sits(tmp_path: Path) -> None:
    """A clip is rendered on its own grid and placed on the project's: the same region measures the same at an
    off-grid position, and the master sums exactly what its meter read."""
    media = tmp_path / "media"
    media.mkdir()
    x = music(3.0, RATE, 9, 0.5)
    write(str(media / "x.wav"), x, RATE, subtype="FLOAT")
    starts = (0.0, 1.23456789, 7.0 + 1.0 / (3 * RATE))
    tracks = [TrackSpec(f"T{i}", [ItemSpec("media/x.wav", start, 2.0, soffs_s=0.5)]) for i, start in enumerate(starts)]
    path = tmp_path / "grid.rpp"
    path.write_bytes(make_project(ProjectSpec(tracks, sample_rate_hz=RATE)))
    a = pipeline.analyze(pipeline.load(str(path)), Policy())
    levels = list(a.clip_levels.values())
    assert levels[0] == levels[1] == levels[2]
    assert a.regions.measured == 1 and a.regions.cached == 0  # one region, measured once
    played = x[RATE // 2 : RATE // 2 + 2 * RATE, 0].astype(np.float64)
    assert levels[0].sample_peak_dbfs == pytest.approx(20 * math.log10(np.max(np.abs(played))), abs=1e-6)
    assert levels[0].rms_dbfs == pytest.approx(10 * math.log10(np.mean(played**2)), abs=1e-6)
    # the master: each placement starts on the first project frame at or after the clip's start
    master = np.zeros(10 * RATE)
    for start in starts:
        at = math.ceil(start * RATE - 1e-7)
        master[at : at + len(played)] += played
    expected = 20 * math.log10(np.max(np.abs(master))) + a.session.pan_law_db
    assert a.master_peak_before_dbfs == pytest.approx(expected, abs=1e-4)
