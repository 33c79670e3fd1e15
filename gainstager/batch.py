"""Batch: many sessions, each analysed and written on its own; one failing never stops the others."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

from . import parsers


def find_sessions(paths: Sequence[str]) -> Iterator[str]:
    """Session files under `paths` (files given directly are always included), sorted, no backups or outputs."""
    suffixes = parsers.suffixes()
    for root in paths:
        if os.path.isfile(root):
            yield root
            continue
        found = []
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in files:
                low = name.lower()
                if low.endswith(suffixes) and ".gainstaged." not in low:
                    found.append(os.path.join(folder, name))
        yield from sorted(found)
