"""DreamerV3's optimiser: LaProp with adaptive gradient clipping and a linear warm-up.

Per parameter tensor p with gradient g, in this order:
  clip      g <- g / max(1, |g| / (0.3 max(1e-3, |p|)))          (norms over the whole tensor)
  RMS       nu <- 0.999 nu + 0.001 g^2;  g <- g / (sqrt(nu / (1 - 0.999^t)) + 1e-20)
  momentum  mu <- 0.9 mu + 0.1 g;        g <- mu / (1 - 0.9^t)
  step      p <- p - lr_t g,  lr_t rising linearly from 0 to 4e-5 over the first 1000 updates

The same as DreamerV3's chain (embodied/jax/opt.py); gcrl builds the last three from optax.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from gcrl.online.config import Config


def clip_by_agc(clip: float = 0.3, pmin: float = 1e-3) -> optax.GradientTransformation:
    """Scale each tensor's update down to at most clip x max(pmin, |param|) in L2 norm."""

    def update(updates, state, params=None):
        def one(u, p):
            limit = clip * jnp.maximum(pmin, jnp.linalg.norm(p.ravel()))
            return u / jnp.maximum(1.0, jnp.linalg.norm(u.ravel()) / limit)

        return jax.tree_util.tree_map(one, updates, params), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def schedule(config: Config):
    if not config.warmup:
        return optax.constant_schedule(config.lr)
    ramp = optax.linear_schedule(0.0, config.lr, config.warmup)
    return optax.join_schedules([ramp, optax.constant_schedule(config.lr)], [config.warmup])


def optimizer(config: Config) -> optax.GradientTransformation:
    return optax.chain(
        clip_by_agc(config.agc) if config.agc else optax.identity(),
        optax.scale_by_rms(config.beta2, config.eps, eps_in_sqrt=False, bias_correction=True),
        optax.ema(config.beta1, debias=True),
        optax.scale_by_learning_rate(schedule(config)),
    )
