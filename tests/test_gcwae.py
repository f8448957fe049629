"""GCWAE (gcrl/agents/gcwae.py): the flat actor's advantage towards the high actor's predicted
subgoal and the high actor's term pinned on a hand-built batch, which parameters each term may
move, acting with the flat actor, the published settings, and its high level through the
hierarchical tools."""

import functools
import json

import jax
import numpy as np
import pytest
from agent_probes import hand_batch as batch
from agent_probes import perturbed_params, untrained_run

from gcrl import config
from gcrl.agents import gcwae
from gcrl.agents.base import DataSpec
from gcrl.agents.values import GoalValue
from gcrl.errors import GcrlError
from gcrl.nets.heads import Actor

SPEC, DISCRETE = DataSpec((2,), False, 2, False), DataSpec((2,), False, 3, True)
TINY = dict(hidden=(8, 8), low_alpha=2.0, high_alpha=1.5)  # temperatures apart, so a mixed-up one shows
TERMS = ("value/loss", "actor/loss", "high_actor/loss")
DATASET, ENV = "pointmaze-medium-stitch-v0", "pointmaze-medium-v0"


@functools.cache
def built(discrete=False, **overrides):
    """(agent, params, jitted loss): params perturbed away from the initialisation (whose actor
    means are near 0) so that every term is well away from zero."""
    agent = gcwae.make(gcwae.Config(**{**TINY, **overrides}), DISCRETE if discrete else SPEC)
    return agent, perturbed_params(agent), jax.jit(agent.groups[0].loss)


def nets(agent, discrete=False):
    """The networks by hand, as the module builds them (actors without layer norm, unit std)."""
    cfg = agent.config
    high = Actor((8, 8), cfg.rep_dim if cfg.use_subgoal_rep else 2, layer_norm=False)
    flat = Actor((8, 8), (DISCRETE if discrete else SPEC).action_dim, discrete=discrete, layer_norm=False)
    return high, flat, GoalValue(cfg, SPEC, goal_rep=cfg.use_subgoal_rep, rep_dim=cfg.rep_dim)


def unit_log_prob(mean, x):
    return np.sum(-0.5 * (np.asarray(x) - np.asarray(mean)) ** 2 - 0.5 * np.log(2 * np.pi), axis=-1)


# ---- the terms by hand --------------------------------------------------------------------------

