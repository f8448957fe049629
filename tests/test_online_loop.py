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

    assert main(["online", "train", "--resume", "--run-dir", str(run), "--steps", "80", "--quiet", "--set", "eval_every=50"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    # the counters continue; the replay is refilled (16 env steps that owe no updates): 12 + (80 - 56) x 8 / 16
    assert summary["env_steps"] == 80 and summary["updates"] == 24 and summary["finished"]
    assert [r["step"] for r in rows(run / "metrics.csv")] == ["20", "40", "60", "80"]
    # env step 50 falls in the refill (40-56): its evaluation runs all the same, on the saved parameters
    assert [r["step"] for r in rows(run / "eval.csv")] == ["40", "50", "80"]
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


def test_ezgreedy_passes_the_policy_through_or_holds_a_random_action_for_zeta_steps():
    from gcrl.online.explore import EzGreedy

    policy = np.full((3, 2), 0.25, np.float32)
    never = EzGreedy(3, 2, eps=0.0, zeta=2.0, longest=100, rng=np.random.default_rng(0))
    assert all((never(policy) == policy).all() for _ in range(20))
    always = EzGreedy(1, 2, eps=1.0, zeta=2.0, longest=10**6, rng=np.random.default_rng(0))
    actions = np.array([always(policy[:1])[0] for _ in range(30_000)])
    assert not (actions == 0.25).any() and (np.abs(actions) <= 1).all()
    changes = np.nonzero((np.diff(actions, axis=0) != 0).any(1))[0]
    lengths = np.diff(np.concatenate([[-1], changes]))  # each held action's run of steps
    # zeta(2): P(n = 1) = 1 / zeta(2) = 6 / pi^2 = 0.608, P(n = 2) = 0.152
    assert abs((lengths == 1).mean() - 6 / np.pi**2) < 0.02 and abs((lengths == 2).mean() - 1.5 / np.pi**2) < 0.015
    capped = EzGreedy(1, 2, eps=1.0, zeta=1.1, longest=5, rng=np.random.default_rng(1))
    actions = np.array([capped(policy[:1])[0] for _ in range(5000)])
    changes = np.nonzero((np.diff(actions, axis=0) != 0).any(1))[0]
    assert np.diff(changes).max() <= 5


def test_the_point_is_drawn_at_least_min_point_px_in_radius():
    from gcrl.envs.pixel_maze import MEDIUM, POINT_COLOUR, MazeRenderer

    def point_pixels(renderer):
        return int((renderer.render(np.array([[4.3, 8.1]])) == POINT_COLOUR).all(-1).sum())

    plain, visible = MazeRenderer(MEDIUM, 32), MazeRenderer(MEDIUM, 32, min_point_px=1.5)
    assert point_pixels(plain) <= 2  # 0.7 units at 1 px per unit
    assert 5 <= point_pixels(visible) <= 9  # pi 1.5^2 = 7 pixel centres, give or take the grid
    assert point_pixels(MazeRenderer(MEDIUM, 64, min_point_px=1.0)) == point_pixels(MazeRenderer(MEDIUM, 64))  # 1.4 px already


def test_goal_set_evaluation_and_fine_tuning_from_another_run(tmp_path):
    import jax

    from gcrl import checkpoint
    from gcrl.errors import GcrlError
    from gcrl.online import loop, settings

    source = tmp_path / "source"
    sets = [*SETS, "--set", "goal_set=train", "--set", "eval_goals=heldout"]
    assert main(["online", "train", "--run-dir", str(source), "--steps", "40", "--quiet", *sets]) == 0
    saved = json.loads(sorted((source / "eval").glob("step_*.json"))[-1].read_text())
    assert saved["goals"] == "heldout" and len(saved["per_task"]) == 5
    out = tmp_path / "tasks.json"
    assert main(["online", "evaluate", str(source), "--goals", "tasks", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["goals"] == "tasks"

    cfg, model_cfg = settings.read(source)
    agent = loop.make_agent(cfg, model_cfg)
    fresh = agent.init(jax.random.PRNGKey(5))
    started = loop.initialised_from(agent, fresh, source)
    trained, _ = checkpoint.restore_latest(source, loop.saved_template(agent))
    for a, b in zip(jax.tree_util.tree_leaves(started.params), jax.tree_util.tree_leaves(trained.params)):
        np.testing.assert_array_equal(a, b)
    assert int(started.step) == 0 and int(trained.updates) > 0
    for a, b in zip(jax.tree_util.tree_leaves(started.opt_state), jax.tree_util.tree_leaves(agent.tx.init(trained.params))):
        np.testing.assert_array_equal(a, b)  # the optimiser starts afresh
    try:
        loop.initialised_from(agent, fresh, tmp_path / "nothing")
        raise AssertionError("expected an error")
    except GcrlError as err:
        assert "no checkpoint found" in str(err)
