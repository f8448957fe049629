"""Policy distributions as small pytrees: log-prob, KL, mode and sampling."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

_LOG_2PI = jnp.log(2 * jnp.pi)


class Gaussian(NamedTuple):
    """Diagonal Gaussian over continuous actions (mean unsquashed)."""

    mean: jax.Array
    log_std: jax.Array

    def log_prob(self, actions):
        z = (actions - self.mean) * jnp.exp(-self.log_std)
        return jnp.sum(-0.5 * z**2 - self.log_std - 0.5 * _LOG_2PI, axis=-1)

    def kl(self, other: "Gaussian"):
        """KL(self || other), summed over action dimensions."""
        var, other_var = jnp.exp(2 * self.log_std), jnp.exp(2 * other.log_std)
        terms = other.log_std - self.log_std + (var + (self.mean - other.mean) ** 2) / (2 * other_var) - 0.5
        return jnp.sum(terms, axis=-1)

    def mode(self):
        return self.mean

    def sample(self, key, temperature: float = 1.0):
        return self.mean + temperature * jnp.exp(self.log_std) * jax.random.normal(key, self.mean.shape)


class Categorical(NamedTuple):
    """Distribution over discrete actions."""

    logits: jax.Array

    def log_prob(self, actions):
        log_p = jax.nn.log_softmax(self.logits)
        return jnp.take_along_axis(log_p, actions[..., None].astype(jnp.int32), axis=-1)[..., 0]

    def kl(self, other: "Categorical"):
        log_p, log_q = jax.nn.log_softmax(self.logits), jax.nn.log_softmax(other.logits)
        return jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)

    def mode(self):
        return jnp.argmax(self.logits, axis=-1)

    def sample(self, key, temperature: float = 1.0):
        return jax.random.categorical(key, self.logits / jnp.maximum(temperature, 1e-6))
