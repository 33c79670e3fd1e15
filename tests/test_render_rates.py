"""Clips are measured as they play at the project rate (issue 7, "Done when", first item).

A 48 kHz REAPER project plays (a) a 96 kHz file with strong content above 24 kHz at rate 1, (b) the same file
at playrate 0.7253 without preserve-pitch, (c) a 44.1 kHz file with large inter-sample peaks, (d) the 96 kHz
file at 0.7253 with preserve-pitch; a Live set plays the 96 kHz file warped to 0.7253 in Re-Pitch and in
Beats mode. Every clip level must be within 0.2 dB (gated RMS) and 0.3 dB (true peak) of what reaches the
48 kHz mix, computed here independently: scipy's polyphase resampler with a long Kaiser filter designed in
the test, a numpy gated RMS, and a true peak from 8x oversampling.

The ultrasonic content sits in two bands, 25-29.5 kHz and 34-40 kHz: at rate 1 both lie above 24 kHz and
never reach the mix; slowed to 0.7253 the first lands at 18.1-21.4 kHz (audible, and counted) and the second
still above 24 kHz. No band sits where resamplers differ (21.5-24.5 kHz after the rate change), so any good
band-limited conversion is a fair reference.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import firwin, resample_poly

from fixtures import als_factory
from fixtures.rpp_factory import ItemSpec, ProjectSpec, TrackSpec, make_project
from gainstager import pipeline
from gainstager.audio import write
from gainstager.measure import measure_files
from gainstager.model import FileLevels, Levels, RateSource
from gainstager.plan import Policy
from tests.conftest import cli

PROJECT_RATE = 48000
HI_RATE = 96000
CD_RATE = 44100
SLOW = 0.7253
CLIP_S = 5.0
FILE_S = 6.0
RMS_TOL_DB = 0.2
TP_TOL_DB = 0.3


# ---------------------------------------------------------------- independent references


def band_limited(x: np.ndarray, up: int, down: int) -> np.ndarray:
    """scipy polyphase resampling with a 64-zero-crossing Kaiser (beta 10) low-pass at 95 % of the lower
    Nyquist frequency."""
    m = max(up, down)
    h = firwin(2 * 64 * m + 1, 0.95 / m, window=("kaiser", 10.0))
    return np.asarray(resample_poly(x, up, down, axis=0, window=h))


def gated_rms_db(x: np.ndarray, rate: int) -> float:
    """400 ms blocks every 100 ms, mean square averaged over channels; blocks under -70 dBFS dropped, then
    those more than 20 dB under the mean of the rest (gainstager's unweighted BS.1770 analogue)."""
    hop = round(rate / 10)
    sq = np.mean(np.asarray(x, dtype=np.float64) ** 2, axis=1)
    blocks = np.array([sq[i : i + 4 * hop].mean() for i in range(0, len(sq) - 4 * hop + 1, hop)])
    above = blocks[blocks >= 1e-7]
    kept = above[above >= above.mean() * 0.01]
    return float(10 * np.log10(kept.mean()))


def true_peak_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.max(np.abs(resample_poly(np.asarray(x, dtype=np.float64), 8, 1, axis=0)))))


