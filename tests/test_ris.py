"""Offline RIS (gcrl/agents/ris.py): its waypoint and one-step terms pinned on a hand-built batch,
which parameters each term may move, acting with the flat actor, the published settings, and its
high level through the hierarchical tools (its own hierarchy, and `--high RIS_RUN` over another run)."""

import functools
import json

import jax
import numpy as np
import pytest
from agent_probes import hand_batch as batch
from agent_probes import perturbed_params, untrained_run

from gcrl import config
from gcrl.agents import ris
from gcrl.agents.base import DataSpec
from gcrl.agents.values import GoalValue
from gcrl.errors import GcrlError
from gcrl.nets.heads import Actor

SPEC, DISCRETE = DataSpec((2,), False, 2, False), DataSpec((2,), False, 3, True)
TINY = dict(hidden=(8, 8), low_alpha=2.0, high_alpha=1.5, kl_alpha=0.5)  # temperatures apart, so a mixed-up one shows
TERMS = ("value/loss", "low_actor/loss", "high_actor/loss", "actor/awr_loss", "waypoint/loss")
DATASET, ENV = "pointmaze-medium-stitch-v0", "pointmaze-medium-v0"


@functools.cache
def built(discrete=False, **overrides):
    """(agent, params, jitted loss): params perturbed away from the initialisation (whose actor
    means are near 0) so that every term is well away from zero."""
    agent = ris.make(ris.Config(**{**TINY, **overrides}), DISCRETE if discrete else SPEC)
    return agent, perturbed_params(agent), jax.jit(agent.groups[0].loss)


def nets(agent, discrete=False):
    """The networks by hand, as the module builds them (actors without layer norm, unit std)."""
    cfg, actions = agent.config, (DISCRETE if discrete else SPEC).action_dim
    high = Actor((8, 8), cfg.rep_dim if cfg.use_subgoal_rep else 2, layer_norm=False)
    low = Actor((8, 8), actions, discrete=discrete, layer_norm=False)
    flat = Actor((8, 8), actions, discrete=discrete, layer_norm=False, goal_rep_dim=cfg.rep_dim)
    return high, low, flat, GoalValue(cfg, SPEC, goal_rep=True, rep_dim=cfg.rep_dim)


def unit_log_prob(mean, actions):
    return np.sum(-0.5 * (np.asarray(actions) - np.asarray(mean)) ** 2 - 0.5 * np.log(2 * np.pi), axis=-1)


# ---- the terms by hand --------------------------------------------------------------------------

@pytest.mark.parametrize("use_subgoal_rep", [True, False])
def test_waypoint_and_one_step_terms_by_hand(use_subgoal_rep):
    agent, params, loss = built(use_subgoal_rep=use_subgoal_rep)
    b = batch()
    total, m = loss(params, params, b, jax.random.PRNGKey(2))
    high, low, flat, value = nets(agent)
    s, s2, g, a = b["observations"], b["next_observations"], b["actor_goals"], b["actions"]
    V = lambda o, goal: np.asarray(value.mean(params, o, goal))  # noqa: E731

    # The high actor's mode: a raw z (not renormalised, as published), or an observation w_hat.
    predicted = high.apply(params["high_actor"], (s, g)).mean
    z = predicted if use_subgoal_rep else value.phi(params, s, predicted)
    mu_low = np.asarray(low.apply(params["low_actor"], (s,), (z,)).mean)
    mu = np.asarray(flat.apply(params["actor"], (s, g)).mean)
    distance = np.sum((mu - mu_low) ** 2, axis=-1)
    if use_subgoal_rep:
        coeff = 0.5  # kl_alpha itself
    else:
        coeff = np.minimum(np.exp(0.5 * (V(predicted, g) - V(s, g))), 100.0)
        assert not np.allclose(coeff, coeff[0])  # a per-sample weight, not a constant
    np.testing.assert_allclose(m["waypoint/loss"], np.mean(coeff * distance), rtol=1e-5)
    assert m["waypoint/loss"] > 1e-3

    # One-step AWR of the flat actor towards the actor goal, at low_alpha (the published file has no other).
    weights = np.minimum(np.exp(2.0 * (V(s2, g) - V(s, g))), 100.0)
    np.testing.assert_allclose(m["actor/awr_loss"], -np.mean(weights * unit_log_prob(mu, a)), rtol=1e-5)
    np.testing.assert_allclose(m["actor/loss"], m["actor/awr_loss"] + m["waypoint/loss"], rtol=1e-6)
    np.testing.assert_allclose(total, sum(m[t] for t in TERMS), rtol=1e-6)


