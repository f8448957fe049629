"""QRL's math pinned by hand: IQE's union of intervals and its gradient, MRN, the quasimetric's
loss and the sign of the multiplier's update, the latent-dynamics actor, which networks each loss
moves, acting, and the per-dataset settings."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from agent_probes import assert_acts_in_range, hand_batch as batch, image_batch, moved, per_loss_gradients
from gcrl import config
from gcrl.agents import qrl
from gcrl.agents.base import DataSpec
from gcrl.errors import GcrlError
from gcrl.learner import apply_update, init_state
from gcrl.nets.critics import LatentDynamics, Quasimetric, interval_union_length, iqe, mrn
from gcrl.nets.heads import Actor

SPEC = DataSpec((2,), False, 2, False)
DISCRETE = DataSpec((2,), False, 3, True)
HIDDEN, LATENT = (8,), 16


AGENTS = {}
NAMES = {"ddpgbc": ("value/loss", "value/lam_loss", "dynamics/loss", "actor/loss"), "awr": ("value/loss", "value/lam_loss", "actor/loss")}


def build(actor_loss="ddpgbc", spec=SPEC, **overrides):
    """The agent, its parameters, and one compiled function giving the loss's metrics and each
    named loss's gradient with respect to every parameter subtree."""
    key = (actor_loss, spec, tuple(sorted(overrides.items())))
    if key not in AGENTS:
        agent = qrl.make(qrl.Config(hidden=HIDDEN, latent_dim=LATENT, actor_loss=actor_loss, **overrides), spec)
        params = agent.init(jax.random.PRNGKey(0))
        probe = per_loss_gradients(agent.groups[0].loss, NAMES[actor_loss])
        AGENTS[key] = (agent, params, lambda params, b, rng, probe=probe: probe(params, {}, b, rng))
    return AGENTS[key]


def union_by_brute_force(x, y):
    """The length of the union of [x_i, y_i] (empty where y_i <= x_i), on a fine grid of points."""
    grid = np.linspace(-6, 6, 120001)
    covered = np.zeros_like(grid, bool)
    for a, b in zip(x, y):
        if b > a:
            covered |= (grid >= a) & (grid < b)
    return covered.sum() * (grid[1] - grid[0])


@pytest.mark.parametrize(
    "x, y, length",
    [
        ([0.0, 2.0, 5.0], [3.0, 1.0, 6.0], 4.0),  # [0, 3], empty, [5, 6]
        ([0.0, 1.0, 4.0], [2.0, 3.0, 4.5], 3.5),  # [0, 2] and [1, 3] overlap: [0, 3]; [4, 4.5]
        ([0.0, 1.0, 3.0], [5.0, 2.0, 4.0], 5.0),  # nested inside [0, 5]
        ([0.0, 1.0, 7.0], [1.0, 2.0, 7.0], 2.0),  # touching; an empty one of zero width
        ([1.0, 1.0, 1.0], [2.0, 2.0, 0.0], 1.0),  # the same interval twice counts once
        ([3.0, 2.0, 1.0], [0.0, 0.0, 0.0], 0.0),  # all empty
    ],
)
def test_interval_union_length_by_hand(x, y, length):
    np.testing.assert_allclose(interval_union_length(jnp.array(x), jnp.array(y)), length, atol=1e-6)


def test_interval_union_length_matches_brute_force_ties_included():
    rng = np.random.default_rng(0)
    x, y = rng.integers(-4, 5, (300, 5)).astype(np.float32), rng.integers(-4, 5, (300, 5)).astype(np.float32)
    got = np.asarray(interval_union_length(jnp.asarray(x), jnp.asarray(y)))
    np.testing.assert_allclose(got, [union_by_brute_force(a, b) for a, b in zip(x, y)], atol=1e-3)


def test_interval_union_gradient_is_plus_one_on_right_ends_minus_one_on_left_ends():
    x, y = jnp.array([0.0, 1.0, 4.0]), jnp.array([2.0, 3.0, 4.5])  # union [0, 3] and [4, 4.5]
    gx, gy = jax.grad(lambda a, b: interval_union_length(a, b), argnums=(0, 1))(x, y)
    np.testing.assert_array_equal(gx, [-1.0, 0.0, -1.0])
    np.testing.assert_array_equal(gy, [0.0, 1.0, 1.0])


