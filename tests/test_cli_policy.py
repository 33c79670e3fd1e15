"""--policy, --html and `check` on the command line (in-process): what the file sets and what the options
override, one-line errors for bad files, the HTML pages read back with an HTML parser, and check's exit codes,
text, JSON and JUnit for sessions that pass, fail or cannot be read."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import lxml.html
import pytest
from junitparser import Error, JUnitXml
from typer.testing import CliRunner

from fixtures.scenario import Clip, Scenario, Track, build, media_folder
from gainstager import schema
from gainstager.cli import app
from tests.test_cli import run, sine, song


def two_tracks(root: Path, fmt: str = "rpp") -> Path:
    """A kick 20 dB under the built-in kick target and a track no role matches, with a missing clip."""
    media = media_folder(root, fmt)
    sine(media / "kick.wav", 2.0, -33.0, freq=60.0)  # sample peak -30 dBFS
    sine(media / "fx.wav", 2.0, -24.0)
    tracks = (
        Track("Kick In", clips=(Clip("kick.wav", 0.0, 2.0),)),
        Track("Riser", clips=(Clip("fx.wav", 0.0, 2.0), Clip("gone.wav", 2.0, 1.0))),
    )
    return build(Scenario(tracks), fmt, 11, root)


def tracks_json(*args: str) -> dict[str, dict[str, object]]:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, schema.SESSION)
    return {t["name"]: t for t in doc["tracks"]}


def test_command_line_over_file_over_defaults(tmp_path: Path) -> None:
    path = two_tracks(tmp_path)
    team = tmp_path / "team.toml"
    team.write_text("target = -20.0\nheadroom = -3.0\n[targets.kick]\ntarget = -12.0\n", encoding="utf-8")
    plain = tracks_json("analyze", str(path))
    assert {n: (t["role"], t["meter"], t["target_db"]) for n, t in plain.items()} == {
        "Kick In": (None, "rms", -18.0),
        "Riser": (None, "rms", -18.0),
    }
    filed = tracks_json("analyze", str(path), "--policy", str(team))
    assert {n: (t["role"], t["meter"], t["target_db"]) for n, t in filed.items()} == {
        "Kick In": ("kick", "peak", -12.0),  # the built-in kick role (sample peak), its target from the file
        "Riser": (None, "rms", -20.0),  # no role: the file's global target
    }
    kick = next(c for c in json.loads(run("analyze", str(path), "--policy", str(team), "--json").stdout)["clips"])
    assert kick["new_clip_gain_db"] == pytest.approx(18.0, abs=0.02)  # -30 dBFS peak to -12
    # --target replaces every track's target, and its meter with the global one (a target is a number on a meter)
    given = tracks_json("analyze", str(path), "--policy", str(team), "--target", "-16")
    assert {(t["meter"], t["target_db"]) for t in given.values()} == {("rms", -16.0)}
    assert given["Kick In"]["role"] == "kick"  # still said
    doc = json.loads(run("analyze", str(path), "--policy", str(team), "--json").stdout)
    assert (doc["policy"]["headroom_db"], doc["policy"]["file"]) == (-3.0, str(team))
    doc = json.loads(run("analyze", str(path), "--policy", str(team), "--headroom", "-9", "--json").stdout)
    assert doc["policy"]["headroom_db"] == -9.0
    table = run("analyze", str(path), "--policy", str(team)).stdout
    assert f"policy file: {team}" in table
    assert re.search(r"^Kick In +audio +kick +-30\.0 +-12\.0 peak ", table, re.M), table


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("target = 5\n", (), "team.toml: target (5); expected -60 to 0 dB"),
        ('[roles]\n"vox" = "singer"\n', (), "team.toml: roles.vox ('singer'); expected a role with targets"),
        ("", ("--target", "3"), "--target (3.0); expected -60 to 0 dB"),
        ("", ("--sample-rate", "100"), "--sample-rate (100); expected 8000 to 768000 Hz"),
    ],
)
def test_bad_policy_exits_2_with_one_line(tmp_path: Path, content: str, args: tuple[str, ...], message: str) -> None:
    path = song(tmp_path)
    team = tmp_path / "team.toml"
    team.write_text(content, encoding="utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    for command in ("analyze", "apply", "check", "batch"):
        result = run(command, str(path), "--policy", str(team), *args)
        assert result.exit_code == 2 and result.stdout == "", (command, result.stdout)
        (line,) = result.stderr.splitlines()
        assert line.startswith("error: ") and message in line, line
    missing = run("analyze", str(path), "--policy", str(tmp_path / "nope.toml"))
    assert missing.exit_code == 2 and "nope.toml: cannot read the policy file" in missing.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_help_says_units_and_defaults() -> None:
    text = " ".join(run("apply", "--help").stdout.replace("│", " ").split())
    for default in ("-18 dB", "-6 dBTP", "-6 dBFS", "24 dB", "rms", "keep", "track"):
        assert f"(default: {default}, or the policy file's value)" in text, default
    assert "--policy FILE" in text and "--html FILE" in text
    check = " ".join(run("check", "--help").stdout.replace("│", " ").split())
    assert "--tolerance" in check and "[default: 1.0]" in check and "--junit FILE" in check


def _page(path: Path) -> lxml.html.HtmlElement:
    return lxml.html.document_fromstring(path.read_text(encoding="utf-8"))


def test_html_reports_of_analyze_apply_and_batch(tmp_path: Path) -> None:
    path = two_tracks(tmp_path / "a")
    analyzed = run("analyze", str(path), "--html", str(tmp_path / "a.html"))
    assert analyzed.exit_code == 0 and analyzed.stdout.startswith(str(path))  # the table is still printed
    page = _page(tmp_path / "a.html")
    assert [r.cssselect(".tname")[0].text_content() for r in page.cssselect("tr.track")] == ["Kick In", "Riser"]
    assert "analysis: nothing written" in page.cssselect("p.facts")[0].text_content()
    kick = page.cssselect("tr.track")[0].text_content()
    assert "-33.0 → -18.0 (+15.0)" in kick and "-30.0 → -15.0" in kick  # level and true peak, before → after
    skipped = [td.text_content() for td in page.cssselect("table.skipped td")]
    assert skipped[:2] == ["Riser", "gone.wav"] and "not found" in skipped[2]
    policy = dict(zip(page.xpath("//dl/dt/text()"), page.xpath("//dl/dd/text()"), strict=True))
    assert policy["target"] == "-18 dB" and policy["policy file"].startswith("none")

    out = tmp_path / "a" / "out.rpp"
    applied = run("apply", str(path), "-o", str(out), "--html", str(tmp_path / "b.html"), "--json")
    assert applied.exit_code == 0 and json.loads(applied.stdout)["output"]["path"] == str(out)
    assert f"wrote {out}" in _page(tmp_path / "b.html").cssselect("p.facts")[0].text_content()

    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "junk.rpp").write_bytes(b"<REAPER_PROJECT\n")
    song(tmp_path / "c")
    dry = tmp_path / "dry.html"
    batch = run("batch", str(tmp_path / "c"), str(tmp_path / "junk"), "--dry-run", "-j", "1", "--html", str(dry))
    assert batch.exit_code == 1  # the junk session fails; the report is still written
    assert "dry run: nothing written" in _page(dry).cssselect("section#s1 p.facts")[0].text_content()
    batch = run("batch", str(tmp_path / "c"), str(tmp_path / "junk"), "-j", "1", "--html", str(tmp_path / "c.html"))
    page = _page(tmp_path / "c.html")
    rows = page.cssselect("table.sessions tr.session")
    assert [r.cssselect("td")[0].text_content() for r in rows] == [
        str(tmp_path / "c" / "song.rpp"),
        str(tmp_path / "junk" / "junk.rpp"),
    ]
    assert len(page.cssselect("tr.failed")) == 1 and len(page.cssselect("section.session")) == 1
    assert len(page.cssselect("section#s1 tr.track")) == 1
    again = run("batch", str(tmp_path / "c"), str(tmp_path / "junk"), "-j", "1", "--html", str(tmp_path / "d.html"))
    assert again.exit_code == 1 and "resuming: 1 of 2 sessions already done" in again.stderr
    page = _page(tmp_path / "d.html")  # the journal keeps no full report: a row says what the earlier run did
    (earlier,) = page.cssselect("tr.earlier")
    assert f"written: {tmp_path / 'c' / 'song.gainstaged.rpp'}" in earlier.text_content()
    assert len(page.cssselect("tr.failed")) == 1 and page.cssselect("section.session") == []

    nowhere = run("analyze", str(path), "--html", str(tmp_path / "no" / "such" / "r.html"))
    assert nowhere.exit_code == 1 and "r.html: cannot write" in nowhere.stderr


def test_check_exit_codes_text_json_and_junit(tmp_path: Path) -> None:
    path = two_tracks(tmp_path / "a")
    junk = tmp_path / "junk.als"
    junk.write_bytes(b"not a Live set")
    junit = tmp_path / "check.xml"
    result = run("check", str(path), str(junk), "--junit", str(junit))
    assert result.exit_code == 1
    (error,) = result.stderr.splitlines()
    assert error.startswith(f"error: {junk}")
    lines = result.stdout.splitlines()
    head = f"FAIL  {path}: 0 of 2 staged tracks within ±1 dB of their targets; master predicted peak "
    assert re.fullmatch(re.escape(head) + r"-\d+\.\d dBFS, headroom line -6\.0 dBFS", lines[0]), lines[0]
    assert lines[1] == "      Kick In: -33.0 dBFS RMS, target -18.0 ±1 dB (-15.0 dB): too quiet"
    assert lines[2] == "      Riser: -24.0 dBFS RMS, target -18.0 ±1 dB (-6.0 dB): too quiet"
    assert lines[3].startswith(f"FAIL  {junk}: not checked (")
    assert lines[-1] == "0 of 2 sessions pass"
    suites = {s.name: s for s in JUnitXml.fromfile(str(junit))}
    assert (suites[str(path)].tests, suites[str(path)].failures) == (3, 2)
    (case,) = suites[str(junk)]
    assert case.name == "session" and isinstance(case.result[0], Error)

    # a wide tolerance and a policy that fits: it passes; a tolerance out of range is a usage error
    assert run("check", str(path), "--tolerance", "16").exit_code == 0
    assert run("check", str(path), "--tolerance", "-1").exit_code == 2
    doc = json.loads(run("check", str(path), "--tolerance", "16", "--json").stdout)
    jsonschema.validate(doc, schema.CHECK)
    assert doc["passed"] and doc["failed"] == 0 and doc["sessions"][0]["master"]["passed"]
    doc = json.loads(run("check", str(junk), "--json").stdout)
    jsonschema.validate(doc, schema.CHECK)
    assert doc["sessions"] == [
        {"path": str(junk), "passed": False, "error": doc["sessions"][0]["error"], "tracks": [], "master": None}
    ]


def test_help_paragraphs_are_wrapped_to_the_terminal_and_keep_their_globs() -> None:
    """A command's docstring is re-wrapped as paragraphs: at 400 columns each paragraph of `batch --help` is one
    line (the source's line breaks do not show), and the glob patterns survive the markup."""
    shown = CliRunner().invoke(app, ["batch", "--help"], env={"COLUMNS": "400"}).stdout
    lines = [line.strip() for line in shown.splitlines()]
    discovery = [line for line in lines if line.startswith("Discovery skips")]
    assert len(discovery) == 1
    assert "REAPER's *.rpp-bak, *.RPP-UNDO and Backups/, our *.gainstaged.* outputs" in discovery[0]
    assert discovery[0].endswith("Symlinked folders are followed once.")
