"""Benchmark `gainstager analyze` on a generated 32-track session, each run as a whole process.

Run from the repository root: ``python bench/bench_analyze.py [--runs 3] [--no-long]``.

It writes (once, seeded, reused by later runs) 31 five-minute 24-bit 48 kHz WAVs of music-like content at
different levels (21 mono, 10 stereo, and a folder track) into bench/out/session/, and three REAPER projects built with
fixtures/rpp_factory.py that play them: 2.5, 5 and 10 minutes long (the 10-minute one loops its items; the
2.5-minute one plays the first half of each). Every project has one folder (a drum bus with four children)
and a few tracks with 2-4 items (with fades and source offsets); the rest have one item each.

Then, as separate processes and as a user would run them (interpreter start included), it times the median
of `--runs` runs of

  (a) ``gainstager analyze PROJECT --json`` on the 5-minute project, with its peak RSS and CPU time;
  (c) ``python -c "import soundfile; [soundfile.read(f) for f in FILES]"`` (a bare decode of the same audio),

interleaved so that a change of machine load hits both alike, prints both and the ratio, and then the peak
RSS of analyze on the 2.5-, 5- and 10-minute projects (it must not grow with the session length).

Peak RSS and CPU time come from os.wait4 on each child, so every figure belongs to one process.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from timing import Run, gainstager_command, median_run, run_once

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out" / "session"
RATE = 48000
MINUTES = 5.0
TRACKS = 32
STEREO = frozenset({0, 1, 2, 7, 12, 13, 18, 24, 25, 30})  # track indices written as stereo files
FOLDER = range(1, 6)  # track 1 opens a folder (a drum bus, no items); tracks 2-5 are in it
MULTI_ITEM = {3: 2, 9: 3, 14: 4, 21: 2, 27: 3}  # track index -> number of items


def track_audio(index: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """One track's worth of music-like audio: a kind chosen by `index` (kick, hats, bass, chords, noise pad,
    "vocal" formant noise) under a section envelope, at a level between about -30 and -8 dBFS RMS."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    kind = index % 6
    beat = (t * 2.0) % 1.0  # 120 bpm
    if kind == 0:  # kick: decaying low sine per beat
        x = np.sin(2 * np.pi * (50.0 + 60.0 * np.exp(-beat * 30.0)) * beat) * np.exp(-beat * 9.0)
    elif kind == 1:  # hats: short noise bursts on eighths
        x = rng.standard_normal(n) * np.exp(-((t * 4.0) % 1.0) * 60.0)
    elif kind == 2:  # bass line
        f = 41.2 * 2 ** (np.floor(t / 2.0) % 4 / 3.0)
        x = np.sin(2 * np.pi * np.cumsum(f) / RATE) * (0.6 + 0.4 * np.exp(-beat * 4.0))
    elif kind == 3:  # chords
        root = 220.0 * 2 ** (np.floor(t / 4.0) % 3 / 12.0)
        x = np.zeros(n)
        for k, r in enumerate((1.0, 1.26, 1.5)):
            x += np.sin(2 * np.pi * np.cumsum(root * r) / RATE + k) / 3.0
    elif kind == 4:  # pad: smoothed noise
        w = rng.standard_normal(n)
        x = np.convolve(w, np.hanning(64) / 16.0, mode="same")
    else:  # "vocal": noise through a moving resonance, in phrases
        w = rng.standard_normal(n)
        x = np.convolve(w, np.sin(2 * np.pi * 700.0 * np.arange(96) / RATE) * np.hanning(96), mode="same") / 8.0
        x *= (np.sin(2 * np.pi * t / 7.0) > -0.3).astype(np.float64)
    section = 0.6 + 0.4 * np.sin(2 * np.pi * t / (40.0 + index)) ** 2
    x = x * section
    level_db = -30.0 + (index * 7) % 23  # -30 .. -8 dBFS RMS
    x *= 10 ** (level_db / 20) / max(float(np.sqrt(np.mean(x**2))), 1e-12)
    x = np.clip(x, -0.99, 0.99)
    out: np.ndarray = np.stack([x, np.roll(x, 37 + index) * 0.9], axis=1) if index in STEREO else x[:, None]
    return out.astype(np.float32)


def make_audio() -> list[Path]:
    """One WAV per track, the folder track's excepted (written once, atomically, then reused)."""
    sys.path.insert(0, str(REPO))
    from gainstager import audio

    OUT.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(TRACKS):
        path = OUT / f"track{i:02d}.wav"
        files.append(path)
        if path.exists() or i == FOLDER[0]:  # the folder track plays no audio of its own
            continue
        rng = np.random.default_rng(1000 + i)
        tmp = path.with_suffix(".tmp.wav")
        audio.write(str(tmp), track_audio(i, MINUTES * 60, rng), RATE, subtype="PCM_24")
        tmp.replace(path)
    return files


