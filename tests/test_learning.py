"""Each agent clearly beats a random policy on a tiny maze dataset the test generates.

Small networks and few updates keep this under a minute per agent on 2 cores; the measure is the
remaining shortest-path distance to the goal at the end of each episode (in maze cells), which
separates a learning agent from a random one long before success rates do."""

import jax
import numpy as np
import pytest

from gcrl import agents, config
from gcrl.agents.base import DataSpec
from gcrl.data import load, sampling
from gcrl.data.generate import generate
from gcrl.envs.maze import MazeOracle
from gcrl.evaluate import evaluate, make_envs
from gcrl.learner import init_state, make_train_chunk
from gcrl.policy import Policy

DATASET = "pointmaze-medium-navigate-v0"
UPDATES = 3000
EPISODES = 4


@pytest.fixture(scope="module")
def maze(tmp_path_factory):
    directory = tmp_path_factory.mktemp("maze")
    generate(DATASET, directory, episodes=40, seed=0, progress=False)
    dataset = load.load(DATASET, directory)
    envs = make_envs("pointmaze-medium-v0", EPISODES)
    yield sampling.to_device(dataset), envs
    for env in envs:
        env.close()


def remaining_cells(result, env) -> float:
    """Mean BFS distance (cells) from each episode's final position to its goal."""
    oracle = MazeOracle(env.unwrapped)
    dists = []
    for task in result.tasks:
        for traj, goal in zip(task.trajectories, task.goals_xy):
            goal_ij = env.unwrapped.xy_to_ij(goal)
            dists.append(oracle.distances_to(goal_ij)[env.unwrapped.xy_to_ij(traj[-1])])
    return float(np.mean(dists))


@pytest.fixture(scope="module")
def random_baseline(maze):
    _, envs = maze
    rng = np.random.default_rng(0)
    result = evaluate(lambda o, g: rng.uniform(-1, 1, (len(o), 2)), "pointmaze-medium-v0", EPISODES, seed=0, progress=False, envs=envs)
    return result.overall, remaining_cells(result, envs[0])


@pytest.mark.parametrize("name", ["gcbc", "gcivl", "hiql", "saw"])
def test_agent_beats_a_random_policy(name, maze, random_baseline):
    data, envs = maze
    _, agent_cfg = config.resolve(name, DATASET, "cpu", sets={"hidden": "64,64"})
    agent = agents.get(name).make(agent_cfg, DataSpec((2,), False, 2, False))
    state = init_state(agent, jax.random.PRNGKey(0))
    state, _ = make_train_chunk(agent, 256, UPDATES)(state, data)
    result = evaluate(Policy(agent, state.params, DataSpec((2,), False, 2, False)), "pointmaze-medium-v0", EPISODES, seed=0, progress=False, envs=envs)
    random_success, random_cells = random_baseline
    cells = remaining_cells(result, envs[0])
    print(f"{name}: success {result.overall:.2f} (random {random_success:.2f}), cells left {cells:.2f} (random {random_cells:.2f})")
    assert cells < 0.6 * random_cells
    assert result.overall >= random_success + 0.2 or name == "gcbc"
