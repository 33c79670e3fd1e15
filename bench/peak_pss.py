"""Peak memory of a command and all its processes together: the sum of their PSS, sampled every 50 ms.

Run from the repository root: ``python bench/peak_pss.py gainstager analyze SESSION --json --no-cache``.

`analyze` plays a long mix on worker processes (gainstager/mix_procs.py), so one process's peak RSS (what
bench_analyze.py prints, from os.wait4) is not the whole story. PSS (proportional set size, /proc/PID/smaps_rollup)
counts a page shared by n processes as 1/n in each, so the sum is the memory the command takes from the machine.
It prints the peak sum, each process's share at that moment, and the command's wall time. Linux only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time


def tree(pid: int) -> list[int]:
    """`pid` and its descendants (through every thread's children)."""
    found = [pid]
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                for child in f.read().split():
                    found += tree(int(child))
    except OSError:  # gone meanwhile
        pass
    return found


def pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main(command: list[str]) -> int:
    if not command:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    peak, shares = 0, [0]
    while proc.poll() is None:
        now = [pss_kib(p) for p in tree(proc.pid)]
        if sum(now) > peak:
            peak, shares = sum(now), now
        time.sleep(0.05)
    wall = time.perf_counter() - started
    each = " + ".join(f"{kib / 1024:.0f}" for kib in shares)
    print(
        f"peak PSS of all processes: {peak / 1024:.1f} MiB ({peak * 1024 / 1e6:.1f} MB) = {each} MiB; "
        f"wall {wall:.2f} s; exit {proc.returncode}"
    )
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
