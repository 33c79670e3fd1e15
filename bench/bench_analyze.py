"""Benchmark `gainstager analyze`, each run a whole process, against a bare float32 decode of the same audio.

Run from the repository root: ``python bench/bench_analyze.py [--runs 3] [--no-long] [--only NAME]``.

It writes (once, seeded, reused by later runs) into bench/out/ the audio and REAPER projects
(fixtures/rpp_factory.py) of three generated sessions of music-like content, 24-bit 48 kHz WAV:

* ``sixteen``: 16 stereo tracks of 5 minutes, one clip per track (1.4 GB);
* ``session``: 32 tracks, 5 minutes (21 mono and 10 stereo files, 1.7 GB): one folder (a drum bus with four
  children), a few tracks with 2-4 items (fades, source offsets), the rest one item each; also 2.5-, 10- and
  30-minute versions of it (the longer ones loop their items);
* ``clips``: 4,000 short clips (0.5-2.5 s, each a different region of one of 400 three-second files, a third
  of them with fades) on 40 tracks.

Then, as separate processes and as a user would run them (interpreter start included), for ``sixteen`` and
``session`` it times the median of `--runs` runs of

  (a) cold: ``gainstager analyze PROJECT --json --cache-dir DIR`` with DIR emptied first;
  (b) warm: the same again, the cache now full;
  (c) ``python -c "import soundfile; for f in FILES: soundfile.read(f, dtype='float32')"``: a single-process
      float32 decode of the files the session plays, file by file,

interleaved so that a change of machine load hits all alike, and prints wall and CPU time, peak RSS, CPU
utilisation (CPU time / wall time: how many cores were busy) and the ratio cold / decode; then (d) one run with
``--faders unity`` on the full cache: the levels come from the cache, and the master after that plan (whose
faders move the tracks very differently) is derived by rendering only the blocks its bound cannot rule out.
For ``clips`` it prints a cold and a warm run, and the peak RSS of the 2.5-, 5-, 10- and 30-minute ``session``
(memory must not grow with the session's length). The load average is printed with each session: other work on
the machine slows everything, the decode peer included.

Peak RSS and CPU time come from os.wait4 on each child, so every figure belongs to one process.
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from timing import Run, gainstager_command, median_run, run_once

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
RATE = 48000
MINUTES = 5.0
TRACKS = 32
STEREO = frozenset({0, 1, 2, 7, 12, 13, 18, 24, 25, 30})  # track indices written as stereo files
FOLDER = range(1, 6)  # track 1 opens a folder (a drum bus, no items); tracks 2-5 are in it
MULTI_ITEM = {3: 2, 9: 3, 14: 4, 21: 2, 27: 3}  # track index -> number of items
SHORT_FILES, SHORT_S, CLIP_TRACKS, CLIPS_PER_TRACK = 400, 3.0, 40, 100
UNITY = ("--faders", "unity")


def track_audio(index: int, seconds: float, rng: np.random.Generator, stereo: bool | None = None) -> np.ndarray:
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
    two = index in STEREO if stereo is None else stereo
    out: np.ndarray = np.stack([x, np.roll(x, 37 + index) * 0.9], axis=1) if two else x[:, None]
    return out.astype(np.float32)


def write_once(path: Path, make: Callable[[], np.ndarray]) -> Path:
    """Write a 24-bit WAV once (atomically); later runs reuse it."""
    if not path.exists():
        sys.path.insert(0, str(REPO))
        from gainstager import audio

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.wav")
        audio.write(str(tmp), make(), RATE, subtype="PCM_24")
        tmp.replace(path)
    return path


def write_project(path: Path, tracks: Sequence[object]) -> Path:
    sys.path.insert(0, str(REPO))
    from fixtures.rpp_factory import ProjectSpec, make_project

    data = make_project(ProjectSpec(tracks=tracks, sample_rate_hz=RATE))  # type: ignore[arg-type]
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)
    return path


# ---------------------------------------------------------------- the sessions


def sixteen() -> tuple[Path, list[Path]]:
    """16 stereo tracks of 5 minutes, one clip each."""
    from fixtures.rpp_factory import ItemSpec, TrackSpec

    folder = OUT / "sixteen"
    files = [
        write_once(folder / f"track{i:02d}.wav", functools.partial(track_audio, i, MINUTES * 60, rng(2000 + i), True))
        for i in range(16)
    ]
    tracks = [
        TrackSpec(f"Track {i:02d}", items=[ItemSpec(f.name, length_s=MINUTES * 60)], volume=0.5 + (i % 5) * 0.1)
        for i, f in enumerate(files)
    ]
    return write_project(folder / "sixteen.rpp", tracks), files


def session_audio() -> list[Path]:
    """One WAV per track of the 32-track session, the folder track's excepted."""
    folder = OUT / "session"
    return [
        write_once(folder / f"track{i:02d}.wav", functools.partial(track_audio, i, MINUTES * 60, rng(1000 + i)))
        if i != FOLDER[0]
        else folder / "none"
        for i in range(TRACKS)
    ]


