"""Check mode: is a session staged? Pure: measured levels and policies in (or a session report, `check_report`),
verdicts, JUnit XML and the JSON document out.

A staged track passes when the planner would move it by at most the tolerance (default ±1 dB): it is within
the tolerance of its target, or its true-peak ceiling holds it below the target (exactly as `plan` decides,
through `plan.wanted_change`), or a limit the planner reports holds it (the boost cap, a gain range). The
master passes when its predicted peak is at or below the headroom. A track with nothing measurable is skipped,
not failed. `junit_xml` writes one test case per track plus one for the master, one test suite per session
(a session that could not be checked: one test case with an error).
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .model import Levels
from .plan import EPSILON_DB, Bound, MeterKind, Policy, level_of, wanted_change
from .report import SessionReport
from .schema import SCHEMA_VERSION

DEFAULT_TOLERANCE_DB = 1.0

_UNIT = {MeterKind.RMS: "dBFS RMS", MeterKind.LUFS: "LUFS", MeterKind.PEAK: "dBFS peak", MeterKind.TRUE_PEAK: "dBTP"}


@dataclass(frozen=True, slots=True)
class TrackInput:
    """One staged track as measured: its pre-fader level (what the target applies to) and its policy.

    `planned` is the planner's own (change dB, bound) for this track on the same measurement, when the caller
    has it: it also knows the boost cap and the gain ranges. Without it the target and the ceiling decide."""

    track_id: str
    name: str
    levels: Levels
    policy: Policy
    role: str | None = None
    rule: str = ""
    planned: tuple[float, Bound] | None = None


@dataclass(frozen=True, slots=True)
class TrackVerdict:
    track_id: str
    name: str
    passed: bool
    skipped: bool  # nothing measurable: neither passed nor failed
    meter: MeterKind
    level_db: float  # on the track's meter; -inf when silent
    target_db: float
    true_peak_dbtp: float
    peak_ceiling_dbtp: float
    change_db: float  # what the planner would still do
    bound_by: Bound
    role: str | None
    rule: str
    reason: str  # one line: why it passed, failed or was skipped


@dataclass(frozen=True, slots=True)
class MasterVerdict:
    passed: bool
    peak_dbfs: float
    headroom_dbfs: float
    reason: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    session: str  # the session's path, as the report shows it
    tracks: tuple[TrackVerdict, ...]
    master: MasterVerdict
    tolerance_db: float

    @property
    def passed(self) -> bool:
        return self.master.passed and all(t.passed or t.skipped for t in self.tracks)

    def problems(self) -> list[str]:
        """What is out, and why: one line each (empty when the session passes)."""
        lines = [f"{t.name}: {t.reason}" for t in self.tracks if not (t.passed or t.skipped)]
        if not self.master.passed:
            lines.append(f"master: {self.master.reason}")
        return lines


def check_session(
    session: str,
    tracks: Sequence[TrackInput],
    master_peak_dbfs: float,
    headroom_dbfs: float,
    *,
    tolerance_db: float = DEFAULT_TOLERANCE_DB,
) -> CheckResult:
    """Judge every track and the master. `master_peak_dbfs` is the predicted master sample peak as it plays."""
    if not (math.isfinite(tolerance_db) and tolerance_db >= 0.0):
        raise ValueError(f"tolerance_db ({tolerance_db!r}); expected a finite number >= 0")
    verdicts = tuple(_track(t, tolerance_db) for t in tracks)
    return CheckResult(session, verdicts, _master(master_peak_dbfs, headroom_dbfs), tolerance_db)


def check_report(r: SessionReport, *, tolerance_db: float = DEFAULT_TOLERANCE_DB) -> CheckResult:
    """Check a session from its report: every staged track (some clip staged, levels measured) on its own policy,
    with the planner's change and bound, and the master's predicted peak as the session plays."""
    tracks = [
        TrackInput(t.track_id, t.name, t.levels, t.policy, t.role, t.rule, (t.clip_change_db, t.bound_by))
        for t in r.tracks
        if t.staged and t.levels is not None
    ]
    return check_session(r.path, tracks, r.master_peak_before_dbfs, r.policy.headroom_dbfs, tolerance_db=tolerance_db)


def _track(t: TrackInput, tolerance_db: float) -> TrackVerdict:
    p = t.policy
    level = level_of(t.levels, p.meter)
    change, bound = wanted_change(t.levels, p)
    if t.planned is not None and bound != Bound.NONE:
        change, bound = t.planned
    skipped = not math.isfinite(level)
    passed = not skipped and abs(change) <= tolerance_db
    return TrackVerdict(
        track_id=t.track_id,
        name=t.name,
        passed=passed,
        skipped=skipped,
        meter=p.meter,
        level_db=level,
        target_db=p.target_db,
        true_peak_dbtp=t.levels.true_peak_dbtp,
        peak_ceiling_dbtp=p.peak_ceiling_dbtp,
        change_db=change,
        bound_by=bound,
        role=t.role,
        rule=t.rule,
        reason="silent or too short to measure" if skipped else _reason(level, change, bound, p, t, tolerance_db),
    )


def _reason(level: float, change: float, bound: Bound, p: Policy, t: TrackInput, tolerance_db: float) -> str:
    off = level - p.target_db
    where = f"{_db(level)} {_UNIT[p.meter]}, target {_db(p.target_db)} ±{tolerance_db:g} dB ({_db(off)} dB)"
    moves = "" if abs(change) <= tolerance_db else f"; would move {_db(change)} dB"
    if bound == Bound.PEAK_CEILING:
        peak = f"true peak {_db(t.levels.true_peak_dbtp)} dBTP, ceiling {_db(p.peak_ceiling_dbtp)} dBTP"
        return f"{where}; held by the ceiling: {peak}{moves}"
    if bound in (Bound.RANGE, Bound.BOOST_CAP):
        return f"{where}; held by the {bound}{moves}"
    return where if not moves else f"{where}: {'too loud' if off > 0 else 'too quiet'}"


def _master(peak_dbfs: float, headroom_dbfs: float) -> MasterVerdict:
    if not math.isfinite(peak_dbfs):
        return MasterVerdict(True, peak_dbfs, headroom_dbfs, "silent")
    passed = peak_dbfs <= headroom_dbfs + EPSILON_DB
    where = f"predicted peak {_db(peak_dbfs)} dBFS, headroom line {_db(headroom_dbfs)} dBFS"
    return MasterVerdict(passed, peak_dbfs, headroom_dbfs, where if passed else f"{where}: not enough headroom")


def _db(value: float) -> str:
    return f"{round(value, 1) + 0.0:+.1f}" if math.isfinite(value) else "-inf"  # + 0.0 turns -0.0 into 0.0


# ---------------------------------------------------------------- JUnit


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    """`text` with the characters XML 1.0 cannot hold (control characters, lone surrogates) replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


