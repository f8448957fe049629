"""The actor-critic in imagination: lambda-returns worked by hand (continues of 0 cut the bootstrap),
the weights, REINFORCE and critic losses by hand, the percentile return normaliser, and which
parameters each of the policy, critic and replay-critic losses reaches."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gcrl.online import behavior, world_model
from gcrl.online.behavior import (
    ReturnNorm,
    critic_loss,
    imagination_weights,
    lambda_return,
    reinforce_loss,
    replay_last,
    return_scale,
    update_return_norm,
)
from gcrl.online.config import preset
from gcrl.online.dists import twohot, twohot_bins
from gcrl.online.world_model import State

FAST = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None
TINY = preset("cpu", deter=32, hidden=16, stoch=4, classes=5, blocks=2, depth=4, mults=(2, 4), units=16, dec_blocks=4)
A, K, B, T = 2, 3, 2, 4


def test_lambda_return_by_hand():
    reward = jnp.array([[0.0, 1.0, 2.0, 3.0]])
    value = jnp.array([[10.0, 20.0, 30.0, 40.0]])
    live = jnp.array([[1.0, 0.9, 0.0, 0.9]])  # the episode ends on arriving at step 2
    # R_3 = v_3 = 40
    # R_2 = r_3 + 0.9 (0.5 v_3 + 0.5 R_3) = 3 + 36 = 39
    # R_1 = r_2 + 0 (...) = 2                     (no bootstrap past the end)
    # R_0 = r_1 + 0.9 (0.5 v_1 + 0.5 R_1) = 1 + 0.9 (10 + 1) = 10.9
    np.testing.assert_allclose(lambda_return(reward, live, value, 0.5), [[10.9, 2.0, 39.0]], rtol=1e-6)
    # Per-step lambda (the replay loss's lam (1 - last)): lam_1 = 0 bootstraps fully from v_1.
    live = jnp.array([[1.0, 0.9, 0.9, 0.9]])
    lam = jnp.array([[0.5, 0.0, 0.5, 0.5]])
    # R_2 = 39;  R_1 = 2 + 0.9 (0.5 30 + 0.5 39) = 33.05;  R_0 = 1 + 0.9 (1.0 v_1 + 0 R_1) = 19
    np.testing.assert_allclose(lambda_return(reward, live, value, lam), [[19.0, 33.05, 39.0]], rtol=1e-6)


def test_lambda_return_spans_td0_to_monte_carlo():
    rng = np.random.default_rng(0)
    reward, value = rng.normal(size=(2, 3, 6))
    live = rng.uniform(0.5, 1.0, (3, 6))
    td0 = reward[:, 1:] + live[:, 1:] * value[:, 1:]
    np.testing.assert_allclose(lambda_return(reward, live, value, 0.0), td0, rtol=1e-5)
    mc = np.zeros((3, 5))
    for t in range(5):
        discount, total = 1.0, 0.0
        for i in range(t + 1, 6):
            discount *= live[:, i]
            total = total + discount / live[:, i] * reward[:, i]
        mc[:, t] = total + discount * value[:, -1]
    np.testing.assert_allclose(lambda_return(reward, live, value, 1.0), mc, rtol=1e-5)


def test_weights_reinforce_and_critic_losses_by_hand():
    cont = jnp.array([[0.9, 0.5, 0.0, 1.0]])
    weight = imagination_weights(cont)
    np.testing.assert_allclose(weight, [[0.9, 0.45, 0.0]], rtol=1e-6)  # the start's own continue counts
    log_prob, entropy, advantage = jnp.array([[-1.0, -2.0, -3.0]]), jnp.array([[1.0, 0.5, 2.0]]), jnp.array([[2.0, -1.0, 5.0]])
    expected = -(0.9 * (-1.0 * 2.0 + 0.1 * 1.0) + 0.45 * (-2.0 * -1.0 + 0.1 * 0.5) + 0.0) / 3
    np.testing.assert_allclose(reinforce_loss(log_prob, entropy, advantage, weight, 0.1), expected, rtol=1e-6)
    grad = jax.grad(lambda lp, adv: reinforce_loss(lp, entropy, adv, weight, 0.1), argnums=(0, 1))(log_prob, advantage)
    np.testing.assert_allclose(grad[0], -weight * advantage / 3, rtol=1e-6)  # REINFORCE: d/d log pi = -w A
    np.testing.assert_array_equal(grad[1], 0.0)  # the advantage under stop-gradient
    bins = twohot_bins(255)
    logits = jnp.zeros((1, 3, 255))  # uniform: every cross-entropy is log 255
    np.testing.assert_allclose(critic_loss(logits, jnp.ones((1, 3)), jnp.zeros((1, 3)), weight, bins, 1.0), (0.9 + 0.45) * 2 * np.log(255) / 3, rtol=1e-5)
    code = twohot(jnp.array([[1.0, 2.0, 3.0]]), bins)
    perfect = critic_loss(jnp.log(code + 1e-12), jnp.array([[1.0, 2.0, 3.0]]), jnp.zeros((1, 3)), weight, bins, 0.0)
    entropy = -(code * jnp.log(code + 1e-12)).sum(-1)  # predicting the code itself costs its entropy
    np.testing.assert_allclose(perfect, (weight * entropy).mean(), rtol=1e-4)


def test_return_normaliser_tracks_the_5th_to_95th_percentile_range():
    returns = jnp.arange(101.0)  # P5 = 5, P95 = 95
    norm = update_return_norm(ReturnNorm(jnp.zeros(()), jnp.zeros(())), returns, TINY)
    np.testing.assert_allclose([norm.low, norm.high], [0.05, 0.95], rtol=1e-6)  # rate 0.01 from zero (no debiasing)
    assert return_scale(norm, TINY) == 1.0  # a range of 0.9 < 1: not scaled up
    update = jax.jit(lambda n: update_return_norm(n, returns, TINY))
    for _ in range(500):
        norm = update(norm)
    np.testing.assert_allclose([norm.low, norm.high], [5 * (1 - 0.99**501), 95 * (1 - 0.99**501)], rtol=1e-4)
    np.testing.assert_allclose(return_scale(norm, TINY), 90 * (1 - 0.99**501), rtol=1e-4)
    small = ReturnNorm(jnp.array(-0.2), jnp.array(0.3))
    assert return_scale(small, TINY) == 1.0
    shifted = update_return_norm(norm, returns + 1000.0, TINY)  # the scale is a range: offsets drop out ...
    np.testing.assert_allclose(shifted.high - shifted.low, 0.99 * (norm.high - norm.low) + 0.01 * 90, rtol=1e-4)


def test_replay_last_is_the_next_steps_is_first():
    batch = {"is_first": np.array([[1, 0, 0, 1, 0], [0, 1, 0, 0, 0]], bool)}
    np.testing.assert_array_equal(replay_last(batch), [[0, 0, 1, 0, 0], [1, 0, 0, 0, 0]])
    np.testing.assert_array_equal(replay_last({**batch, "is_last": np.eye(5)[:2]}), np.eye(5)[:2])


@pytest.fixture(scope="module")
def setup():
    wm = world_model.make(TINY, A, K, (16, 16, 3))
    ac = behavior.make(TINY, wm, discrete=False)
    wm_params = wm.init(jax.random.PRNGKey(0))
    ac_params, ac_state = ac.init(jax.random.PRNGKey(1))
    # The critic's output layer starts at zero, which blocks every gradient through it: randomise it.
    out = ac_params["critic"]["params"]["Dense_0"]
    out["kernel"] = 0.1 * jax.random.normal(jax.random.PRNGKey(2), out["kernel"].shape)
    rng = np.random.default_rng(0)
    stoch = jax.nn.one_hot(rng.integers(0, TINY.classes, (B, T, TINY.stoch)), TINY.classes)
    posterior = State(jnp.asarray(rng.normal(size=(B, T, TINY.deter)), jnp.float32), stoch, jnp.log(0.9 * stoch + 0.02))
    batch = dict(
        reward=rng.normal(size=(B, T)).astype(np.float32),
        is_first=np.array([[1, 0, 0, 0], [0, 0, 1, 0]], bool),
        is_terminal=np.array([[0, 0, 0, 0], [0, 1, 0, 0]], bool),
        task=rng.normal(size=(B, T, K)).astype(np.float32),
    )
    return wm, ac, wm_params, ac_params, ac_state, posterior, batch


def test_each_actor_critic_term_reaches_only_its_own_parameters(setup):
    _, ac, wm_params, ac_params, ac_state, posterior, batch = setup
    names = ("ac/policy_loss", "ac/value_loss", "ac/repval_loss")

    def terms(ac_params, wm_params, posterior):
        _, (metrics, new_state) = ac.actor_critic_loss(ac_params, ac_state, wm_params, posterior, batch, jax.random.PRNGKey(3))
        return jnp.stack([metrics[k] for k in names]), (metrics, new_state)

    jac, (metrics, new_state) = jax.jit(jax.jacrev(terms, argnums=(0, 1, 2), has_aux=True), compiler_options=FAST)(ac_params, wm_params, posterior)
    reach = lambda tree, i: float(sum(jnp.abs(x[i]).sum() for x in jax.tree_util.tree_leaves(tree)))
    d_ac, d_wm, d_post = jac
    policy, value, repval = 0, 1, 2
    assert reach(d_ac["actor"], policy) > 0 and reach(d_ac["critic"], policy) == 0
    assert reach(d_ac["critic"], value) > 0 and reach(d_ac["actor"], value) == 0
    assert reach(d_ac["critic"], repval) > 0 and reach(d_ac["actor"], repval) == 0
    for i in (policy, value, repval):
        assert reach(d_wm, i) == 0  # imagination runs under stop-gradient
    assert reach(d_post, policy) == 0 and reach(d_post, value) == 0  # the starts are stopped ...
    assert reach(d_post, repval) > 0  # ... the replayed states are not (DreamerV3's repval_grad)
    assert all(np.isfinite(float(v)) for v in metrics.values())
    low, high = new_state.retnorm
    assert high > low and low != 0.0  # the normaliser moved this update, from zero ...
    np.testing.assert_allclose(metrics["ac/return_scale"], max(1.0, high - low), rtol=1e-6)  # ... and scaled by it
    assert 0.0 < metrics["ac/weight"] < 1.0 and metrics["ac/entropy"] > 0
