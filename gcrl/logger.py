"""Metrics to CSV and TensorBoard event files in the run directory."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from gcrl.data.files import atomic_path


# A diverged chunk's NaN losses are logged on purpose (they show where it went wrong); tensorboardX
# would otherwise print a warning line for each of them.
logging.getLogger("tensorboardX.x2num").setLevel(logging.ERROR)


class MetricsLogger:
    """Appends one CSV row per call (columns fixed by the first row) and writes TensorBoard scalars
    (and hands the row to `mirror`)."""

    def __init__(self, run_dir: Path, filename: str = "metrics.csv", tensorboard: bool = True, mirror=None):
        """mirror(step, metrics): also gets every row (W&B, gcrl.tracking)."""
        self.path = Path(run_dir) / filename
        self._mirror = mirror
        self._columns: list[str] | None = None
        if self.path.exists() and self.path.stat().st_size > 0:
            with open(self.path, newline="") as f:
                self._columns = next(csv.reader(f), None)
        self._tb = None
        if tensorboard:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(run_dir), flush_secs=30)

    def drop_after(self, step: int) -> int:
        """Delete the rows logged after `step` (a resumed run's checkpoint): the run repeats those
        updates, and would otherwise log them twice. Returns how many rows went."""
        if self._columns is None:
            return 0
        with open(self.path, newline="") as f:
            rows = list(csv.reader(f))[1:]
        keep = [row for row in rows if row and int(float(row[0])) <= step]
        if len(keep) < len(rows):
            with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
                csv.writer(f).writerows([self._columns, *keep])
        return len(rows) - len(keep)

    def has_step(self, step: int) -> bool:
        """Whether a row was logged at `step`."""
        if self._columns is None:
            return False
        with open(self.path, newline="") as f:
            return any(row and row[0] != "step" and int(float(row[0])) == step for row in csv.reader(f))

    def log(self, step: int, metrics: dict[str, float]) -> None:
        row = {"step": int(step), **{k: float(v) for k, v in metrics.items()}}
        new_file = self._columns is None
        if new_file:
            self._columns = list(row)
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self._columns, extrasaction="ignore")
            if new_file:
                writer.writeheader()
            writer.writerow(row)
        if self._mirror is not None:
            self._mirror(step, metrics)
        if self._tb is not None:
            for key, value in row.items():
                if key != "step":
                    self._tb.add_scalar(key, value, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()

