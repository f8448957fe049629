"""The training run: run directory, metrics, checkpoints, resume, Ctrl-C, load_policy, CLI."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import gcrl
from gcrl import checkpoint, config
from gcrl.cli import main
from gcrl.errors import GcrlError
from gcrl.train import train

TINY = {"hidden": "8,8"}


@pytest.fixture(scope="module")
def npz_dataset(toy_npz):
    return toy_npz


def configs(dataset, **train):
    return config.resolve("gcivl", str(dataset), "cpu", {"steps": 40, "log_every": 20, "checkpoint_every": 20, "batch_size": 16, **train}, TINY)


def test_a_run_directory_holds_config_metrics_events_and_checkpoint(npz_dataset, tmp_path):
    train_cfg, agent_cfg = configs(npz_dataset)
    summary = train(train_cfg, agent_cfg, run_dir=tmp_path / "run", progress=False)
    run = tmp_path / "run"
    assert summary["finished"] and summary["step"] == 40
    assert {"config.json", "spec.json", "metrics.csv", "checkpoints", "summary.json"} <= {p.name for p in run.iterdir()}
    assert [p.name for p in sorted((run / "checkpoints").iterdir())] == ["step_000000020.ckpt", "step_000000040.ckpt"]  # the last two
    assert any(p.name.startswith("events.out.tfevents") for p in run.iterdir())
    rows = (run / "metrics.csv").read_text().splitlines()
    assert rows[0].startswith("step,") and "train/value/loss" in rows[0] and "val/value/loss" in rows[0]
    assert [r.split(",")[0] for r in rows[1:]] == ["20", "40"]
    saved = json.loads((run / "config.json").read_text())
    assert saved["agent"]["hidden"] == [8, 8] and saved["train"]["steps"] == 40
    assert not any(p.name.endswith(".partial") for p in run.iterdir())


def test_checkpoints_hold_no_pickle(npz_dataset, tmp_path):
    train_cfg, agent_cfg = configs(npz_dataset)
    train(train_cfg, agent_cfg, run_dir=tmp_path, progress=False)
    payload = next((tmp_path / "checkpoints").iterdir()).read_bytes()
    assert b"\x80\x04\x95" not in payload[:4] and b"cnumpy" not in payload  # no pickle protocol markers


def test_resume_continues_from_the_checkpoint_and_equals_an_uninterrupted_run(npz_dataset, tmp_path):
    train_cfg, agent_cfg = configs(npz_dataset)
    train(train_cfg, agent_cfg, run_dir=tmp_path / "whole", progress=False)
    short_cfg, _ = configs(npz_dataset, steps=20)
    train(short_cfg, agent_cfg, run_dir=tmp_path / "split", progress=False)
    with open(tmp_path / "split" / "metrics.csv", "a") as f:  # a row logged after the checkpoint, then a crash
        f.write("30" + ",0.5" * (len((tmp_path / "split" / "metrics.csv").read_text().splitlines()[0].split(",")) - 1) + "\n")
    summary = train(train_cfg, agent_cfg, run_dir=tmp_path / "split", resume=True, progress=False)
    assert summary["step"] == 40
    whole = gcrl.load_policy(tmp_path / "whole")
    split = gcrl.load_policy(tmp_path / "split")
    obs = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    np.testing.assert_allclose(whole(obs, obs), split(obs, obs), rtol=1e-5, atol=1e-6)
    rows = (tmp_path / "split" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["20", "40"]


def test_seeds_in_parallel_give_one_run_directory_per_seed_equal_to_training_alone(npz_dataset, tmp_path):
    main(["train", "--agent", "gcivl", "--dataset", str(npz_dataset), "--steps", "40", "--batch-size", "16", "--set", "hidden=8,8",
          "--set", "log_every=20", "--seeds", "3,4", "--run-dir", str(tmp_path / "both"), "--quiet"])  # fmt: skip
    train_cfg, agent_cfg = configs(npz_dataset, seed=4)
    train(train_cfg, agent_cfg, run_dir=tmp_path / "alone", progress=False)
    obs = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    together = gcrl.load_policy(tmp_path / "both" / "seed4")
    np.testing.assert_allclose(together(obs, obs), gcrl.load_policy(tmp_path / "alone")(obs, obs), rtol=1e-4, atol=1e-5)
    summary = json.loads((tmp_path / "both" / "seed3" / "summary.json").read_text())
    assert summary["finished"] and summary["seed"] == 3 and summary["seeds_in_parallel"] == 2
    rows = (tmp_path / "both" / "seed3" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["20", "40"]
    with pytest.raises(GcrlError, match="distinct"):
        config.parse_seeds("1,1")


def test_a_finished_run_directory_is_not_overwritten(npz_dataset, tmp_path):
    train_cfg, agent_cfg = configs(npz_dataset)
    train(train_cfg, agent_cfg, run_dir=tmp_path, progress=False)
    with pytest.raises(GcrlError, match="--resume"):
        train(train_cfg, agent_cfg, run_dir=tmp_path, progress=False)


def test_load_policy_single_and_batched(npz_dataset, tmp_path):
    train_cfg, agent_cfg = configs(npz_dataset)
    train(train_cfg, agent_cfg, run_dir=tmp_path, progress=False)
    policy = gcrl.load_policy(tmp_path)
    one = policy(np.zeros(2, np.float32), np.ones(2, np.float32))
    many = policy(np.zeros((3, 2), np.float32), np.ones((3, 2), np.float32))
    assert one.shape == (2,) and many.shape == (3, 2)
    np.testing.assert_allclose(many[0], one, rtol=1e-5)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_saves_and_exits_cleanly(npz_dataset, tmp_path, stop):
    script = (
        "import sys; from gcrl.cli import main; sys.exit(main(['train', '--agent', 'gcbc', '--dataset', sys.argv[1], "
        "'--run-dir', sys.argv[2], '--steps', '100000000', '--set', 'hidden=8,8', '--set', 'log_every=200', '--set', 'batch_size=8', '--quiet']))"
    )
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", script, str(npz_dataset), str(run_dir)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while not (run_dir / "metrics.csv").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(stop)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "Resume with" in out and "Traceback" not in out
    assert checkpoint.latest_step(run_dir) > 0


def test_bad_settings_are_clear_errors(npz_dataset, capsys):
    assert main(["train", "--dataset", str(npz_dataset), "--set", "alpah=3"]) == 2
    err = capsys.readouterr().err
    assert "no such setting" in err and "alpha" in err and "Traceback" not in err
    assert main(["train", "--dataset", str(npz_dataset), "--set", "alpha=high"]) == 2
    assert "cannot read 'high'" in capsys.readouterr().err
    assert main(["train", "--dataset", str(npz_dataset), "--set", "xla_cpu_ynn_fusion=maybe"]) == 2
    assert "xla_cpu_ynn_fusion must be one of auto, on, off" in capsys.readouterr().err


def test_train_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for option in ("--agent", "--dataset", "--dataset-dir", "--preset", "--steps", "--eval-episodes", "--run-dir", "--seed", "--resume", "--set"):
        assert option in out


def test_per_dataset_settings_follow_the_paper_and_sets_win():
    _, giant = config.resolve("saw", "antmaze-giant-navigate-v0")
    assert giant.discount == 0.995 and giant.subgoal_steps == 25 and giant.beta == 3.0
    _, humanoid = config.resolve("saw", "humanoidmaze-medium-navigate-v0")
    assert humanoid.subgoal_steps == 100 and humanoid.discount == 0.995
    _, cube = config.resolve("saw", "cube-single-play-v0")
    assert (cube.expectile, cube.beta, cube.subgoal_steps) == (0.9, 0.3, 10)
    _, scene = config.resolve("saw", "scene-play-v0")
    assert scene.beta == 1.0
    _, visual = config.resolve("saw", "visual-cube-single-play-v0", pixels=True)
    assert visual.beta == 3.0 and visual.expectile == 0.7 and visual.encoder == "impala_small" and visual.p_aug == 0.5
    train_cfg, paper = config.resolve("saw", "pointmaze-medium-navigate-v0", "paper", sets={"beta": "1.5"})
    assert paper.hidden == (512, 512, 512) and train_cfg.batch_size == 1024 and paper.beta == 1.5



def test_a_file_dataset_is_evaluated_in_the_environment_named_by_env(npz_dataset, tmp_path, capsys):
    """--env: a user's file (2-d states and actions, as pointmaze's) evaluated in an OGBench environment,
    at training time and afterwards; the setting is saved with the run."""
    run = tmp_path / "run"
    assert main(["train", "--agent", "gcbc", "--dataset", str(npz_dataset), "--env", "pointmaze-medium-v0", "--steps", "20",
                 "--batch-size", "16", "--eval-episodes", "1", "--set", "hidden=8,8", "--run-dir", str(run), "--quiet"]) == 0  # fmt: skip
    assert "evaluated in pointmaze-medium-v0" in capsys.readouterr().out
    assert json.loads((run / "config.json").read_text())["train"]["env"] == "pointmaze-medium-v0"
    assert json.loads((run / "eval" / "step_00000020.json").read_text())["env_name"] == "pointmaze-medium-v0"
    assert (run / "eval.csv").read_text().splitlines()[0].startswith("step,overall,task1")
    # a dataset name names its environment too; evaluate --env overrides the run's
    assert main(["evaluate", str(run), "--env", "pointmaze-large-navigate-v0", "--episodes", "1", "--quiet"]) == 0
    assert json.loads((run / "eval" / "step_00000020.json").read_text())["env_name"] == "pointmaze-large-v0"


def test_a_file_dataset_without_env_trains_on_losses_and_says_how_to_evaluate(npz_dataset, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--agent", "gcbc", "--dataset", str(npz_dataset), "--steps", "20", "--batch-size", "16",
                 "--set", "hidden=8,8", "--run-dir", str(run), "--quiet"]) == 0  # fmt: skip
    assert "--env ENV evaluates it in one" in capsys.readouterr().out and not (run / "eval.csv").exists()
    assert main(["evaluate", str(run), "--episodes", "1", "--quiet"]) == 2
    assert "name one with --env ENV" in capsys.readouterr().err


def test_chunks_end_at_every_log_checkpoint_and_evaluation_step():
    """A chunk never runs past a checkpoint or an evaluation that is due: with checkpoints every
    100 updates and logs every 1,000 (pixels_learn's settings), chunks are 100 long."""
    from gcrl.config import TrainConfig
    from gcrl.train import chunk_length

    def lengths(cfg):
        step, out = 0, []
        while step < cfg.steps:
            out.append(chunk_length(step, cfg))
            step += out[-1]
        return out

    assert lengths(TrainConfig(steps=1000, log_every=1000, checkpoint_every=100)) == [100] * 10
    assert lengths(TrainConfig(steps=2500, log_every=1000, checkpoint_every=10_000, eval_every=0)) == [1000, 1000, 500]
    assert lengths(TrainConfig(steps=3000, log_every=1000, checkpoint_every=1500, eval_every=0)) == [1000, 500, 500, 1000]
    assert lengths(TrainConfig(steps=1200, log_every=500, checkpoint_every=10_000, eval_every=300)) == [300, 200, 100, 300, 100, 200]
    assert chunk_length(250, TrainConfig(steps=1000, log_every=1000, checkpoint_every=100)) == 50  # resumed mid-interval


def test_evaluations_come_every_eval_every_from_eval_from_and_at_the_end():
    """The manipulation grid's schedule: every 5,000 updates from 15,000 on (the score is the mean of
    the last three), whatever the chunks; the end always; nothing but the end with eval_every = 0."""
    from gcrl.config import TrainConfig
    from gcrl.train import chunk_length, evaluation_due

    def evaluations(cfg):
        step, out = 0, []
        while step < cfg.steps:
            previous, step = step, step + chunk_length(step, cfg)
            out += [step] if evaluation_due(previous, step, cfg) else []
        return out

    assert evaluations(TrainConfig(steps=25_000, eval_every=5000, eval_from=15_000)) == [15_000, 20_000, 25_000]
    assert evaluations(TrainConfig(steps=25_000, eval_every=5000)) == [5000, 10_000, 15_000, 20_000, 25_000]
    assert evaluations(TrainConfig(steps=12_000, eval_every=5000, eval_from=12_000)) == [12_000]
    assert evaluations(TrainConfig(steps=12_000, eval_every=0, eval_from=3000)) == [12_000]
    assert evaluation_due(14_000, 15_500, TrainConfig(steps=25_000, log_every=1500, eval_every=5000, eval_from=15_000))  # a chunk that crosses it