def test_low_and_high_actors_are_hiqls():
    agent, params, loss = built()
    b = batch(seed=3)
    _, m = loss(params, params, b, None)
    high, low, _, value = nets(agent)
    s, s2, g, w, wp, a = (b[k] for k in ("observations", "next_observations", "actor_goals", "subgoals", "waypoints", "actions"))
    V = lambda o, goal: np.asarray(value.mean(params, o, goal))  # noqa: E731
    low_weights = np.minimum(np.exp(2.0 * (V(s2, w) - V(s, w))), 100.0)
    mu_low = low.apply(params["low_actor"], (s,), (value.phi(params, s, w),)).mean
    np.testing.assert_allclose(m["low_actor/loss"], -np.mean(low_weights * unit_log_prob(mu_low, a)), rtol=1e-5)
    high_weights = np.minimum(np.exp(1.5 * (V(wp, g) - V(s, g))), 100.0)
    mu_high = high.apply(params["high_actor"], (s, g)).mean
    np.testing.assert_allclose(m["high_actor/loss"], -np.mean(high_weights * unit_log_prob(mu_high, value.phi(params, s, wp))), rtol=1e-5)


def test_without_the_one_step_term_only_the_waypoint_term_trains_the_flat_actor():
    _, params, loss = built(add_one_step=False)
    _, m = loss(params, params, batch(), None)
    assert "actor/awr_loss" not in m
    np.testing.assert_allclose(m["actor/loss"], m["waypoint/loss"], rtol=1e-6)


def test_discrete_actions_pull_by_the_kl_to_the_low_actor():
    agent, params, loss = built(discrete=True)
    b = batch(discrete=True)
    _, m = loss(params, params, b, None)
    high, low, flat, _ = nets(agent, discrete=True)
    s, g = b["observations"], b["actor_goals"]
    prior = low.apply(params["low_actor"], (s,), (high.apply(params["high_actor"], (s, g)).mean,))
    pi = flat.apply(params["actor"], (s, g))
    np.testing.assert_allclose(m["waypoint/loss"], 0.5 * np.mean(prior.kl(pi)), rtol=1e-5)
    assert all(np.isfinite(float(v)) for v in m.values())


# ---- stop-gradients: which parameters each term moves -------------------------------------------

@functools.cache
def term_grads(**overrides):
    agent, params, _ = built(**overrides)
    loss = agent.groups[0].loss

    @jax.jit
    def grads(p, b):
        return {t: jax.grad(lambda q, t=t: loss(q, p, b, None)[1][t])(p) for t in TERMS}

    return grads(params, batch(seed=5))


