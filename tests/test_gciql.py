"""GCIQL's math pinned on hand-built batches: the expectile of V towards the smaller target Q, the
critic's target from the online V, DDPG+BC's normalisation under stop-gradient, AWR's weights,
which networks each loss moves, the Polyak target, acting, and the per-dataset settings."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agent_probes import assert_acts_in_range, hand_batch as batch, image_batch, moved, per_loss_gradients
from gcrl import config
from gcrl.agents import gciql
from gcrl.agents.base import DataSpec
from gcrl.errors import GcrlError
from gcrl.learner import apply_update, init_state
from gcrl.nets.critics import GoalCritic
from gcrl.nets.heads import Actor

SPEC = DataSpec((2,), False, 2, False)
DISCRETE = DataSpec((2,), False, 3, True)
HIDDEN = (8,)


AGENTS = {}


def build(actor_loss="ddpgbc", spec=SPEC, **overrides):
    """The agent, its parameters, targets different from them, and one compiled function giving
    the loss's metrics and each named loss's gradient with respect to every parameter subtree."""
    key = (actor_loss, spec, tuple(sorted(overrides.items())))
    if key not in AGENTS:
        agent = gciql.make(gciql.Config(hidden=HIDDEN, actor_loss=actor_loss, **overrides), spec)
        params = agent.init(jax.random.PRNGKey(0))
        targets = {"critic": jax.tree_util.tree_map(lambda x: 0.7 * x + 0.01, params["critic"])}
        metrics_and_grads = per_loss_gradients(agent.groups[0].loss, ("value/loss", "critic/loss", "actor/loss"))
        AGENTS[key] = (agent, params, targets, metrics_and_grads)
    return AGENTS[key]


def encoders(tree) -> int:
    """How many pixel encoders a parameter tree holds."""
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]
    return len({p.split("ImpalaEncoder_0")[0] for p in paths if "ImpalaEncoder_0" in p})


def nets(spec=SPEC):
    value = GoalCritic(HIDDEN, ensemble=1)
    critic = GoalCritic(HIDDEN, ensemble=2, num_actions=spec.action_dim if spec.discrete else 0)
    actor = Actor(HIDDEN, spec.action_dim, discrete=spec.discrete, layer_norm=False)
    return value, critic, actor


def test_value_loss_is_the_expectile_towards_the_smaller_target_q_by_hand():
    v = jnp.array([-1.0, -2.0, -3.0])
    target_qs = jnp.array([[-1.5, -1.0, -1.0], [-0.5, -3.0, -2.0]])  # min: -1.5, -3.0, -2.0
    # u = min Q' - V = -0.5, -1.0, 1.0: weights 0.1, 0.1, 0.9
    expected = (0.1 * 0.25 + 0.1 * 1.0 + 0.9 * 1.0) / 3
    np.testing.assert_allclose(gciql.value_loss(v, target_qs, 0.9), expected, rtol=1e-6)
    # The target Qs are constants.
    grad = jax.grad(lambda t: gciql.value_loss(v, t, 0.9))(target_qs)
    np.testing.assert_array_equal(grad, 0.0)


def test_critic_loss_by_hand():
    qs = jnp.array([[-1.0, -0.5], [-2.0, 0.5]])
    next_v = jnp.array([-3.0, -7.0])
    loss, target = gciql.critic_loss(qs, next_v, jnp.array([-1.0, 0.0]), jnp.array([1.0, 0.0]), 0.9)
    np.testing.assert_allclose(target, [-1.0 + 0.9 * -3.0, 0.0], rtol=1e-6)  # the goal reached: no bootstrap
    head1 = ((-1.0 + 3.7) ** 2 + 0.5**2) / 2
    head2 = ((-2.0 + 3.7) ** 2 + 0.5**2) / 2
    np.testing.assert_allclose(loss, head1 + head2, rtol=1e-6)
    np.testing.assert_array_equal(jax.grad(lambda nv: gciql.critic_loss(qs, nv, 0.0, 1.0, 0.9)[0])(next_v), 0.0)


def test_ddpgbc_normalises_by_a_constant_mean_abs_q():
    q, log_prob = jnp.array([-2.0, -4.0]), jnp.array([-1.0, -3.0])
    loss, metrics = gciql.ddpgbc_loss(q, log_prob, 0.5)
    np.testing.assert_allclose(metrics["actor/q_loss"], 3.0 / (3.0 + 1e-6), rtol=1e-6)
    np.testing.assert_allclose(metrics["actor/bc_loss"], 0.5 * 2.0, rtol=1e-6)
    np.testing.assert_allclose(loss, 1.0 + 1.0, rtol=1e-5)
    # -mean(q) / mean|q| is 1 for any negative q: without the stop-gradient its gradient would be 0.
    grad = jax.grad(lambda x: gciql.ddpgbc_loss(x, log_prob, 0.5)[0])(q)
    np.testing.assert_allclose(grad, [-1.0 / (2 * 3.0), -1.0 / (2 * 3.0)], rtol=1e-5)


def test_awr_weights_are_clipped_constants():
    adv, log_prob = jnp.array([0.0, 1.0, 10.0]), jnp.array([-1.0, -2.0, -3.0])
    loss, _ = gciql.awr_loss(adv, log_prob, 3.0)
    np.testing.assert_allclose(loss, (1.0 + 2.0 * np.exp(3.0) + 3.0 * 100.0) / 3, rtol=1e-5)
    np.testing.assert_array_equal(jax.grad(lambda a: gciql.awr_loss(a, log_prob, 3.0)[0])(adv), 0.0)


def test_the_agents_losses_on_its_networks_by_hand():
    agent, params, targets, fn = build()
    b = batch()
    metrics, _ = fn(params, targets, b, jax.random.PRNGKey(1))
    value, critic, actor = nets()
    s, a, g, ga = b["observations"], b["actions"], b["value_goals"], b["actor_goals"]
    v = value.apply(params["value"], (s, g))
    target_q = np.asarray(critic.apply(targets["critic"], (s, g), a)).min(0)  # the target critic, not the online one
    u = target_q - np.asarray(v)
    np.testing.assert_allclose(metrics["value/loss"], np.mean(np.where(u >= 0, 0.9, 0.1) * u**2), rtol=1e-5)
    # The critic's target reads the online V at s'.
    target = b["rewards"] + 0.99 * b["masks"] * np.asarray(value.apply(params["value"], (b["next_observations"], g)))
    q = np.asarray(critic.apply(params["critic"], (s, g), a))
    np.testing.assert_allclose(metrics["critic/loss"], ((q - target) ** 2).mean(1).sum(), rtol=1e-5)
    # DDPG+BC: min_i Q_i at the policy's mean, clipped to [-1, 1].
    mean = actor.apply(params["actor"], (s, ga)).mean
    q_pi = np.asarray(critic.apply(params["critic"], (s, ga), jnp.clip(mean, -1, 1))).min(0)
    np.testing.assert_allclose(metrics["actor/q_mean"], q_pi.mean(), rtol=1e-5)


def test_awr_advantage_is_min_q_minus_v_by_hand():
    agent, params, targets, fn = build("awr")
    b = batch()
    metrics, _ = fn(params, targets, b, jax.random.PRNGKey(1))
    value, critic, actor = nets()
    s, a, ga = b["observations"], b["actions"], b["actor_goals"]
    adv = np.asarray(critic.apply(params["critic"], (s, ga), a)).min(0) - np.asarray(value.apply(params["value"], (s, ga)))
    np.testing.assert_allclose(metrics["actor/adv"], adv.mean(), rtol=1e-5, atol=1e-7)
    log_prob = actor.apply(params["actor"], (s, ga)).log_prob(a)
    np.testing.assert_allclose(metrics["actor/loss"], -np.mean(np.minimum(np.exp(0.3 * adv), 100) * log_prob), rtol=1e-5)


@pytest.mark.parametrize("actor_loss, spec", [("ddpgbc", SPEC), ("awr", SPEC), ("awr", DISCRETE)])
def test_each_loss_moves_only_its_own_network(actor_loss, spec):
    agent, params, targets, fn = build(actor_loss, spec)
    _, grads = fn(params, targets, batch(discrete=spec.discrete), jax.random.PRNGKey(1))
    assert moved(grads["value/loss"]) == {"value"}
    assert moved(grads["critic/loss"]) == {"critic"}
    assert moved(grads["actor/loss"]) == {"actor"}


def test_only_the_critic_has_a_polyak_target():
    agent, params, _, _ = build()
    assert agent.target_keys == ("critic",) and agent.tau == 0.005
    state = init_state(agent, jax.random.PRNGKey(0))
    state = state._replace(target_params={"critic": jax.tree_util.tree_map(lambda x: 0.5 * x + 0.1, state.target_params["critic"])})
    new, _ = jax.jit(lambda s, b: apply_update(agent, s, b, jax.random.PRNGKey(1)))(state, batch())
    # towards the parameters the update started from, as the published target_update
    expected = jax.tree_util.tree_map(lambda p, t: 0.005 * p + 0.995 * t, state.params["critic"], state.target_params["critic"])
    jax.tree_util.tree_map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6), new.target_params["critic"], expected)


@pytest.mark.parametrize("actor_loss, spec", [("ddpgbc", SPEC), ("awr", DISCRETE)])
def test_act_returns_actions_of_the_right_shape_and_range(actor_loss, spec):
    agent, params, _, _ = build(actor_loss, spec)
    assert_acts_in_range(agent, params, spec.discrete)


def test_learned_std_reads_a_reparameterised_sample():
    agent, params, targets, fn = build(const_std=False)
    metrics, grads = fn(params, targets, batch(), jax.random.PRNGKey(1))
    assert "log_std" in params["actor"]["params"] and np.isfinite(float(metrics["actor/loss"]))
    assert np.any(np.asarray(grads["actor/loss"]["actor"]["params"]["log_std"]) != 0)


def test_bad_settings_are_clear_errors():
    with pytest.raises(GcrlError, match="actor_loss"):
        gciql.Config(actor_loss="sac")
    with pytest.raises(GcrlError, match="discrete"):
        gciql.make(gciql.Config(hidden=HIDDEN), DISCRETE)


def test_pixels_go_through_one_encoder_per_network():
    spec = DataSpec((8, 8, 3), True, 2, False)
    agent = gciql.make(gciql.Config(hidden=HIDDEN, encoder="impala_small"), spec)
    state = init_state(agent, jax.random.PRNGKey(0))
    for name in ("value", "critic", "actor"):  # s and g stacked on channels, one encoder each
        assert encoders(state.params[name]) == 1
    b = image_batch()
    _, metrics = jax.jit(agent.groups[0].loss)(state.params, state.target_params, b, jax.random.PRNGKey(1))
    assert all(np.isfinite(float(v)) for v in metrics.values())
    assert jax.jit(agent.act)(state.params, b["observations"], b["actor_goals"], jax.random.PRNGKey(2), 0.0).shape == (4, 2)


@pytest.mark.parametrize(
    "dataset, expected",
    [
        ("pointmaze-giant-stitch-v0", dict(alpha=0.003, discount=0.995, actor_p_traj=0.5, actor_p_random=0.5)),
        ("antmaze-large-explore-v0", dict(alpha=0.01, discount=0.99, actor_p_traj=0.0, actor_p_random=1.0)),
        ("visual-humanoidmaze-medium-navigate-v0", dict(alpha=0.1, discount=0.995, actor_p_traj=1.0)),
        ("scene-noisy-v0", dict(alpha=0.03)),
        ("puzzle-4x6-play-v0", dict(alpha=1.0)),
        ("powderworld-hard-play-v0", dict(alpha=3.0, actor_loss="awr")),
    ],
)
def test_published_per_dataset_settings(dataset, expected):
    _, cfg = config.resolve("gciql", dataset, "paper")
    assert {k: getattr(cfg, k) for k in expected} == expected
    assert (cfg.value_p_cur, cfg.value_p_traj, cfg.value_p_random) == (0.2, 0.5, 0.3)
