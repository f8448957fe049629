"""Console output shared by every command: one progress-bar style, tables, error printing."""

from __future__ import annotations

import time
from datetime import timedelta

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text
from rich.markup import escape

from gcrl.errors import GcrlError

console = Console()
err_console = Console(stderr=True)


class _BarOwner:
    """Closes its rich progress bar (if any) on close() and on leaving a `with` block."""

    _bar = None
    _lines = None  # Reporter's plain lines, where stderr is not a terminal

    def close(self) -> None:
        if self._lines is not None:
            self._lines.stop()
            self._lines = None
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _ProgressLines:
    """A progress bar's content as a plain line every `every` seconds and at the end: rich draws
    nothing but the final state when stderr is not a terminal (a log file, nohup, CI)."""

    def __init__(self, description: str, total: int, unit: str, start: int, every: float):
        self._description, self._total, self._unit, self._every = description, total, unit, every
        self._done = self._start = start
        self._t0 = self._last = time.monotonic()

    def advance(self, n: int) -> None:
        self._done += n
        if time.monotonic() - self._last >= self._every:
            self._print()

    def stop(self) -> None:
        self._print()

    def _print(self) -> None:
        self._last = now = time.monotonic()
        elapsed, done = now - self._t0, self._done - self._start
        rate = done / elapsed if elapsed > 0 and done else None
        eta = (self._total - self._done) / rate if rate else None
        share = f" ({100 * self._done / self._total:.0f}%)" if self._total else ""
        speed = f", {rate_text(rate, 1)} {self._unit}/s" if rate else ""
        err_console.print(f"{self._description} {self._done:,}/{self._total:,}{share}{speed}, elapsed {_clock(elapsed)}, ETA {_clock(eta)}",
                          highlight=False, soft_wrap=True)


class Reporter(_BarOwner):
    """Progress of long work: done/total, rate, elapsed and ETA. Silent when disabled; a line a
    minute (`line_every` seconds) when stderr is not a terminal."""

    def __init__(self, description: str, total: int, unit: str = "steps", enabled: bool = True, start: int = 0, line_every: float = 60.0):
        self._bar = self._lines = None
        if not enabled:
            return
        if not err_console.is_terminal:
            self._lines = _ProgressLines(description, total, unit, start, line_every)
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
            refresh_per_second=4,
        )
        self._unit = unit
        self._task = self._bar.add_task(description, total=total, completed=start, rate="")
        self._bar.start()

    def advance(self, n: int = 1, **fields) -> None:
        if self._lines is not None:
            self._lines.advance(n)
        if self._bar is None:
            return
        self._bar.advance(self._task, n)
        speed = self._bar.tasks[0].speed
        rate = f"{speed:,.0f} {self._unit}/s" if speed else ""
        self._bar.update(self._task, rate=rate, **fields)



def _clock(seconds: float | None) -> str:
    return "-:--:--" if seconds is None else str(timedelta(seconds=max(0, round(seconds))))


class _Countdown(ProgressColumn):
    """Time left to an ETA set by the caller (task field `eta_at`, a time.monotonic() value)."""

    def render(self, task) -> Text:
        eta_at = task.fields.get("eta_at")
        return Text(_clock(None if eta_at is None else eta_at - time.monotonic()), style="progress.remaining")


class RunsReporter(_BarOwner):
    """Progress of a sweep: runs finished of total, the done/skipped/failed counts, elapsed and an ETA.

    The caller supplies the ETA (from the pace of the runs trained so far): rich's own estimate needs
    steady ticks, and a run takes minutes. `live=False` prints one line per update instead of a bar,
    for when each run draws its own progress bars on the terminal, and so does a stderr that is not
    a terminal."""

    def __init__(self, total: int, finished: int = 0, live: bool = True, enabled: bool = True):
        self._total, self._start, self._live, self._enabled = total, time.monotonic(), live, enabled
        self._bar = None
        if enabled and live and err_console.is_terminal:
            self._bar = Progress(
                TextColumn("[bold]sweep"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[counts]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                _Countdown(),
                console=err_console,
                transient=False,
                refresh_per_second=1,
            )
            self._task = self._bar.add_task("sweep", total=total, completed=finished, counts="", eta_at=None)
            self._bar.start()

    def update(self, finished: int, counts: str, eta_s: float | None) -> None:
        if not self._enabled:
            return
        if self._bar is not None:
            eta_at = None if eta_s is None else time.monotonic() + eta_s
            self._bar.update(self._task, completed=finished, counts=counts, eta_at=eta_at)
        else:
            elapsed = time.monotonic() - self._start
            console.print(f"[bold]sweep[/] {finished}/{self._total} runs: {counts}, elapsed {_clock(elapsed)}, ETA {_clock(eta_s)}", highlight=False)


def rate_text(rate: float, decimals: int = 0) -> str:
    """A rate for people: `decimals` places from 10 up, else three significant figures, so that a
    pixel run's 0.152 updates/s does not print as 0."""
    return f"{rate:,.{decimals}f}" if rate >= 10 else f"{rate:.3g}"


def plural(n: int, what: str) -> str:
    """'1 seed', '3 seeds'."""
    return f"{n} {what}{'' if n == 1 else 's'}"


def warn(message: str) -> None:
    """One `warning:` line on stderr: something went wrong, and gcrl went on."""
    err_console.print(f"[bold yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def run_command(main, *args) -> int:
    """Run a command's main, printing a GcrlError as one `error:` line (exit code 2) instead of a
    traceback, and meeting SIGTERM as Ctrl-C: the cli's handling, for scripts under benchmarks/ too."""
    from gcrl.stopping import Terminated, sigterm_as_interrupt

    try:
        with sigterm_as_interrupt():
            return main(*args) or 0
    except GcrlError as err:
        err_console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True)  # a message's [brackets] are text
        return 2
    except KeyboardInterrupt as stop:
        terminated = isinstance(stop, Terminated)
        err_console.print(f"{'terminated' if terminated else 'interrupted'}; nothing half-written was left behind.")
        return 143 if terminated else 130