def union_by_merging(x, y):
    """The exact length: the nonempty intervals sorted by start, merged."""
    total, reach = 0.0, -np.inf
    for a, b in sorted((a, b) for a, b in zip(x, y) if b > a):
        total += max(0.0, b - max(a, reach))
        reach = max(reach, b)
    return total


def test_interval_union_gradient_matches_finite_differences_on_random_intervals():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(64, 8)), rng.normal(size=(64, 8))  # k = 8 as IQE's default; ends in general position
    gx, gy = jax.grad(lambda a, b: interval_union_length(a, b).sum(), argnums=(0, 1))(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32))
    eps = 1e-6
    for row in range(0, 64, 8):
        for i in range(8):
            for grad, which in ((gx, 0), (gy, 1)):
                up, down = [x[row].copy(), y[row].copy()], [x[row].copy(), y[row].copy()]
                up[which][i] += eps
                down[which][i] -= eps
                numeric = (union_by_merging(*up) - union_by_merging(*down)) / (2 * eps)
                assert grad[row, i] == pytest.approx(numeric, abs=1e-4)


def test_iqe_mixes_the_mean_and_max_of_its_components_by_hand():
    # Two components of 3: lengths 4 and 3.5 (the first two cases above).
    zs, zg = jnp.array([0.0, 2.0, 5.0, 0.0, 1.0, 4.0]), jnp.array([3.0, 1.0, 6.0, 2.0, 3.0, 4.5])
    np.testing.assert_allclose(iqe(zs, zg, 3, 0.5), 0.5 * 3.75 + 0.5 * 4.0, rtol=1e-6)
    np.testing.assert_allclose(iqe(zs, zg, 3, 0.25), 0.25 * 3.75 + 0.75 * 4.0, rtol=1e-6)
    # Backwards only [1, 2] of the first component is nonempty, none of the second: asymmetric.
    np.testing.assert_allclose(iqe(zg, zs, 3, 0.5), 0.5 * 0.5 + 0.5 * 1.0, rtol=1e-6)


def test_iqe_is_a_quasimetric():
    rng = np.random.default_rng(1)
    a, b, c = (jnp.asarray(rng.normal(size=(200, 16)), jnp.float32) for _ in range(3))
    d = lambda u, v: np.asarray(iqe(u, v, 8, 0.3))  # noqa: E731
    np.testing.assert_allclose(d(a, a), 0.0, atol=1e-6)
    assert np.all(d(a, b) >= 0) and np.all(d(a, c) <= d(a, b) + d(b, c) + 1e-5)
    assert not np.allclose(d(a, b), d(b, a))


def test_mrn_by_hand():
    zs, zg = jnp.array([0.0, 0.0, 1.0, 0.0]), jnp.array([3.0, 4.0, 0.0, 2.0])
    np.testing.assert_allclose(mrn(zs, zg), 5.0 + 1.0, rtol=1e-6)  # |(3, 4)| + max(0, max(1 - 0, 0 - 2))
    np.testing.assert_allclose(mrn(zg, zs), 5.0 + 2.0, rtol=1e-6)
    assert np.isfinite(np.asarray(jax.grad(lambda z: mrn(z, z))(zs))).all()


def test_value_loss_by_hand():
    d_neg, d_pos, log_lam = jnp.array([100.0, 600.0]), jnp.array([0.5, 3.0]), jnp.log(2.0)
    loss, m = qrl.value_loss(d_neg, d_pos, log_lam, 0.05)
    neg = (100 * np.log1p(np.exp(4.0)) + 100 * np.log1p(np.exp(-1.0))) / 2
    pos = (0.0 + 2.0**2) / 2
    np.testing.assert_allclose(m["value/d_neg_loss"], neg, rtol=1e-6)
    np.testing.assert_allclose(m["value/d_pos_loss"], pos, rtol=1e-6)
    np.testing.assert_allclose(m["value/loss"], neg + 2.0 * pos, rtol=1e-6)
    np.testing.assert_allclose(m["value/lam_loss"], 2.0 * (0.05 - pos), rtol=1e-6)
    np.testing.assert_allclose(loss, neg + 2.0 * pos + 2.0 * (0.05 - pos), rtol=1e-6)


