"""CRL's math pinned by hand: the bilinear critic, the binary contrastive loss over all B x B pairs
with the positives on the diagonal, DDPG+BC on the logit, AWR with its separate V, which networks
each loss moves, acting, and the per-dataset settings."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from agent_probes import assert_acts_in_range, hand_batch as batch, image_batch, moved, per_loss_gradients
from gcrl import config
from gcrl.agents import crl
from gcrl.agents.base import DataSpec
from gcrl.errors import GcrlError
from gcrl.nets.critics import BilinearCritic, bilinear, pairwise_logits
from gcrl.nets.heads import Actor

SPEC = DataSpec((2,), False, 2, False)
DISCRETE = DataSpec((2,), False, 3, True)
HIDDEN, LATENT = (8,), 4


AGENTS = {}
NAMES = {"ddpgbc": ("critic/loss", "actor/loss"), "awr": ("critic/loss", "value/loss", "actor/loss")}


def build(actor_loss="ddpgbc", spec=SPEC, **overrides):
    """The agent, its parameters, and one compiled function giving the loss's metrics and each
    named loss's gradient with respect to every parameter subtree."""
    key = (actor_loss, spec, tuple(sorted(overrides.items())))
    if key not in AGENTS:
        agent = crl.make(crl.Config(hidden=HIDDEN, latent_dim=LATENT, actor_loss=actor_loss, **overrides), spec)
        params = agent.init(jax.random.PRNGKey(0))
        probe = per_loss_gradients(agent.groups[0].loss, NAMES[actor_loss])
        AGENTS[key] = (agent, params, lambda params, b, rng, probe=probe: probe(params, {}, b, rng))
    return AGENTS[key]


def test_bilinear_and_pairwise_logits_by_hand():
    phi = jnp.array([[1.0, 2.0, 0.0, 0.0], [0.0, 1.0, 1.0, 1.0]])
    psi = jnp.array([[2.0, 0.0, 0.0, 2.0], [1.0, 1.0, -1.0, 0.0]])
    np.testing.assert_allclose(bilinear(phi, psi), [2.0 / 2, 0.0])  # row by row, / sqrt(4)
    np.testing.assert_allclose(pairwise_logits(phi, psi), [[1.0, 1.5], [1.0, 0.0]])  # [i, j] = phi_i . psi_j / 2


def test_contrastive_loss_puts_the_positives_on_the_diagonal():
    phi = jnp.array([[[1.0, 2.0, 0.0, 0.0], [0.0, 1.0, 1.0, 1.0]]])  # one head, B = 2
    psi = jnp.array([[[2.0, 0.0, 0.0, 2.0], [1.0, 1.0, -1.0, 0.0]]])
    logits = np.array([[1.0, 1.5], [1.0, 0.0]])
    softplus = lambda x: np.log1p(np.exp(x))  # noqa: E731
    # Row i's positive is goal i: -log sigmoid on the diagonal, -log(1 - sigmoid) off it.
    expected = (softplus(-1.0) + softplus(1.5) + softplus(1.0) + softplus(-0.0)) / 4
    loss, metrics = crl.contrastive_loss(phi, psi, "critic")
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    np.testing.assert_allclose(loss, optax.sigmoid_binary_cross_entropy(jnp.asarray(logits), jnp.eye(2)).mean(), rtol=1e-6)
    np.testing.assert_allclose(metrics["critic/logits_pos"], 0.5, rtol=1e-6)
    np.testing.assert_allclose(metrics["critic/logits_neg"], 1.25, rtol=1e-6)
    np.testing.assert_allclose(metrics["critic/categorical_accuracy"], 0.0)  # row 0 prefers goal 1, row 1 goal 0
    # Each logit's gradient is (sigmoid(logit) - 1(i = j)) / (E B B), the B x B targets the identity;
    # phi_i's is then sum_j of that times psi_j / sqrt(d).
    grad = jax.grad(lambda p: crl.contrastive_loss(p, psi, "critic")[0])(phi)
    d_logits = (1 / (1 + np.exp(-logits)) - np.eye(2)) / 4
    np.testing.assert_allclose(grad[0], d_logits @ np.asarray(psi[0]) / 2, rtol=1e-5)


def test_contrastive_loss_averages_the_ensemble():
    rng = np.random.default_rng(0)
    phi, psi = jnp.asarray(rng.normal(size=(2, 3, 4)), jnp.float32), jnp.asarray(rng.normal(size=(2, 3, 4)), jnp.float32)
    loss, _ = crl.contrastive_loss(phi, psi, "critic")
    each = [crl.contrastive_loss(phi[e], psi[e], "critic")[0] for e in (0, 1)]
    np.testing.assert_allclose(loss, np.mean(each), rtol=1e-6)