@dataclass(frozen=True, slots=True)
class CheckError:
    """A session that could not be checked (unreadable, not a session): it fails the check."""

    session: str
    error: str  # one line

    @property
    def passed(self) -> bool:
        return False


Checked = CheckResult | CheckError


def junit_xml(results: Sequence[Checked]) -> bytes:
    """JUnit XML (the schema Jenkins, GitLab and GitHub read): <testsuites>, one <testsuite> per session, one
    <testcase> per track plus one named "master"; <failure> or <skipped> with the reason; a session that could
    not be checked has one <testcase> named "session" with an <error>. UTF-8, deterministic."""
    root = ET.Element("testsuites", name="gainstager check")
    totals = [0, 0, 0, 0]
    for r in results:
        session = xml_safe(r.session)
        if isinstance(r, CheckError):
            suite = _suite(root, session, tests=1, failures=0, errors=1, skipped=0)
            case = ET.SubElement(suite, "testcase", classname=session, name="session", time="0")
            ET.SubElement(case, "error", message=xml_safe(r.error), type="not checked").text = xml_safe(r.error)
            totals[0], totals[2] = totals[0] + 1, totals[2] + 1
            continue
        names = Counter(t.name for t in r.tracks)
        cases = [(_case_name(t, names), t.passed, t.skipped, t.reason, _props(t)) for t in r.tracks]
        cases.append(("master", r.master.passed, False, r.master.reason, {}))
        failures = sum(not ok and not skip for _, ok, skip, _, _ in cases)
        skipped = sum(skip for _, _, skip, _, _ in cases)
        suite = _suite(root, session, tests=len(cases), failures=failures, errors=0, skipped=skipped)
        for name, ok, skip, reason, props in cases:
            case = ET.SubElement(suite, "testcase", classname=session, name=name, time="0")
            if props:
                pe = ET.SubElement(case, "properties")
                for k, v in props.items():
                    ET.SubElement(pe, "property", name=k, value=xml_safe(v))
            if skip:
                ET.SubElement(case, "skipped", message=xml_safe(reason))
            elif not ok:
                failure = ET.SubElement(case, "failure", message=xml_safe(reason), type="out of tolerance")
                failure.text = xml_safe(reason)
        totals = [totals[0] + len(cases), totals[1] + failures, totals[2], totals[3] + skipped]
    for key, total in zip(("tests", "failures", "errors", "skipped"), totals, strict=True):
        root.set(key, str(total))
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True)) + b"\n"