@pytest.mark.parametrize("d_pos, lam_grows", [(jnp.array([0.5, 3.0]), True), (jnp.array([0.5, 1.0]), False)])
def test_the_multiplier_grows_while_transitions_exceed_one_step_and_shrinks_otherwise(d_pos, lam_grows):
    d_neg, log_lam = jnp.array([10.0, 20.0]), jnp.log(2.0)
    grad = jax.grad(lambda l: qrl.value_loss(d_neg, d_pos, l, 0.05)[0])(log_lam)
    pos = float(np.mean(np.maximum(np.asarray(d_pos) - 1, 0) ** 2))
    np.testing.assert_allclose(grad, 2.0 * (0.05 - pos), rtol=1e-6)  # d/dlog_lam of lam (eps - sg(pos))
    assert (grad < 0) == lam_grows  # a descent step raises log_lam exactly when the penalty exceeds eps
    # The multiplier is a constant to the distance, the penalty a constant to the multiplier.
    g_pos = jax.grad(lambda d: qrl.value_loss(d_neg, d, log_lam, 0.05)[1]["value/lam_loss"])(d_pos)
    np.testing.assert_array_equal(g_pos, 0.0)


def test_one_update_moves_the_multiplier_by_the_sign_of_its_gradient():
    agent, params, fn = build()
    b = batch()
    b["next_observations"] = b["observations"] + 50.0  # transitions far apart: d(s, s') > 1
    metrics, grads = fn(params, b, jax.random.PRNGKey(1))
    assert float(metrics["value/d_pos_loss"]) > 0.05
    state = init_state(agent, jax.random.PRNGKey(0))
    new, _ = jax.jit(lambda s, x: apply_update(agent, s, x, jax.random.PRNGKey(1)))(state, b)
    assert float(new.params["lam"]["log_lam"]) > float(state.params["lam"]["log_lam"])


def test_the_agents_losses_on_its_networks_by_hand():
    agent, params, fn = build()
    b = batch()
    metrics, _ = fn(params, b, jax.random.PRNGKey(1))
    quasi, dyn = Quasimetric(HIDDEN, LATENT), LatentDynamics(HIDDEN, LATENT)
    actor = Actor(HIDDEN, 2, layer_norm=False)
    s, s2, a, g, ga = b["observations"], b["next_observations"], b["actions"], b["value_goals"], b["actor_goals"]
    d = lambda x, y: np.asarray(quasi.apply(params["value"], x, y))  # noqa: E731
    np.testing.assert_allclose(metrics["value/d_neg_mean"], d(s, g).mean(), rtol=1e-5)
    np.testing.assert_allclose(metrics["value/d_pos_mean"], d(s, s2).mean(), rtol=1e-5)
    phi = lambda x: quasi.apply(params["value"], x, method="phi")  # noqa: E731
    dist = lambda x, y: np.asarray(quasi.apply(params["value"], x, y, method="distance"))  # noqa: E731
    predicted = dyn.apply(params["dynamics"], phi(s), a)
    np.testing.assert_allclose(metrics["dynamics/loss"], np.mean(dist(phi(s2), predicted) + dist(predicted, phi(s2))) / 2, rtol=1e-5)
    mean = actor.apply(params["actor"], (s, ga)).mean
    q = -dist(dyn.apply(params["dynamics"], phi(s), jnp.clip(mean, -1, 1)), phi(ga))
    np.testing.assert_allclose(metrics["actor/q_mean"], q.mean(), rtol=1e-5)


def test_awr_advantage_is_the_distance_closed_by_the_step():
    agent, params, fn = build("awr")
    b = batch()
    metrics, _ = fn(params, b, jax.random.PRNGKey(1))
    d = lambda x, y: np.asarray(Quasimetric(HIDDEN, LATENT).apply(params["value"], x, y))  # noqa: E731
    adv = d(b["observations"], b["actor_goals"]) - d(b["next_observations"], b["actor_goals"])  # V(s') - V(s), V = -d
    np.testing.assert_allclose(metrics["actor/adv"], adv.mean(), rtol=1e-5, atol=1e-6)
    assert "dynamics" not in params and "dynamics/loss" not in metrics