def session(files: list[Path], scale: float) -> Path:
    """The 32-track project playing `files`; item times scaled by `scale` (above 1 the items loop)."""
    from fixtures.rpp_factory import ItemSpec, TrackSpec

    length = MINUTES * 60 * scale
    tracks = []
    for i, f in enumerate(files):
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
            fades = (0.05, 0.5) if parts > 1 else (0.0, 0.0)
            items.append(
                ItemSpec(
                    f.name,
                    position_s=start,
                    length_s=end - start,
                    soffs_s=start % (MINUTES * 60),
                    loop=scale > 1.0,
                    fade_in_s=fades[0],
                    fade_out_s=fades[1],
                )
            )
        tracks.append(TrackSpec(f"Track {i:02d}", items=items, volume=0.5 + (i % 5) * 0.1, isbus=isbus))
    return write_project(OUT / "session" / f"session_{length / 60:g}min.rpp", tracks)


def clips() -> tuple[Path, list[Path]]:
    """4,000 short clips on 40 tracks, each a different region of one of 400 three-second files."""
    from fixtures.rpp_factory import ItemSpec, TrackSpec

    folder = OUT / "clips"
    files = [
        write_once(folder / f"s{i:03d}.wav", functools.partial(track_audio, i, SHORT_S, rng(3000 + i), i % 3 == 0))
        for i in range(SHORT_FILES)
    ]
    r = rng(4000)
    tracks = []
    for t in range(CLIP_TRACKS):
        items, at = [], 0.0
        for _ in range(CLIPS_PER_TRACK):
            f = files[int(r.integers(len(files)))]
            length = float(r.uniform(0.5, 2.5))
            offset = float(r.uniform(0.0, SHORT_S - length))
            fades = (0.01, 0.2) if r.random() < 1 / 3 else (0.0, 0.0)
            items.append(ItemSpec(f.name, at, length, soffs_s=offset, fade_in_s=fades[0], fade_out_s=fades[1]))
            at += length + float(r.uniform(0.0, 0.5))
        tracks.append(TrackSpec(f"Track {t:02d}", items=items, volume=0.7))
    return write_project(folder / "clips.rpp", tracks), files


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---------------------------------------------------------------- timing


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def warm_page_cache(paths: list[Path]) -> None:
    for p in paths:
        with p.open("rb") as f:
            while f.read(1 << 24):
                pass


def analyze(project: Path, cache_dir: Path, *, cold: bool, options: tuple[str, ...] = ()) -> Run:
    if cold:
        shutil.rmtree(cache_dir, ignore_errors=True)
    command = [*gainstager_command(), "analyze", str(project), "--json", "--cache-dir", str(cache_dir), *options]
    return run_once(command)


def row(label: str, r: Run) -> str:
    return f"{label:<44} {r.wall_s:8.3f} {r.cpu_s:8.3f} {r.cpu_s / r.wall_s:6.2f} {r.rss_mib:13.0f}"


