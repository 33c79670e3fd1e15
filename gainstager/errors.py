"""The error hierarchy.

Messages have the shape ``<path>[:line]: <what> (<value>); expected <range>`` so that the CLI can print
one line and exit. A problem with one clip or track is not an exception: it goes into the report.
"""

from __future__ import annotations


class GainstagerError(Exception):
    """Base class: a problem that stops one session (or one file), never the whole batch."""

    exit_code = 1


class FormatError(GainstagerError):
    """The session file is not what it claims to be: junk, truncated, hostile or unsupported."""


class AudioError(GainstagerError):
    """An audio file cannot be opened or decoded."""


class PlanError(GainstagerError):
    """A policy value is out of range, or the plan cannot be made."""

    exit_code = 2


class WriteError(GainstagerError):
    """Writing or verifying the output failed; the original is untouched."""

