"""The batch progress bar: drawn on a terminal, silent on a pipe."""

from __future__ import annotations

import io

from rich.console import Console

from gainstager.progress import BatchProgress


def test_silent_when_not_a_terminal() -> None:
    out = io.StringIO()
    with BatchProgress(Console(file=out), 3) as bar:
        for _ in range(3):
            bar.advance(clips=4)
    assert out.getvalue() == "" and bar.clips == 12


def test_counts_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with BatchProgress(console, 5, done=2) as bar:
        bar.advance(clips=7)
        bar.advance(clips=3)
    text = out.getvalue()
    assert "4/5" in text and "10 clips measured" in text and "ETA" in text