def compare(name: str, project: Path, files: list[Path], runs: int, cache_dir: Path) -> None:
    """Cold and warm analyze against a single-process float32 decode of the same files, interleaved."""
    size_mb = sum(f.stat().st_size for f in files) / 1e6
    print(f"\n{name}: {project} ({len(files)} files, {size_mb:.0f} MB) [{load()}]")
    decode_src = f"import soundfile\nfor f in {[str(f) for f in files]!r}:\n    soundfile.read(f, dtype='float32')"
    warm_page_cache(files)
    cold, warm, decode = [], [], []
    for _ in range(runs):
        cold.append(analyze(project, cache_dir, cold=True))
        warm.append(analyze(project, cache_dir, cold=False))
        decode.append(run_once([sys.executable, "-c", decode_src]))
    a, w, d = median_run(cold), median_run(warm), median_run(decode)
    print(f"{'median of ' + str(runs):<44} {'wall s':>8} {'cpu s':>8} {'cores':>6} {'peak RSS MiB':>13}")
    print(row("(a) analyze --json, cold (empty cache)", a))
    print(row("(b) analyze --json, warm (cache full)", w))
    print(row("(c) float32 decode, one process", d))
    # the levels cached, another policy: the prediction renders only the blocks its bound cannot rule out
    print(row("(d) warm, then --faders unity (once)", analyze(project, cache_dir, cold=False, options=UNITY)))
    print(f"cold analyze / decode = {a.wall_s / d.wall_s:.2f}x wall (goal <= 1.5, aim 1.1); warm {w.wall_s:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-long", action="store_true", help="skip the 10- and 30-minute sessions")
    parser.add_argument("--only", choices=("sixteen", "session", "clips"), help="run one session only")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    os.environ.update(env)
    # Make every input first. Generating audio grows this process, and a child's peak RSS starts from its
    # parent's RSS when it was forked: when this process grew, start it again, small, on the files it wrote.
    if args.only in (None, "sixteen"):
        sixteen()
    if args.only in (None, "session"):
        session_audio()
    if args.only in (None, "clips"):
        clips()
    # (A child's peak starts from its parent's RSS at fork; this process' own peak, which exec keeps, never
    # shrinks, hence the marker in the environment.)
    if resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 150 * 1024 and "BENCH_RESTARTED" not in os.environ:
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "BENCH_RESTARTED": "1"})
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gainstager-bench-") as tmp:
        cache_dir = Path(tmp) / "cache"
        if args.only in (None, "sixteen"):
            project, files = sixteen()
            compare("16 x 5 min, one clip per track", project, files, args.runs, cache_dir)
        if args.only in (None, "session"):
            audio = session_audio()
            played = [f for i, f in enumerate(audio) if i != FOLDER[0]]
            scales = (0.5, 1.0) if args.no_long else (0.5, 1.0, 2.0, 6.0)
            projects = {s: session(audio, s) for s in scales}
            compare("32 tracks, 5 min (folder, multi-item tracks, fades)", projects[1.0], played, args.runs, cache_dir)
            print(f"\n{'session length':<16} {'wall s':>8} {'cpu s':>8} {'peak RSS MiB':>13}  (cold)")
            for s, path in projects.items():
                r = analyze(path, cache_dir, cold=True)
                print(f"{MINUTES * s:>9g} min    {r.wall_s:8.3f} {r.cpu_s:8.3f} {r.rss_mib:13.0f}")
        if args.only in (None, "clips"):
            project, files = clips()
            warm_page_cache(files)
            print(f"\n4,000 clips on 40 tracks: {project} [{load()}]")
            print(f"{'':<44} {'wall s':>8} {'cpu s':>8} {'cores':>6} {'peak RSS MiB':>13}")
            print(row("(a) analyze --json, cold (empty cache)", analyze(project, cache_dir, cold=True)))
            print(row("(b) analyze --json, warm (cache full)", analyze(project, cache_dir, cold=False)))
    print(f"\n[{load()}; total {time.perf_counter() - t0:.0f} s]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
