"""--wandb, in W&B's offline mode (no network), read back from the offline run's files: the
resolved config, every metric metrics.csv (and so TensorBoard) gets at the same steps, the
evaluations with their per-task table and pictures, the run's name, project, group and tags; a
resumed run continues its W&B run; a sweep groups its runs; the online loop logs too; and a W&B
failure never stops training."""

from __future__ import annotations

import csv
import json
import math
import sys

import pytest

from gcrl.cli import main
from gcrl.tracking import run_name
from wandb_records import offline_runs

pytest.importorskip("wandb")

TINY = ["--agent", "gcbc", "--steps", "40", "--batch-size", "8", "--set", "hidden=8,8", "--set", "log_every=10", "--eval-every", "20", "--eval-episodes", "1", "--quiet"]


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """W&B offline, its runs under tmp_path/wandb-dir; no W&B variables from the machine."""
    for name in ("WANDB_PROJECT", "WANDB_ENTITY", "WANDB_RUN_GROUP", "WANDB_TAGS", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    wandb_dir = tmp_path / "wandb-dir"
    wandb_dir.mkdir()
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(wandb_dir))
    monkeypatch.setenv("WANDB_SILENT", "true")
    return wandb_dir


def csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_training_runs_config_metrics_evaluations_and_pictures_reach_wb(offline, tiny_maze, tmp_path):
    run_dir = tmp_path / "my-run"
    args = ["train", *TINY, "--dataset", "pointmaze-medium-stitch-v0", "--dataset-dir", str(tiny_maze), "--run-dir", str(run_dir)]
    assert main([*args, "--wandb", "--wandb-project", "proj", "--wandb-tags", "a,b", "--wandb-group", "g"]) == 0
    (wb,) = offline_runs(offline)
    assert (wb.name, wb.project, wb.group, wb.tags) == ("my-run", "proj", "g", ["a", "b"])
    assert wb.config == json.loads((run_dir / "config.json").read_text())  # the resolved config, as saved
    for row in csv_rows(run_dir / "metrics.csv"):  # every metric TensorBoard gets, at the same step
        logged = wb.rows_at(int(row["step"]))
        for key, value in row.items():
            if key != "step":
                assert math.isclose(logged[key], float(value), rel_tol=1e-6), key
    for row in csv_rows(run_dir / "eval.csv"):
        logged = wb.rows_at(int(row["step"]))
        assert logged["eval/overall"] == float(row["overall"]) and all(logged[f"eval/task{j}"] == float(row[f"task{j}"]) for j in range(1, 6))
        assert logged["eval/tasks/_type"] == "table-file" and logged["eval/tasks/nrows"] == 5
        assert logged["eval/maze/_type"] == "image-file" and (wb.folder / "files" / logged["eval/maze/path"]).is_file()
    assert json.loads((run_dir / "wandb.json").read_text())["id"] == wb.id

    # --resume continues the same W&B run
    assert main(["train", "--resume", "--run-dir", str(run_dir), "--steps", "60", "--dataset-dir", str(tiny_maze), "--quiet", "--wandb"]) == 0
    first, second = offline_runs(offline)
    assert second.id == first.id and second.rows_at(60)["train/loss/all"] == float(csv_rows(run_dir / "metrics.csv")[-1]["train/loss/all"])


def test_a_sweep_groups_its_runs_named_by_their_path_and_the_environment_sets_the_project(offline, toy_npz, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_PROJECT", "from-env")
    monkeypatch.setenv("WANDB_TAGS", "x,y")
    root = tmp_path / "grid"
    assert main(["sweep", "--agents", "gcbc", "--datasets", str(toy_npz), "--seeds", "0,1", "--steps", "20", "--eval-episodes", "0", "--set", "hidden=8,8",
                 "--batch-size", "8", "--root", str(root), "--workers", "0", "--quiet", "--wandb"]) == 0  # fmt: skip
    runs = offline_runs(offline)
    assert sorted(r.name for r in runs) == ["toy/gcbc/seed0", "toy/gcbc/seed1"]
    assert {r.group for r in runs} == {"sweep-grid"} and {r.project for r in runs} == {"from-env"} and runs[0].tags == ["x", "y"]
    assert all(r.rows_at(20)["train/loss/all"] > 0 for r in runs)


def test_several_seeds_of_one_training_are_grouped(offline, toy_npz, tmp_path):
    assert main(["train", *TINY, "--dataset", str(toy_npz), "--seeds", "0,1", "--eval-episodes", "0", "--run-dir", str(tmp_path / "multi"), "--wandb"]) == 0
    runs = offline_runs(offline)
    assert sorted(r.name for r in runs) == ["multi/seed0", "multi/seed1"] and {r.group for r in runs} == {"multi/seeds"}
    assert run_name(tmp_path / "saw-seed3-20261205-090000") == "saw-seed3-20261205-090000"


def test_an_online_run_logs_its_metrics_evaluation_and_open_loop_picture(offline, tmp_path):
    from test_online_loop import SETS

    run_dir = tmp_path / "online-run"
    assert main(["online", "train", "--run-dir", str(run_dir), "--steps", "40", "--quiet", *SETS, "--wandb"]) == 0
    (wb,) = offline_runs(offline)
    assert wb.name == "online-run" and wb.config == json.loads((run_dir / "config.json").read_text())
    last = csv_rows(run_dir / "metrics.csv")[-1]
    logged = wb.rows_at(40)
    assert math.isclose(logged["train/wm/rec_loss"], float(last["train/wm/rec_loss"]), rel_tol=1e-6) and "env_steps_per_s" in logged
    assert "eval/overall" in logged and logged["eval/openloop/_type"] == "image-file"


def test_wb_failures_are_reported_once_and_training_goes_on(offline, toy_npz, tmp_path, monkeypatch, capsys):
    import wandb

    args = ["train", *TINY, "--dataset", str(toy_npz), "--eval-episodes", "0", "--wandb"]

    def no_network(*a, **k):
        raise wandb.errors.CommError("could not reach api.wandb.ai")

    monkeypatch.setattr(wandb, "init", no_network)
    assert main([*args, "--run-dir", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert err.count("W&B could not start (CommError: could not reach api.wandb.ai); the run goes on") == 1
    assert len(csv_rows(tmp_path / "a" / "metrics.csv")) == 4
    monkeypatch.undo()

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(offline))
    real_init = wandb.init

    def failing_log(*a, **k):
        run = real_init(*a, **k)
        calls = []

        def log(*_, **__):
            calls.append(1)
            raise ConnectionError("network is unreachable")

        run.log = log
        return run

    monkeypatch.setattr(wandb, "init", failing_log)
    assert main([*args, "--run-dir", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    assert err.count("W&B failed to log metrics (ConnectionError: network is unreachable)") == 1 and err.count("W&B") == 1
    assert len(csv_rows(tmp_path / "b" / "metrics.csv")) == 4 and (tmp_path / "b" / "summary.json").exists()


def test_without_wandb_installed_the_flag_is_one_clear_error_before_anything_is_written(tmp_path, toy_npz, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb now fails
    monkeypatch.chdir(tmp_path)
    for args in (["train", "--dataset", str(toy_npz)], ["sweep", "--agents", "gcbc", "--datasets", str(toy_npz)], ["online", "train"]):
        with pytest.raises(SystemExit) as exit_info:
            raise SystemExit(main([*args, "--wandb"]))
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and err.startswith("error:") and "pip install 'gcrl[wandb]'" in err, err
    assert list(tmp_path.iterdir()) == []
