"""Each agent clearly beats a random policy on a tiny maze dataset the test generates.

Small networks and a few thousand updates keep this to seconds per agent on 2 cores, too few for
OGBench's long evaluation tasks; so the test asks for goals 40 dataset steps ahead of a dataset
state and measures how close each policy gets in 80 steps, against a random policy."""

import jax
import numpy as np
import pytest

from gcrl import agents, config
from gcrl.agents.base import DataSpec
from gcrl.data import load, sampling
from gcrl.data.generate import generate
from gcrl.evaluate import make_envs
from gcrl.learner import init_state, make_train_chunk
from gcrl.policy import Policy

DATASET = "pointmaze-medium-navigate-v0"
SPEC = DataSpec((2,), False, 2, False)
UPDATES, EPISODES, GAP, HORIZON = 3000, 16, 40, 80


@pytest.fixture(scope="module")
def maze(tmp_path_factory):
    directory = tmp_path_factory.mktemp("maze")
    generate(DATASET, directory, episodes=40, seed=0, progress=False)
    dataset = load.load(DATASET, directory)
    envs = make_envs("pointmaze-medium-v0", EPISODES)
    yield dataset, envs
    for env in envs:
        env.close()


def final_distances(policy, dataset, envs) -> np.ndarray:
    """Start at dataset states, aim at the state GAP steps later in the same trajectory; return the
    distance left after HORIZON steps."""
    rng = np.random.default_rng(0)
    idxs = dataset.transition_idxs()
    idxs = idxs[dataset.final_idxs()[idxs] >= idxs + GAP]
    starts = rng.choice(idxs, len(envs), replace=False)
    goals = dataset.observations[starts + GAP]
    obs = []
    for i, env in enumerate(envs):
        env.reset(seed=i)
        env.unwrapped.set_xy(dataset.observations[starts[i]])
        env.unwrapped.set_goal(goal_xy=goals[i])
        obs.append(env.unwrapped.get_ob())
    obs = np.array(obs, np.float32)
    for _ in range(HORIZON):
        actions = policy(obs, goals)
        obs = np.array([env.step(a)[0] for env, a in zip(envs, actions)], np.float32)
    return np.linalg.norm(obs - goals, axis=1)


@pytest.fixture(scope="module")
def random_distance(maze):
    dataset, envs = maze
    rng = np.random.default_rng(1)
    return final_distances(lambda o, g: rng.uniform(-1, 1, (len(o), 2)), dataset, envs).mean()


# Settings changed from the published ones, only for this budget:
# - CRL at pointmaze's published alpha (0.03) leaves 4.4 of the random policy's 4.9 here: after 3,000
#   updates its contrastive critic ranks the true future goal first among 256 only ~2% of the time, too
#   weak a guide for DDPG+BC with so small a BC weight. With alpha 0.3 it learns (1.9 left). (The
#   published alpha learns at the acceptance budget: results/acceptance.)
# - QRL's latent is 128 wide instead of 512, which makes it the cost of the other agents here.
SETS = {"crl": {"alpha": "0.3"}, "qrl": {"latent_dim": "128"}}


@pytest.mark.parametrize("name", ["gcbc", "gcivl", "hiql", "saw", "gciql", "qrl", "crl", "ris", "gcwae"])
def test_agent_beats_a_random_policy(name, maze, random_distance):
    dataset, envs = maze
    _, agent_cfg = config.resolve(name, DATASET, "cpu", sets={"hidden": "64,64", **SETS.get(name, {})})
    agent = agents.get(name).make(agent_cfg, SPEC)
    state, _ = make_train_chunk(agent, 256, UPDATES)(init_state(agent, jax.random.PRNGKey(0)), sampling.to_device(dataset))
    distance = final_distances(Policy(agent, state.params, SPEC), dataset, envs).mean()
    print(f"{name}: distance left {distance:.2f} (random policy {random_distance:.2f})")
    assert distance < 0.5 * random_distance
