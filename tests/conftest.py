"""Shared test helpers: where the real sessions and EBU signals are, when ../shared exists."""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from gainstager import output, parsers, pipeline, routing
from gainstager.model import Session
from gainstager.plan import Policy

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _private_cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test, and every process a test starts (they inherit the environment), uses a measurement cache
    directory of its own: never the user's."""
    folder = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("GAINSTAGER_CACHE_DIR", str(folder))
    return folder

SHARED = REPO.parent / "shared"
CORPUS = SHARED / "corpus"
EBU = SHARED / "ebu"


# What every changed line of a written session starts with (after its indentation), per format.
EDITABLE = {
    "rpp": (b"VOLPAN ", b"TAKEVOLPAN ", b"MASTER_VOLUME ", b"PT "),
    "als": (b"<SampleVolume ", b"<Manual ", b"<FloatEvent "),
}
_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?")  # no exponent: a number written in exponent form fails the check


def assert_local(fmt: str, before: bytes, after: bytes) -> list[tuple[bytes, bytes]]:
    """Only numbers changed, only on lines of editable values; line count, EOLs and indentation kept (a gzip
    container is opened first). The changed lines, (old, new)."""
    if before[:2] == b"\x1f\x8b":
        before, after = gzip.decompress(before), gzip.decompress(after)
    old, new = before.split(b"\n"), after.split(b"\n")
    assert len(old) == len(new)
    changed = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
    for a, b in changed:
        assert _NUMBER.sub(b"#", a) == _NUMBER.sub(b"#", b), (a, b)
        assert b.lstrip().startswith(EDITABLE[fmt]), b
    return changed


def corpus_files(kind: str) -> list[Path]:
    """The real sessions of one kind ("rpp" or "als"); empty when ../shared is not there."""
    folder = CORPUS / kind
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == f".{kind}")


def corpus_params(kind: str) -> list[object]:
    """pytest parameters over the corpus, or one skipped parameter saying why there are none."""
    files = corpus_files(kind)
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{CORPUS / kind} not present"))]
    return [pytest.param(p, id=p.name) for p in files]


@cache
def parsed(path: Path) -> tuple[bytes, Session, Any, float]:
    """(bytes, session, document, parse seconds) of a corpus file, parsed once per test run: the parser tests
    and the conformance suite share it (the largest Live set is 27 MB of XML)."""
    data = path.read_bytes()
    fmt = parsers.detect(data, str(path))
    t0 = time.perf_counter()
    session, document = fmt.parse(data, str(path))
    return data, session, document, time.perf_counter() - t0


def invoke(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the command line in this process (typer's CliRunner): exit code, stdout and stderr as `cli` gives."""
    from typer.testing import CliRunner

    from gainstager.cli import app

    result = CliRunner().invoke(app, list(args))
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


def stage(path: Path, policy: Policy | None = None, out: Path | None = None) -> tuple[pipeline.Analysis, Path]:
    """Analyze `path` and write the staged session (default NAME.staged.EXT beside it): the analysis and the path."""
    a = pipeline.analyze(pipeline.load(str(path)), policy or Policy())
    target = out or path.with_name(f"{path.stem}.staged{path.suffix}")
    output.write(a, output=str(target))
    return a, target


def again(path: Path, policy: Policy | None = None) -> pipeline.Analysis:
    return pipeline.analyze(pipeline.load(str(path)), policy or Policy())


def post_fader_rms(a: pipeline.Analysis) -> dict[str, float]:
    """Each track's rendered pre-fader sum plus the fader that plays (an envelope at its highest point)."""
    return {
        t.name: a.track_levels[t.track_id].rms_dbfs + routing.playing_fader_db(t)
        for t in a.session.tracks
        if t.track_id in a.track_levels
    }


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a new process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "gainstager", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def assert_refused(proc: subprocess.CompletedProcess[str], bad: Path, what: str, content: bytes) -> None:
    """Bad input: exit 1, one line on stderr naming the file and the problem, no traceback, nothing written."""
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and what.lower() in lines[0].lower(), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert [p.name for p in bad.parent.iterdir()] == [bad.name] and bad.read_bytes() == content
