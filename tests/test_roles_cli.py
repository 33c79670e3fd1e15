"""Roles, HTML and check through the real command line, on both formats: a generated session with kick, snare,
bass, vocal and pad tracks (fixtures/scenario.py), a policy file, `apply --policy --html`, then the WRITTEN
session read back without gainstager (its gains from the bytes: regular expressions on the REAPER text, lxml on
the Live XML) and each track's level computed with numpy and scipy from the audio and that gain; then `check`
fails on the original and passes on the output, and its JUnit XML is read by junitparser."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import jsonschema
import lxml.etree
import lxml.html
import numpy as np
import pytest
from junitparser import Failure, JUnitXml

from fixtures.scenario import Clip, Scenario, Track, build, media_folder
from gainstager import schema
from gainstager.audio import write
from gainstager.model import Levels
from tests.conftest import cli
from tests.test_roles_staging import EXPECTED, POLICY, RATE, SECONDS, meter, reference_levels, signals

FORMATS = [("rpp", 7), ("als", 11)]


def written_gains_db(path: Path) -> dict[str, tuple[float, float]]:
    """track name -> (clip gain dB, fader dB), read from the written bytes without gainstager's parsers."""
    data = path.read_bytes()
    out = {}
    if path.suffix == ".rpp":
        for block in data.decode().split("<TRACK")[1:]:
            name = re.search(r'^\s*NAME "([^"]*)"', block, re.M)
            fader = re.search(r"^    VOLPAN (\S+)", block, re.M)  # track: VOLPAN volume pan ...
            take = re.search(r"^      VOLPAN \S+ \S+ (\S+)", block, re.M)  # item: VOLPAN item pan take ...
            assert name and fader and take
            out[name.group(1)] = (20 * np.log10(float(take.group(1))), 20 * np.log10(float(fader.group(1))))
    else:
        root = lxml.etree.fromstring(gzip.decompress(data))
        for element in root.iter("AudioTrack"):
            volumes = element.xpath(".//MainSequencer//AudioClip/SampleVolume/@Value")  # linear
            faders = element.xpath("DeviceChain/Mixer/Volume/Manual/@Value")
            label = element.find("Name/EffectiveName")
            assert isinstance(volumes, list) and isinstance(faders, list) and len(volumes) == len(faders) == 1
            assert label is not None
            out[str(label.get("Value"))] = (20 * np.log10(float(str(volumes[0]))), 20 * np.log10(float(str(faders[0]))))
    return out


@pytest.fixture(params=FORMATS, ids=[f"{f}{v}" for f, v in FORMATS])
def band(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path, dict[str, np.ndarray]]:
    fmt, version = request.param
    audio = signals(np.random.default_rng(12))
    media = media_folder(tmp_path, fmt)
    for name, x in audio.items():
        write(str(media / f"{name}.wav"), x[:, None].astype(np.float32), RATE, subtype="FLOAT")
    tracks = tuple(Track(name, clips=(Clip(f"{name}.wav", 0.0, SECONDS),)) for name in audio)
    path = build(Scenario(tracks), fmt, version, tmp_path)
    team = tmp_path / "team.toml"
    team.write_text(POLICY, encoding="utf-8")
    return path, team, {k: v.astype(np.float32).astype(np.float64) for k, v in audio.items()}


def test_apply_stages_each_role_to_its_target_and_check_agrees(
    tmp_path: Path, band: tuple[Path, Path, dict[str, np.ndarray]]
) -> None:
    path, team, audio = band
    out, page = path.with_name(f"staged{path.suffix}"), tmp_path / "report.html"
    applied = cli("apply", str(path), "--policy", str(team), "-o", str(out), "--html", str(page), "--json")
    assert applied.returncode == 0, applied.stderr
    doc = json.loads(applied.stdout)
    jsonschema.validate(doc, schema.SESSION)
    assert doc["policy"]["file"] == str(team)
    assert {t["name"]: (t["role"], t["meter"], t["target_db"]) for t in doc["tracks"]} == {
        name: (role, str(kind), target) for name, (role, kind, target) in EXPECTED.items()
    }
    rules = {t["name"]: t["rule"] for t in doc["tracks"]}
    assert rules["Kick"] == "name ~ built-in kick pattern"
    assert rules["Pad"] == f"name ~ built-in pad pattern; track Pad ({team} [tracks])"

    gains = written_gains_db(out)
    assert set(gains) == set(EXPECTED)
    for name, (_, kind, target) in EXPECTED.items():
        gain_db, fader_db = gains[name]
        before: Levels = reference_levels(audio[name])
        after: Levels = reference_levels(audio[name] * 10 ** (gain_db / 20))
        assert meter(before, kind) < target - 5, name  # every track starts far from its target
        assert meter(after, kind) == pytest.approx(target, abs=0.05), name  # and ends on it, on its own meter
        assert after.true_peak_dbtp < -6.0, name  # under the ceiling
        assert fader_db == pytest.approx(-gain_db, abs=0.01), name  # faders keep the balance

    # the HTML report: one bar pair per track, each with the role that set its target
    html: lxml.html.HtmlElement = lxml.html.document_fromstring(page.read_text(encoding="utf-8"))
    rows = html.cssselect("tr.track")
    assert [r.cssselect(".tname")[0].text_content() for r in rows] == list(EXPECTED)
    assert [r.cssselect("td.role")[0].text_content() for r in rows] == [role for role, _, _ in EXPECTED.values()]
    assert all(len(r.cssselect("rect.bar-before")) == len(r.cssselect("rect.bar-after")) == 1 for r in rows)
    assert f"wrote {out}" in html.cssselect("p.facts")[0].text_content()

    # check: the original fails (every track is off its target), the written session passes
    junit = tmp_path / "original.xml", tmp_path / "staged.xml"
    original = cli("check", str(path), "--policy", str(team), "--junit", str(junit[0]))
    staged = cli("check", str(out), "--policy", str(team), "--junit", str(junit[1]))
    assert original.returncode == 1 and staged.returncode == 0, (original.stderr, staged.stderr)
    assert original.stdout.startswith(f"FAIL  {path}: 0 of 5 staged tracks within ±1 dB")
    for name in EXPECTED:
        assert re.search(rf"^      {name}: .*too quiet$", original.stdout, re.M), (name, original.stdout)
    assert staged.stdout.startswith(f"PASS  {out}: 5 of 5 staged tracks within ±1 dB")
    assert original.stderr == staged.stderr == ""
    for xml, failures in zip(junit, (5, 0), strict=True):
        (suite,) = JUnitXml.fromfile(str(xml))
        assert (suite.tests, suite.failures, suite.errors) == (6, failures, 0)
        cases = {c.name: c for c in suite}
        assert set(cases) == {*EXPECTED, "master"} and cases["master"].is_passed
        assert all(isinstance(r, Failure) for c in cases.values() for r in c.result)

    as_json = cli("check", str(path), str(out), "--policy", str(team), "--json")
    report = json.loads(as_json.stdout)
    jsonschema.validate(report, schema.CHECK)
    assert as_json.returncode == 1 and [s["passed"] for s in report["sessions"]] == [False, True]
    assert report["failed"] == 1 and report["tolerance_db"] == 1.0
    kick = next(t for t in report["sessions"][0]["tracks"] if t["name"] == "Kick")
    assert (kick["role"], kick["meter"], kick["target_db"], kick["passed"]) == ("kick", "peak", -10.0, False)
    assert kick["change_db"] == pytest.approx(14.0, abs=0.05)  # generated 14 dB under its -10 dBFS peak target
