"""The agent learns, on a fixed set of 16 x 16 sequences of a moving square (action: its velocity;
reward: being in the left half; task: a constant vector per sequence), with one compiled update of
the whole agent: one update trains every network and moves the slow critic; 100 updates bring the
world model's reconstruction error far below that of a blank image, so the square itself is drawn.
And, online through `gcrl online train`, the flat agent learns to reach the next cell of the
three-cell corridor from its ends (sparse reward, pixels only, a tiny model: about two minutes)."""

import jax
import numpy as np
import pytest

from gcrl.online import dreamer
from gcrl.online.config import preset

FAST = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None
DOT = 4  # side in pixels
CONFIG = preset("cpu", deter=32, hidden=32, stoch=4, classes=4, blocks=2, depth=8, mults=(2, 4), units=32, dec_blocks=4, lr=3e-3, warmup=0)
AGENT = dreamer.make(CONFIG, 2, False, 2, (16, 16, 3))


def moving_dot(sequences: int = 8, length: int = 8, size: int = 16, seed: int = 0):
    """A white square gliding and bouncing off the borders; the action is its velocity."""
    rng = np.random.default_rng(seed)
    position = rng.uniform(1, size - DOT - 1, (sequences, 2))
    velocity = rng.choice([-1.5, -1.0, 1.0, 1.5], (sequences, 2))
    images = np.zeros((sequences, length, size, size, 3), np.uint8)
    actions = np.zeros((sequences, length, 2), np.float32)
    rewards = np.zeros((sequences, length), np.float32)
    for t in range(length):
        for i, (row, col) in enumerate(np.clip(position.round().astype(int), 0, size - DOT)):
            images[i, t, row : row + DOT, col : col + DOT] = 255
            rewards[i, t] = float(col < size // 2)
        actions[:, t] = velocity / 1.5
        position = position + velocity
        bounce = (position < 1) | (position > size - DOT - 1)
        velocity = np.where(bounce, -velocity, velocity)
        position = np.clip(position, 1, size - DOT - 1)
    return dict(
        image=images,
        action=actions,
        reward=rewards,
        is_first=np.arange(length)[None].repeat(sequences, 0) == 0,
        is_terminal=np.zeros((sequences, length), bool),
        task=rng.normal(size=(sequences, 1, 2)).repeat(length, 1).astype(np.float32),
    )


@pytest.fixture(scope="module")
def train():
    """The batch, the initial state and the compiled update, shared by the tests."""
    return moving_dot(), AGENT.init(jax.random.PRNGKey(0)), jax.jit(AGENT.train_step, compiler_options=FAST)


def test_one_update_trains_every_network_and_moves_the_slow_critic(train):
    batch, state, step = train
    new, metrics = step(state, batch, jax.random.PRNGKey(1))
    assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
    assert int(new.step) == 1
    for part in ("wm", "actor", "critic"):
        moved = [not np.allclose(a, b) for a, b in zip(jax.tree_util.tree_leaves(state.params[part]), jax.tree_util.tree_leaves(new.params[part]))]
        assert any(moved), part
    expected = jax.tree_util.tree_map(lambda s, c: 0.98 * s + 0.02 * c, state.ac_state.slow_critic, new.params["critic"])
    for a, b in zip(jax.tree_util.tree_leaves(expected), jax.tree_util.tree_leaves(new.ac_state.slow_critic)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    total = metrics["wm/loss"] + metrics["ac/policy_loss"] + metrics["ac/value_loss"] + 0.3 * metrics["ac/repval_loss"]
    np.testing.assert_allclose(metrics["loss"], total, rtol=1e-5)
    assert metrics["ac/return"] == 0.0  # zero-initialised reward and critic heads: every return is 0


def test_reconstruction_error_falls_far_below_a_blank_image(train):
    batch, state, step = train
    history = []
    for i in range(100):
        state, metrics = step(state, batch, jax.random.PRNGKey(i))
        history.append({k: float(v) for k, v in metrics.items()})
    rec = [m["wm/rec_loss"] for m in history]
    blank = DOT * DOT * 3  # sum of squared errors of an all-black guess: the square's pixels, 1 each
    assert rec[0] > 150  # sigmoid(.) ~ 0.5 everywhere at the start: ~ 16 x 16 x 3 / 4
    assert np.mean(rec[-5:]) < 0.5 * blank, rec[::10]
    assert all(np.isfinite(list(m.values())).all() for m in history)
    assert history[-1]["wm/reward_loss"] < 0.5 * history[0]["wm/reward_loss"]


CORRIDOR = {"size": 16, "num_envs": 4, "max_episode_steps": 100, "batch": 4, "length": 16, "train_ratio": 32, "prefill": 400,
            "eval_every": 100_000, "eval_episodes": 10, "log_every": 1000, "goal_set": "tasks", "action_repeat": 1, "eval_policy": "mode", "deter": 32, "hidden": 32, "stoch": 8, "classes": 8,
            "blocks": 2, "depth": 8, "mults": "2,4", "units": 32, "dec_blocks": 4, "lr": 1e-3, "warmup": 0}  # fmt: skip


def test_the_flat_agent_learns_to_reach_the_next_cell_of_a_corridor(tmp_path):
    """Tasks 1, 3 and 5 start at an end of the corridor with the goal in the middle cell, 4 units
    (about 15 full-speed steps) away; a random policy needs hundreds of steps for that. An untrained
    agent's greedy policy (mean actions near 0) never gets there; after 1,800 updates of 4 x 16
    replayed steps it does, in most episodes (measured here: 10 of 10 on each of the three tasks)."""
    import csv
    import json

    from gcrl.cli import main
    from gcrl.online import loop, settings

    run = tmp_path / "corridor"
    sets = [arg for k, v in CORRIDOR.items() for arg in ("--set", f"{k}={v}")]
    assert main(["online", "train", "--env", "pixel-maze-corridor", "--steps", "4000", "--run-dir", str(run), "--quiet", *sets]) == 0
    trained = [float(x) for x in list(csv.DictReader(open(run / "eval.csv")))[-1].values()]  # step, overall, task1..task5
    from_ends = np.mean([trained[2], trained[4], trained[6]])
    cfg, model_cfg = settings.read(run)
    agent = loop.make_agent(cfg, model_cfg)
    untrained = loop.evaluate(agent, agent.init(jax.random.PRNGKey(0)).params, cfg, 10, seed=1)
    assert json.loads((run / "summary.json").read_text())["updates"] == 1800
    assert untrained["overall"] <= 0.1, untrained
    assert from_ends >= 0.4, trained
