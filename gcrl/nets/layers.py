"""MLPs as in the reference results: Dense -> GELU -> LayerNorm per hidden layer."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

default_init = nn.initializers.variance_scaling(1.0, "fan_avg", "uniform")


class MLP(nn.Module):
    features: Sequence[int]  # every layer's width, the output layer's included
    activate_final: bool = False
    layer_norm: bool = True

    @nn.compact
    def __call__(self, x):
        for i, width in enumerate(self.features):
            x = nn.Dense(width, kernel_init=default_init)(x)
            if i + 1 < len(self.features) or self.activate_final:
                x = nn.gelu(x)
                if self.layer_norm:
                    x = nn.LayerNorm()(x)
        return x


def length_normalize(x, eps: float = 1e-12):
    """Scale each vector to norm sqrt(dim) (HIQL's goal representation). The norm is taken as
    sqrt(|x|^2 + eps), whose gradient stays finite at x = 0: phi(s, g) is exactly 0 when s = g = 0
    at initialisation (zero biases), and a plain norm's gradient there is NaN."""
    return x * jax.lax.rsqrt(jnp.sum(x * x, axis=-1, keepdims=True) + eps) * jnp.sqrt(x.shape[-1])
