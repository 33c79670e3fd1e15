"""Benchmark `gainstager batch` on generated archives: 1 against 2 local workers, and the second run.

Run from the repository root: ``python bench/bench_batch.py [--projects 16] [--seconds 60] [--runs 1]
[--audio flac|wav]``.

It writes (once, seeded, reused by later runs) two archives under bench/out/batch/ with fixtures/archive.py:

- a decode-heavy one: `--projects` REAPER and Live projects of two tracks, each track playing its own
  `--seconds` of 48 kHz mono audio, 24-bit FLAC (decoding it costs CPU the way an archive's compressed audio
  does) or 16-bit WAV; no sample is shared, so no level is reused from a worker's cache;
- the archive of the tests: 200 small projects sharing a library of 50 samples.

On the decode-heavy archive it times whole `gainstager batch --restart --no-cache` processes (no level comes
from the lasting measurement cache of an earlier run) (what a user runs: worker
start-up, discovery and the journal included) with -j 1 and -j 2 and prints both wall times, the speed-up, and
the sessions' own times summed (which grow with 2 workers when they share the cores with other work). Its peers
in the same run: one process decoding every file of the archive once with soundfile (float32), to show what
batch costs per decoded second of audio; and that decode four times over in 1 and 2 processes, whose speed-up
is what a second core gives on this machine at that moment (other work on a shared machine takes it, from the
batch and the peer alike). Runs are interleaved when `--runs` > 1, so a change of load hits all alike. Then
the second run (every session resumed from the journal), on both archives. The load average is printed first
and last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import soundfile as sf
from timing import gainstager_command

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the archive generator of the tests

from fixtures.archive import Archive, make_archive  # noqa: E402

OUT = REPO / "bench" / "out" / "batch"
_BYTES = {"PCM_16": 2, "PCM_24": 3}
PEER_PASSES = 4


def archive(name: str, build: Callable[[Path], Archive]) -> Path:
    """bench/out/batch/NAME, built by `build` the first time."""
    root = OUT / name
    if not (root / "Projects").is_dir():
        build(root)
    return root


def batch(root: Path, *args: str) -> tuple[float, dict[str, object]]:
    """One whole `gainstager batch` process: (wall time, its JSON document)."""
    start = time.perf_counter()
    proc = subprocess.run([*gainstager_command(), "batch", str(root), "--json", *args], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"error: batch {root} {' '.join(args)} exited {proc.returncode}: {proc.stderr[-500:]}")
    doc: dict[str, object] = json.loads(proc.stdout)
    return wall, doc


def session_work_s(doc: dict[str, object]) -> float:
    sessions = doc["sessions"]
    assert isinstance(sessions, list)
    return float(sum(s["duration_s"] for s in sessions if not s["resumed"]))


def decode_all(files: list[Path]) -> float:
    """Seconds to decode `files` once, one after another, in this process (float32, blocks of 64 Ki frames)."""
    start = time.perf_counter()
    for path in files:
        with sf.SoundFile(str(path)) as f:
            for _ in f.blocks(blocksize=65536, dtype="float32"):
                pass
    return time.perf_counter() - start


def decode_in(processes: int, files: list[Path], passes: int) -> float:
    """Wall time to decode `files` `passes` times over, on `processes` processes: the peer that shows how much
    a second process can gain on this machine now, whatever else runs on it."""
    start = time.perf_counter()
    with ProcessPoolExecutor(processes) as pool:
        list(pool.map(decode_all, [files] * passes))
    return time.perf_counter() - start


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--projects", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--audio", choices=("flac", "wav"), default="flac")
    args = ap.parse_args()
    print(load())
    heavy = archive(
        f"heavy-{args.projects}x{args.seconds:g}s-{args.audio}",
        lambda root: make_archive(
            root, projects=args.projects, samples=2 * args.projects, tracks=2, sample_s=args.seconds, audio=args.audio
        ),
    )
    files = sorted((heavy / "Library").glob(f"*.{args.audio}"))
    infos = [sf.info(str(p)) for p in files]
    audio_s = sum(i.duration for i in infos)
    file_mb = sum(p.stat().st_size for p in files) / 1e6
    pcm_mb = sum(i.frames * i.channels * _BYTES[i.subtype] for i in infos) / 1e6
    kind = args.audio.upper()
    print(f"decode-heavy archive: {args.projects} sessions, {len(files)} {kind} files, {audio_s / 60:.0f} min of audio")
    print(f"  in {file_mb:.0f} MB of {kind} ({pcm_mb:.0f} MB as PCM)")
    walls: dict[int, list[float]] = {1: [], 2: []}
    work: dict[int, list[float]] = {1: [], 2: []}
    decode: list[float] = []
    peer: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.runs):
        decode.append(decode_all(files))
        for jobs in (1, 2):
            peer[jobs].append(decode_in(jobs, files, PEER_PASSES))
            wall_s, doc = batch(heavy, "--restart", "--no-cache", "-j", str(jobs))
            walls[jobs].append(wall_s)
            work[jobs].append(session_work_s(doc))
    wall = {j: statistics.median(w) for j, w in walls.items()}
    dec = statistics.median(decode)
    print(
        f"decode alone (1 process, soundfile float32): {dec:6.2f} s = {file_mb / dec:5.1f} MB/s of {kind}, "
        f"{audio_s / dec:4.0f}x real time"
    )
    for jobs in (1, 2):
        busy = statistics.median(work[jobs])
        print(
            f"batch -j {jobs}: {wall[jobs]:6.2f} s wall, sessions {busy:6.2f} s summed; "
            f"{file_mb / wall[jobs]:5.1f} MB/s of {kind}, {audio_s / wall[jobs]:4.0f}x real time"
        )
    print(f"speed-up 2 vs 1 worker: {wall[1] / wall[2]:.2f}; batch -j 1 costs {wall[1] / dec:.1f}x the decode")
    p1, p2 = statistics.median(peer[1]), statistics.median(peer[2])
    print(
        f"peer, the decode {PEER_PASSES} times over in 1 and 2 processes: {p1:.2f} s, {p2:.2f} s, "
        f"speed-up {p1 / p2:.2f} (what a second core gives on this machine now)"
    )
    second, doc = batch(heavy, "-j", "2")
    totals = doc["totals"]
    assert isinstance(totals, dict)
    print(f"second run (resumed {totals['resumed']} of {totals['sessions']}): {second:.2f} s")
    small = archive("archive-200", make_archive)
    first_s, _ = batch(small, "--restart", "--no-cache", "-j", "2")
    second_s, doc = batch(small, "-j", "2")
    totals = doc["totals"]
    assert isinstance(totals, dict)
    print(
        f"200-project archive: first run {first_s:.2f} s, second run {second_s:.2f} s "
        f"(processed {totals['processed']}, resumed {totals['resumed']})"
    )
    print(load())


if __name__ == "__main__":
    main()
