"""The online agent's distributions pinned by hand: symlog and symexp, DreamerV3's 255 two-hot bins,
the two-hot encoding, its mean and loss, unimix, straight-through samples, the actors' distributions."""

import jax
import jax.numpy as jnp
import numpy as np

from gcrl.online.dists import (
    BoundedNormal,
    OneHotCategorical,
    categorical_entropy,
    categorical_kl,
    straight_through_sample,
    symexp,
    symlog,
    twohot,
    twohot_bins,
    twohot_loss,
    twohot_mean,
    unimix_logits,
)

BINS = twohot_bins(255)


def test_symlog_and_symexp_are_inverses():
    x = jnp.array([-1e6, -123.4, -1.0, -1e-3, 0.0, 1e-3, 0.5, 1.0, 42.0, 1e6])
    np.testing.assert_allclose(symexp(symlog(x)), x, rtol=1e-5)
    np.testing.assert_allclose(symlog(symexp(symlog(x))), symlog(x), rtol=1e-6)
    np.testing.assert_allclose(symlog(jnp.array([-(np.e - 1), 0.0, np.e - 1])), [-1.0, 0.0, 1.0], rtol=1e-6)


def test_bins_are_dreamerv3s_symexp_spaced_and_symmetric():
    assert BINS.shape == (255,)
    np.testing.assert_array_equal(BINS, -BINS[::-1])  # exactly mirrored
    assert BINS[127] == 0.0
    np.testing.assert_allclose(BINS, symexp(jnp.linspace(-20.0, 20.0, 255)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(BINS[-1], np.expm1(20.0), rtol=1e-6)
    assert np.all(np.diff(BINS) > 0)
    even = twohot_bins(6)
    np.testing.assert_array_equal(even, -even[::-1])  # DreamerV3's even layout: two zeros in the middle


def test_twohot_puts_two_weights_summing_to_one_on_the_neighbouring_bins():
    bins = jnp.array([-2.0, -1.0, 0.0, 1.0, 3.0])
    codes = twohot(jnp.array([0.25, 2.5, -1.0, 7.0, -9.0]), bins)
    np.testing.assert_allclose(codes[0], [0, 0, 0.75, 0.25, 0])  # 0.25 between 0 and 1
    np.testing.assert_allclose(codes[1], [0, 0, 0, 0.25, 0.75])  # 2.5 between 1 and 3
    np.testing.assert_allclose(codes[2], [0, 1, 0, 0, 0])  # on a bin
    np.testing.assert_allclose(codes[3], [0, 0, 0, 0, 1])  # beyond the ends: the end bin
    np.testing.assert_allclose(codes[4], [1, 0, 0, 0, 0])
    y = jnp.array([-3e4, -17.3, -0.5, 0.0, 1e-4, 0.7, 5.0, 1234.5])
    codes = twohot(y, BINS)
    np.testing.assert_allclose(codes.sum(-1), 1.0, rtol=1e-6)
    assert np.all((codes > 0).sum(-1) <= 2)
    for value, code in zip(np.asarray(y), np.asarray(codes)):
        k = np.nonzero(code)[0]
        assert BINS[k[0]] <= value <= BINS[k[-1]] and k[-1] - k[0] <= 1


def test_twohot_round_trips_through_the_mean():
    y = jnp.array([-3e4, -17.3, -0.5, 0.0, 1e-4, 0.7, 5.0, 1234.5])
    codes = twohot(y, BINS)
    np.testing.assert_allclose((codes * BINS).sum(-1), y, rtol=1e-5, atol=1e-6)  # linear interpolation
    decoded = twohot_mean(jnp.log(codes + 1e-30), BINS)  # logits whose softmax is the code
    np.testing.assert_allclose(decoded, y, rtol=1e-4, atol=1e-5)
    assert twohot_mean(jnp.zeros(255), BINS) == 0.0  # uniform: exactly zero, as a zero-initialised head


def test_twohot_loss_is_the_cross_entropy_against_the_code():
    logits = jax.random.normal(jax.random.PRNGKey(0), (3, 255))
    y = jnp.array([-2.0, 0.3, 40.0])
    expected = -(twohot(y, BINS) * jax.nn.log_softmax(logits)).sum(-1)
    np.testing.assert_allclose(twohot_loss(logits, y, BINS), expected, rtol=1e-6)
    grad = jax.grad(lambda t: twohot_loss(logits, t, BINS).sum())(y)
    np.testing.assert_array_equal(grad, 0.0)  # the target is under stop-gradient


def test_unimix_mixes_one_percent_uniform():
    logits = jnp.array([0.0, jnp.log(3.0)])  # softmax (0.25, 0.75)
    np.testing.assert_allclose(jnp.exp(unimix_logits(logits, 0.01)), [0.99 * 0.25 + 0.005, 0.99 * 0.75 + 0.005], rtol=1e-6)
    hard = jnp.array([0.0, -1e9, -1e9, -1e9])  # a one-hot keeps 1% / 4 on each other class
    np.testing.assert_allclose(jnp.exp(unimix_logits(hard, 0.01)), [0.9925, 0.0025, 0.0025, 0.0025], rtol=1e-6)
    np.testing.assert_allclose(unimix_logits(logits, 0.0), jax.nn.log_softmax(logits), rtol=1e-6)


def test_straight_through_samples_are_one_hot_with_the_probabilities_gradient():
    logits = jnp.array([[0.1, 1.0, -0.5], [2.0, 0.0, 0.0]])
    sample = straight_through_sample(jax.random.PRNGKey(0), logits)
    np.testing.assert_array_equal(sample.sum(-1), 1.0)
    assert set(np.unique(sample)) <= {0.0, 1.0}
    weights = jnp.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
    grad = jax.grad(lambda l: (straight_through_sample(jax.random.PRNGKey(0), l) * weights).sum())(logits)
    expected = jax.grad(lambda l: (jax.nn.softmax(l) * weights).sum())(logits)
    np.testing.assert_allclose(grad, expected, rtol=1e-6)


def test_categorical_kl_and_entropy_by_hand():
    p, q = jnp.log(jnp.array([0.5, 0.5])), jnp.log(jnp.array([0.25, 0.75]))
    np.testing.assert_allclose(categorical_kl(p, q), 0.5 * np.log(0.5 / 0.25) + 0.5 * np.log(0.5 / 0.75), rtol=1e-6)
    np.testing.assert_allclose(categorical_entropy(q), -(0.25 * np.log(0.25) + 0.75 * np.log(0.75)), rtol=1e-6)


def test_bounded_normal_is_dreamerv3s():
    dist = BoundedNormal.from_outputs(jnp.array([[0.0, 100.0]]), jnp.array([[-2.0, 50.0]]), 0.1, 1.0)
    np.testing.assert_allclose(dist.mean, [[0.0, 1.0]], atol=1e-6)  # tanh
    np.testing.assert_allclose(dist.std, [[0.1 + 0.9 * 0.5, 1.0]], rtol=1e-6)  # 0.9 sigmoid(s + 2) + 0.1
    a = jnp.array([[0.3, -0.2]])
    by_hand = sum(-0.5 * ((a[0, i] - dist.mean[0, i]) / dist.std[0, i]) ** 2 - np.log(dist.std[0, i]) - 0.5 * np.log(2 * np.pi) for i in range(2))
    np.testing.assert_allclose(dist.log_prob(a), [by_hand], rtol=1e-6)
    np.testing.assert_allclose(dist.entropy(), [np.sum(0.5 * np.log(2 * np.pi * np.e * np.asarray(dist.std) ** 2))], rtol=1e-6)
    samples = dist.sample(jax.random.PRNGKey(0))
    assert samples.shape == (1, 2)


def test_discrete_actor_samples_one_hot_actions_with_unimix():
    dist = OneHotCategorical.from_outputs(jnp.array([[0.0, -1e9, -1e9]]), 0.01)
    np.testing.assert_allclose(jnp.exp(dist.logits), [[0.99 + 0.01 / 3, 0.01 / 3, 0.01 / 3]], rtol=1e-5)
    np.testing.assert_allclose(dist.log_prob(jnp.array([[0.0, 1.0, 0.0]])), [np.log(0.01 / 3)], rtol=1e-5)
    sample = dist.sample(jax.random.PRNGKey(1))
    assert sample.shape == (1, 3) and sample.sum() == 1.0
    np.testing.assert_array_equal(dist.mode(), [[1.0, 0.0, 0.0]])
