"""Policy files (TOML): every command-line option, plus roles with their own targets and per-track overrides.

Pure: `parse` takes the file's text, `load` only reads it. Resolving a session gives, per track, the `Policy`
the planner uses for it, the role it got and the rule that decided it::

    # the command-line options, named as on the command line without "--"
    meter = "rms"              # rms | lufs | peak | true-peak
    target = -18.0             # dB on that meter, -60..0
    peak-ceiling = -6.0        # dBTP, -60..0
    per = "track"              # track | clip
    faders = "keep"            # keep | unity
    headroom = -6.0            # dBFS, -60..0 (always one value for the whole session)
    max-boost = 24.0           # dB, 0..48
    sample-rate = 48000        # Hz, for sessions that do not force a rate (default: the session's own)
    builtin-roles = true       # after the rules below, try the built-in name patterns (`roles`)

    [roles]                    # track-name pattern -> role; the first match wins
    "kick|bd" = "kick"         # a regular expression, searched anywhere in the name, case-insensitive
    "glob:*vox*" = "vocal"     # glob: a shell pattern for the whole name, case-insensitive

    [groups]                   # pattern for the name of any enclosing group or folder -> role (after [roles])
    "^drums$" = "drums"

    [targets.vocal]            # a role's meter, target and ceiling; a built-in role's values are replaced
    meter = "peak"             # key by key, a new role starts from the global values above
    target = -12.0

    [tracks."Lead Vox"]        # one track, by its exact name: a role and/or meter, target, ceiling
    role = "vocal"
    target = -9.0

Precedence, lowest first: built-in defaults < the file's global options < the role's targets < the track's
entry < options given on the command line. A command-line option applies to every track; because a target is
a number on a meter, a command-line ``--meter`` or ``--target`` replaces both for every track (the other half
from the file's global value or the default). Without a policy file nothing here applies: one policy for all.

Which role a track gets: its ``[tracks."NAME"]`` role, else the first ``[roles]`` pattern matching its name,
else the first ``[groups]`` pattern matching the name of an enclosing group (nearest first), else the first
built-in name pattern (unless ``builtin-roles = false``), else none (the global policy).

The built-in roles, with the sources of their targets, are in `roles`; the options' names and values in
`policy_options`.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from . import files
from .errors import PlanError
from .model import Session, Track, TrackKind
from .plan import Policy
from .policy_options import OPTIONS, TARGET_OPTIONS, Setting, option_value
from .roles import _GLOB, BUILTIN_ROLES, BUILTIN_RULES, Role, Rule

MAX_POLICY_BYTES = 1 << 20  # a policy file is a few KiB of TOML; 1 MiB is far beyond any
_PAIRED = ("meter", "target")  # a target is a number on a meter: the command line replaces both


@dataclass(frozen=True, slots=True)
class TrackOverride:
    name: str  # exact track name
    role: str | None
    settings: tuple[Setting, ...]


@dataclass(frozen=True, slots=True)
class PolicyFile:
    """A parsed, validated policy file. ``parse("", path)`` is the built-in defaults."""

    path: str
    options: tuple[Setting, ...] = ()  # the file's global options
    rules: tuple[Rule, ...] = BUILTIN_RULES  # the file's [roles], then its [groups], then (maybe) the built-in ones
    roles: tuple[Role, ...] = BUILTIN_ROLES  # every role a rule or a track may name, with its targets
    tracks: tuple[TrackOverride, ...] = ()

    def role(self, name: str) -> Role:
        return next(r for r in self.roles if r.name == name)


@dataclass(frozen=True, slots=True)
class TrackPolicy:
    """What applies to one track, and why (for the report and the JSON)."""

    track_id: str
    name: str
    policy: Policy
    role: str | None  # None: no role, the global policy
    rule: str  # which rule gave the role, e.g. 'name ~ "kick|bd" (team.toml [roles])'
    overridden: tuple[str, ...] = ()  # options the command line set over the role's or the track's values


@dataclass(frozen=True, slots=True)
class Resolution:
    policy: Policy  # the global policy: the file's options and the command line's over the defaults
    tracks: tuple[TrackPolicy, ...]  # one per track of the session (the master excluded), in session order
    file: str | None = None  # the policy file's path

    def track_policies(self) -> dict[str, Policy]:
        """Track id -> policy, for `plan.plan(track_policies=...)`."""
        return {t.track_id: t.policy for t in self.tracks}


@dataclass(frozen=True, slots=True)
class Policies:
    """What a run was told: a policy file (or none) and the options given on the command line, checked. Small and
    picklable: a batch hands it to its workers, and each session is resolved on its own (`resolve`)."""

    file: PolicyFile | None = None
    given: tuple[Setting, ...] = ()  # (option as on the command line, value), only the options typed

    @classmethod
    def read(cls, path: str | None, given: Mapping[str, object] | None = None) -> Policies:
        """Load the policy file at `path` (None: no file) and check the `given` options; PlanError if bad."""
        return cls(load(path) if path is not None else None, _given(given))

    @classmethod
    def fixed(cls, policy: Policy) -> Policies:
        """One policy for every track, as if each of its options had been given on the command line."""
        values = ((option, getattr(policy, name)) for option, name in OPTIONS.items())
        return cls(None, tuple((option, value) for option, value in values if value is not None))

    @property
    def policy(self) -> Policy:
        return global_policy(self.file, dict(self.given))

    def resolve(self, session: Session) -> Resolution:
        return resolve(session, self.file, dict(self.given))


# ---------------------------------------------------------------- reading


def load(path: str) -> PolicyFile:
    """Read and parse a policy file; a PlanError of one line for anything wrong with it."""
    try:
        data = files.read_regular(path, MAX_POLICY_BYTES)
    except OSError as exc:
        raise PlanError(f"{path}: cannot read the policy file ({exc.strerror or exc})") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlanError(f"{path}: not UTF-8 text (byte {exc.start}); expected a TOML policy file") from exc
    return parse(text, path)


def parse(text: str, path: str) -> PolicyFile:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib (3.11) ends its message with the place: "(at line 3, column 5)" or "(at end of document)"
        m = re.search(r"\((?:at line (\d+), column \d+|at end of document)\)$", str(exc))
        what = str(exc)[: m.start()].strip() if m else str(exc)
        where = f"{path}:{m.group(1)}" if m and m.group(1) else path
        raise PlanError(f"{where}: not valid TOML ({what}); expected a TOML policy file") from exc
    keys = (*OPTIONS, "builtin-roles", "roles", "groups", "targets", "tracks")
    _known(doc, keys, path, "")
    options = _settings(doc, tuple(OPTIONS), path, "")
    builtin = doc.get("builtin-roles", True)
    if not isinstance(builtin, bool):
        raise PlanError(f"{path}: builtin-roles ({builtin!r}); expected true or false")
    roles = {r.name: r for r in BUILTIN_ROLES}
    for name, table in _table(doc, "targets", path).items():
        where = f"targets.{_key(name)}"
        if not isinstance(table, dict):
            raise PlanError(f"{path}: {where} ({table!r}); expected a table of {', '.join(TARGET_OPTIONS)}")
        _known(table, TARGET_OPTIONS, path, where + ".")
        own = _settings(table, TARGET_OPTIONS, path, where + ".")
        base = roles[name].settings if name in roles else ()
        roles[name] = Role(name, _merged(base, own), path)
    rules = [
        *_rules(_table(doc, "roles", path), "name", path, roles),
        *_rules(_table(doc, "groups", path), "group", path, roles),
        *(BUILTIN_RULES if builtin else ()),
    ]
    tracks = []
    for name, table in _table(doc, "tracks", path).items():
        where = f"tracks.{_key(name)}"
        if not isinstance(table, dict):
            raise PlanError(f"{path}: {where} ({table!r}); expected a table of role, {', '.join(TARGET_OPTIONS)}")
        _known(table, ("role", *TARGET_OPTIONS), path, where + ".")
        role = table.get("role")
        if role is not None:
            role = _check_role(role, roles, path, f"{where}.role")
        tracks.append(TrackOverride(name, role, _settings(table, TARGET_OPTIONS, path, where + ".")))
    return PolicyFile(path, options, tuple(rules), tuple(roles.values()), tuple(tracks))


def _key(name: str) -> str:
    """A TOML key as it would be written: bare when it can be, quoted otherwise."""
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _known(table: Mapping[str, object], keys: Sequence[str], path: str, prefix: str) -> None:
    for k, v in table.items():
        if k not in keys:
            raise PlanError(f"{path}: unknown key {prefix}{_key(k)} ({v!r}); expected one of {', '.join(keys)}")


def _table(doc: Mapping[str, object], key: str, path: str) -> dict[str, object]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise PlanError(f"{path}: {key} ({value!r}); expected a table")
    return value


def _rules(
    table: Mapping[str, object], on: Literal["name", "group"], path: str, roles: Mapping[str, Role]
) -> list[Rule]:
    section = "roles" if on == "name" else "groups"
    out = []
    for pattern, role in table.items():
        where = f"{section}.{_key(pattern)}"
        role = _check_role(role, roles, path, where)
        if not pattern.startswith(_GLOB):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise PlanError(
                    f"{path}: {where} (not a regular expression: {exc}); expected a regular expression or glob:PATTERN"
                ) from exc
        out.append(Rule(pattern, role, on, path))
    return out


def _check_role(role: object, roles: Mapping[str, Role], path: str, where: str) -> str:
    if not isinstance(role, str) or role not in roles:
        raise PlanError(
            f"{path}: {where} ({role!r}); expected a role with targets: {', '.join(roles)} "
            f"(or add a [targets.NAME] table)"
        )
    return role


def _settings(table: Mapping[str, object], keys: Sequence[str], path: str, prefix: str) -> tuple[Setting, ...]:
    return tuple((k, option_value(k, table[k], f"{path}: {prefix}{k}")) for k in keys if k in table)


def _merged(base: Sequence[Setting], over: Sequence[Setting]) -> tuple[Setting, ...]:
    merged = dict(base)
    merged.update(over)
    return tuple(merged.items())


def _applied(policy: Policy, settings: Sequence[Setting]) -> Policy:
    return dataclasses.replace(policy, **{OPTIONS[k]: v for k, v in settings})  # type: ignore[arg-type]


# ---------------------------------------------------------------- resolving


def global_policy(policy_file: PolicyFile | None, given: Mapping[str, object] | None = None) -> Policy:
    """The file's global options, then the options `given` on the command line, over the defaults.

    `given` holds only the options the user typed, named as on the command line (``{"target": -20.0}``)."""
    cli = _given(given)
    return _applied(Policy(), [*(policy_file.options if policy_file else ()), *cli])


def _given(given: Mapping[str, object] | None) -> tuple[Setting, ...]:
    out = []
    for k, v in (given or {}).items():
        if k not in OPTIONS:
            raise PlanError(f"--{k} ({v!r}); expected one of --{', --'.join(OPTIONS)}")
        out.append((k, option_value(k, v, f"--{k}")))
    return tuple(out)


def resolve(session: Session, policy_file: PolicyFile | None, given: Mapping[str, object] | None = None) -> Resolution:
    """The policy of every track of `session` (see the module docstring for the precedence)."""
    cli = dict(_given(given))
    base = global_policy(policy_file, cli)
    dropped = set(cli) | (set(_PAIRED) if cli.keys() & set(_PAIRED) else set())
    parents = {t.track_id: t for t in session.tracks}
    out = []
    for track in session.tracks:
        if track.kind == TrackKind.MASTER:
            continue
        if policy_file is None:
            out.append(TrackPolicy(track.track_id, track.name, base, None, "no policy file: global"))
            continue
        role, rule, own = _role_of(track, _ancestors(track, parents), policy_file)
        settings = [*(policy_file.role(role).settings if role else ()), *own]
        overridden = tuple(sorted({k for k, _ in settings} & dropped))
        policy = _applied(base, [(k, v) for k, v in settings if k not in dropped])
        out.append(TrackPolicy(track.track_id, track.name, policy, role, rule, overridden))
    return Resolution(base, tuple(out), policy_file.path if policy_file else None)


def _ancestors(track: Track, tracks: Mapping[str, Track]) -> list[str]:
    names, seen, parent = [], {track.track_id}, track.parent_id
    while parent is not None and parent in tracks and parent not in seen:
        seen.add(parent)
        names.append(tracks[parent].name)
        parent = tracks[parent].parent_id
    return names


def _role_of(track: Track, groups: Sequence[str], pf: PolicyFile) -> tuple[str | None, str, tuple[Setting, ...]]:
    """(role, the rule that gave it, the track's own settings)."""
    override = next((o for o in pf.tracks if o.name == track.name), None)
    entry = f"track {_key(track.name)} ({pf.path} [tracks])"
    if override is not None and override.role is not None:
        return override.role, entry, override.settings
    own = override.settings if override else ()
    role, rule = None, "no role matched: global policy"
    for r in pf.rules:
        group = next((g for g in groups if r.matches(g)), None) if r.on == "group" else None
        if r.origin == "built-in" and r.matches(track.name):
            role, rule = r.role, f"name ~ built-in {r.role} pattern"
        elif r.on == "name" and r.matches(track.name):
            role, rule = r.role, f'name ~ "{r.pattern}" ({r.origin} [roles])'
        elif group is not None:
            role, rule = r.role, f'group "{group}" ~ "{r.pattern}" ({r.origin} [groups])'
        else:
            continue
        break
    return role, (f"{rule}; {entry}" if own else rule), own
