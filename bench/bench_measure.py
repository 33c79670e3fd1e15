"""Benchmark `gainstager measure` against ffmpeg ebur128 and a bare soundfile decode, each as a whole process.

Run from the repository root: ``python bench/bench_measure.py [--minutes 10] [--runs 3]``.

It writes (once) a seeded, music-like 24-bit 48 kHz stereo WAV into bench/out/, then times, as separate
processes and as a user would run them (cold interpreter start included), the median of `--runs` runs of:

  (a) ``gainstager measure FILE`` (the installed console script, else ``python -m gainstager``);
  (b) ``ffmpeg -nostats -i FILE -af ebur128=peak=true -f null -`` (skipped with a message when ffmpeg is
      not installed; this script installs nothing);
  (c) ``python -c "import soundfile; soundfile.read(FILE)"`` (decode only).

Runs are interleaved (a, c, b, a, c, b, ...) so that a change of load on a shared machine hits all alike. It
prints wall and CPU (user + sys) times, the ratios ffmpeg / gainstager (goal >= 3) and gainstager / decode
(goal <= 2), and each process's own peak resident memory (os.wait4).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np
from timing import Run, gainstager_command, median_run, run_once

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
RATE = 48000


def music_like(minutes: float, seed: int = 20240607) -> np.ndarray:
    """A seeded stereo signal with the statistics of mixed music: pink correlated noise under section, beat
    and tremolo envelopes, a bass line and chord tones, hi-hat bursts; sample peak -1 dBFS. Six short bursts
    at fs/4 with samples at +-0.63 but inter-sample peaks near -0.3 dBTP make true peak exceed sample peak.
    Generated in 30 s pieces (filter state carried) to bound memory."""
    from scipy.signal import lfilter, lfilter_zi

    rng = np.random.default_rng(seed)
    total = int(minutes * 60 * RATE)
    piece = 30 * RATE
    out = np.empty((total, 2), dtype=np.float32)
    # Paul Kellet's "economy" pink filter as one IIR (about -3 dB/octave over the audio band).
    b = np.array([0.049922035, -0.095993537, 0.050612699, -0.004408786])
    a = np.array([1.0, -2.494956002, 2.017265875, -0.522189400])
    zi = np.repeat(lfilter_zi(b, a)[:, None] * 0.0, 2, axis=1)
    phase = 0.0
    for start in range(0, total, piece):
        n = min(piece, total - start)
        t = (start + np.arange(n)) / RATE
        common = rng.standard_normal(n)
        white = 0.6 * rng.standard_normal((n, 2)) + 0.8 * common[:, None]
        pink, zi = lfilter(b, a, white, axis=0, zi=zi)
        section = 0.55 + 0.45 * np.sin(2 * np.pi * t / 47.0) ** 2
        beat = 0.7 + 0.3 * np.exp(-((t * 2.0) % 1.0) * 8.0)
        tremolo = 1.0 + 0.1 * np.sin(2 * np.pi * 5.5 * t)
        env = (section * beat * tremolo)[:, None]
        bass_f = 55.0 * 2 ** (np.floor(t / 2.0) % 5 / 4.0)
        bass_phase = phase + 2 * np.pi * np.cumsum(bass_f) / RATE
        phase = float(bass_phase[-1])
        bass = 0.25 * np.sin(bass_phase)
        chord = sum(0.06 * np.sin(2 * np.pi * f * t + ph) for f, ph in ((261.6, 0.0), (329.6, 1.0), (392.0, 2.0)))
        hat = rng.standard_normal(n) * np.exp(-((t * 4.0) % 1.0) * 40.0) * 0.08
        mono = bass + chord + hat
        sig = 0.5 * pink * env + (mono * section)[:, None] * np.array([1.0, 0.9])
        out[start : start + n] = sig.astype(np.float32)
    out *= np.float32(10 ** (-1 / 20) / float(np.abs(out).max()))
    k = np.arange(48)
    burst = (0.9 * np.sin(np.pi / 2 * k + np.pi / 4) * np.hanning(48)).astype(np.float32)
    for pos in rng.integers(RATE, total - RATE, size=6):
        out[pos : pos + 48, 0] = burst
    return out


def make_file(minutes: float) -> Path:
    path = OUT / f"music_{minutes:g}min_48k_24bit.wav"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO))
    from gainstager import audio

    tmp = path.with_suffix(".tmp.wav")
    audio.write(str(tmp), music_like(minutes), RATE, subtype="PCM_24")
    tmp.replace(path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--module", action="store_true", help="time measure_file() instead of the CLI")
    args = parser.parse_args()

    path = make_file(args.minutes)
    size_mb = path.stat().st_size / 1e6
    print(f"file: {path} ({size_mb:.1f} MB, {args.minutes:g} min, 48 kHz, 24-bit, stereo)")
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")

    if args.module:
        measure_cmd = [
            sys.executable,
            "-c",
            f"from gainstager.measure import measure_file; measure_file({str(path)!r})",
        ]
        label = "measure_file() process"
    else:
        measure_cmd = gainstager_command()
        measure_cmd += ["measure", str(path)]
        label = "gainstager measure"
    decode_cmd = [sys.executable, "-c", f"import soundfile; soundfile.read({str(path)!r})"]

    ffmpeg = shutil.which("ffmpeg")
    ff_cmd = [ffmpeg or "ffmpeg", "-nostats", "-hide_banner", "-i", str(path), "-af", "ebur128=peak=true", "-f", "null"]
    ff_cmd.append("-")

    # Warm the page cache once so every contender reads from memory.
    with path.open("rb") as f:
        while f.read(1 << 24):
            pass

    os.environ.update(env)
    runs: dict[str, list[Run]] = {"measure": [], "decode": [], "ffmpeg": []}
    for _ in range(args.runs):  # interleaved: a change of machine load hits every contender alike
        runs["measure"].append(run_once(measure_cmd))
        runs["decode"].append(run_once(decode_cmd))
        if ffmpeg:
            runs["ffmpeg"].append(run_once(ff_cmd))
    m, d = median_run(runs["measure"]), median_run(runs["decode"])

    def row(tag: str, name: str, r: Run, cmd: list[str]) -> None:
        print(f"{tag} {name:<26} {r.wall_s:8.3f} {r.cpu_s:8.3f} {r.rss_mib:13.0f}   [{' '.join(cmd)}]")

    print(f"{'median of ' + str(args.runs):<30} {'wall s':>8} {'cpu s':>8} {'peak RSS MiB':>13}")
    row("(a)", label, m, measure_cmd)
    row("(c)", "bare soundfile decode", d, decode_cmd)
    if ffmpeg:
        ff = median_run(runs["ffmpeg"])
        row("(b)", "ffmpeg ebur128 peak=true", ff, ff_cmd)
        print(f"ffmpeg / gainstager = {ff.wall_s / m.wall_s:.2f}x wall, {ff.cpu_s / m.cpu_s:.2f}x cpu  (goal >= 3)")
    else:
        print("(b) ffmpeg not found on PATH: skipped (this script installs nothing)")
    print(f"gainstager / decode = {m.wall_s / d.wall_s:.2f}x wall, {m.cpu_s / d.cpu_s:.2f}x cpu  (goal <= 2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
