"""What the benchmark scripts share: running a command as a whole process and reading its own figures."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float  # user + sys of the child alone
    rss_mib: float  # peak resident set of the child alone


def gainstager_command() -> list[str]:
    """The installed console script, else `python -m gainstager`."""
    exe = shutil.which("gainstager")
    return [exe] if exe else [sys.executable, "-m", "gainstager"]


def run_once(cmd: list[str], ok: tuple[int, ...] = (0,)) -> Run:
    """Run `cmd` to completion; its wall time, CPU time and peak RSS (os.wait4: this child only, so figures
    never mix with another child's, as RUSAGE_CHILDREN's running maximum would)."""
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: ffmpeg writes a lot to stderr
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in ok:
            err.seek(0)
            tail = err.read().decode(errors="replace").strip()[-500:]
            raise SystemExit(f"error: {' '.join(cmd)} exited {proc.returncode}: {tail}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def median_run(runs: list[Run]) -> Run:
    """Median wall and CPU time; the largest peak RSS."""
    return Run(
        statistics.median(r.wall_s for r in runs),
        statistics.median(r.cpu_s for r in runs),
        max(r.rss_mib for r in runs),
    )
