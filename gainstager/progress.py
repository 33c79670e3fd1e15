"""The batch's progress bar: sessions done out of total, clips measured, elapsed time and ETA.

Owned by the CLI, which gives it a Console on stderr: results stay alone on stdout. It shows nothing at all
when that console is not a terminal (a pipe, a file, CI), so logs never fill with redraws. The ETA is rich's,
from the pace of this run only: sessions reused from a resume journal count as done but not as speed.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class BatchProgress:
    def __init__(self, console: Console, total: int, *, done: int = 0, label: str = "sessions") -> None:
        self._progress: Progress | None = None
        if console.is_terminal:
            self._progress = Progress(
                TextColumn(label),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[clips]} clips measured"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console,
                transient=True,  # the summary table replaces it
            )
            self._task = self._progress.add_task(label, total=total, completed=done, clips=0)
        self.clips = 0

    def advance(self, clips: int = 0) -> None:
        """One more session finished, which measured `clips` clips."""
        self.clips += clips
        if self._progress is not None:
            self._progress.update(self._task, advance=1, clips=self.clips)

    def __enter__(self) -> BatchProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
