"""Policy files: which role and targets each track gets, the precedence of command line, file and defaults,
and one-line errors for bad files."""

from __future__ import annotations

import pickle
import re
import tomllib
from pathlib import Path

import pytest

from gainstager.errors import PlanError
from gainstager.model import Session, Track, TrackKind
from gainstager.plan import Faders, MeterKind, Per, Policy
from gainstager.policy_file import (
    Policies,
    PolicyFile,
    TrackPolicy,
    load,
    parse,
    resolve,
)
from gainstager.policy_options import describe
from gainstager.roles import BUILTIN_ROLES


def session(*tracks: Track) -> Session:
    return Session("song.rpp", "rpp", "7", tuple(tracks), (), Track("master", "Master", TrackKind.MASTER))


def audio(track_id: str, name: str, parent: str | None = None) -> Track:
    return Track(track_id, name, TrackKind.AUDIO, parent_id=parent)


BAND = session(
    Track("g1", "Drums", TrackKind.GROUP),
    Track("g2", "Close mics", TrackKind.GROUP, parent_id="g1"),
    audio("t1", "Kick In", "g2"),
    audio("t2", "Snare Top", "g2"),
    audio("t3", "Thing 7", "g2"),  # only its folders say what it is
    audio("t4", "Bass DI"),
    audio("t5", "Lead Vox"),
    audio("t6", "Pad Strings"),
    audio("t7", "Rainstick"),
)


def by_name(pf: PolicyFile | None, given: dict[str, object] | None = None, s: Session = BAND) -> dict[str, TrackPolicy]:
    return {t.name: t for t in resolve(s, pf, given).tracks}


def targets(pf: PolicyFile | None, given: dict[str, object] | None = None) -> dict[str, tuple[str | None, str, float]]:
    """name -> (role, meter, target)"""
    return {
        t.name: (t.role, str(t.policy.meter), t.policy.target_db)
        for t in resolve(BAND, pf, given).tracks
        if t.name not in ("Drums", "Close mics")
    }


def test_without_a_policy_file_one_policy_for_all() -> None:
    r = resolve(BAND, None)
    assert r.policy == Policy()
    assert {t.policy for t in r.tracks} == {Policy()} and {t.role for t in r.tracks} == {None}
    given = resolve(BAND, None, {"target": -20.0, "meter": MeterKind.LUFS})
    assert {t.policy for t in given.tracks} == {Policy(meter=MeterKind.LUFS, target_db=-20.0)}


def test_builtin_roles_follow_common_practice() -> None:
    assert targets(parse("", "empty.toml")) == {
        "Kick In": ("kick", "peak", -10.0),
        "Snare Top": ("snare", "peak", -10.0),
        "Thing 7": (None, "rms", -18.0),  # the built-in patterns look at names only
        "Bass DI": ("bass", "rms", -20.0),
        "Lead Vox": ("vocal", "peak", -10.0),
        "Pad Strings": ("pad", "rms", -22.0),
        "Rainstick": (None, "rms", -18.0),
    }
    assert {r.name for r in BUILTIN_ROLES} >= {"kick", "snare", "bass", "vocal", "pad"}
    assert all(dict(r.settings)["peak-ceiling"] == -6.0 for r in BUILTIN_ROLES)
    rule = by_name(parse("", "empty.toml"))["Kick In"]
    assert rule.rule == "name ~ built-in kick pattern"


def test_file_rules_come_first_then_groups_then_builtin() -> None:
    pf = parse(
        """
        [roles]
        "^snare" = "drums"          # a regex, case-insensitive, searched in the name
        "glob:*stick" = "drums"     # a glob for the whole name
        [groups]
        "^close" = "kick"           # the nearest enclosing folder is asked first...
        "^drums$" = "snare"         # ...then the next one out
        """,
        "team.toml",
    )
    got = by_name(pf)
    assert [(n, got[n].role, got[n].rule) for n in ("Snare Top", "Rainstick", "Thing 7", "Kick In")] == [
        ("Snare Top", "drums", 'name ~ "^snare" (team.toml [roles])'),
        ("Rainstick", "drums", 'name ~ "glob:*stick" (team.toml [roles])'),
        ("Thing 7", "kick", 'group "Close mics" ~ "^close" (team.toml [groups])'),
        ("Kick In", "kick", 'group "Close mics" ~ "^close" (team.toml [groups])'),
    ]
    assert got["Bass DI"].rule == "name ~ built-in bass pattern"
    off = by_name(parse('builtin-roles = false\n[roles]\n"vox" = "vocal"', "team.toml"))
    assert off["Lead Vox"].role == "vocal" and off["Bass DI"].role is None


