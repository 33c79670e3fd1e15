"""Check mode: verdicts per track and for the master on hand-made levels, and JUnit XML read back by a JUnit
parser (junitparser) and by the standard library."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml, Skipped

from gainstager.check import CheckResult, TrackInput, check_session, junit_xml
from gainstager.model import Levels
from gainstager.plan import Bound, MeterKind, Policy


def lv(rms: float, tp: float) -> Levels:
    return Levels(sample_peak_dbfs=tp - 0.3, true_peak_dbtp=tp, rms_dbfs=rms, gated_rms_dbfs=rms, duration_s=4.0)


def one(levels: Levels, policy: Policy | None = None, **kw: object) -> CheckResult:
    track = TrackInput("t1", "Vox", levels, policy or Policy(), **kw)  # type: ignore[arg-type]
    return check_session("song.rpp", [track], -12.0, -6.0)


@pytest.mark.parametrize(
    ("rms", "tp", "passed", "words"),
    [
        (-18.0, -8.0, True, ["-18.0 dBFS RMS, target -18.0 ±1 dB (+0.0 dB)"]),
        (-18.9, -8.0, True, ["(-0.9 dB)"]),
        (-19.2, -8.0, False, ["(-1.2 dB): too quiet"]),
        (-16.8, -8.0, False, ["(+1.2 dB): too loud"]),
        # 12 dB below the target, but the true peak is 0.4 dB under the ceiling: the ceiling holds it
        (-30.0, -6.4, True, ["held by the ceiling: true peak -6.4 dBTP, ceiling -6.0 dBTP"]),
        # on target, but its true peak is 4 dB over the ceiling: the planner would pull it down
        (-18.0, -2.0, False, ["held by the ceiling", "would move -4.0 dB"]),
    ],
)
def test_track_within_tolerance_or_held_by_its_ceiling(rms: float, tp: float, passed: bool, words: list[str]) -> None:
    r = one(lv(rms, tp))
    (t,) = r.tracks
    assert t.passed is passed and r.passed is passed and not t.skipped
    for w in words:
        assert w in t.reason
    assert r.problems() == ([] if passed else [f"Vox: {t.reason}"])


def test_each_track_on_its_own_meter_and_target() -> None:
    peak = Policy(meter=MeterKind.PEAK, target_db=-10.0)
    r = check_session(
        "song.rpp",
        [
            TrackInput("k", "Kick", lv(-30.0, -9.6), peak, role="kick"),  # sample peak -9.9: within 1 dB of -10
            TrackInput("b", "Bass", lv(-20.5, -9.0), Policy(target_db=-20.0), role="bass"),
            TrackInput("v", "Vox", lv(-20.0, -12.0), peak, role="vocal"),  # sample peak -12.3: 2.3 dB low
        ],
        -9.0,
        -6.0,
        tolerance_db=0.5,
    )
    assert [(t.name, t.passed) for t in r.tracks] == [("Kick", True), ("Bass", True), ("Vox", False)]
    assert r.tracks[2].reason.startswith("-12.3 dBFS peak, target -10.0 ±0.5 dB (-2.3 dB): too quiet")
    assert r.tracks[2].change_db == pytest.approx(2.3)
    assert not r.passed and r.master.passed


def test_planner_limits_hold_a_track() -> None:
    held = one(lv(-40.0, -30.0), planned=(0.0, Bound.BOOST_CAP))
    assert held.passed and "held by the boost-cap" in held.tracks[0].reason
    partly = one(lv(-40.0, -30.0), planned=(6.0, Bound.RANGE))
    assert not partly.passed and partly.tracks[0].reason.endswith("held by the range; would move +6.0 dB")


def test_silent_track_is_skipped_not_failed() -> None:
    r = one(Levels())
    assert r.tracks[0].skipped and not r.tracks[0].passed and r.passed


@pytest.mark.parametrize(
    ("peak", "passed"), [(-6.0, True), (-6.004, True), (-5.9, False), (-20.0, True), (-math.inf, True)]
)
def test_master_headroom(peak: float, passed: bool) -> None:
    r = check_session("song.rpp", [], peak, -6.0)
    assert r.master.passed is passed and r.passed is passed
    if not passed:
        assert r.problems() == ["master: predicted peak -5.9 dBFS, headroom line -6.0 dBFS: not enough headroom"]


def test_junit_is_read_by_a_junit_parser(tmp_path: Path) -> None:
    peak = Policy(meter=MeterKind.PEAK, target_db=-10.0)
    nasty = 'Gtr <L> & "R"\x01'
    a = check_session(
        "a <1>.rpp",
        [
            TrackInput("k", "Kick", lv(-30.0, -9.8), peak, role="kick", rule="name ~ built-in kick pattern"),
            TrackInput("g", nasty, lv(-25.0, -15.0), Policy()),
            TrackInput("s", "Silence", Levels(), Policy()),
        ],
        -4.0,
        -6.0,
    )
    pads = [TrackInput(f"p{i}", "Pad", lv(-18.2, -9.0), Policy()) for i in (1, 2)]
    b = check_session("b.als", pads, -7.0, -6.0)
    path = tmp_path / "check.xml"
    path.write_bytes(junit_xml([a, b]))

    xml = JUnitXml.fromfile(str(path))
    suites = {s.name: s for s in xml}
    assert set(suites) == {"a <1>.rpp", "b.als"}
    sa, sb = suites["a <1>.rpp"], suites["b.als"]
    assert (sa.tests, sa.failures, sa.skipped, sa.errors) == (4, 2, 1, 0)
    assert (sb.tests, sb.failures, sb.skipped) == (3, 0, 0)
    assert [c.name for c in sb] == ["Pad [p1]", "Pad [p2]", "master"]  # same names stay apart
    cases = {c.name: c for c in sa}
    assert set(cases) == {"Kick", 'Gtr <L> & "R"\ufffd', "Silence", "master"}
    assert cases["Kick"].is_passed
    gtr = cases['Gtr <L> & "R"\ufffd'].result
    assert len(gtr) == 1 and isinstance(gtr[0], Failure) and "too quiet" in (gtr[0].message or "")
    assert isinstance(cases["Silence"].result[0], Skipped)
    master = cases["master"].result
    assert isinstance(master[0], Failure) and "not enough headroom" in (master[0].message or "")
    assert all(c.is_passed for c in sb)

    root = ET.parse(path).getroot()  # the JUnit schema's shape: testsuites > testsuite > testcase
    assert root.tag == "testsuites" and root.get("tests") == "7" and root.get("failures") == "2"
    assert [len(s.findall("testcase")) for s in root.findall("testsuite")] == [4, 3]
    kick = root.find("testsuite/testcase[@name='Kick']")
    assert kick is not None
    props = {p.get("name"): p.get("value") for p in kick.iterfind("properties/property")}
    assert props["role"] == "kick" and props["rule"] == "name ~ built-in kick pattern"
    assert junit_xml([a, b]) == path.read_bytes()  # deterministic