@pytest.mark.parametrize("use_subgoal_rep", [False, True])
def test_flat_actor_advantage_is_towards_the_predicted_subgoal(use_subgoal_rep):
    agent, params, loss = built(use_subgoal_rep=use_subgoal_rep)
    b = batch()
    total, m = loss(params, params, b, None)
    high, flat, value = nets(agent)
    s, s2, g, wp, a = (b[k] for k in ("observations", "next_observations", "actor_goals", "waypoints", "actions"))
    V = lambda o, goal: np.asarray(value.mean(params, o, goal))  # noqa: E731

    w_hat = high.apply(params["high_actor"], (s, g)).mean  # the mode: an observation, or a raw z
    if use_subgoal_rep:  # the heads read z directly: V(s, z) = heads(s, z)
        V_hat = lambda o: np.asarray(value.heads_on(params["value"], o, w_hat).mean(0))  # noqa: E731
    else:
        V_hat = lambda o: V(o, w_hat)  # noqa: E731
    advantage = V_hat(s2) - V_hat(s)
    weights = np.minimum(np.exp(2.0 * advantage), 100.0)
    mu = flat.apply(params["actor"], (s, g)).mean  # the flat actor reads the true goal g
    np.testing.assert_allclose(m["actor/adv"], advantage.mean(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(m["actor/loss"], -np.mean(weights * unit_log_prob(mu, a)), rtol=1e-5)
    # ... not the one-step advantage towards g.
    one_step = -np.mean(np.minimum(np.exp(2.0 * (V(s2, g) - V(s, g))), 100.0) * unit_log_prob(mu, a))
    assert abs(float(m["actor/loss"]) - one_step) > 1e-3

    # The high actor: AWR on V(waypoint, g) - V(s, g), its target the waypoint or phi(s, waypoint).
    high_weights = np.minimum(np.exp(1.5 * (V(wp, g) - V(s, g))), 100.0)
    target = value.phi(params, s, wp) if use_subgoal_rep else wp
    np.testing.assert_allclose(m["high_actor/loss"], -np.mean(high_weights * unit_log_prob(w_hat, target)), rtol=1e-5)
    np.testing.assert_allclose(total, sum(m[t] for t in TERMS), rtol=1e-6)


# ---- stop-gradients: which parameters each term moves -------------------------------------------

@functools.cache
def term_grads(**overrides):
    agent, params, _ = built(**overrides)
    loss = agent.groups[0].loss

    @jax.jit
    def grads(p, b):
        return {t: jax.grad(lambda q, t=t: loss(q, p, b, None)[1][t])(p) for t in TERMS}

    return grads(params, batch(seed=5))


@pytest.mark.parametrize("use_subgoal_rep", [False, True])
def test_each_term_moves_only_its_own_parameters(use_subgoal_rep):
    grads = term_grads(use_subgoal_rep=use_subgoal_rep)
    moves = {
        "value/loss": {"value", "goal_rep"},
        "actor/loss": {"actor"},  # the value and the high actor's w_hat are constants
        "high_actor/loss": {"high_actor"},  # the value and the target phi(s, w) are constants
    }
    assert ("goal_rep" in grads["value/loss"]) == use_subgoal_rep
    for term, moved in moves.items():
        for key, tree in grads[term].items():
            leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]
            if key in moved:
                assert any(np.any(x != 0) for x in leaves), f"{term} should move {key}"
            else:
                assert all(np.all(x == 0) for x in leaves), f"{term} must not move {key}"


# ---- acting, settings ---------------------------------------------------------------------------

@pytest.mark.parametrize("discrete", [False, True])
def test_acts_with_the_flat_actor(discrete):
    agent, params, loss = built(discrete=discrete)
    b = batch(discrete=discrete)
    assert all(np.isfinite(float(v)) for v in loss(params, params, b, None)[1].values())
    act = jax.jit(agent.act)
    actions = act(params, b["observations"], b["actor_goals"], jax.random.PRNGKey(0), 0.0)
    dist = nets(agent, discrete)[1].apply(params["actor"], (b["observations"], b["actor_goals"]))
    if discrete:
        assert actions.shape == (4,) and set(np.asarray(actions).tolist()) <= {0, 1, 2}
        np.testing.assert_array_equal(actions, np.argmax(dist.logits, axis=-1))
    else:
        assert actions.shape == (4, 2) and np.abs(np.asarray(actions)).max() <= 1.0
        np.testing.assert_allclose(actions, np.clip(dist.mean, -1, 1), rtol=1e-5, atol=1e-6)
    assert act(params, b["observations"], b["actor_goals"], jax.random.PRNGKey(0), 1.0).shape == actions.shape


def test_published_defaults_and_dataset_settings():
    cfg = gcwae.Config()
    assert (cfg.expectile, cfg.low_alpha, cfg.high_alpha, cfg.subgoal_steps, cfg.rep_dim) == (0.7, 3.0, 3.0, 25, 10)
    assert not cfg.use_subgoal_rep and cfg.const_std
    assert (cfg.lr, cfg.discount, cfg.hidden, cfg.layer_norm, cfg.actor_layer_norm) == (3e-4, 0.99, (512, 512, 512), True, False)
    assert (cfg.value_p_cur, cfg.value_p_traj, cfg.value_p_random, cfg.actor_p_traj) == (0.2, 0.5, 0.3, 1.0)
    assert config.dataset_settings("gcwae", "antmaze-large-navigate-v0") == {}
    assert config.dataset_settings("gcwae", "pointmaze-giant-stitch-v0") == {"discount": 0.995, "actor_p_traj": 0.5, "actor_p_random": 0.5}
    assert config.dataset_settings("gcwae", "humanoidmaze-large-stitch-v0") == {
        "discount": 0.995, "actor_p_traj": 0.5, "actor_p_random": 0.5, "subgoal_steps": 100}  # fmt: skip
    assert config.dataset_settings("gcwae", "cube-double-play-v0") == {"subgoal_steps": 10}


def test_pixels_need_subgoal_representations():
    pixels = DataSpec((8, 8, 3), True, 2, False)
    with pytest.raises(GcrlError, match="use_subgoal_rep=true"):
        gcwae.make(gcwae.Config(**TINY, encoder="impala_small"), pixels)
    gcwae.make(gcwae.Config(**TINY, encoder="impala_small", use_subgoal_rep=True), pixels)


# ---- the high level through the hierarchical tools ----------------------------------------------

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("gcwae_runs")
    return {"gcwae": untrained_run(root / "gcwae", "gcwae", DATASET, SPEC), "gcivl": untrained_run(root / "gcivl", "gcivl", DATASET, SPEC),
            "gcwae_rep": untrained_run(root / "gcwae_rep", "gcwae", DATASET, SPEC, use_subgoal_rep="true")}  # fmt: skip


@pytest.fixture(scope="module")
def envs(short_maze_envs):
    return short_maze_envs


OBS = np.array([[1.0, 2.0], [5.0, 3.0]], np.float32)
GOALS = np.array([[10.0, 10.0], [20.0, 4.0]], np.float32)


def test_gcwae_high_level_over_its_flat_actor(runs, envs):
    from gcrl.hierarchy.evaluate import evaluate_hierarchical
    from gcrl.hierarchy.levels import load

    _, policy, path = evaluate_hierarchical(runs["gcwae"], episodes=2, tasks=(1,), replan="every:5", progress=False, envs=envs)
    record = json.loads(path.read_text())
    assert record["space"] == "observation" and "flat policy as a low level" in record["low"]
    assert record["hierarchy"]["overall"]["subgoals"] == 2 * 6
    # A subgoal is the high actor's mode (an observation); the low level is act() aimed at it.
    run = load(runs["gcwae"])
    parts, key = run.agent.parts, jax.random.PRNGKey(0)
    w_hat = parts["subgoal"](run.params, OBS, GOALS, key, 0.0)
    np.testing.assert_allclose(w_hat, parts["high_dist"](run.params, OBS, GOALS).mean, rtol=1e-6)
    policy.reset(2)
    np.testing.assert_allclose(policy(OBS, GOALS), run.agent.act(run.params, OBS, w_hat, key, 0.0), rtol=1e-5, atol=1e-6)
    assert parts["acts_flat"]


def test_gcwae_high_level_over_another_runs_low_level(runs, envs):
    from gcrl.hierarchy.dagger import high_loss_fn
    from gcrl.hierarchy.evaluate import evaluate_hierarchical
    from gcrl.hierarchy.levels import LearnedHigh, load

    _, policy, path = evaluate_hierarchical(runs["gcivl"], episodes=2, tasks=(1,), high=str(runs["gcwae"]), replan="every:10", progress=False,
                                            envs=envs)  # fmt: skip
    record = json.loads(path.read_text())
    assert type(policy.high) is LearnedHigh and record["space"] == "observation" and "gcwae high level" in record["high"]
    assert record["hierarchy"]["overall"]["subgoals"] == 2 * 3
    run = load(runs["gcwae"])  # DAgger's loss on the high actor: the observation subgoal as its target
    assert np.isfinite(float(high_loss_fn(run)(run.params["high_actor"], run.params, OBS, GOALS, GOALS)))


def test_with_subgoal_representations_the_high_level_is_not_exposed(runs):
    from gcrl.hierarchy.levels import compose, load

    run = load(runs["gcwae_rep"])
    assert "subgoal" not in run.agent.parts  # no network here acts on a z
    with pytest.raises(GcrlError, match="flat gcwae run"):
        compose(run, compare=False)