def test_the_agents_losses_on_its_networks_by_hand():
    agent, params, fn = build()
    b = batch()
    metrics, _ = fn(params, b, jax.random.PRNGKey(1))
    critic, actor = BilinearCritic(HIDDEN, LATENT), Actor(HIDDEN, 2, layer_norm=False)
    s, a, g, ga = b["observations"], b["actions"], b["value_goals"], b["actor_goals"]
    phi = np.asarray(critic.apply(params["critic"], s, a, method="phi"))  # [2, B, d]
    psi = np.asarray(critic.apply(params["critic"], g, method="psi"))
    logits = np.einsum("eik,ejk->eij", phi, psi) / 2.0
    bce = np.log1p(np.exp(logits)) - logits * np.eye(4)
    np.testing.assert_allclose(metrics["critic/loss"], bce.mean(), rtol=1e-5)
    # The critic's value on matching pairs is the diagonal.
    np.testing.assert_allclose(np.asarray(critic.apply(params["critic"], s, g, a)), np.diagonal(logits, axis1=1, axis2=2), rtol=1e-5)
    mean = actor.apply(params["actor"], (s, ga)).mean
    q = np.asarray(critic.apply(params["critic"], s, ga, jnp.clip(mean, -1, 1))).min(0)
    np.testing.assert_allclose(metrics["actor/q_mean"], q.mean(), rtol=1e-5)


def test_awr_advantage_is_min_q_minus_the_separate_v():
    agent, params, fn = build("awr")
    b = batch()
    metrics, _ = fn(params, b, jax.random.PRNGKey(1))
    s, a, ga = b["observations"], b["actions"], b["actor_goals"]
    q = np.asarray(BilinearCritic(HIDDEN, LATENT).apply(params["critic"], s, ga, a)).min(0)
    v = np.asarray(BilinearCritic(HIDDEN, LATENT, ensemble=1).apply(params["value"], s, ga))
    np.testing.assert_allclose(metrics["actor/adv"], (q - v).mean(), rtol=1e-5, atol=1e-7)
    phi_v = BilinearCritic(HIDDEN, LATENT, ensemble=1).apply(params["value"], s, method="phi")
    psi_v = BilinearCritic(HIDDEN, LATENT, ensemble=1).apply(params["value"], b["value_goals"], method="psi")
    np.testing.assert_allclose(metrics["value/loss"], crl.contrastive_loss(phi_v, psi_v, "v")[0], rtol=1e-5)


@pytest.mark.parametrize("actor_loss, spec", [("ddpgbc", SPEC), ("awr", SPEC), ("awr", DISCRETE)])
def test_each_loss_moves_only_its_own_network(actor_loss, spec):
    agent, params, fn = build(actor_loss, spec)
    _, grads = fn(params, batch(discrete=spec.discrete), jax.random.PRNGKey(1))
    assert moved(grads["critic/loss"]) == {"critic"}
    assert moved(grads["actor/loss"]) == {"actor"}
    if actor_loss == "awr":
        assert moved(grads["value/loss"]) == {"value"}
    else:
        assert "value" not in params  # DDPG+BC fits only Q


@pytest.mark.parametrize("actor_loss, spec", [("ddpgbc", SPEC), ("awr", DISCRETE)])
def test_act_returns_actions_of_the_right_shape_and_range(actor_loss, spec):
    agent, params, _ = build(actor_loss, spec)
    assert_acts_in_range(agent, params, spec.discrete)


def test_bad_settings_are_clear_errors():
    with pytest.raises(GcrlError, match="actor_loss"):
        crl.Config(actor_loss="infonce")
    with pytest.raises(GcrlError, match="discrete"):
        crl.make(crl.Config(hidden=HIDDEN, latent_dim=LATENT), DISCRETE)


def test_pixels_go_through_a_state_encoder_and_a_goal_encoder():
    spec = DataSpec((8, 8, 3), True, 2, False)
    agent = crl.make(crl.Config(hidden=HIDDEN, latent_dim=LATENT, encoder="impala_small"), spec)
    params = agent.init(jax.random.PRNGKey(0))
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(params["critic"])[0]]
    assert len({p.split("ImpalaEncoder_0")[0] for p in paths if "ImpalaEncoder_0" in p}) == 2  # shared by both heads
    b = image_batch()
    _, metrics = jax.jit(agent.groups[0].loss)(params, {}, b, jax.random.PRNGKey(1))
    assert all(np.isfinite(float(v)) for v in metrics.values())


@pytest.mark.parametrize(
    "dataset, expected",
    [
        ("pointmaze-medium-navigate-v0", dict(alpha=0.03, discount=0.99, actor_p_traj=1.0)),
        ("antmaze-giant-stitch-v0", dict(alpha=0.1, discount=0.995, actor_p_traj=0.5, actor_p_random=0.5)),
        ("antmaze-medium-explore-v0", dict(alpha=0.003, actor_p_traj=0.0, actor_p_random=1.0)),
        ("visual-humanoidmaze-giant-navigate-v0", dict(alpha=0.1, discount=0.995)),
        ("antsoccer-medium-navigate-v0", dict(alpha=0.3)),
        ("visual-cube-triple-play-v0", dict(alpha=3.0)),
        ("cube-quadruple-noisy-v0", dict(alpha=0.1)),
        ("powderworld-medium-play-v0", dict(alpha=3.0, actor_loss="awr")),
    ],
)
def test_published_per_dataset_settings(dataset, expected):
    _, cfg = config.resolve("crl", dataset, "paper")
    assert {k: getattr(cfg, k) for k in expected} == expected
    assert (cfg.value_p_cur, cfg.value_p_traj, cfg.value_p_random) == (0.0, 1.0, 0.0)  # goals from the same trajectory