@pytest.mark.parametrize(
    "overrides",
    [{}, {"low_actor_rep_grad": True}, {"share_goal_rep": True}, {"use_subgoal_rep": False}],
    ids=["published", "low_actor_rep_grad", "share_goal_rep", "observation_subgoals"],
)
def test_each_term_moves_only_its_own_parameters(overrides):
    grads = term_grads(**overrides)
    flat_phi = {"goal_rep"} if overrides.get("share_goal_rep") else set()
    moves = {
        "value/loss": {"value", "goal_rep"},
        "low_actor/loss": {"low_actor"} | ({"goal_rep"} if overrides.get("low_actor_rep_grad") else set()),
        "high_actor/loss": {"high_actor"},  # its target phi(s, w) is a constant
        "actor/awr_loss": {"actor"} | flat_phi,
        "waypoint/loss": {"actor"} | flat_phi,  # the value, the high actor and the low actor at z_hat are constants
    }
    for term, moved in moves.items():
        for key, tree in grads[term].items():
            leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]
            if key in moved:
                assert any(np.any(x != 0) for x in leaves), f"{term} should move {key}"
            else:
                assert all(np.all(x == 0) for x in leaves), f"{term} must not move {key}"
    if not overrides.get("share_goal_rep"):  # the flat actor's own phi_pi learns from both of its terms
        for term in ("actor/awr_loss", "waypoint/loss"):
            assert any(np.any(np.asarray(x) != 0) for x in jax.tree_util.tree_leaves(grads[term]["actor"]["params"]["GoalRep_0"]))


# ---- acting, settings ---------------------------------------------------------------------------

@pytest.mark.parametrize("discrete", [False, True])
def test_acts_with_the_flat_actor(discrete):
    agent, params, _ = built(discrete=discrete)
    b = batch()
    act = jax.jit(agent.act)
    actions = act(params, b["observations"], b["actor_goals"], jax.random.PRNGKey(0), 0.0)
    _, _, flat, _ = nets(agent, discrete)
    dist = flat.apply(params["actor"], (b["observations"], b["actor_goals"]))
    if discrete:
        assert actions.shape == (4,) and set(np.asarray(actions).tolist()) <= {0, 1, 2}
        np.testing.assert_array_equal(actions, np.argmax(dist.logits, axis=-1))
    else:
        assert actions.shape == (4, 2) and np.abs(np.asarray(actions)).max() <= 1.0
        np.testing.assert_allclose(actions, np.clip(dist.mean, -1, 1), rtol=1e-5, atol=1e-6)
    assert act(params, b["observations"], b["actor_goals"], jax.random.PRNGKey(0), 1.0).shape == actions.shape


def test_published_defaults_and_dataset_settings():
    cfg = ris.Config()
    assert (cfg.expectile, cfg.low_alpha, cfg.high_alpha, cfg.kl_alpha, cfg.subgoal_steps, cfg.rep_dim) == (0.7, 3.0, 3.0, 3.0, 25, 10)
    assert cfg.use_subgoal_rep and cfg.add_one_step and cfg.const_std and not cfg.share_goal_rep and not cfg.low_actor_rep_grad
    assert (cfg.lr, cfg.discount, cfg.hidden, cfg.layer_norm, cfg.actor_layer_norm) == (3e-4, 0.99, (512, 512, 512), True, False)
    assert (cfg.value_p_cur, cfg.value_p_traj, cfg.value_p_random, cfg.actor_p_traj) == (0.2, 0.5, 0.3, 1.0)
    assert config.dataset_settings("ris", "antmaze-large-navigate-v0") == {}
    assert config.dataset_settings("ris", "antmaze-giant-stitch-v0") == {"discount": 0.995, "actor_p_traj": 0.5, "actor_p_random": 0.5}
    assert config.dataset_settings("ris", "humanoidmaze-medium-navigate-v0") == {"discount": 0.995, "subgoal_steps": 100}
    assert config.dataset_settings("ris", "antmaze-large-explore-v0") == {"actor_p_traj": 0.0, "actor_p_random": 1.0}
    assert config.dataset_settings("ris", "visual-cube-double-play-v0") == {"subgoal_steps": 10, "low_actor_rep_grad": True}
    assert config.dataset_settings("ris", "cube-single-play-v0") == {"subgoal_steps": 10, "expectile": 0.9}
    assert "expectile" not in config.dataset_settings("ris", "visual-cube-single-play-v0")
    _, agent_cfg = config.resolve("ris", "scene-play-v0", "cpu", sets={"kl_alpha": "1.0"})
    assert agent_cfg.kl_alpha == 1.0 and agent_cfg.subgoal_steps == 10


