"""The JSON documents gainstager prints with --json: their version and their shapes, as JSON Schemas.

Every level is in dB and null stands for -inf (silence, or too short to measure). Levels are measured with
the session as it was read (before any change). tests/test_schema.py validates real output against these.

``gainstager analyze|apply --json`` (SESSION)::

    {"schema": 1,
     "session": {"path", "format", "version"},
     "policy": {"meter", "target_db", "peak_ceiling_db", "per", "faders", "headroom_db", "max_boost_db",
                "file"},
     "clips": [{"id", "track", "name", "file", "status", "reason", "clip_gain_db", "new_clip_gain_db",
                "levels": LEVELS | null, "bound_by", "note"}],
     "tracks": [{"id", "name", "kind", "fader_db", "new_fader_db", "automation", "action", "levels",
                 "role", "rule", "meter", "target_db", "peak_ceiling_db", "reason"}],
     "master": {"fader_db", "predicted_peak_dbfs_before", "predicted_peak_dbfs_after", "headroom_change_db"},
     "edits": int, "notes": [str],
     "mix": {"sample_rate_hz", "sample_rate_source", "soloed": [str], "frozen": [str], "frozen_left_out": [str],
             "left_out": {"instrument_tracks", "return_tracks", "sends", "plugin_tracks"}},
     "regions": {"measured": int, "cached": int},
     "output": {"path", "backup", "changed", "dry_run"}}          (apply only)

``regions`` counts the distinct regions (a file's audio as one clip plays it) this run metered, and those it
took from the lasting measurement cache (or from another process that was metering them at the same time):
an unchanged session analysed again measures nothing. It was added within schema 1 (not required).

``policy.file`` is the policy file's path (null without one). Per track, ``role`` is the role it got (null: none)
and ``rule`` the rule that gave it (e.g. ``name ~ built-in kick pattern``, ``no policy file: global``);
``meter``, ``target_db`` and ``peak_ceiling_db`` are the track's own, from its role or the global policy. These
six keys were added within schema 1: documents written before them lack them, so they are not required. So was
a track's ``reason``: why the track is skipped (a number of it that cannot be trusted; it is then not edited,
its clips are ``invalid`` and the master prediction leaves it out), empty for a track read in full.

``gainstager batch --json`` (BATCH)::

    {"schema": 1,
     "sessions": [{"path", "ok", "status", "error", "format", "clips_total", "clips_staged", "skipped_clips",
                   "edits", "master_peak_dbfs_before", "master_peak_dbfs_after", "duration_s", "output",
                   "resumed", "regions": {"measured": int, "cached": int}, "report": SESSION | null}],
     "failed": int, "missing": [str],
     "skipped": [{"kind", "reason", "count", "examples": [str]}],
     "totals": {"sessions", "processed", "resumed", "written", "unchanged", "dry_run", "failed", "timed_out",
                "clips_total", "clips_staged", "skipped_clips", "edits", "regions_measured", "regions_cached",
                "wall_s"}}

Sessions are in discovery order. `status` is written, unchanged (nothing to change, nothing written), dry-run,
failed or timed-out (over --session-timeout); `ok` is false for the last two, and `error` then says why in one
line. `report` is the session's SESSION document, null when it failed. `resumed` marks a session done in an
earlier run of the same command (its entry is the one that run recorded in the resume journal); `duration_s`
is the session's own time on its worker. `failed` counts failed and timed-out sessions and the `missing` paths
(given but not there). `skipped` says what discovery left out, by kind (SkipKind in gainstager/discover.py),
with the first few paths of each; `totals.wall_s` is the run's wall time. Everything but `path`, `ok`,
`error`, `skipped_clips`, `report` and `failed` was added within schema 1, so it is not required.
`regions` and the totals' `regions_measured` / `regions_cached` count what this run metered and what it took
from the measurement cache; a region shared by several sessions is measured once (by whichever worker gets to it
first): the others count it as cached.

``gainstager cache info --json`` (CACHE_INFO): ``{"schema": 1, "cache": {"directory", "store", "entries",
"size_bytes"}}``.

``gainstager check --json`` (CHECK): ``{"schema": 1, "passed": bool, "tolerance_db", "sessions": [{"path",
"passed", "error": str | null, "tracks": [{"id", "name", "role", "rule", "passed", "skipped", "meter", "level_db",
"target_db", "true_peak_dbtp", "peak_ceiling_dbtp", "change_db", "bound_by", "reason"}], "master": {"passed",
"peak_dbfs", "headroom_dbfs", "reason"} | null}], "failed": int}``. A session that could not be checked has its
``error``, no tracks and a null master; `failed` counts the sessions that did not pass. ``change_db`` is what
the planner would still change; ``level_db`` is on the track's ``meter``.

``gainstager measure --json`` (MEASURE): ``{"schema": 1, "files": [{"path", "sample_rate_hz", "channels",
**LEVELS}], "notes": [str]}``. ``notes`` (added within schema 1, so not required) holds the Python warnings raised
while measuring, one line each; a session's ``notes`` hold those of its analysis the same way.

LEVELS = sample_peak_dbfs, true_peak_dbtp, rms_dbfs, gated_rms_dbfs, integrated_lufs, momentary_max_lufs,
short_term_max_lufs, loudness_range_lu, duration_s. `bound_by` is one of target, peak-ceiling, range,
boost-cap, none. Levels are measured at the project rate ``mix.sample_rate_hz``. ``mix`` says what the
master prediction covers: solo is ignored (``soloed`` names the tracks soloed when saved), frozen tracks count
with their freeze audio, and ``left_out`` counts what it does not render.
"""

