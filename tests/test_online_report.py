"""The online study's tooling: its page's tables from hand-written run files (benchmarks/online_report.py),
and the core a pinned run takes (benchmarks/online_study.py)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from online_report import evaluated_on, progress_table  # noqa: E402


def write_run(root: Path, name: str, rows: list[str], eval_goals: str = "tasks") -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "eval.csv").write_text("step,overall,task1,task2\n" + "\n".join(rows) + "\n")
    (run / "config.json").write_text(json.dumps({"loop": {"eval_goals": eval_goals}}))
    return run


def test_progress_table_has_a_column_per_seed_their_mean_and_the_last_tasks(tmp_path):
    a = write_run(tmp_path, "dreamer-seed0", ["1000,0.5,1.0,0.0", "2000,1.0,1.0,1.0"])
    b = write_run(tmp_path, "dreamer-seed1", ["1000,0.0,0.0,0.0"])  # stopped early: one evaluation
    lines = progress_table("dreamer", [a, b])
    assert lines[2] == "| env steps | dreamer-seed0 | dreamer-seed1 | mean |"
    assert lines[4] == "| 1,000 | 50 | 0 | 25 |"
    assert lines[5] == "| 2,000 | 100 | - | 100 |"  # the mean of the seeds that got there
    # each seed's own last evaluation: seed 0 at 2,000 steps, seed 1 at 1,000
    assert lines[-2].endswith("task1 50, task2 50")
    assert lines[0] == "dreamer, success (%) on OGBench's five tasks against environment steps:"
    assert evaluated_on([a, b]) == "OGBench's five tasks"
    c = write_run(tmp_path, "director-seed0", ["1000,0.5,1.0,0.0"], eval_goals="train")
    assert evaluated_on([a, c]) == "OGBench's five tasks / the training goals"
    assert progress_table("director", [c])[-2].startswith("director, each goal group at the last evaluation")


def test_a_run_without_evaluations_gives_no_table(tmp_path):
    (tmp_path / "dreamer-seed0").mkdir()
    assert progress_table("dreamer", [tmp_path / "dreamer-seed0"]) == []


def test_pinned_runs_take_a_free_core_first_then_the_least_used():
    from online_study import free_core

    assert free_core([0, 1], []) == 0
    assert free_core([0, 1], [0]) == 1
    assert free_core([0, 1], [0, 1]) == 0
    assert free_core([0, 1], [0, 1, 0]) == 1
    assert free_core([2, 5], [2]) == 5