def test_role_targets_and_track_overrides() -> None:
    pf = parse(
        """
        target = -20.0
        peak-ceiling = -3.0
        [targets.vocal]
        target = -12.0               # meter stays the built-in "peak"
        [targets.fx]
        meter = "lufs"               # a new role: its target falls back to the file's global -20
        [roles]
        "rain" = "fx"
        [tracks."Pad Strings"]
        target = -25.0               # keeps its role (pad, rms), changes the number
        [tracks."Bass DI"]
        role = "fx"
        """,
        "team.toml",
    )
    got = by_name(pf)
    vox, fx, pad, bass = (got[n].policy for n in ("Lead Vox", "Rainstick", "Pad Strings", "Bass DI"))
    assert (vox.meter, vox.target_db, vox.peak_ceiling_dbtp) == (MeterKind.PEAK, -12.0, -6.0)
    assert (fx.meter, fx.target_db, fx.peak_ceiling_dbtp) == (MeterKind.LUFS, -20.0, -3.0)
    assert (pad.meter, pad.target_db) == (MeterKind.RMS, -25.0)
    assert got["Pad Strings"].rule == 'name ~ built-in pad pattern; track "Pad Strings" (team.toml [tracks])'
    assert (got["Bass DI"].role, bass.meter) == ("fx", MeterKind.LUFS)
    assert got["Bass DI"].rule == 'track "Bass DI" (team.toml [tracks])'
    exact = by_name(parse('[tracks."lead vox"]\ntarget = -30.0', "t.toml"))
    assert exact["Lead Vox"].policy.target_db == -10.0  # exact names only: "lead vox" is another track


def test_command_line_over_file_over_defaults() -> None:
    pf = parse('headroom = -3.0\nmax-boost = 12.0\nper = "clip"\nfaders = "unity"', "team.toml")
    r = resolve(BAND, pf, {"headroom": -9.0})
    assert r.policy == Policy(headroom_dbfs=-9.0, max_boost_db=12.0, per=Per.CLIP, faders=Faders.UNITY)
    assert all(t.policy.max_boost_db == 12.0 and t.policy.headroom_dbfs == -9.0 for t in r.tracks)
    # A ceiling on the command line replaces every role's ceiling, and says so.
    ceiling = by_name(pf, {"peak-ceiling": -1.0})
    assert ceiling["Kick In"].policy.peak_ceiling_dbtp == -1.0
    assert ceiling["Kick In"].overridden == ("peak-ceiling",)
    assert ceiling["Kick In"].policy.meter == MeterKind.PEAK
    # A target is a number on a meter: --target alone replaces the role's meter too (with the global one).
    assert set(targets(pf, {"target": -16.0}).values()) == {
        ("kick", "rms", -16.0),
        ("snare", "rms", -16.0),
        ("bass", "rms", -16.0),
        ("vocal", "rms", -16.0),
        ("pad", "rms", -16.0),
        (None, "rms", -16.0),
    }
    assert by_name(pf, {"meter": "lufs"})["Kick In"].overridden == ("meter", "target")


def test_policies_carry_a_run_to_every_session(tmp_path: Path) -> None:
    """What the command line hands the pipeline: the file and the options typed, resolved per session."""
    f = tmp_path / "team.toml"
    f.write_text("sample-rate = 44100\nheadroom = -3.0\n[targets.kick]\ntarget = -12.0\n", encoding="utf-8")
    policies = Policies.read(str(f), {"max-boost": 6.0})
    assert policies.policy == Policy(sample_rate_hz=44100, headroom_dbfs=-3.0, max_boost_db=6.0)
    resolution = policies.resolve(BAND)
    assert resolution.file == str(f)
    kick = next(t for t in resolution.tracks if t.name == "Kick In")
    assert (kick.role, kick.policy.target_db, kick.policy.max_boost_db) == ("kick", -12.0, 6.0)
    assert pickle.loads(pickle.dumps(policies)) == policies  # a batch sends it to its worker processes
    with pytest.raises(PlanError, match=r"^--sample-rate \(44100\.0\); expected a whole number$"):
        Policies.read(None, {"sample-rate": 44100.0})
    # One Policy for every track: the same policy back, and no role anywhere.
    one = Policy(meter=MeterKind.LUFS, target_db=-20.0, per=Per.CLIP, sample_rate_hz=96000)
    fixed = Policies.fixed(one).resolve(BAND)
    assert fixed.policy == one and {t.policy for t in fixed.tracks} == {one} and fixed.file is None
    assert {(t.role, t.rule) for t in fixed.tracks} == {(None, "no policy file: global")}