def make_project(files: list[Path], scale: float) -> Path:
    """A REAPER project playing `files`; item times are scaled by `scale` (0.5, 1 or 2; 2 loops the items)."""
    sys.path.insert(0, str(REPO))
    from fixtures.rpp_factory import ItemSpec, ProjectSpec, TrackSpec
    from fixtures.rpp_factory import make_project as build

    length = MINUTES * 60 * scale
    tracks = []
    for i, f in enumerate(files):
        rel = f.name
        if i == FOLDER[0]:
            tracks.append(TrackSpec("Drum bus", isbus=(1, 1), volume=0.8))
            continue
        isbus = (2, -1) if i == FOLDER[-1] else (0, 0)
        parts = MULTI_ITEM.get(i, 1)
        items = []
        edges = np.linspace(0.0, length, parts + 1)
        for k in range(parts):
            gap = 2.0 if parts > 1 else 0.0
            start, end = float(edges[k]), float(edges[k + 1]) - gap
            items.append(
                ItemSpec(
                    rel,
                    position_s=start,
                    length_s=end - start,
                    soffs_s=start % (MINUTES * 60),
                    loop=scale > 1.0,
                    fade_in_s=0.05 if parts > 1 else 0.0,
                    fade_out_s=0.5 if parts > 1 else 0.0,
                )
            )
        tracks.append(TrackSpec(f"Track {i:02d}", items=items, volume=0.5 + (i % 5) * 0.1, isbus=isbus))
    path = OUT / f"session_{length / 60:g}min.rpp"
    data = build(ProjectSpec(tracks=tracks, sample_rate_hz=RATE))
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)
    return path


def warm(paths: list[Path]) -> None:
    for p in paths:
        with p.open("rb") as f:
            while f.read(1 << 24):
                pass


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-long", action="store_true", help="skip the 10-minute project")
    args = parser.parse_args()

    t0 = time.perf_counter()
    files = make_audio()
    scales = (0.5, 1.0) if args.no_long else (0.5, 1.0, 2.0)
    projects = {s: make_project(files, s) for s in scales}
    played = [f for i, f in enumerate(files) if i != FOLDER[0]]
    size_mb = sum(f.stat().st_size for f in played) / 1e6
    mono = sum(i not in STEREO for i in range(TRACKS) if i != FOLDER[0])
    print(
        f"session: {projects[1.0]} ({len(played)} audio tracks: {mono} mono, {len(played) - mono} stereo, one folder; "
        f"{size_mb:.0f} MB of 24-bit 48 kHz WAV; setup {time.perf_counter() - t0:.1f} s)"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    os.environ.update(env)
    base = gainstager_command()
    decode_src = f"import soundfile; [soundfile.read(f) for f in {[str(f) for f in played]!r}]"
    decode_cmd = [sys.executable, "-c", decode_src]
    warm(played)

    analyze_runs: list[Run] = []
    decode_runs: list[Run] = []
    for _ in range(args.runs):  # interleaved: a load change on the machine hits both alike
        analyze_runs.append(run_once([*base, "analyze", str(projects[1.0]), "--json"]))
        decode_runs.append(run_once(decode_cmd))
    a, d = median_run(analyze_runs), median_run(decode_runs)

    print(f"\n{'median of ' + str(args.runs):<44} {'wall s':>8} {'cpu s':>8} {'peak RSS MiB':>13}")
    print(f"{'(a) gainstager analyze 5 min --json':<44} {a.wall_s:8.3f} {a.cpu_s:8.3f} {a.rss_mib:13.0f}")
    print(f"{'(c) bare soundfile decode, same audio':<44} {d.wall_s:8.3f} {d.cpu_s:8.3f} {d.rss_mib:13.0f}")
    print(f"analyze / decode = {a.wall_s / d.wall_s:.2f}x wall, {a.cpu_s / d.cpu_s:.2f}x cpu")

    print(f"\n{'session length':<16} {'wall s':>8} {'cpu s':>8} {'peak RSS MiB':>13}")
    for s, path in projects.items():
        r = a if s == 1.0 else run_once([*base, "analyze", str(path), "--json"])
        print(f"{MINUTES * s:>9g} min    {r.wall_s:8.3f} {r.cpu_s:8.3f} {r.rss_mib:13.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