def _suite(root: ET.Element, name: str, **counts: int) -> ET.Element:
    return ET.SubElement(root, "testsuite", {"name": name, **{k: str(v) for k, v in counts.items()}, "time": "0"})


def _case_name(t: TrackVerdict, names: Counter[str]) -> str:
    """The track's name; with its id when another track has the same name, so CI lists both."""
    return xml_safe(t.name if names[t.name] == 1 else f"{t.name} [{t.track_id}]")


def _props(t: TrackVerdict) -> dict[str, str]:
    return {
        "role": t.role or "",
        "rule": t.rule,
        "level_db": _db(t.level_db),
        "target_db": _db(t.target_db),
        "bound_by": str(t.bound_by),
    }


# ---------------------------------------------------------------- JSON


def check_json(results: Sequence[Checked], tolerance_db: float) -> dict[str, Any]:
    """The versioned JSON document of `gainstager check --json` (schema.CHECK)."""
    return {
        "schema": SCHEMA_VERSION,
        "passed": all(r.passed for r in results),
        "tolerance_db": tolerance_db,
        "sessions": [_session_json(r) for r in results],
        "failed": sum(not r.passed for r in results),
    }


def _session_json(r: Checked) -> dict[str, Any]:
    if isinstance(r, CheckError):
        return {"path": r.session, "passed": False, "error": r.error, "tracks": [], "master": None}
    m = r.master
    return {
        "path": r.session,
        "passed": r.passed,
        "error": None,
        "tracks": [
            {
                "id": t.track_id,
                "name": t.name,
                "role": t.role,
                "rule": t.rule,
                "passed": t.passed,
                "skipped": t.skipped,
                "meter": str(t.meter),
                "level_db": _num(t.level_db),
                "target_db": t.target_db,
                "true_peak_dbtp": _num(t.true_peak_dbtp),
                "peak_ceiling_dbtp": t.peak_ceiling_dbtp,
                "change_db": round(t.change_db, 4),
                "bound_by": str(t.bound_by),
                "reason": t.reason,
            }
            for t in r.tracks
        ],
        "master": {
            "passed": m.passed,
            "peak_dbfs": _num(m.peak_dbfs),
            "headroom_dbfs": m.headroom_dbfs,
            "reason": m.reason,
        },
    }


def _num(value: float) -> float | None:
    return round(value, 4) if math.isfinite(value) else None  # null for -inf, as in every JSON document