def test_load_reads_the_file(tmp_path: Path) -> None:
    f = tmp_path / "team.toml"
    f.write_text('meter = "LUFS"\ntarget = -23\n[roles]\n"vox" = "vocal"\n', encoding="utf-8")
    pf = load(str(f))
    assert pf.path == str(f) and resolve(BAND, pf).policy == Policy(meter=MeterKind.LUFS, target_db=-23.0)
    assert [f.name for f in tmp_path.iterdir()] == ["team.toml"]


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("target = 5", ["team.toml: target (5); expected -60 to 0 dB"]),
        ('target = "loud"', ["team.toml: target ('loud'); expected a number"]),
        ("target = true", ["team.toml: target (True); expected a number"]),
        ("peak-ceiling = -80.5", ["team.toml: peak-ceiling (-80.5); expected -60 to 0 dBTP"]),
        ("max-boost = 60", ["team.toml: max-boost (60); expected 0 to 48 dB"]),
        ('meter = "vu"', ["team.toml: meter ('vu'); expected one of rms, lufs, peak, true-peak"]),
        ('faders = "down"', ["faders ('down'); expected one of keep, unity"]),
        ("tagret = -20", ["team.toml: unknown key tagret (-20); expected one of meter, target"]),
        ("[targets.kick]\ntarget = 3.5", ["team.toml: targets.kick.target (3.5); expected -60 to 0 dB"]),
        ("[targets.kick]\nper = 'clip'", ["unknown key targets.kick.per ('clip'); expected one of meter, target"]),
        ('[roles]\n"vox" = "vocals"', ["team.toml: roles.vox ('vocals'); expected a role with targets: kick,"]),
        ('[roles]\n"kick|(" = "kick"', ['team.toml: roles."kick|(" (not a regular expression: missing )']),
        ('[groups]\n"x" = 3', ["team.toml: groups.x (3); expected a role with targets"]),
        ('[tracks."Lead Vox"]\ntarget = -99', ['team.toml: tracks."Lead Vox".target (-99); expected -60 to 0 dB']),
        ('[tracks."Lead Vox"]\nrole = "choir"', ["tracks.\"Lead Vox\".role ('choir'); expected a role"]),
        ("builtin-roles = 1", ["team.toml: builtin-roles (1); expected true or false"]),
        ("sample-rate = 44100.5", ["team.toml: sample-rate (44100.5); expected a whole number"]),
        ("sample-rate = 1000", ["team.toml: sample-rate (1000); expected 8000 to 768000 Hz"]),
        ("roles = 3", ["team.toml: roles (3); expected a table"]),
        ("meter = \n", ["team.toml:1: not valid TOML (Invalid value); expected a TOML policy file"]),
        (
            'target = -18\n[roles]\n"a" = "kick"\n"a" = "snare"',
            ["team.toml: not valid TOML (Cannot overwrite a value); expected"],
        ),
    ],
)
def test_a_bad_file_gets_one_line_naming_key_value_and_range(tmp_path: Path, text: str, fragments: list[str]) -> None:
    f = tmp_path / "team.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(PlanError) as info:
        load(str(f))
    message = str(info.value).replace(str(tmp_path) + "/", "")
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match=r"missing\.toml: cannot read the policy file"):
        load(str(tmp_path / "missing.toml"))
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"target = -18 # caf\xe9\n")
    with pytest.raises(PlanError, match=r"latin\.toml: not UTF-8 text \(byte 18\); expected a TOML policy file"):
        load(str(latin))


def test_bad_command_line_values_name_the_option() -> None:
    with pytest.raises(PlanError, match=r"^--target \(3\.0\); expected -60 to 0 dB$"):
        resolve(BAND, None, {"target": 3.0})
    with pytest.raises(PlanError, match=r"^--loudness \(1\); expected one of --meter"):
        resolve(BAND, None, {"loudness": 1})


def test_describe_names_options_as_the_command_line_does() -> None:
    assert describe(Policy(meter=MeterKind.LUFS, target_db=-23.0, faders=Faders.UNITY)) == (
        ("meter", "lufs"),
        ("target", "-23 dB"),
        ("peak-ceiling", "-6 dBTP"),
        ("per", "track"),
        ("faders", "unity"),
        ("headroom", "-6 dBFS"),
        ("max-boost", "24 dB"),
        ("sample-rate", "the session's"),
    )
    assert describe(Policy(sample_rate_hz=44100))[-1] == ("sample-rate", "44100 Hz")


def test_the_readme_example_is_the_demo_policy_and_is_valid() -> None:
    """The README shows fixtures/demo/policy.toml; both say the same, and our reader accepts it."""
    repo = Path(__file__).resolve().parent.parent
    (example,) = re.findall(r"```toml\n(.*?)```", (repo / "README.md").read_text(encoding="utf-8"), re.S)
    demo = repo / "fixtures" / "demo" / "policy.toml"
    assert tomllib.loads(example) == tomllib.loads(demo.read_text(encoding="utf-8"))
    pf = load(str(demo))
    assert [r.pattern for r in pf.rules if r.origin == str(demo)] == ["scratch|guide"]
    assert dict(pf.role("vocal").settings)["target"] == -12.0
