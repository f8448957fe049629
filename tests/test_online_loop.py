"""The online loop end to end on tiny settings (16 x 16 images, tiny networks, a few dozen env
steps): the run directory it writes, a resume that continues the counters and the logs, a bad
--env name, the train ratio's accounting, and the environment's next-step autoreset."""

import csv
import json

import numpy as np

from gcrl.cli import main
from gcrl.envs.pixel_maze import PixelMazeVector
from gcrl.online.loop import updates_due

TINY = {"deter": 32, "hidden": 16, "stoch": 4, "classes": 5, "blocks": 2, "depth": 4, "mults": "2,4", "units": 16, "dec_blocks": 4, "warmup": 0,
        "size": 16, "num_envs": 2, "batch": 2, "length": 8, "prefill": 16, "train_ratio": 8, "log_every": 20, "checkpoint_every": 40,
        "eval_every": 1000, "eval_episodes": 1, "max_episode_steps": 10, "capacity": 200}
SETS = [arg for k, v in TINY.items() for arg in ("--set", f"{k}={v}")]


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_run_directory_then_resume_continues(tmp_path):
    run = tmp_path / "run"
    assert main(["online", "train", "--run-dir", str(run), "--steps", "40", "--quiet", *SETS]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["loop"]["env"] == "pixel-maze-medium" and config["model"]["deter"] == 32
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step_000000040.ckpt"]
    assert [r["step"] for r in rows(run / "metrics.csv")] == ["20", "40"]
    metrics = rows(run / "metrics.csv")[-1]
    for column in ("train/wm/rec_loss", "train/loss", "episode/return", "episode/success", "env_steps_per_s", "updates_per_s"):
        assert column in metrics
    assert list(rows(run / "eval.csv")[0]) == ["step", "overall", "task1", "task2", "task3", "task4", "task5"]
    assert (run / "eval" / "step_00000040.json").exists() and (run / "eval" / "openloop_step_00000040.png").stat().st_size > 0
    summary = json.loads((run / "summary.json").read_text())
    # train ratio: (40 - 16 prefill) env steps x 8 / (2 x 8 replayed steps per update) = 12 updates
    assert summary["env_steps"] == 40 and summary["updates"] == 12 == updates_due(40, 16, 8, 2, 8)

    assert main(["online", "train", "--resume", "--run-dir", str(run), "--steps", "80", "--quiet"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    # the counters continue; the replay is refilled (16 env steps that owe no updates): 12 + (80 - 56) x 8 / 16
    assert summary["env_steps"] == 80 and summary["updates"] == 24 and summary["finished"]
    assert [r["step"] for r in rows(run / "metrics.csv")] == ["20", "40", "60", "80"]
    assert [r["step"] for r in rows(run / "eval.csv")] == ["40", "80"]
    assert (run / "checkpoints" / "step_000000080.ckpt").exists() and (run / "eval" / "openloop_step_00000080.png").exists()


def test_bad_env_name_is_one_error_and_writes_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["online", "train", "--env", "pixel-maze-nowhere", "--run-dir", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown --env 'pixel-maze-nowhere'" in err and "pixel-maze-medium-b" in err and "Traceback" not in err
    assert not run.exists()
    assert main(["online", "train", "--set", "train_ratio=fast", "--run-dir", str(run), "--quiet"]) == 2
    assert not run.exists()


def test_train_ratio_accounting():
    assert updates_due(10, 16, 32, 16, 32) == 0  # still prefilling
    assert updates_due(16, 16, 32, 16, 32) == 0
    assert updates_due(16 + 512, 16, 32, 16, 32) == 32  # 512 env steps x 32 / 512 replayed per update
    assert updates_due(16 + 8, 16, 0.5, 2, 2) == 1  # fractional ratios accumulate
    assert sum(updates_due(16 + n + 1, 16, 8, 2, 8) - updates_due(16 + n, 16, 8, 2, 8) for n in range(1000)) == 500


def test_next_step_autoreset_gives_the_last_frame_then_a_first():
    env = PixelMazeVector(2, seed=0, task_id=1, autoreset="next-step", size=16, max_episode_steps=2)  # task 1 starts far from its goal
    env.reset()
    zeros = np.zeros((2, 2), np.float32)
    _, _, _, truncated, info = env.step(zeros)
    assert not truncated.any() and not info["first"].any()
    _, _, _, truncated, info = env.step(zeros)
    assert truncated.all() and list(info["ended"]) == [0, 1]
    _, reward, terminated, truncated, info = env.step(zeros)
    assert info["first"].all() and not (terminated | truncated).any() and (reward == 0).all()
    env.close()
