"""The RSSM world model: KL balancing with free bits by hand and which networks each KL term trains,
observe and imagine (shapes, resets on is_first, the prior's first step from a posterior state
equals the observed one), the image sizes the CNN takes, and the presets' sizes."""

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gcrl.errors import GcrlError
from gcrl.online import world_model
from gcrl.online.config import preset
from gcrl.online.world_model import State, kl_balance, previous_actions

# XLA's backend optimisations cost most of these tests' time and change nothing they check.
FAST = {"xla_backend_optimization_level": 0} if jax.default_backend() == "cpu" else None
TINY = preset("cpu", deter=32, hidden=16, stoch=4, classes=5, blocks=2, depth=4, mults=(2, 4), units=16, dec_blocks=4, free_nats=0.0)
A, K, B, T = 2, 3, 2, 5
WM = world_model.make(TINY, A, K, (16, 16, 3))


@pytest.fixture(scope="module")
def params():
    return WM.init(jax.random.PRNGKey(0))


@pytest.fixture(scope="module")
def sequence():
    rng = np.random.default_rng(0)
    return dict(
        image=rng.integers(0, 256, (B, T, 16, 16, 3)).astype(np.uint8),
        action=rng.uniform(-3, 3, (B, T, A)).astype(np.float32),  # beyond 1: the core divides by max(1, |a|)
        task=rng.normal(size=(B, T, K)).astype(np.float32),
        is_first=np.array([[1, 0, 0, 1, 0], [1, 0, 0, 0, 0]], bool),
    )


@pytest.fixture(scope="module")
def observed(params, sequence):
    observe = jax.jit(lambda p, s, k: WM.observe(p, WM.encode(p, s["image"]), previous_actions(s["action"]), s["is_first"], s["task"], k), compiler_options=FAST)
    return observe(params, sequence, jax.random.PRNGKey(1))


def test_kl_balance_by_hand_with_free_bits():
    q = jnp.log(jnp.array([[0.5, 0.5], [0.9, 0.1]]))  # two latents of two classes
    p = jnp.log(jnp.array([[0.25, 0.75], [0.5, 0.5]]))
    kl = 0.5 * np.log(0.5 / 0.25) + 0.5 * np.log(0.5 / 0.75) + 0.9 * np.log(0.9 / 0.5) + 0.1 * np.log(0.1 / 0.5)
    dyn, rep = kl_balance(q, p, 0.0)
    np.testing.assert_allclose([dyn, rep], [kl, kl], rtol=1e-6)  # the same KL, summed over latents
    dyn, rep = kl_balance(q, p, 1.0)  # kl = 0.43 < 1 nat: both clipped to the free bits ...
    np.testing.assert_allclose([dyn, rep], [1.0, 1.0])
    grads = jax.grad(lambda q, p: sum(kl_balance(q, p, 1.0)), argnums=(0, 1))(q, p)
    np.testing.assert_array_equal(grads[0], 0.0)  # ... and pass no gradient
    np.testing.assert_array_equal(grads[1], 0.0)
    far = jnp.log(jnp.array([[0.99, 0.01], [0.99, 0.01]]))
    dyn, rep = kl_balance(far, p, 1.0)
    assert dyn > 1.0 and dyn == rep


def test_dyn_moves_only_the_prior_and_rep_only_the_posterior():
    q, p = jax.random.normal(jax.random.PRNGKey(0), (2, 3, 4, 5))
    d_dyn = jax.grad(lambda q, p: kl_balance(q, p, 0.0)[0].sum(), argnums=(0, 1))(q, p)
    d_rep = jax.grad(lambda q, p: kl_balance(q, p, 0.0)[1].sum(), argnums=(0, 1))(q, p)
    assert np.all(d_dyn[0] == 0.0) and np.abs(d_dyn[1]).sum() > 0  # dyn: prior logits only
    assert np.all(d_rep[1] == 0.0) and np.abs(d_rep[0]).sum() > 0  # rep: posterior logits only


def test_each_kl_term_reaches_its_own_networks(params, sequence):
    """One step from the initial state (T > 1 also lets dyn reach the posterior of the step before,
    through its straight-through sample z_{t-1} in h_t). dyn: the prior's MLP, never the posterior
    or the encoder; rep: the posterior and the encoder, never the prior's MLP. Both reach the GRU."""

    def terms(params, image, task, key):
        embed = WM.encode(params, image)
        post = WM.obs_step(params, WM.initial(B), jnp.zeros((B, A)), embed, task, jnp.ones(B, bool), key)
        dyn, rep = kl_balance(post.logits, WM.prior(params, post.deter), 0.0)
        return jnp.stack([dyn.mean(), rep.mean()])

    jac = jax.jit(jax.jacrev(terms), compiler_options=FAST)(params, sequence["image"][:, 0], sequence["task"][:, 0], jax.random.PRNGKey(2))
    reach = {name: [float(sum(jnp.abs(x[i]).sum() for x in jax.tree_util.tree_leaves(sub))) for i in (0, 1)] for name, sub in jac["params"].items()}
    for name in ("prior_mlp", "prior_out"):
        assert reach[name][0] > 0 and reach[name][1] == 0, (name, reach[name])
    for name in ("post_mlp", "post_out", "encoder"):
        assert reach[name][0] == 0 and reach[name][1] > 0, (name, reach[name])
    for name in ("dyn_gates", "in_task"):
        assert reach[name][0] > 0 and reach[name][1] > 0, (name, reach[name])
    for name in ("decoder", "reward_mlp", "cont_mlp"):
        assert reach[name] == [0, 0], (name, reach[name])


