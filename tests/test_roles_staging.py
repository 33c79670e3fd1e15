"""Per-role staging end to end on a generated session: kick, snare, bass, vocal and pad tracks, a policy file,
the planner with one policy per track, the REAPER writer; then the written session's levels, computed here
with numpy from the audio and the written gains, sit on each role's target, and check agrees (fails before,
passes after, JUnit read back)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from junitparser import JUnitXml
from scipy.signal import resample_poly

from fixtures.rpp_factory import ItemSpec, ProjectSpec, TrackSpec, make_project
from gainstager import pipeline
from gainstager.audio import write
from gainstager.check import CheckResult, TrackInput, check_session, junit_xml
from gainstager.model import Levels
from gainstager.plan import MeterKind, Policy, plan
from gainstager.policy_file import load, resolve
from gainstager.verify import verify

RATE = 48000
SECONDS = 4.0
POLICY = """
headroom = -6.0
[targets.vocal]
target = -12.0        # a built-in role, its number changed
[tracks.Pad]
target = -24.0        # one track, by name
"""
# name -> (role, meter, target), what the policy file and the built-in role table give
EXPECTED = {
    "Kick": ("kick", MeterKind.PEAK, -10.0),
    "Snare": ("snare", MeterKind.PEAK, -10.0),
    "Bass": ("bass", MeterKind.RMS, -20.0),
    "Vocal": ("vocal", MeterKind.PEAK, -12.0),
    "Pad": ("pad", MeterKind.RMS, -24.0),
}


def signals(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Mono signals: drums as decaying hits (peak-scaled), bass and pad steady (RMS-scaled), a vocal-like tone."""
    n = int(SECONDS * RATE)
    t = np.arange(n) / RATE

    def hits(tone_hz: float, noise: float, decay_s: float) -> np.ndarray:
        x = np.zeros(n)
        m = int(0.3 * RATE)
        env = np.exp(-np.arange(m) / (decay_s * RATE))
        hit = (np.sin(2 * np.pi * tone_hz * np.arange(m) / RATE) + noise * rng.standard_normal(m)) * env
        for start in range(0, n - m, RATE // 2):
            x[start : start + m] += hit
        return x

    def peak(x: np.ndarray, dbfs: float) -> np.ndarray:
        return np.asarray(x * (10 ** (dbfs / 20) / float(np.max(np.abs(x)))))

    def rms(x: np.ndarray, dbfs: float) -> np.ndarray:
        return np.asarray(x * (10 ** (dbfs / 20) / float(np.sqrt(np.mean(x**2)))))

    vibrato = np.sin(2 * np.pi * 220 * t + 3 * np.sin(2 * np.pi * 5 * t))
    return {
        "Kick": peak(hits(55, 0.2, 0.05), -24.0),
        "Snare": peak(hits(190, 1.5, 0.03), -20.0),
        "Bass": rms(np.sin(2 * np.pi * 55 * t) + 0.3 * np.sin(2 * np.pi * 110 * t), -30.0),
        "Vocal": peak(vibrato * (1 + 0.4 * np.sin(2 * np.pi * 0.7 * t)) + 0.05 * rng.standard_normal(n), -22.0),
        "Pad": rms(
            np.sum([np.sin(2 * np.pi * f * t + p) for f, p in ((220, 0), (277.2, 1), (329.6, 2))], axis=0), -35.0
        ),
    }


def reference_levels(x: np.ndarray) -> Levels:
    """Independent of gainstager's meters: numpy's peak and RMS (the signals are steady, so the gated RMS is
    the plain one), and a true peak from scipy's 4x polyphase oversampling."""
    tp = np.max(np.abs(resample_poly(x, 4, 1)))
    r = 10 * np.log10(np.mean(x**2))
    return Levels(
        sample_peak_dbfs=float(20 * np.log10(np.max(np.abs(x)))),
        true_peak_dbtp=float(20 * np.log10(tp)),
        rms_dbfs=float(r),
        gated_rms_dbfs=float(r),
        duration_s=len(x) / RATE,
    )


def meter(levels: Levels, kind: MeterKind) -> float:
    return {MeterKind.PEAK: levels.sample_peak_dbfs, MeterKind.RMS: levels.rms_dbfs}[kind]


@pytest.fixture
def band(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    audio = signals(np.random.default_rng(12))
    (tmp_path / "media").mkdir()
    for name, x in audio.items():
        write(str(tmp_path / "media" / f"{name}.wav"), x[:, None].astype(np.float32), RATE, subtype="FLOAT")
    tracks = [TrackSpec(name, [ItemSpec(f"media/{name}.wav", 0.0, SECONDS)]) for name in audio]
    path = tmp_path / "band.rpp"
    path.write_bytes(make_project(ProjectSpec(tracks=tracks, sample_rate_hz=RATE)))
    (tmp_path / "team.toml").write_text(POLICY, encoding="utf-8")
    return path, {k: v.astype(np.float32).astype(np.float64) for k, v in audio.items()}


def test_roles_stage_each_track_to_its_own_target(tmp_path: Path, band: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, audio = band
    loaded = pipeline.load(str(path))
    analysis = pipeline.analyze(loaded, Policy())  # its levels; its own one-policy plan is not used
    resolution = resolve(loaded.session, load(str(tmp_path / "team.toml")))
    roles = {t.name: (t.role, t.policy.meter, t.policy.target_db) for t in resolution.tracks}
    assert roles == EXPECTED
    p = plan(
        loaded.session,
        analysis.clip_levels,
        analysis.track_levels,
        resolution.policy,
        track_policies=resolution.track_policies(),
    )
    edits = p.edits(loaded.session)
    out = loaded.fmt.apply(loaded.document, edits)
    verify(loaded.fmt, loaded.session, edits, out)
    staged = tmp_path / "band.staged.rpp"
    staged.write_bytes(out)

    written = pipeline.load(str(staged)).session
    before, after = {}, {}
    for track in written.tracks:
        (clip,) = written.clips_of(track.track_id)
        x = audio[track.name]
        before[track.name] = reference_levels(x)
        after[track.name] = reference_levels(x * 10 ** (clip.gain_db / 20))
        _, kind, target = EXPECTED[track.name]
        assert meter(before[track.name], kind) < target - 5  # every track starts far from its target
        assert meter(after[track.name], kind) == pytest.approx(target, abs=0.05), track.name
        assert after[track.name].true_peak_dbtp < -6.0  # under every role's ceiling
        assert track.fader_db == pytest.approx(-clip.gain_db, abs=1e-3)  # faders keep the balance

    def verdicts(levels: dict[str, Levels], name: str) -> CheckResult:
        inputs = [TrackInput(t.track_id, t.name, levels[t.name], t.policy, t.role, t.rule) for t in resolution.tracks]
        return check_session(name, inputs, analysis.master_peak_before_dbfs, resolution.policy.headroom_dbfs)

    original, output = verdicts(before, "band.rpp"), verdicts(after, "band.staged.rpp")
    assert [t.passed for t in original.tracks] == [False] * 5
    assert original.master.passed and not original.passed
    assert output.passed and all(t.passed for t in output.tracks)
    junit = tmp_path / "check.xml"
    junit.write_bytes(junit_xml([original, output]))
    suites = {s.name: s for s in JUnitXml.fromfile(str(junit))}
    assert (suites["band.rpp"].tests, suites["band.rpp"].failures) == (6, 5)
    assert (suites["band.staged.rpp"].tests, suites["band.staged.rpp"].failures) == (6, 0)
