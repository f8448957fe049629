"""Console output shared by every command: one progress-bar style, tables, error printing."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console()
err_console = Console(stderr=True)


class Reporter:
    """Progress of long work: done/total, rate, elapsed and ETA. Silent when disabled."""

    def __init__(self, description: str, total: int, unit: str = "steps", enabled: bool = True, start: int = 0):
        self._bar = None
        if not enabled:
            return
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=err_console,
            transient=False,
            refresh_per_second=4 if sys.stderr.isatty() else 0.2,
        )
        self._unit = unit
        self._task = self._bar.add_task(description, total=total, completed=start, rate="")
        self._bar.start()

    def advance(self, n: int = 1, **fields) -> None:
        if self._bar is None:
            return
        self._bar.advance(self._task, n)
        speed = self._bar.tasks[0].speed
        rate = f"{speed:,.0f} {self._unit}/s" if speed else ""
        self._bar.update(self._task, rate=rate, **fields)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
