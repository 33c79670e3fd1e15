"""Roles: a role names a kind of track (kick, vocal, pad, ...) and sets its meter, target and true-peak
ceiling; a rule gives a role to the tracks whose name, or the name of an enclosing group, matches its pattern.
This module holds the built-in ones; a policy file adds its own and may replace their targets (`policy_file`).

The built-in role table (`BUILTIN_ROLES`) follows the practice collected in ../shared/docs/LANDSCAPE.md
("Conventions producers expect", refreshed 2026-11-28). The figures are peak or RMS in dBFS; each role keeps
the global true-peak ceiling of -6 dBTP ("peaks never above -6 dBFS": musicianonamission.com/gain-staging,
larslentzaudio.wordpress.com 2018/12/05):

* no role: -18 dBFS gated RMS, the -18 dBFS RMS = 0 VU convention (musicianonamission.com, theaudioowl.com,
  mixcoach.com part 6; range -20..-12): the `Policy` defaults.
* kick, snare: -10 dBFS sample peak. Kick and snare peak at -14..-8 dBFS with an 18-26 dB crest
  (cmuse.org/?p=71850); "-8..-10 on drums" (musicianonamission, larslentzaudio); "kick anchor -10 dB"
  (mixmasterforum.com t/1315). A peak meter because RMS/VU misleads on drums (theaudioowl).
* drums (toms, hats, overheads, percussion): -10 dBFS sample peak, the same drum figures.
* vocal: -10 dBFS sample peak, the middle of a close vocal's -12..-8 dBFS peaks, crest 12-18 dB (cmuse.org).
* bass, guitar: -20 dBFS gated RMS, the middle of the -22..-18 dBFS RMS where DI bass and guitars sit
  (cmuse.org; vi-control.net).
* synth: -8 dBFS sample peak, the middle of a synth's -10..-6 dBFS peaks, crest 6-12 dB (cmuse.org).
* pad (pads, strings): -22 dBFS gated RMS. Pads and strings sit below the DI instruments: fbs_targetGain's
  template puts strings 4 dB under guitars (-16 vs -12 LUFS-S, ryanfontane.gumroad.com), LANDSCAPE §5.7's
  example is -20 dBFS RMS; -22 is 2 dB under the DI middle, the low end of its range.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Literal

from .plan import MeterKind
from .policy_options import Setting

_GLOB = "glob:"
_START, _END = r"(?<![a-z])", r"(?![a-z])"  # letter boundaries: "Kick_In 2" and "Vox2" still match


def _words(prefixes: str, exact: str = "") -> str:
    """A built-in name pattern: words that start a word in the name, and abbreviations that are whole words."""
    pattern = f"{_START}(?:{prefixes})"
    return f"{pattern}|{_START}(?:{exact}){_END}" if exact else pattern


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    settings: tuple[Setting, ...]  # meter / target / peak-ceiling; the rest come from the global policy
    origin: str  # "built-in" or the policy file's path


@dataclass(frozen=True, slots=True)
class Rule:
    """A pattern that gives a role: on the track's name, or on the name of an enclosing group."""

    pattern: str  # as written
    role: str
    on: Literal["name", "group"]
    origin: str

    def matches(self, text: str) -> bool:
        if self.pattern.startswith(_GLOB):
            return re.fullmatch(fnmatch.translate(self.pattern[len(_GLOB) :]), text, re.IGNORECASE) is not None
        return re.search(self.pattern, text, re.IGNORECASE) is not None


def _builtin(name: str, meter: MeterKind, target_db: float, pattern: str) -> tuple[Role, Rule]:
    role = Role(name, (("meter", meter), ("target", target_db), ("peak-ceiling", -6.0)), "built-in")
    return role, Rule(pattern, name, "name", "built-in")


# Order matters: "bass drum" is a kick, "lead vocal" a vocal, "lead guitar" a guitar. Sources: module docstring.
_BUILTIN = (
    _builtin("kick", MeterKind.PEAK, -10.0, _words("kick|kik|bass ?drum", "bd")),
    _builtin("snare", MeterKind.PEAK, -10.0, _words("snare|snr", "sn|sd")),
    _builtin(
        "drums",
        MeterKind.PEAK,
        -10.0,
        _words("tom|hi-?hat|hat|overhead|cymbal|ride|crash|perc|drum|clap|shaker|tamb|conga|bongo|room", "oh|hh"),
    ),
    _builtin("vocal", MeterKind.PEAK, -10.0, _words("vox|voc|voice|choir|adlib|harmon|backing", "vx|bv|bgv|bvs")),
    _builtin("bass", MeterKind.RMS, -20.0, _words("bass|sub ?bass|808", "sub")),
    _builtin("guitar", MeterKind.RMS, -20.0, _words("guitar|gtr|gitarre")),
    _builtin("synth", MeterKind.PEAK, -8.0, _words("synth|lead|pluck|arp|keys")),
    _builtin("pad", MeterKind.RMS, -22.0, _words("pad|string|violin|viola|cello|ensemble", "str|strs")),
)
BUILTIN_ROLES: tuple[Role, ...] = tuple(role for role, _ in _BUILTIN)
BUILTIN_RULES: tuple[Rule, ...] = tuple(rule for _, rule in _BUILTIN)