def test_observation_subgoals_need_vector_observations():
    with pytest.raises(GcrlError, match="use_subgoal_rep"):
        ris.make(ris.Config(**TINY, use_subgoal_rep=False), DataSpec((8, 8, 3), True, 2, False))
    ris.make(ris.Config(**TINY, encoder="impala_small"), DataSpec((8, 8, 3), True, 2, False))  # representations: fine


# ---- the high level through the hierarchical tools ----------------------------------------------

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ris_runs")
    return {"ris": untrained_run(root / "ris", "ris", DATASET, SPEC), "gcivl": untrained_run(root / "gcivl", "gcivl", DATASET, SPEC),
            "ris_obs": untrained_run(root / "ris_obs", "ris", DATASET, SPEC, use_subgoal_rep="false")}  # fmt: skip


@pytest.fixture(scope="module")
def envs(short_maze_envs):
    return short_maze_envs


def test_ris_runs_through_its_own_hierarchy_as_hiql_does(runs, envs):
    from gcrl.hierarchy.evaluate import evaluate_hierarchical
    from gcrl.hierarchy.levels import load

    _, policy, path = evaluate_hierarchical(runs["ris"], episodes=2, tasks=(1,), progress=False, envs=envs)
    record = json.loads(path.read_text())
    assert record["space"] == "representation" and record["error_units"] == "phi" and record["reach_test"] == "value:-12.5"
    assert record["hierarchy"]["overall"]["subgoals"] == 60  # replanned every step
    # Its hierarchy: the low actor at the high actor's renormalised z (not act(), the flat actor).
    run = load(runs["ris"])
    parts, key = run.agent.parts, jax.random.PRNGKey(0)
    obs, goals = np.array([[1.0, 2.0], [5.0, 3.0]], np.float32), np.array([[10.0, 10.0], [20.0, 4.0]], np.float32)
    z = parts["subgoal"](run.params, obs, goals, key, 0.0)
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), np.sqrt(10), rtol=1e-5)
    policy.reset(2)
    np.testing.assert_allclose(policy(obs, goals), parts["reach_rep"](run.params, obs, z, key, 0.0), rtol=1e-5, atol=1e-6)
    assert parts["acts_flat"]


def test_ris_high_level_over_another_runs_low_level_is_decoded(runs, envs, tiny_maze):
    from gcrl.hierarchy.evaluate import evaluate_hierarchical
    from gcrl.hierarchy.levels import DecodedHigh

    _, policy, path = evaluate_hierarchical(runs["gcivl"], episodes=2, tasks=(1,), high=str(runs["ris"]), replan="every:10", progress=False,
                                            envs=envs, dataset_dir=tiny_maze, candidates=16)  # fmt: skip
    record = json.loads(path.read_text())
    assert isinstance(policy.high, DecodedHigh) and record["space"] == "observation"
    assert "ris high level" in record["high"] and "decoded to the nearest of 16 dataset states" in record["high"]
    assert record["hierarchy"]["overall"]["subgoals"] == 2 * 3  # 30-step episodes, a subgoal every 10 steps


def test_observation_subgoals_and_dagger_loss(runs):
    from gcrl.hierarchy.dagger import high_loss_fn
    from gcrl.hierarchy.levels import compose, load

    run = load(runs["ris_obs"])
    policy = compose(run, compare=False)
    assert policy.high.space == "observation" and "reach_rep" not in run.agent.parts
    obs, goals = np.array([[1.0, 2.0], [5.0, 3.0]], np.float32), np.array([[10.0, 10.0], [20.0, 4.0]], np.float32)
    policy.reset(2)
    assert policy(obs, goals).shape == (2, 2)
    ris_run = load(runs["ris"])  # DAgger's loss on the high actor: phi(s, w) as its target, as HIQL's
    loss = high_loss_fn(ris_run)(ris_run.params["high_actor"], ris_run.params, obs, goals, goals)
    assert np.isfinite(float(loss))
