"""Benchmark the batch executor on a decode-heavy archive: the same items with 1 and 2 local workers.

Run from the repository root: ``python bench/bench_batch.py [--files 16] [--seconds 60] [--runs 1]``.

It writes (once, seeded, reused by later runs) `--files` FLAC files of `--seconds` of stereo 48 kHz noise
under a slow envelope into bench/out/batch/ (FLAC, because decoding it costs CPU the way an archive's
compressed audio does; WAV would measure the disk). Each item decodes one file in blocks and measures its
RMS, as a session's clips are measured. The job is generic for now; part B points `ITEM_JOB` at the batch's
per-session function and the archive at generated sessions.

It times `gainstager.workers.run` over all items with jobs=1 and jobs=2, interleaved when `--runs` > 1 so a
change of machine load hits both alike, and prints both wall times and the speed-up (the issue asks for
at least 1.7 on 2 cores). Worker start-up (one interpreter per worker) is inside the timing, as in a batch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out" / "batch"
RATE = 48000
BLOCK = 65536


def decode_rms(path: str) -> float:
    """Decode `path` block by block; its RMS over all samples, in dBFS."""
    total, count = 0.0, 0
    with sf.SoundFile(path) as f:
        for block in f.blocks(blocksize=BLOCK, dtype="float64"):
            total += float(np.einsum("ij,ij->", block, block))
            count += block.size
    return float(10 * np.log10(total / count)) if total else -np.inf


def archive(files: int, seconds: float) -> list[str]:
    OUT.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(files):
        path = OUT / f"take{i:03d}_{seconds:g}s.flac"
        if not path.exists():
            rng = np.random.default_rng(i)
            t = np.arange(int(seconds * RATE)) / RATE
            envelope = 0.1 + 0.05 * np.sin(2 * np.pi * 0.2 * t + i)
            audio = rng.standard_normal((t.size, 2)) * envelope[:, None]
            sf.write(path, np.clip(audio, -1, 1), RATE, subtype="PCM_24")
        paths.append(str(path))
    return paths


def timed(job: Callable[[str], float], items: list[str], jobs: int) -> tuple[float, float]:
    """(wall time of the run, sum of the items' own times on their workers)."""
    from gainstager.workers import run

    start = time.perf_counter()
    outcomes = list(run(job, items, jobs=jobs))
    elapsed = time.perf_counter() - start
    failed = [o.reason for o in outcomes if not o.ok]
    if failed:
        raise SystemExit(f"error: {len(failed)} items failed, first: {failed[0]}")
    return elapsed, sum(o.duration_s for o in outcomes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    items = archive(args.files, args.seconds)
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # workers import the job as bench_batch.decode_rms
    from bench_batch import decode_rms as job

    print(f"{len(items)} FLAC files of {args.seconds:g} s, {sum(os.path.getsize(p) for p in items) / 1e6:.0f} MB")
    times: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
    for _ in range(args.runs):
        for jobs in (1, 2):
            times[jobs].append(timed(job, items, jobs))
    wall = {j: statistics.median(w for w, _ in runs) for j, runs in times.items()}
    for jobs, runs in times.items():
        busy = statistics.median(b for _, b in runs)
        # items' own time summed: it grows with 2 workers when they share the cores with other work
        print(f"{jobs} worker(s): {wall[jobs]:7.2f} s wall, items {busy:6.2f} s summed")
    print(f"speed-up   : {wall[1] / wall[2]:7.2f} (on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
