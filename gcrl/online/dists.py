"""DreamerV3's output distributions, as small pytrees and pure functions.

  symlog(x) = sign(x) log(1 + |x|),   symexp(x) = sign(x) (exp(|x|) - 1)   (inverses)

Two-hot over B symexp-spaced bins b_k = symexp(-20 + 40 k / (B - 1)), k = 0..B-1 (B = 255): a scalar
y with b_k <= y < b_{k+1} puts weight (b_{k+1} - y) / (b_{k+1} - b_k) on bin k and the rest on bin
k + 1 (outside [b_0, b_{B-1}] all on the nearest end). The prediction is the mean sum_k p_k b_k, the
loss the cross-entropy -sum_k twohot(y)_k log p_k. This is DreamerV3's current code: interpolation
and mean in raw space over symexp-spaced bins. (The paper writes it in symlog space, two-hot of
symlog(y) over uniform bins and symexp of the mean; the bins are the same, the weights differ a
little between bins.) The mean is summed from the middle bin outwards in mirrored pairs, so uniform
probabilities give exactly 0, as DreamerV3 does for zero-initialised reward and value heads.

Unimix: probabilities (1 - u) softmax(logits) + u / K, u = 0.01, for the RSSM's latents and the
discrete actor. Latent samples are one-hot with straight-through gradients: onehot + p - sg(p).

Actors: continuous actions are DreamerV3's `bounded_normal`, a Normal with mean tanh(m) and std
(max - min) sigmoid(s + 2) + min (min 0.1, max 1), samples unclipped (the environment clips);
discrete actions a categorical over one-hot action vectors. Log-probs and entropies are summed over
the action's dimensions.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

sg = jax.lax.stop_gradient
_LOG_2PI = jnp.log(2 * jnp.pi)


def symlog(x):
    return jnp.sign(x) * jnp.log1p(jnp.abs(x))


def symexp(x):
    return jnp.sign(x) * jnp.expm1(jnp.abs(x))


# ---- two-hot -----------------------------------------------------------------------------------


def twohot_bins(count: int = 255, limit: float = 20.0) -> jax.Array:
    """symexp of `count` points evenly spaced over [-limit, limit], built from the non-positive half
    and its mirror so that the bins are exactly symmetric (and 0 is a bin when `count` is odd)."""
    half = symexp(jnp.linspace(-limit, 0.0, (count + 1) // 2, dtype=jnp.float32))
    mirror = -half[::-1][count % 2 :]  # an odd count shares the 0 bin
    return jnp.concatenate([half, mirror])


def twohot(y, bins):
    """The two-hot encoding of y [...] over `bins` [K]: [..., K], two weights summing to 1."""
    count = bins.shape[0]
    above = jnp.clip(jnp.searchsorted(bins, y, side="right"), 1, count - 1)
    below = above - 1
    weight_above = jnp.clip((y - bins[below]) / (bins[above] - bins[below]), 0.0, 1.0)
    return jax.nn.one_hot(below, count) * (1.0 - weight_above)[..., None] + jax.nn.one_hot(above, count) * weight_above[..., None]


def twohot_mean(logits, bins):
    """sum_k softmax(logits)_k bins_k, summed outwards from the middle in mirrored pairs."""
    probs = jax.nn.softmax(logits, axis=-1)
    count = bins.shape[0]
    half = count // 2
    terms = probs * bins
    left = terms[..., :half][..., ::-1]  # innermost first
    right = terms[..., count - half :]
    middle = terms[..., half] if count % 2 else 0.0
    return (left + right).sum(-1) + middle


def twohot_loss(logits, y, bins):
    """Cross-entropy of softmax(logits) against twohot(y), under stop-gradient on y: [...]."""
    target = twohot(sg(y), bins)
    return -(target * jax.nn.log_softmax(logits, axis=-1)).sum(-1)


# ---- categorical latents -----------------------------------------------------------------------


def unimix_logits(logits, mix: float):
    """log of (1 - mix) softmax(logits) + mix / K."""
    if not mix:
        return jax.nn.log_softmax(logits, axis=-1)
    probs = jax.nn.softmax(logits, axis=-1)
    return jnp.log((1.0 - mix) * probs + mix / logits.shape[-1])


def straight_through_sample(key, logits):
    """A one-hot sample of softmax(logits) whose gradient is that of the probabilities."""
    probs = jax.nn.softmax(logits, axis=-1)
    sample = jax.nn.one_hot(jax.random.categorical(key, logits), logits.shape[-1], dtype=probs.dtype)
    return sg(sample) + probs - sg(probs)


def categorical_kl(logits_p, logits_q):
    """KL(p || q) of categoricals over the last axis: [...]."""
    log_p, log_q = jax.nn.log_softmax(logits_p, axis=-1), jax.nn.log_softmax(logits_q, axis=-1)
    return (jnp.exp(log_p) * (log_p - log_q)).sum(-1)


def categorical_entropy(logits):
    log_p = jax.nn.log_softmax(logits, axis=-1)
    return -(jnp.exp(log_p) * log_p).sum(-1)


# ---- actors ------------------------------------------------------------------------------------


class BoundedNormal(NamedTuple):
    """Normal(mean, std) per action dimension, DreamerV3's `bounded_normal` (see the docstring)."""

    mean: jax.Array
    std: jax.Array

    @classmethod
    def from_outputs(cls, mean_out, std_out, min_std: float = 0.1, max_std: float = 1.0):
        return cls(jnp.tanh(mean_out), (max_std - min_std) * jax.nn.sigmoid(std_out + 2.0) + min_std)

    def log_prob(self, actions):
        z = (actions - self.mean) / self.std
        return jnp.sum(-0.5 * z**2 - jnp.log(self.std) - 0.5 * _LOG_2PI, axis=-1)

    def entropy(self):
        return jnp.sum(0.5 * _LOG_2PI + 0.5 + jnp.log(self.std), axis=-1)

    def sample(self, key):
        return self.mean + self.std * jax.random.normal(key, self.mean.shape)

    def mode(self):
        return self.mean


class OneHotCategorical(NamedTuple):
    """Categorical over one-hot action vectors; logits already mixed with unimix."""

    logits: jax.Array

    @classmethod
    def from_outputs(cls, logits, mix: float = 0.01):
        return cls(unimix_logits(logits, mix))

    def log_prob(self, actions):
        return (actions * jax.nn.log_softmax(self.logits, axis=-1)).sum(-1)

    def entropy(self):
        return categorical_entropy(self.logits)

    def sample(self, key):
        return jax.nn.one_hot(jax.random.categorical(key, self.logits), self.logits.shape[-1])

    def mode(self):
        return jax.nn.one_hot(jnp.argmax(self.logits, axis=-1), self.logits.shape[-1])
