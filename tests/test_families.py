"""Every OGBench task family end to end through `gcrl train`, as a user runs it: a tiny dataset made
in the family's real environment (random actions), saved under its OGBench name in a dataset
directory, loaded by name with its per-dataset settings, trained a few updates and evaluated one
episode per task; for the mazes, the maze picture, and for antmaze the maze oracle as the high level
of hierarchical execution; for powderworld, pixels and discrete actions.

pointmaze has its own tests (the generated datasets). Evaluation episodes are cut to EPISODE_STEPS
here so that the matrix stays cheap enough for CI (full episodes run 200 to 2,000 steps of 1-6 ms);
the path they run is the full one."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gcrl.cli import main
from gcrl.envs import group

EPISODE_STEPS = 40
TINY = ["--set", "hidden=8,8"]
# (dataset, agent, settings of its own, the per-dataset settings the run must have taken up)
FAMILIES = [
    ("antmaze-medium-navigate-v0", "hiql", [], {"discount": 0.99, "subgoal_steps": 25}),
    ("humanoidmaze-medium-navigate-v0", "saw", [], {"discount": 0.995}),
    ("antsoccer-arena-navigate-v0", "crl", ["--set", "latent_dim=16"], {"alpha": 0.3}),
    ("cube-single-play-v0", "ris", [], {"expectile": 0.9, "subgoal_steps": 10}),
    ("scene-play-v0", "gcivl", [], {"alpha": 10.0, "discount": 0.99}),
    ("puzzle-3x3-play-v0", "qrl", ["--set", "latent_dim=16"], {"alpha": 0.3}),
    ("powderworld-easy-play-v0", "gciql", [], {"actor_loss": "awr", "alpha": 3.0, "eval_temperature": 0.3}),
]


def collect(env, episodes: int, steps: int, seed: int) -> dict[str, np.ndarray]:
    """OGBench's raw layout from random actions: each episode's `steps` transitions and its final
    state (with a padding action), terminals 1 on the final row."""
    env.action_space.seed(seed)
    observations, actions, terminals = [], [], []
    for episode in range(episodes):
        ob, _ = env.reset(seed=seed + episode)
        for _ in range(steps):
            action = env.action_space.sample()
            observations.append(ob), actions.append(action), terminals.append(0)
            ob, *_ = env.step(action)
        observations.append(ob), actions.append(np.zeros_like(action)), terminals.append(1)
    obs = np.asarray(observations)
    return dict(observations=obs if obs.dtype == np.uint8 else obs.astype(np.float32),
                actions=np.asarray(actions) if np.ndim(actions[0]) == 0 else np.asarray(actions, np.float32),
                terminals=np.asarray(terminals, np.float32))  # fmt: skip


@pytest.fixture(autouse=True)
def short_episodes(monkeypatch):
    """Evaluation in this process (so the cut applies) with episodes of EPISODE_STEPS."""
    make = group.make_envs
    monkeypatch.setenv("GCRL_EVAL_WORKERS", "1")
    monkeypatch.setattr(group, "make_envs", lambda name, count, **kw: make(name, count, **{"max_episode_steps": EPISODE_STEPS, **kw}))


@pytest.mark.parametrize("dataset, agent, sets, settings", FAMILIES, ids=[f[0].split("-")[0] for f in FAMILIES])
def test_every_family_trains_and_evaluates_by_name(dataset, agent, sets, settings, tmp_path):
    from gcrl.data import names

    env_name = names.parse(dataset).env_name
    env = group.make_envs(env_name, 1)[0]
    for split, seed in (("", 0), ("-val", 100)):
        np.savez(tmp_path / f"{dataset}{split}.npz", **collect(env, episodes=2, steps=30, seed=seed))
    env.close()
    run = tmp_path / "run"
    command = ["train", "--agent", agent, "--dataset", dataset, "--dataset-dir", str(tmp_path), "--steps", "4", "--batch-size", "8",
               "--eval-episodes", "1", "--run-dir", str(run), "--quiet", *TINY, *sets]  # fmt: skip
    assert main(command) == 0

    saved = json.loads((run / "config.json").read_text())
    resolved = {**saved["train"], **saved["agent"]}
    assert {k: resolved[k] for k in settings} == settings
    result = json.loads((run / "eval" / "step_00000004.json").read_text())
    assert result["env_name"] == env_name and len(result["per_task"]) == 5 and result["episodes"] == 5
    assert all(0 < length <= EPISODE_STEPS for length in result["mean_length"].values())
    if dataset.startswith(("antmaze", "humanoidmaze")):  # their xy is in the observation: the maze picture
        assert (run / "eval" / "maze_step_00000004.png").stat().st_size > 0
    if dataset.startswith("powderworld"):
        assert saved["agent"]["encoder"] == "impala_small"
        spec = json.loads((run / "spec.json").read_text())
        assert spec["discrete"] and spec["pixels"] and spec["action_dim"] == 8  # the environment's actions, used in the data or not
    if agent == "hiql":  # hierarchical execution with the maze oracle as the high level, over HIQL's low level
        assert main(["evaluate", str(run), "--high", "oracle", "--episodes", "1", "--quiet"]) == 0
        assert list((run / "eval").glob("step_00000004-*.json"))