def band_noise(rng: np.random.Generator, n: int, rate: int, bands: list[tuple[float, float]]) -> np.ndarray:
    """Stationary noise confined to `bands` (Hz), by zeroing every other FFT bin."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / rate)
    keep = np.zeros(len(freqs), dtype=bool)
    for lo, hi in bands:
        keep |= (freqs >= lo) & (freqs < hi)
    x = np.asarray(np.fft.irfft(spectrum * keep, n))
    return np.asarray(x / np.sqrt(np.mean(x**2)))


def hi_rate_audio(path: Path) -> np.ndarray:
    """96 kHz stereo: audible noise and a tone at about -21 dBFS RMS, ultrasonic noise at -12 dBFS RMS."""
    rng = np.random.default_rng(20251124)
    n = int(FILE_S * HI_RATE)
    t = np.arange(n) / HI_RATE
    channels = []
    for phase in (0.0, 1.0):
        audible = 0.05 * band_noise(rng, n, HI_RATE, [(40, 16000)]) + 0.1 * np.sin(2 * np.pi * 1000 * t + phase)
        ultra = 0.25 * band_noise(rng, n, HI_RATE, [(25000, 29500), (34000, 40000)])
        channels.append(audible + ultra)
    x = np.stack(channels, axis=1)
    write(str(path), x.astype(np.float32), HI_RATE, subtype="FLOAT")
    return np.asarray(x.astype(np.float32), dtype=np.float64)


def cd_rate_audio(path: Path) -> np.ndarray:
    """44.1 kHz mono: a tone at fs/4 sampled 45 degrees off its peaks (samples at 0.707 of its amplitude,
    +3 dB of inter-sample peak, EBU Tech 3341 case 16), over quiet noise."""
    rng = np.random.default_rng(44100)
    n = int(FILE_S * CD_RATE)
    k = np.arange(n)
    x = 0.5 * np.sin(np.pi / 2 * k + np.pi / 4) + 0.003 * band_noise(rng, n, CD_RATE, [(40, 18000)])
    write(str(path), x[:, None].astype(np.float32), CD_RATE, subtype="FLOAT")
    return np.asarray(x[:, None].astype(np.float32), dtype=np.float64)


def resampled_reference(x: np.ndarray, up: int, down: int, out_frames: int) -> np.ndarray:
    """What a clip that plays `x` from its start for `out_frames` 48 kHz frames reaches the mix with: the
    conversion runs over more source than the clip uses, so the clip's end is a cut, not a filter edge."""
    need = out_frames * down // up + 4 * max(up, down) // up + 4096
    return band_limited(x[:need], up, down)[:out_frames]


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    folder = tmp_path_factory.mktemp("rates")
    hi = hi_rate_audio(folder / "bright96.wav")
    cd = cd_rate_audio(folder / "peaks441.wav")
    out = int(CLIP_S * PROJECT_RATE)
    used = round(CLIP_S * SLOW * HI_RATE)  # source frames the 0.7253 clips play
    return {
        "folder": folder,
        "a": resampled_reference(hi, 1, 2, out),
        "b": resampled_reference(hi, 5000, 7253, out),  # 48000 / (96000 * 0.7253) = 5000 / 7253
        "c": resampled_reference(cd, 160, 147, out),
        # at its own pitch: the region the clip plays, band-limited to 48 kHz; each of its seconds counts as
        # long as it plays, which for one constant rate and stationary audio leaves its levels as they are
        "d": resampled_reference(hi, 1, 2, used // 2),
    }


def check(got: Levels, ref: np.ndarray, what: str) -> None:
    assert got.gated_rms_dbfs == pytest.approx(gated_rms_db(ref, PROJECT_RATE), abs=RMS_TOL_DB), what
    assert got.true_peak_dbtp == pytest.approx(true_peak_db(ref), abs=TP_TOL_DB), what


# ---------------------------------------------------------------- REAPER


def reaper_project(folder: Path) -> Path:
    items = {
        "a": ItemSpec("bright96.wav", length_s=CLIP_S),
        "b": ItemSpec("bright96.wav", length_s=CLIP_S, playrate=SLOW, preserve_pitch=False),
        "c": ItemSpec("peaks441.wav", length_s=CLIP_S),
        "d": ItemSpec("bright96.wav", length_s=CLIP_S, playrate=SLOW, preserve_pitch=True),
    }
    tracks = [TrackSpec(name, items=[item]) for name, item in items.items()]
    path = folder / "rates.rpp"
    path.write_bytes(make_project(ProjectSpec(tracks, sample_rate_hz=PROJECT_RATE, sample_rate_forced=True)))
    return path


def test_reaper_clips_read_what_reaches_the_48k_mix(media: dict[str, object]) -> None:
    folder = media["folder"]
    assert isinstance(folder, Path)
    a = pipeline.analyze(pipeline.load(str(reaper_project(folder))), Policy())
    assert a.session.sample_rate_hz == PROJECT_RATE and a.session.sample_rate_source is RateSource.FORCED
    levels = {c.track_id: a.clip_levels[c.clip_id] for c in a.session.clips}
    for index, name in enumerate("abcd"):
        ref = media[name]
        assert isinstance(ref, np.ndarray)
        check(levels[f"track:{index}"], ref, name)
        assert levels[f"track:{index}"].duration_s == pytest.approx(CLIP_S, abs=1e-4)
    # what the band-limiting is worth: the file read as a file counts its ultrasonic noise, 8 dB hotter
    [file_levels] = [f for f in measure_files([str(folder / "bright96.wav")]) if isinstance(f, FileLevels)]
    assert file_levels.levels.gated_rms_dbfs - levels["track:0"].gated_rms_dbfs > 6.0


def test_report_and_json_say_the_rate_used(media: dict[str, object]) -> None:
    folder = media["folder"]
    assert isinstance(folder, Path)
    path = reaper_project(folder)
    proc = cli("analyze", str(path), "--json", "--sample-rate", "44100")  # a forced project rate wins
    assert proc.returncode == 0, proc.stderr
    mix = json.loads(proc.stdout)["mix"]
    assert (mix["sample_rate_hz"], mix["sample_rate_source"]) == (48000, "forced by the project")
    text = cli("analyze", str(path)).stdout
    assert "project rate: 48000 Hz (forced by the project)" in text


# ---------------------------------------------------------------- Live


def live_set(folder: Path, warp_mode: int) -> Path:
    beats = CLIP_S * 2  # 120 BPM
    clip = als_factory.ClipSpec(
        0.0,
        beats,
        file_name="bright96.wav",
        loop_end=beats,
        warp_markers=((0.0, 0.0), (4.0, 2.0 * SLOW)),  # 4 beats (2 s at 120 BPM) play 1.4506 s of source
        warp_mode=warp_mode,
        relative_path_type=1,
        relative_dirs=(),
        default_sample_rate=HI_RATE,
    )
    data = als_factory.make_set(12, [als_factory.TrackSpec(10, "Warped", clips=(clip,))], tempo_bpm=120.0)
    path = folder / f"warp{warp_mode}.als"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(("warp_mode", "reference"), [(3, "b"), (0, "d")], ids=["re-pitch", "beats"])
def test_live_warped_clip_reads_what_reaches_the_48k_mix(
    media: dict[str, object], warp_mode: int, reference: str
) -> None:
    folder = media["folder"]
    ref = media[reference]
    assert isinstance(folder, Path) and isinstance(ref, np.ndarray)
    a = pipeline.analyze(pipeline.load(str(live_set(folder, warp_mode))), Policy())
    assert a.session.sample_rate_hz == PROJECT_RATE and a.session.sample_rate_source is RateSource.DEFAULT
    [clip] = a.session.clips
    assert clip.stretch is (warp_mode != 3)
    check(a.clip_levels[clip.clip_id], ref, f"warp mode {warp_mode}")


def test_live_sample_rate_option_sets_the_project_rate(media: dict[str, object]) -> None:
    """--sample-rate 96000: the warped Re-Pitch clip now plays its band 34-40 kHz too (below 48 kHz)."""
    folder = media["folder"]
    assert isinstance(folder, Path)
    path = live_set(folder, 3)
    at48 = json.loads(cli("analyze", str(path), "--json").stdout)
    at96 = json.loads(cli("analyze", str(path), "--json", "--sample-rate", "96000").stdout)
    assert (at48["mix"]["sample_rate_hz"], at48["mix"]["sample_rate_source"]) == (48000, str(RateSource.DEFAULT))
    assert (at96["mix"]["sample_rate_hz"], at96["mix"]["sample_rate_source"]) == (96000, "--sample-rate")
    louder = at96["clips"][0]["levels"]["gated_rms_dbfs"] - at48["clips"][0]["levels"]["gated_rms_dbfs"]
    assert louder > 3.0
    assert "project rate: 96000 Hz (--sample-rate)" in cli("analyze", str(path), "--sample-rate", "96000").stdout
    bad = cli("analyze", str(path), "--sample-rate", "1000")
    assert bad.returncode == 2 and "sample-rate" in bad.stderr
