"""Director's running normalisers (danijar/director a6a649e, embodied/agents/director/tfutils.py),
as pure functions on small state tuples.

Moments (tfutils.Normalize): exponential moving averages of a batch's mean and mean square, with
bias correction, updated before they are applied:
  m <- d m + (1 - d) mean(x),   q <- d q + (1 - d) mean(x^2),   n <- n + 1
  mu = m / (1 - d^n),   var = q / (1 - d^n) - mu^2,   s = 1 / sqrt(max(var, 1 / max^2))
  'std':      x s            'mean_std':  (x - mu) s
So `max` bounds the scale s by max (a batch with no spread is multiplied by at most max).

AutoAdapt 'mult' (tfutils.AutoAdapt): a scale per entry moved by a factor (1 + vel) whenever the
regularised quantity's batch mean leaves [target / (1 + thres), target (1 + thres)]:
  above the band: scale (1 + vel);  below: scale / (1 + vel)   (swapped when inverse: a bonus
  that should grow when the quantity is too low, as the entropy bonus), clipped to [min, max],
updated before it is applied. The goal autoencoder's KL weight and the manager's entropy bonus
both use it.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

sg = jax.lax.stop_gradient


class Moments(NamedTuple):
    mean: jax.Array  # EMA of the batch means
    sqrs: jax.Array  # EMA of the batch mean squares
    count: jax.Array  # updates so far (for the bias correction)


def moments_init() -> Moments:
    return Moments(jnp.zeros(()), jnp.zeros(()), jnp.zeros((), jnp.int32))


def moments_update(moments: Moments, values, decay: float) -> Moments:
    x = sg(values).astype(jnp.float32)
    return Moments(decay * moments.mean + (1.0 - decay) * x.mean(), decay * moments.sqrs + (1.0 - decay) * jnp.square(x).mean(), moments.count + 1)


def moments_stats(moments: Moments, decay: float, max_scale: float):
    """(bias-corrected mean, scale 1 / sqrt(max(var, 1 / max_scale^2)))."""
    correction = 1.0 - decay ** moments.count.astype(jnp.float32)
    mean = moments.mean / correction
    var = moments.sqrs / correction - jnp.square(mean)
    return mean, jax.lax.rsqrt(jnp.maximum(var, 1.0 / max_scale**2))


def auto_adapt(scale, value, target: float, thres: float, vel: float, low: float, high: float, inverse: bool = False):
    """One AutoAdapt 'mult' step of `scale` (any shape) for the batch mean `value` (same shape)."""
    above = value > (1.0 + thres) * target
    below = value < target / (1.0 + thres)
    if inverse:
        above, below = below, above
    moved = jnp.where(above, scale * (1.0 + vel), jnp.where(below, scale / (1.0 + vel), scale))
    return sg(jnp.clip(moved, low, high))