@pytest.mark.parametrize(
    "actor_loss, spec, overrides",
    [("ddpgbc", SPEC, {}), ("ddpgbc", SPEC, {"quasimetric": "mrn"}), ("awr", SPEC, {}), ("awr", DISCRETE, {})],
)
def test_each_loss_moves_only_its_own_networks(actor_loss, spec, overrides):
    agent, params, fn = build(actor_loss, spec, **overrides)
    _, grads = fn(params, batch(discrete=spec.discrete), jax.random.PRNGKey(1))
    assert moved(grads["value/loss"]) == {"value"}
    assert moved(grads["value/lam_loss"]) == {"lam"}
    assert moved(grads["actor/loss"]) == {"actor"}
    if actor_loss == "ddpgbc":  # as published, the dynamics loss also shapes phi (and IQE's mixing weight)
        assert moved(grads["dynamics/loss"]) == {"value", "dynamics"}


def test_the_mixing_weight_is_learned():
    agent, params, fn = build()
    _, grads = fn(params, batch(), jax.random.PRNGKey(1))
    assert float(grads["value/loss"]["value"]["params"]["mix_logit"]) != 0.0


@pytest.mark.parametrize("actor_loss, spec", [("ddpgbc", SPEC), ("awr", DISCRETE)])
def test_act_returns_actions_of_the_right_shape_and_range(actor_loss, spec):
    agent, params, _ = build(actor_loss, spec)
    assert_acts_in_range(agent, params, spec.discrete)


def test_bad_settings_are_clear_errors():
    with pytest.raises(GcrlError, match="quasimetric"):
        qrl.Config(quasimetric="l2")
    with pytest.raises(GcrlError, match="multiple"):
        qrl.Config(latent_dim=20)
    with pytest.raises(GcrlError, match="discrete"):
        qrl.make(qrl.Config(hidden=HIDDEN, latent_dim=LATENT), DISCRETE)


def test_pixels_go_through_one_encoder_shared_by_states_and_goals():
    spec = DataSpec((8, 8, 3), True, 2, False)
    agent = qrl.make(qrl.Config(hidden=HIDDEN, latent_dim=LATENT, encoder="impala_small"), spec)
    params = agent.init(jax.random.PRNGKey(0))
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(params["value"])[0]]
    assert len({p.split("ImpalaEncoder_0")[0] for p in paths if "ImpalaEncoder_0" in p}) == 1
    b = image_batch()
    _, metrics = jax.jit(agent.groups[0].loss)(params, {}, b, jax.random.PRNGKey(1))
    assert all(np.isfinite(float(v)) for v in metrics.values())


@pytest.mark.parametrize(
    "dataset, expected",
    [
        ("pointmaze-teleport-stitch-v0", dict(alpha=0.0003, actor_p_traj=0.5, actor_p_random=0.5)),
        ("antmaze-giant-navigate-v0", dict(alpha=0.003, discount=0.995)),
        ("visual-antmaze-teleport-explore-v0", dict(alpha=0.001, actor_p_traj=0.0, actor_p_random=1.0)),
        ("humanoidmaze-large-stitch-v0", dict(alpha=0.001, discount=0.995)),
        ("antsoccer-arena-stitch-v0", dict(alpha=0.003)),
        ("cube-double-play-v0", dict(alpha=0.3)),
        ("visual-puzzle-3x3-noisy-v0", dict(alpha=0.03)),
        ("powderworld-easy-play-v0", dict(alpha=3.0, actor_loss="awr")),
    ],
)
def test_published_per_dataset_settings(dataset, expected):
    _, cfg = config.resolve("qrl", dataset, "paper")
    assert {k: getattr(cfg, k) for k in expected} == expected
    assert (cfg.value_p_cur, cfg.value_p_traj, cfg.value_p_random) == (0.0, 0.0, 1.0)  # random value goals only
