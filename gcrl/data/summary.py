"""`gcrl datasets info`: what a dataset holds, as a table."""

from __future__ import annotations

import numpy as np
from rich.table import Table

from gcrl.data.dataset import Dataset


def _range(arr: np.ndarray) -> str:
    if arr.size == 0:
        return "-"
    return f"[{arr.min():.3g}, {arr.max():.3g}]"


def summarize(dataset: Dataset) -> dict:
    lengths = dataset.trajectory_lengths()
    return {
        "source": dataset.source,
        "layout": dataset.layout,
        "transitions": dataset.num_transitions(),
        "trajectories": len(lengths),
        "trajectory_length": {"min": int(lengths.min()), "mean": float(lengths.mean()), "max": int(lengths.max())},
        "observation_shape": tuple(dataset.observations.shape[1:]),
        "observation_dtype": str(dataset.observations.dtype),
        "observation_range": _range(dataset.observations),
        "action_shape": tuple(dataset.actions.shape[1:]),
        "action_dtype": str(dataset.actions.dtype),
        "action_range": _range(dataset.actions),
        "extra_fields": sorted(dataset.info),
        "memory_mb": sum(a.nbytes for a in dataset.as_dict().values() if a is not None) / 2**20,
    }


def summary_table(dataset: Dataset, title: str | None = None) -> Table:
    s = summarize(dataset)
    table = Table(title=title or s["source"], show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    lengths = s["trajectory_length"]
    rows = [
        ("layout", s["layout"]),
        ("transitions", f"{s['transitions']:,}"),
        ("trajectories", f"{s['trajectories']:,}"),
        ("trajectory length", f"min {lengths['min']}, mean {lengths['mean']:.1f}, max {lengths['max']}"),
        ("observations", f"{s['observation_shape']} {s['observation_dtype']}, range {s['observation_range']}"),
        ("actions", f"{s['action_shape'] or 'discrete'} {s['action_dtype']}, range {s['action_range']}"),
        ("extra fields", ", ".join(s["extra_fields"]) or "-"),
        ("memory", f"{s['memory_mb']:,.1f} MB"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table