def test_observe_gives_a_state_per_step_and_resets_on_is_first(params, sequence, observed):
    last, post = observed
    assert post.deter.shape == (B, T, TINY.deter)
    assert post.stoch.shape == post.logits.shape == (B, T, TINY.stoch, TINY.classes)
    np.testing.assert_allclose(post.stoch.sum(-1), 1.0, rtol=1e-6)  # one-hot samples (straight-through)
    np.testing.assert_allclose(jnp.exp(post.logits).sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(last.deter, post.deter[:, -1])
    # Step 3 of row 0 starts an episode: it is the first step from the initial state, whatever the
    # state and the (large) previous action before it; h and the posterior do not depend on the key.
    step = jax.jit(WM.obs_step, compiler_options=FAST)
    embed = WM.encode(params, sequence["image"][:, 3])
    fresh = step(params, WM.initial(B), jnp.zeros((B, A)), embed, sequence["task"][:, 3], jnp.ones(B, bool), jax.random.PRNGKey(9))
    np.testing.assert_allclose(post.deter[0, 3], fresh.deter[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(post.logits[0, 3], fresh.logits[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(post.deter[1, 3], fresh.deter[1], atol=1e-4)  # row 1 carries on
    # Every first step equals every other first step's computation on its own inputs: row 0 step 0.
    first = step(params, State(post.deter[:, 2], post.stoch[:, 2], post.logits[:, 2]), jnp.ones((B, A)), WM.encode(params, sequence["image"][:, 0]), sequence["task"][:, 0], jnp.ones(B, bool), jax.random.PRNGKey(3))
    np.testing.assert_allclose(post.deter[:, 0], first.deter, rtol=1e-5, atol=1e-6)


def test_imagining_from_a_posterior_state_gives_the_observed_next_deterministic_state(params, sequence, observed):
    _, post = observed
    t = 1  # steps 1 -> 2 continue the episode in both rows
    start = jax.tree_util.tree_map(lambda x: x[:, t], post)
    actions = jnp.asarray(sequence["action"][:, t])
    imagine = jax.jit(lambda p, s, k: WM.imagine(p, s, lambda state, key: actions, 3, sequence["task"][:, t + 1], k), compiler_options=FAST)
    states, taken = imagine(params, start, jax.random.PRNGKey(4))
    assert states.deter.shape == (B, 4, TINY.deter) and states.stoch.shape == (B, 4, TINY.stoch, TINY.classes)
    assert taken.shape == (B, 3, A)
    np.testing.assert_array_equal(states.deter[:, 0], start.deter)  # the start comes first
    np.testing.assert_allclose(states.deter[:, 1], post.deter[:, t + 1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jnp.exp(states.logits).sum(-1), 1.0, rtol=1e-5)  # the prior's latents


def test_the_cnn_takes_64_32_and_16_pixel_images():
    for size, stages in ((64, 4), (32, 3), (16, 2)):
        config = preset("cpu", mults=(2, 3, 4, 4)) if size > 16 else TINY
        wm = world_model.make(config, A, K, (size, size, 3))
        assert world_model.cnn_stages((size, size, 3), config) == stages
        params = jax.eval_shape(wm.init, jax.random.PRNGKey(0))
        decoded = jax.eval_shape(wm.decode, params, wm.initial(2))
        assert decoded.shape == (2, size, size, 3)
        embed = jax.eval_shape(wm.encode, params, jnp.zeros((2, 7, size, size, 3), jnp.uint8))
        assert embed.shape == (2, 7, 4 * 4 * config.depth * config.mults[stages - 1])
    with pytest.raises(GcrlError, match="halve"):
        world_model.make(TINY, A, K, (24, 24, 3))


def test_presets_sizes():
    counts = {}
    for name in ("cpu", "paper"):
        config = preset(name)
        wm = world_model.make(config, 4, 2, (64, 64, 3))
        shapes = jax.eval_shape(wm.init, jax.random.PRNGKey(0))
        counts[name] = sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(shapes))
    assert preset("paper").deter == 2048 and preset("paper").stoch * preset("paper").classes == 512
    assert 8e6 < counts["paper"] < 16e6, counts  # DreamerV3's size12m (the world model without actor-critic)
    assert counts["cpu"] < counts["paper"] / 4, counts
    with pytest.raises(GcrlError):
        preset("cpu", deter=250)  # not a multiple of the GRU's blocks
    with pytest.raises(GcrlError):
        preset("nope")
    assert replace(preset("cpu"), lam=0.9).lam == 0.9
