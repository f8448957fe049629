"""The flat agent put together: DreamerV3's optimiser by hand, and acting (discrete actions) with
its carried state. One joint update and 100 of them: test_online_learning.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gcrl.online import dreamer
from gcrl.online.config import preset
from gcrl.online.optim import clip_by_agc, optimizer, schedule

FAST = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None
TINY = preset("cpu", deter=32, hidden=16, stoch=4, classes=5, blocks=2, depth=4, mults=(2, 4), units=16, dec_blocks=4, warmup=0, lr=1e-3)
A, K, B, T = 3, 2, 2, 4
AGENT = dreamer.make(TINY, A, True, K, (16, 16, 3))


def test_agc_and_laprop_by_hand():
    params, grads = {"w": jnp.array([3.0, 4.0])}, {"w": jnp.array([30.0, -40.0])}
    clipped, _ = clip_by_agc(0.3).update(grads, None, params)
    np.testing.assert_allclose(clipped["w"], [0.9, -1.2], rtol=1e-6)  # norm 50 down to 0.3 x |p| = 1.5
    tiny, _ = clip_by_agc(0.3).update({"w": jnp.array([1.0, 0.0])}, None, {"w": jnp.zeros(2)})
    np.testing.assert_allclose(tiny["w"], [3e-4, 0.0], rtol=1e-6)  # |p| counts as at least 1e-3
    tx = optimizer(preset("cpu", lr=0.1, warmup=0))
    state = tx.init(params)
    first, state = tx.update(grads, state, params)
    np.testing.assert_allclose(first["w"], [-0.1, 0.1], rtol=1e-5)  # step 1: -lr sign(g), both moments debiased
    g1, g2 = np.array([0.9, -1.2]), np.array([0.1, 0.2])
    second, _ = tx.update({"w": jnp.asarray(g2)}, state, {"w": params["w"] + first["w"]})
    nu = 0.999 * 0.001 * g1**2 + 0.001 * g2**2
    r2 = g2 / np.sqrt(nu / (1 - 0.999**2))
    mu = 0.9 * 0.1 * np.sign(g1) + 0.1 * r2
    np.testing.assert_allclose(second["w"], -0.1 * mu / (1 - 0.9**2), rtol=1e-4)
    ramp = schedule(preset("paper"))  # DreamerV3's lr 4e-5 reached linearly over 1000 updates
    np.testing.assert_allclose([ramp(0), ramp(500), ramp(1000), ramp(5000)], [0.0, 2e-5, 4e-5, 4e-5], rtol=1e-6)


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return dict(
        image=rng.integers(0, 256, (B, T, 16, 16, 3)).astype(np.uint8),
        action=np.eye(A, dtype=np.float32)[rng.integers(0, A, (B, T))],
        reward=rng.normal(size=(B, T)).astype(np.float32),
        is_first=np.array([[1, 0, 0, 0], [0, 0, 1, 0]], bool),
        is_terminal=np.array([[0, 0, 0, 0], [0, 1, 0, 0]], bool),
        task=rng.normal(size=(B, T, K)).astype(np.float32),
    )


def test_acting_carries_the_state_and_resets_it_on_is_first(batch):
    params = AGENT.init(jax.random.PRNGKey(0)).params
    act = jax.jit(AGENT.act, static_argnames="sample", compiler_options=FAST)
    obs = lambda t, first: dict(image=batch["image"][:, t], task=batch["task"][:, t], is_first=np.array(first))
    action, carry = act(params, AGENT.initial_carry(B), obs(0, [True, True]), jax.random.PRNGKey(1))
    assert action.shape == (B, A) and np.all(action.sum(-1) == 1.0)  # one-hot actions
    np.testing.assert_array_equal(carry.prev_action, action)
    _, after = act(params, carry, obs(1, [False, True]), jax.random.PRNGKey(2))
    _, fresh = act(params, AGENT.initial_carry(B), obs(1, [True, True]), jax.random.PRNGKey(3))
    np.testing.assert_allclose(after.state.deter[1], fresh.state.deter[1], rtol=1e-5, atol=1e-6)  # reset
    assert not np.allclose(after.state.deter[0], fresh.state.deter[0], atol=1e-4)  # carried on
    greedy, state = act(params, carry, obs(1, [False, False]), jax.random.PRNGKey(4), sample=False)
    np.testing.assert_array_equal(greedy, AGENT.ac.policy(params, state.state, jnp.asarray(batch["task"][:, 1])).mode())
