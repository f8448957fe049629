"""HBC's two behaviour-cloning losses pinned by hand on a hand-built batch, and its contract."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gcrl import config
from gcrl.agents import hbc
from gcrl.agents.base import DataSpec
from gcrl.errors import GcrlError
from gcrl.learner import apply_update, init_state
from gcrl.nets.heads import Actor

SPEC = DataSpec((2,), False, 2, False)
LOG_2PI = np.log(2 * np.pi)


def batch(seed=0, n=4):
    rng = np.random.default_rng(seed)
    obs = lambda: jnp.asarray(rng.normal(size=(n, 2)), jnp.float32)  # noqa: E731
    return {"observations": obs(), "next_observations": obs(), "actions": jnp.asarray(rng.uniform(-1, 1, (n, 2)), jnp.float32),
            "value_goals": obs(), "actor_goals": obs(), "subgoals": obs(), "waypoints": obs(),
            "rewards": -jnp.ones(n), "masks": jnp.ones(n)}  # fmt: skip


def unit_gaussian_nll(x, mean):
    """-log N(x | mean, I) per sample, 2-d."""
    return 0.5 * np.sum((np.asarray(x) - np.asarray(mean)) ** 2, axis=-1) + LOG_2PI


@pytest.mark.parametrize("relative", [True, False])
def test_losses_by_hand(relative):
    agent = hbc.make(hbc.Config(hidden=(8, 8), high_relative=relative), SPEC)
    params = agent.init(jax.random.PRNGKey(0))
    b = batch()
    total, m = jax.jit(agent.groups[0].loss)(params, params, b, jax.random.PRNGKey(1))
    net = Actor((8, 8), 2, layer_norm=False)
    s = np.asarray(b["observations"])
    # Low level: BC of the action towards the k-step subgoal ('subgoals').
    low_mean = net.apply(params["low_actor"], (b["observations"], b["subgoals"])).mean
    np.testing.assert_allclose(m["low_actor/loss"], unit_gaussian_nll(b["actions"], low_mean).mean(), rtol=1e-5)
    # High level: a Gaussian over observations, the k-step waypoint towards the goal ('waypoints').
    offset = np.asarray(net.apply(params["high_actor"], (b["observations"], b["actor_goals"])).mean)
    high_mean = s + offset if relative else offset
    np.testing.assert_allclose(m["high_actor/loss"], unit_gaussian_nll(b["waypoints"], high_mean).mean(), rtol=1e-5)
    np.testing.assert_allclose(total, m["low_actor/loss"] + m["high_actor/loss"], rtol=1e-6)


def test_each_level_trains_only_its_own_network():
    agent = hbc.make(hbc.Config(hidden=(8, 8)), SPEC)
    params = agent.init(jax.random.PRNGKey(0))
    zero = lambda tree: all(np.all(np.asarray(g) == 0) for g in jax.tree_util.tree_leaves(tree))  # noqa: E731
    for name, own, other in (("low_actor/loss", "low_actor", "high_actor"), ("high_actor/loss", "high_actor", "low_actor")):
        grads = jax.jit(jax.grad(lambda p, name=name: agent.groups[0].loss(p, p, batch(), None)[1][name]))(params)
        assert zero(grads[other]) and not zero(grads[own]), name


def test_learned_std_and_acting():
    agent = hbc.make(hbc.Config(hidden=(8, 8), high_const_std=False), SPEC)
    state = init_state(agent, jax.random.PRNGKey(0))
    assert "log_std" in state.params["high_actor"]["params"]
    new, metrics = jax.jit(lambda st, b: apply_update(agent, st, b, None))(state, batch())
    assert all(np.isfinite(float(v)) for v in metrics.values())
    b, key = batch(1), jax.random.PRNGKey(2)
    actions = jax.jit(agent.act)(new.params, b["observations"], b["actor_goals"], key, 0.0)
    assert actions.shape == (4, 2) and np.abs(np.asarray(actions)).max() <= 1.0
    # act = the high level's subgoal, then the low level towards it.
    w = agent.parts["subgoal"](new.params, b["observations"], b["actor_goals"], key, 0.0)
    assert w.shape == (4, 2) and agent.parts["subgoal_space"] == "observation"
    np.testing.assert_allclose(actions, agent.parts["reach"](new.params, b["observations"], w, key, 0.0), rtol=1e-6)


def test_discrete_actions():
    spec = DataSpec((2,), False, 3, True)
    agent = hbc.make(hbc.Config(hidden=(8, 8)), spec)
    b = {**batch(), "actions": jnp.array([0, 2, 1, 2])}
    new, _ = jax.jit(lambda st, b: apply_update(agent, st, b, None))(init_state(agent, jax.random.PRNGKey(0)), b)
    actions = jax.jit(agent.act)(new.params, b["observations"], b["actor_goals"], jax.random.PRNGKey(0), 0.0)
    assert set(np.asarray(actions).tolist()) <= {0, 1, 2}


def test_pixels_are_refused_clearly_and_settings_resolve():
    with pytest.raises(GcrlError, match="state tasks"):
        hbc.make(hbc.Config(), DataSpec((64, 64, 3), True, 2, False))
    # HBC keeps its short k everywhere (HIQL's per-dataset k is for advantage-weighted low levels).
    for dataset in ("cube-single-play-v0", "humanoidmaze-medium-navigate-v0"):
        _, cfg = config.resolve("hbc", dataset, "cpu")
        assert cfg.subgoal_steps == 5 and cfg.hidden == (256, 256)
    _, cfg = config.resolve("hbc", "pointmaze-medium-navigate-v0", "cpu", sets={"high_relative": "false", "subgoal_steps": "25"})
    assert cfg.subgoal_steps == 25 and cfg.high_relative is False
