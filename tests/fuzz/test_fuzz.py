"""The fuzz corpus (tests/fuzz/generate.py) through `analyze` and `apply`: every hostile input gets a clean answer.

Allowed outcomes (tests/fuzz/harness.py): refused (non-zero exit code, one line naming the file, no traceback, no
Python warning, nothing written) or done (the output parses again and differs from the input only in gain
values, nothing else written, no Python warning even as a report note). Ordinary inputs run in this process,
through `run` (the one adapter to the pipeline), under a deadline and an address-space cap; special files (FIFO,
/dev/zero, ...) and a budget sample run the real command line in a child with a memory limit and a timeout.

CI runs a seeded sample of 300 cases, every class represented. The whole corpus:

    GAINSTAGER_FUZZ=all python -m pytest tests/fuzz/test_fuzz.py

(GAINSTAGER_FUZZ=N runs a sample of N cases; GAINSTAGER_FUZZ_SEED=S another seed.)
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from gainstager.errors import GainstagerError
from gainstager.plan import Policy
from tests.fuzz.generate import (
    DEFAULT_SEED,
    Case,
    cases,
    fixture_bases,
    on_text,
    sample,
    set_rpp_field,
    set_xml_value,
)
from tests.fuzz.harness import assert_done, assert_refused, run_cli, skipped_tracks_untouched, snapshot

SEED = int(os.environ.get("GAINSTAGER_FUZZ_SEED", DEFAULT_SEED))
WANTED = os.environ.get("GAINSTAGER_FUZZ", "300")
ALL_CASES = cases(SEED)
CHOSEN = ALL_CASES if WANTED == "all" else sample(ALL_CASES, int(WANTED), SEED)

IN_PROCESS_DEADLINE_S = 60.0  # a guard against hangs; the real time budget is asserted in a child below
IN_PROCESS_EXTRA_MEMORY = 4 << 30  # address space a case may add to this process before MemoryError
CHILD_MEMORY = 3 << 30  # RLIMIT_AS of a child: the command line maps ~350 MiB at start (VmPeak), threads more
CHILD_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class Outcome:
    code: int  # the exit code the command line maps the result to
    message: str  # the error line, or ""
    output: Path | None = None  # the written session
    report: dict[str, Any] | None = None  # the JSON report


def run(command: str, session: Path) -> Outcome:
    """THE adapter to the pipeline (the one place to change when its modules move): `analyze` or `apply` (output
    beside the session) as the command line runs them, in this process, the report included."""
    from gainstager import output, pipeline, report, report_json, tables

    try:
        analysis = pipeline.analyze(pipeline.load(str(session)), Policy())
        written = output.write(analysis) if command == "apply" else None
        session_report = report.session_report(analysis, written)
        tables.session_text(session_report)
        doc = report_json.session_json(session_report)
        json.dumps(doc, allow_nan=False)  # the --json output must be JSON: no NaN, no Infinity
    except GainstagerError as exc:
        return Outcome(exc.exit_code, str(exc))
    return Outcome(0, "", Path(written.output) if written is not None and written.output else None, doc)


class CaseTimeout(BaseException):
    """Raised by the alarm: a BaseException, so that no `except Exception` in the code under test swallows it."""


@contextmanager
def guarded(seconds: float) -> Iterator[None]:
    """Warnings are errors (outside an analysis, which turns them into report notes); a deadline (SIGALRM); an
    address-space cap, so a blow-up is a MemoryError here."""

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise CaseTimeout(f"still running after {seconds} s")

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _address_space() + IN_PROCESS_EXTRA_MEMORY
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        if cap and (hard == resource.RLIM_INFINITY or cap < hard):
            resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _address_space() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _params(chosen: list[Case]) -> list[object]:
    return [pytest.param(c, id=c.case_id) for c in chosen]  # every case must pass: none is expected to fail


@pytest.mark.parametrize("case", _params([c for c in CHOSEN if not c.special]))
def test_in_process(case: Case, tmp_path: Path) -> None:
    folder = tmp_path / "case"
    session = case.materialize(folder)
    original = session.read_bytes()
    before = snapshot(folder)
    for command in ("analyze", "apply"):
        with guarded(IN_PROCESS_DEADLINE_S):
            outcome = run(command, session)
        if outcome.code:
            assert_refused(outcome.code, outcome.message, session, before, folder)
        else:
            assert_done(original, session, outcome.output, before, folder)
            # a Python warning would be a note of the report now (never on the terminal), but the corpus holds the
            # code to more: each odd number is handled where it is met, so that none warns
            warned = [n for n in (outcome.report or {}).get("notes", []) if n.startswith("Python warning")]
            assert not warned, warned
            if outcome.output is not None and outcome.report is not None:
                problem = skipped_tracks_untouched(original, outcome.output.read_bytes(), outcome.report)
                assert problem is None, problem
    shutil.rmtree(tmp_path)  # passing cases leave nothing behind (a full run would otherwise keep ~1 GB)


def _child_outcome(case: Case, command: str, session: Path, folder: Path, before: dict[str, tuple[str, bytes]]) -> None:
    result = run_cli([command, str(session)], timeout_s=CHILD_TIMEOUT_S, memory_bytes=CHILD_MEMORY)
    assert not result.timed_out, f"{command} still running after {CHILD_TIMEOUT_S} s"
    if result.code:
        assert result.stdout == "", result.stdout
        assert_refused(result.code, result.stderr.strip().removeprefix("error: "), session, before, folder)
        return
    assert result.stderr == "", result.stderr
    new = [p for p in snapshot(folder) if p not in before]
    output = folder / new[0] if command == "apply" and len(new) == 1 else None
    original = session.read_bytes() if session.is_file() and not session.is_symlink() else b""
    assert_done(original, session, output, before, folder)


@pytest.mark.parametrize("case", _params([c for c in CHOSEN if c.special]))
def test_special_files_in_a_child(case: Case, tmp_path: Path) -> None:
    folder = tmp_path / "case"
    session = case.materialize(folder)
    before = snapshot(folder)
    for command in ("analyze", "apply"):
        _child_outcome(case, command, session, folder, before)
    shutil.rmtree(tmp_path)


# ------------------------------------------------------------------------------------------------ budget sample

BUDGET_CLASSES = ("huge-line", "deep-nesting", "gzip", "entity", "hostile-audio")
# Measured (2-core machine): the command line starts at ~60 MiB; decoding and resampling 32-channel media in
# blocks peaks at ~180 MiB; the largest real set (27.5 MB of XML) at ~350 MiB and 3 s; a gzip bomb stops at the
# ratio cap, ~160 MiB and 1.4 s. The budgets leave margin for a loaded machine.
BASE_RSS_BYTES = 256 << 20
RSS_PER_INPUT_BYTE = 10  # lxml keeps ~7x a real Live set's XML; the rest of the pipeline adds a little
BASE_WALL_S = 10.0
WALL_S_PER_MB = 0.2


def _budget_cases() -> list[Case]:
    heavy = [c for c in CHOSEN if c.cls in BUDGET_CLASSES and not c.special]
    rest = [c for c in CHOSEN if c.cls not in BUDGET_CLASSES and not c.special]
    return heavy + random.Random(SEED).sample(rest, min(8, len(rest)))


def input_bytes(data: bytes, cap: int = 64 << 20) -> int:
    """What the tool must read: the file, or the XML inside a gzip (up to `cap`, where the bomb caps stop it)."""
    if data[:2] != b"\x1f\x8b":
        return len(data)
    try:
        inflater = zlib.decompressobj(wbits=31)
        return max(len(data), len(inflater.decompress(data, cap)))
    except zlib.error:
        return len(data)


@pytest.mark.parametrize("case", _params(_budget_cases()))
def test_time_and_memory_budget_in_a_child(case: Case, tmp_path: Path) -> None:
    folder = tmp_path / "case"
    session = case.materialize(folder)
    size = input_bytes(session.read_bytes())
    before = snapshot(folder)
    result = run_cli(["apply", str(session)], timeout_s=CHILD_TIMEOUT_S, memory_bytes=CHILD_MEMORY)
    memory_budget = BASE_RSS_BYTES + RSS_PER_INPUT_BYTE * size
    time_budget = BASE_WALL_S + WALL_S_PER_MB * size / 1e6
    assert not result.timed_out and result.wall_s <= time_budget, f"{result.wall_s:.1f} s > {time_budget:.1f} s"
    assert result.peak_rss_bytes <= memory_budget, (
        f"peak RSS {result.peak_rss_bytes >> 20} MiB > {memory_budget >> 20} MiB for {size} bytes of input"
    )
    if result.code:
        assert_refused(result.code, result.stderr.strip().removeprefix("error: "), session, before, folder)
    else:
        new = [p for p in snapshot(folder) if p not in before]
        assert len(new) == 1, new
        assert_done(session.read_bytes(), session, folder / new[0], before, folder)
    shutil.rmtree(tmp_path)


def test_corpus_size_and_classes() -> None:
    """The generator keeps its promise: over 1,000 cases, every class, deterministic bytes for a seed."""
    from tests.fuzz.generate import CLASSES

    assert len(ALL_CASES) >= 1000
    assert {c.cls for c in ALL_CASES} == set(CLASSES)
    picked = sample(ALL_CASES, 300, SEED)
    assert len(picked) >= 300 and {c.cls for c in picked} == set(CLASSES)
    flips = [c for c in ALL_CASES if c.cls == "bitflip" and c.case_id.startswith("fx-rpp-")][:3]
    again = {c.case_id: c for c in cases(SEED)}
    other = {c.case_id: c for c in cases(SEED + 1)}
    for c in flips:
        assert c.build() == again[c.case_id].build()
        assert c.build() != other[c.case_id].build()


def test_measure_refuses_special_files_in_a_child(tmp_path: Path) -> None:
    """`gainstager measure` opens only regular files: a FIFO, /dev/zero and a directory each get one line."""
    os.mkfifo(tmp_path / "fifo.wav")
    (tmp_path / "zero.wav").symlink_to("/dev/zero")
    (tmp_path / "dir.wav").mkdir()
    names = ["fifo.wav", "zero.wav", "dir.wav"]
    result = run_cli(
        ["measure", *(str(tmp_path / n) for n in names)], timeout_s=CHILD_TIMEOUT_S, memory_bytes=CHILD_MEMORY
    )
    lines = result.stderr.strip().splitlines()
    assert not result.timed_out and result.code == 1 and len(lines) == 3, result
    for name, line, kind in zip(names, lines, ("a FIFO", "a character device", "a directory"), strict=True):
        assert str(tmp_path / name) in line and kind in line, line


def test_policy_files_that_are_not_regular_files_are_refused_in_a_child(tmp_path: Path) -> None:
    """`--policy` reads only a regular file: a FIFO would block, /dev/zero would never end."""
    session = _fixture_case(tmp_path / "song")
    os.mkfifo(tmp_path / "fifo.toml")
    (tmp_path / "zero.toml").symlink_to("/dev/zero")
    for name, kind in (("fifo.toml", "a FIFO"), ("zero.toml", "a character device")):
        policy = str(tmp_path / name)
        result = run_cli(
            ["analyze", str(session), "--policy", policy], timeout_s=CHILD_TIMEOUT_S, memory_bytes=CHILD_MEMORY
        )
        lines = result.stderr.strip().splitlines()
        assert not result.timed_out and result.code != 0 and len(lines) == 1, result
        assert policy in lines[0] and kind in lines[0], lines[0]


# ------------------------------------------------------------------------------------------------ warnings, tracks


def _fixture_case(tmp_path: Path, mutate: Callable[[bytes], bytes] = lambda d: d, name: str = "fx-rpp") -> Path:
    """A fixture session (with its audio) in `tmp_path`, `mutate` applied to its text (the XML of a Live set)."""
    base = next(b for b in fixture_bases() if b.name == name)
    return Case(name, "number", "", base.session, on_text(base, mutate)).materialize(tmp_path)


def test_a_warning_during_analysis_becomes_a_report_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gainstager import track_render

    feed = track_render.feed  # what the one pass calls, on its workers, for the meter of each track and group

    def noisy(*args: Any, **kwargs: Any) -> Any:
        warnings.warn("odd numbers", RuntimeWarning, stacklevel=1)
        return feed(*args, **kwargs)

    monkeypatch.setattr(track_render, "feed", noisy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        outcome = run("analyze", _fixture_case(tmp_path))
    assert outcome.code == 0 and outcome.report is not None
    assert any("odd numbers" in note for note in outcome.report["notes"])


@pytest.mark.parametrize(
    ("base", "mutate", "bad"),
    [
        ("fx-rpp", set_rpp_field("VOLPAN", 1, 0, b"1e300"), "Drums"),  # the first track's fader
        ("fx-rpp", set_rpp_field("VOLPAN", 2, 0, b"abc"), "Drums"),  # its pan
        ("fx-rpp", set_rpp_field("VOLPAN", 1, 6, b"1,5"), "Pad"),  # a comma: read as REAPER does, never rewritten
        ("fx-rpp", set_rpp_field("PT", 2, 0, b"nan"), "Pad"),  # a point of its volume envelope
        ("fx-rpp", set_rpp_field("VOLPAN", 1, 3, b"inf"), "Bus"),  # a folder: its children are still staged
        ("fx-als11-xml", set_xml_value("<Volume>/<Manual", "Value", 0, b"1e308"), "Drums"),  # a Live fader
        ("fx-als11-xml", set_xml_value("<Pan>/<Manual", "Value", 2, b"abc"), "Keys"),  # a Live pan
    ],
)
def test_an_implausible_track_value_skips_that_track(
    base: str, mutate: Callable[[bytes], bytes], bad: str, tmp_path: Path
) -> None:
    """An implausible number of one track skips that track with its reason (its clips INVALID, nothing of it
    rewritten, left out of the master prediction); the other tracks are staged, and the output differs from the
    input only in gain values, the bad track's bytes untouched."""
    session = _fixture_case(tmp_path, mutate, base)
    original = session.read_bytes()
    before = snapshot(tmp_path)
    outcome = run("apply", session)
    assert outcome.code == 0 and outcome.report is not None and outcome.output is not None, outcome.message
    tracks = {t["name"]: t for t in outcome.report["tracks"]}
    assert tracks[bad]["reason"] and tracks[bad]["action"].startswith("skipped")
    assert tracks[bad]["new_fader_db"] == tracks[bad]["fader_db"]
    assert [t for t in tracks.values() if t["reason"]] == [tracks[bad]]
    statuses = {(c["track"], c["status"]) for c in outcome.report["clips"]}
    assert {s for t, s in statuses if t == bad} <= {"invalid"}
    assert ("Keys" if bad != "Keys" else "Drums", "active") in statuses
    assert any(bad in note and "left out of the master prediction" in note for note in outcome.report["notes"])
    assert_done(original, session, outcome.output, before, tmp_path)
    new = outcome.output.read_bytes()
    assert new != original  # the others were staged
    assert skipped_tracks_untouched(original, new, outcome.report) is None
