"""What a clean answer is, checked on disk: shared by the fuzz harness and the fault tests.

Two outcomes are allowed for any input, and nothing else:

* refused: a non-zero exit code, one line naming the file, no traceback, nothing written;
* done: the written session parses again and differs from the input only in gain values (the rule of
  ../shared/acceptance/check.py `edits`: every differing line is a gain line whose differing tokens are numbers),
  nothing else written, the input untouched.

`run_cli` runs the real command line in a child process under a memory limit and a wall-clock timeout and reports
its peak memory (VmHWM) and time, for the special files and the budget sample.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from gainstager import parsers

Snapshot = dict[str, tuple[str, bytes]]


def snapshot(folder: Path) -> Snapshot:
    """Every entry under `folder` (symlinks and special files not followed, never opened): kind and content hash."""
    out: Snapshot = {}
    for root, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            path = Path(root, name)
            rel = str(path.relative_to(folder))
            st = path.lstat()
            if stat.S_ISREG(st.st_mode):
                out[rel] = ("file", hashlib.sha256(path.read_bytes()).digest())
            elif stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(path).encode())
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", b"")
            else:
                out[rel] = ("special", b"")
    return out


def one_line_naming(message: str, session: Path) -> bool:
    """One line (the session's own name may hold a newline: it is the user's), naming the session or its folder."""
    shown = message.replace(str(session), "<session>")
    return (
        ("<session>" in shown or message.startswith(str(session.parent)))
        and "\n" not in shown
        and "Traceback" not in message
    )


def assert_refused(code: int, message: str, session: Path, before: Snapshot, folder: Path) -> None:
    assert code != 0, f"refused with exit code 0: {message!r}"
    assert one_line_naming(message, session), f"not one line naming {session}: {message!r}"
    assert snapshot(folder) == before, "something was written or changed although the input was refused"


def assert_done(original: bytes, session: Path, output: Path | None, before: Snapshot, folder: Path) -> None:
    """Success: only `output` is new (or nothing, for analyze), it parses, and only gain values changed."""
    after = snapshot(folder)
    if output is None:
        assert after == before, "analyze wrote or changed files"
        return
    rel = str(output.relative_to(folder))
    assert rel in after and rel not in before, f"no new output at {rel}"
    del after[rel]
    assert after == before, f"files other than {rel} were written or changed"
    new = output.read_bytes()
    fmt = parsers.detect(new, str(output))
    fmt.parse(new, str(session))  # raises FormatError if the output does not parse again
    problem = gain_only_difference(original, new)
    assert problem is None, problem


_GAIN_LINE = re.compile(rb"^\s*(VOLPAN|TAKEVOLPAN|MASTER_VOLUME|PT)\s")
_LIVE_GAIN = re.compile(rb'<(SampleVolume|Manual|FloatEvent)\b[^>]*\bValue="[^"]*"')
_VALUE = re.compile(rb'\bValue="[^"]*"')


def _text(data: bytes) -> tuple[bytes, bool]:
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data), True
    return data, data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<?xml")


def _finite(token: bytes) -> bool:
    try:
        value = float(token)
    except ValueError:
        return False
    return value - value == 0.0


def gain_only_difference(old: bytes, new: bytes) -> str | None:
    """None when `new` differs from `old` only in gain values; else what else differs."""
    if old == new:
        return None
    (a, live), (b, _) = _text(old), _text(new)
    la, lb = a.splitlines(keepends=True), b.splitlines(keepends=True)
    if len(la) != len(lb):
        return f"line count changed ({len(la)} -> {len(lb)})"
    for n, (x, y) in enumerate(zip(la, lb, strict=True), 1):
        if x == y:
            continue
        if live:
            if not (_LIVE_GAIN.search(x) and _VALUE.sub(b"", x) == _VALUE.sub(b"", y)):
                return f"line {n} changed outside a gain Value: {x[:120]!r} -> {y[:120]!r}"
            values = [(u, v) for u, v in zip(_VALUE.findall(x), _VALUE.findall(y), strict=True) if u != v]
            if not all(_finite(u[7:-1]) and _finite(v[7:-1]) for u, v in values):
                return f"line {n}: a non-numeric gain value was replaced: {x[:120]!r} -> {y[:120]!r}"
            continue
        tx, ty = x.split(), y.split()
        eol = (x.endswith(b"\r\n"), x.endswith(b"\n")) == (y.endswith(b"\r\n"), y.endswith(b"\n"))
        same_frame = x[: len(x) - len(x.lstrip())] == y[: len(y) - len(y.lstrip())] and eol
        if not (_GAIN_LINE.match(x) and len(tx) == len(ty) and tx[0] == ty[0] and same_frame):
            return f"line {n} is not a gain line or changed shape: {x[:120]!r} -> {y[:120]!r}"
        for u, v in zip(tx, ty, strict=True):
            if u != v and not (_finite(u) and _finite(v)):
                return f"line {n}: token {u!r} -> {v!r} is not a number change"
    return None


def _rpp_track_lines(lines: list[bytes], index: int) -> list[bytes] | None:
    """The lines of the `index`-th <TRACK block (0-based, as REAPER counts them), from '<TRACK' to its '>'."""
    seen, depth, start = -1, 0, None
    for n, line in enumerate(lines):
        text = line.strip()
        if start is None and depth == 1 and text.startswith(b"<TRACK"):
            seen += 1
            if seen == index:
                start, depth = n, 0
        if text.startswith(b"<"):
            depth += 1
        elif text.startswith(b">"):
            depth -= 1
            if start is not None and depth == 0:
                return lines[start : n + 1]
    return None


_LIVE_TRACK = re.compile(rb'<(AudioTrack|MidiTrack|GroupTrack|ReturnTrack)\b(?: Id="([^"]*)")?')


def _live_track_xml(xml: bytes, local_id: str) -> bytes | None:
    """The XML of the Live track with Id `local_id` ("#n": the n-th track, for one without an Id); tracks do not
    nest in a Live set."""
    found = list(_LIVE_TRACK.finditer(xml))
    if local_id.startswith("#"):
        m = found[int(local_id[1:]) - 1] if 0 < int(local_id[1:]) <= len(found) else None
    else:
        m = next((x for x in found if x.group(2) == local_id.encode()), None)
    if m is None:
        return None
    end = xml.find(b"</" + m.group(1) + b">", m.end())
    return xml[m.start() : end] if end >= 0 else None


def skipped_tracks_untouched(original: bytes, new: bytes, report: dict[str, object]) -> str | None:
    """None when every track the report says was skipped (a non-empty `reason`) is byte for byte the same in `new`
    as in `original` (found in the bytes, not through the parser); else which one changed."""
    tracks = report["tracks"]
    assert isinstance(tracks, list)
    (a, live), (b, _) = _text(original), _text(new)
    for t in tracks:
        if not t.get("reason"):
            continue
        local = t["id"].removeprefix("track:")
        before: object
        after: object
        if live:
            before, after = _live_track_xml(a, local), _live_track_xml(b, local)
        else:
            before, after = _rpp_track_lines(a.split(b"\n"), int(local)), _rpp_track_lines(b.split(b"\n"), int(local))
        if before is None or before != after:
            return f"skipped track {t['id']} ({t['name']}) was changed or not found"
    return None


# ---------------------------------------------------------------------------------------------- child processes

# The child limits its own address space, runs the command line, and at exit writes its peak resident memory
# (VmHWM: per address space, so unlike wait4's ru_maxrss it does not inherit the forking parent's peak).
_CHILD = """
import atexit, resource, runpy, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
def report():
    with open("/proc/self/status") as f:
        peak = next((line.split()[1] for line in f if line.startswith("VmHWM:")), "0")
    with open({peak_file!r}, "w") as f:
        f.write(peak)
atexit.register(report)
sys.argv = ["gainstager", *sys.argv[1:]]
runpy.run_module("gainstager", run_name="__main__")
"""


@dataclass(frozen=True, slots=True)
class ChildResult:
    code: int
    stdout: str
    stderr: str
    wall_s: float
    peak_rss_bytes: int
    timed_out: bool


def run_cli(args: list[str], *, timeout_s: float, memory_bytes: int, cwd: Path | None = None) -> ChildResult:
    """`gainstager ARGS` in a child with RLIMIT_AS = `memory_bytes`, killed after `timeout_s`; stdin is empty."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, tempfile.TemporaryDirectory() as tmp:
        peak_file = os.path.join(tmp, "peak")
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD.format(limit=memory_bytes, peak_file=peak_file), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            cwd=cwd,
        )
        start = time.monotonic()
        timed_out = False
        while True:
            pid, status = os.waitpid(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > timeout_s:
                proc.kill()
                pid, status = os.waitpid(proc.pid, 0)
                timed_out = True
                break
            time.sleep(0.005)
        wall = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        peak_kib = int(Path(peak_file).read_text() or 0) if os.path.exists(peak_file) else 0
        return ChildResult(
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
            wall,
            peak_kib * 1024,
            timed_out,
        )
