"""benchmarks/pixels_learn.py's page: its tables from hand-written run files, and the frame counts
its value check draws from (either dataset layout)."""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from gcrl.data.dataset import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from pixels_learn import DATASET, budget_line, frames_per_trajectory, success_rows, value_rows  # noqa: E402


def test_success_rows_read_the_last_evaluation_and_the_update_rate(tmp_path):
    args = argparse.Namespace(root=str(tmp_path), seed=0, agents=["saw", "hiql"])
    run = tmp_path / DATASET / "saw" / "seed0"
    (run / "eval").mkdir(parents=True)
    per_task = {"1": 0.2, "2": 0.0, "3": 0.1, "4": 0.0, "5": 0.0}
    (run / "eval" / "step_00000500.json").write_text(json.dumps({"step": 500, "per_task": per_task, "overall": 0.06, "episodes": 50, "seconds": 1600.0}))
    (run / "metrics.csv").write_text("step,train/value/loss,updates_per_s\n500,1.0,0.08\n1000,0.9,0.09\n")
    random = {"per_task": {str(t): 0.1 * (t == 1) for t in range(1, 6)}, "overall": 0.02}
    rows = success_rows(args, random)
    assert rows[2] == "| saw | 500 | 0.090 | 32.0 | 20 | 0 | 10 | 0 | 0 | 6 |"
    assert rows[3].startswith("| hiql | not evaluated yet")
    assert rows[4] == "| uniform random actions | - | - | - | 10 | 0 | 0 | 0 | 0 | 2 |"


def test_the_budget_line_prices_the_published_updates_at_the_slowest_agents_rate(tmp_path):
    args = argparse.Namespace(root=str(tmp_path), seed=0, agents=["saw", "hiql", "gcbc"], steps=200)
    assert budget_line(args) == ""  # nothing trained yet
    for agent, rate in (("saw", 0.15), ("hiql", 0.3)):  # gcbc has no run: left out
        (tmp_path / DATASET / agent / "seed0").mkdir(parents=True)
        (tmp_path / DATASET / agent / "seed0" / "metrics.csv").write_text(f"step,updates_per_s\n200,{rate}\n")
    line = budget_line(args)
    assert line.startswith("At 0.15 updates/s, the published 500,000 updates would take 39 days per agent")
    assert "(200 took 22 min)" in line


def test_value_rows_show_initial_against_trained_per_bin():
    rows = value_rows({"saw@1000": {"initial": [0.5, 0.52, 0.49, 0.5], "trained": [0.8, 0.7, 0.6, 0.55]}})
    assert rows[0] == "| run | 2-9 steps | 10-49 steps | 50-199 steps | 200+ steps |"
    assert rows[2] == "| saw after 1000 updates | 50% -> **80%** | 52% -> **70%** | 49% -> **60%** | 50% -> **55%** |"


def test_frames_per_trajectory_in_both_layouts():
    obs, actions = np.zeros((7, 2), np.float32), np.zeros((7, 1), np.float32)
    standard = Dataset(obs, actions, np.array([0, 0, 1, 0, 0, 0, 1], np.float32), next_observations=obs)
    compact = Dataset(obs, actions, np.array([0, 0, 1, 0, 0, 0, 1], np.float32), valids=np.array([1, 1, 0, 1, 1, 1, 0], np.float32))
    assert frames_per_trajectory(standard).tolist() == [3, 4] == frames_per_trajectory(compact).tolist()