from __future__ import annotations

from typing import Any

from .model import LEVEL_KEYS

SCHEMA_VERSION = 1

_DB = {"type": ["number", "null"]}
_TEXT = {"type": "string"}
_TEXT_OR_NULL = {"type": ["string", "null"]}
_LEVEL_KEYS = (*LEVEL_KEYS, "duration_s")


def _object(properties: dict[str, Any], required: tuple[str, ...] | None = None) -> dict[str, Any]:
    """A closed object: exactly these properties (all required unless `required` says otherwise)."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties if required is None else required),
        "additionalProperties": False,
    }


LEVELS = _object({key: _DB for key in _LEVEL_KEYS})
_COUNT = {"type": "integer", "minimum": 0}
_REGIONS = _object({"measured": _COUNT, "cached": _COUNT})
_LEVELS_OR_NULL = {"anyOf": [LEVELS, {"type": "null"}]}

_METER = {"enum": ["rms", "lufs", "peak", "true-peak"]}
_BOUND = {"enum": ["target", "peak-ceiling", "range", "boost-cap", "none"]}
_TARGET = {"meter": _METER, "target_db": {"type": "number"}, "peak_ceiling_db": {"type": "number"}}
_TRACK = {
    "id": _TEXT,
    "name": _TEXT,
    "kind": _TEXT,
    "fader_db": _DB,
    "new_fader_db": _DB,
    "automation": _TEXT,
    "action": _TEXT,
    "levels": _LEVELS_OR_NULL,
}
_ROLE = {"role": _TEXT_OR_NULL, "rule": _TEXT}
_POLICY = {
    **_TARGET,
    "per": {"enum": ["track", "clip"]},
    "faders": {"enum": ["keep", "unity"]},
    "headroom_db": {"type": "number"},
    "max_boost_db": {"type": "number"},
}

_SESSION_BODY = {
    "session": _object({"path": _TEXT, "format": _TEXT, "version": _TEXT}),
    "policy": _object({**_POLICY, "file": _TEXT_OR_NULL}, tuple(_POLICY)),  # "file": added within schema 1
    "clips": {
        "type": "array",
        "items": _object(
            {
                "id": _TEXT,
                "track": _TEXT,
                "name": _TEXT,
                "file": _TEXT_OR_NULL,
                "status": _TEXT,
                "reason": _TEXT,
                "clip_gain_db": _DB,
                "new_clip_gain_db": _DB,
                "levels": _LEVELS_OR_NULL,
                "bound_by": _BOUND,
                "note": _TEXT,
            }
        ),
    },
    # role, rule, the track's own target and reason: added within schema 1, so not required
    "tracks": {"type": "array", "items": _object({**_TRACK, **_ROLE, **_TARGET, "reason": _TEXT}, tuple(_TRACK))},
    "master": _object(
        {
            "fader_db": _DB,
            "predicted_peak_dbfs_before": _DB,
            "predicted_peak_dbfs_after": _DB,
            "headroom_change_db": {"type": "number"},
        }
    ),
    "edits": {"type": "integer", "minimum": 0},
    "notes": {"type": "array", "items": _TEXT},
    "mix": {
        "anyOf": [
            _object(
                {
                    "sample_rate_hz": {"type": "integer"},
                    "sample_rate_source": _TEXT,
                    "soloed": {"type": "array", "items": _TEXT},
                    "frozen": {"type": "array", "items": _TEXT},
                    "frozen_left_out": {"type": "array", "items": _TEXT},
                    "left_out": _object(
                        {
                            key: {"type": "integer", "minimum": 0}
                            for key in ("instrument_tracks", "return_tracks", "sends", "plugin_tracks")
                        }
                    ),
                }
            ),
            {"type": "null"},
        ]
    },
    "regions": _REGIONS,
    "output": _object(
        {"path": _TEXT_OR_NULL, "backup": _TEXT_OR_NULL, "changed": {"type": "boolean"}, "dry_run": {"type": "boolean"}}
    ),
}
_SESSION_REQUIRED = ("session", "policy", "clips", "tracks", "master", "edits", "notes", "mix")
_VERSION = {"const": SCHEMA_VERSION}

SESSION = _object({"schema": _VERSION, **_SESSION_BODY}, ("schema", *_SESSION_REQUIRED))
_COUNT = {"type": "integer", "minimum": 0}
_BATCH_STATUS = {"enum": ["written", "unchanged", "dry-run", "failed", "timed-out"]}
BATCH = _object(
    {
        "schema": _VERSION,
        "sessions": {
            "type": "array",
            "items": _object(
                {
                    "path": _TEXT,
                    "ok": {"type": "boolean"},
                    "status": _BATCH_STATUS,
                    "error": _TEXT_OR_NULL,
                    "format": _TEXT_OR_NULL,
                    **{key: _COUNT for key in ("clips_total", "clips_staged", "skipped_clips", "edits")},
                    "master_peak_dbfs_before": _DB,
                    "master_peak_dbfs_after": _DB,
                    "duration_s": {"type": "number", "minimum": 0},
                    "output": _TEXT_OR_NULL,
                    "resumed": {"type": "boolean"},
                    "regions": _REGIONS,
                    "report": {"anyOf": [SESSION, {"type": "null"}]},
                },
                ("path", "ok", "error", "skipped_clips", "report"),  # the rest was added within schema 1
            ),
        },
        "failed": _COUNT,
        "missing": {"type": "array", "items": _TEXT},
        "skipped": {
            "type": "array",
            "items": _object(
                {"kind": _TEXT, "reason": _TEXT, "count": _COUNT, "examples": {"type": "array", "items": _TEXT}}
            ),
        },
        "totals": _object(
            {
                key: _COUNT
                for key in (
                    "sessions",
                    "processed",
                    "resumed",
                    "written",
                    "unchanged",
                    "dry_run",
                    "failed",
                    "timed_out",
                    "clips_total",
                    "clips_staged",
                    "skipped_clips",
                    "edits",
                    "regions_measured",
                    "regions_cached",
                )
            }
            | {"wall_s": {"type": "number", "minimum": 0}}
        ),
    },
    ("schema", "sessions", "failed"),  # missing, skipped and totals were added within schema 1
)
MEASURE = _object(
    {
        "schema": _VERSION,
        "files": {
            "type": "array",
            "items": _object(
                {"path": _TEXT, "sample_rate_hz": {"type": "integer"}, "channels": {"type": "integer"}}
                | {key: _DB for key in _LEVEL_KEYS}
            ),
        },
        "notes": {"type": "array", "items": _TEXT},
    },
    ("schema", "files"),  # notes: added within schema 1
)
CHECK = _object(
    {
        "schema": _VERSION,
        "passed": {"type": "boolean"},
        "tolerance_db": {"type": "number", "minimum": 0},
        "sessions": {
            "type": "array",
            "items": _object(
                {
                    "path": _TEXT,
                    "passed": {"type": "boolean"},
                    "error": _TEXT_OR_NULL,
                    "tracks": {
                        "type": "array",
                        "items": _object(
                            {
                                "id": _TEXT,
                                "name": _TEXT,
                                **_ROLE,
                                "passed": {"type": "boolean"},
                                "skipped": {"type": "boolean"},
                                "meter": _METER,
                                "level_db": _DB,
                                "target_db": {"type": "number"},
                                "true_peak_dbtp": _DB,
                                "peak_ceiling_dbtp": {"type": "number"},
                                "change_db": {"type": "number"},
                                "bound_by": _BOUND,
                                "reason": _TEXT,
                            }
                        ),
                    },
                    "master": {
                        "anyOf": [
                            _object(
                                {
                                    "passed": {"type": "boolean"},
                                    "peak_dbfs": _DB,
                                    "headroom_dbfs": {"type": "number"},
                                    "reason": _TEXT,
                                }
                            ),
                            {"type": "null"},
                        ]
                    },
                }
            ),
        },
        "failed": {"type": "integer", "minimum": 0},
    }
)
CACHE_INFO = _object(
    {
        "schema": _VERSION,
        "cache": _object({"directory": _TEXT, "store": _TEXT, "entries": _COUNT, "size_bytes": _COUNT}),
    }
)
