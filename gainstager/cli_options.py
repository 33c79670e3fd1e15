"""The options several commands share, as decorators and annotated types: one option per `Policy` field and
--policy FILE (`policy_options`), --cache/--no-cache and --cache-dir (`cache_options`), --json, --strict and
--html. Declarations only: a bad policy exits through `cli_output._run`.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any

import typer

from .cache import CacheOptions
from .cli_output import _run
from .plan import Policy
from .policy_file import Policies
from .policy_options import OPTIONS, shown
from .schema import SCHEMA_VERSION

# The help of each Policy field's option; its name comes from policy_options.OPTIONS (the one place that names the
# options, for the command line and the policy file alike), its type and default from Policy itself.
POLICY_HELP: dict[str, str] = {
    "meter": "Level the target refers to: rms = gated RMS in dBFS (400 ms blocks, silence and quiet gaps left out), "
    "lufs = BS.1770 integrated loudness, peak = sample peak dBFS, true-peak = dBTP (4x oversampled).",
    "target_db": "Target level in dB on the chosen meter (-60..0).",
    "peak_ceiling_dbtp": "No clip or track is raised above this true peak, in dBTP (-60..0).",
    "per": "track: one gain for all clips of a track, keeping their relative levels (measured as one long item); "
    "clip: each clip its own gain.",
    "faders": "keep: each fader moves opposite to its track's clip-gain change, so the pre-FX mix balance is "
    "unchanged; unity: faders at 0 dB.",
    "headroom_dbfs": "Highest predicted master sample peak after the plan, in dBFS (-60..0); above it, every track "
    "feeding the master comes down by the same amount. One value per session, whatever the tracks' roles.",
    "max_boost_db": "Highest clip gain the plan may set by boosting, in dB (0..48): a near-silent clip is never "
    "raised past it to reach the target (a clip already above it is not raised further).",
    "sample_rate_hz": "Project rate in Hz that clips are measured and summed at, for sessions that do not force one "
    "(the session's own: 48000 for Live sets, which store none; a REAPER project's SAMPLERATE). A rate the REAPER "
    "project forces always wins. The report says which rate was used.",
}
POLICY_FILE_HELP = (
    "A TOML policy file: any of the options below, plus roles by track-name pattern with their own meter, target and "
    "ceiling, and per-track overrides (see the README). Options given here override the file; the file overrides "
    "the defaults."
)


def policy_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` one option per Policy field (types from Policy; not given: None) and --policy FILE, and
    hand it one `policy` argument: the policy file and the options actually given, checked (a bad value or a bad
    file exits 2 with one line naming it)."""
    hints = typing.get_type_hints(Policy)
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "policy"]
    kind = inspect.Parameter.KEYWORD_ONLY
    file_option = typer.Option("--policy", help=POLICY_FILE_HELP, metavar="FILE")
    added = [inspect.Parameter("policy_file", kind, default=None, annotation=Annotated[str | None, file_option])]
    options = {field: option for option, field in OPTIONS.items()}
    for f in dataclasses.fields(Policy):
        option = options[f.name]
        help_ = f"{POLICY_HELP[f.name]} (default: {shown(option, f.default)}, or the policy file's value)"
        flag = typer.Option(f"--{option}", help=help_, case_sensitive=False, show_default=False)
        added.append(inspect.Parameter(f.name, kind, default=None, annotation=Annotated[hints[f.name] | None, flag]))

    @functools.wraps(command)
    def with_policy(**kwargs: Any) -> None:
        given = {o: v for o, f in OPTIONS.items() if (v := kwargs.pop(f)) is not None}
        path = kwargs.pop("policy_file")
        command(policy=_run(lambda: Policies.read(path, given)), **kwargs)

    with_policy.__dict__["__signature__"] = inspect.Signature(own + added)
    return with_policy


CACHE_HELP = (
    "Use the lasting measurement cache, so that audio measured once (in any session) is not measured again; "
    "--no-cache measures everything and keeps nothing."
)
CACHE_DIR_HELP = "Where the measurement cache lives (default: $GAINSTAGER_CACHE_DIR, else the user's cache directory)."
CacheDirOpt = Annotated[str | None, typer.Option("--cache-dir", help=CACHE_DIR_HELP, metavar="DIR")]


def cache_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` --cache/--no-cache and --cache-dir DIR, and hand it one `cache` argument (`CacheOptions`)."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "cache"]
    kind = inspect.Parameter.KEYWORD_ONLY
    enabled = Annotated[bool, typer.Option("--cache/--no-cache", help=CACHE_HELP)]
    added = [
        inspect.Parameter("cache_enabled", kind, default=True, annotation=enabled),
        inspect.Parameter("cache_dir", kind, default=None, annotation=CacheDirOpt),
    ]

    @functools.wraps(command)
    def with_cache(**kwargs: Any) -> None:
        command(cache=CacheOptions(kwargs.pop("cache_enabled"), kwargs.pop("cache_dir")), **kwargs)

    with_cache.__dict__["__signature__"] = inspect.Signature(own + added)
    return with_cache


JsonOpt = Annotated[
    bool, typer.Option("--json", help=f"Print the versioned JSON report (schema {SCHEMA_VERSION}) to stdout.")
]
StrictOpt = Annotated[
    bool, typer.Option("--strict", help="Exit 3 when any clip was skipped because its audio is missing or unreadable.")
]
HtmlOpt = Annotated[
    str | None,
    typer.Option(
        "--html",
        metavar="FILE",
        help="Also write the report as one self-contained HTML page (inline SVG charts, nothing fetched): per "
        "track the level before and after against its target and ceiling, the master against the headroom.",
    ),
]
