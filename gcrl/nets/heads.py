"""The heads every agent is built from. Each takes observation-like inputs (states or images,
concatenated; images go through one pixel encoder per head) plus optional vector inputs such as a
goal representation."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax.numpy as jnp

from gcrl.nets.dists import Categorical, Gaussian
from gcrl.nets.encoders import ENCODERS
from gcrl.nets.layers import MLP, length_normalize

small_init = nn.initializers.variance_scaling(0.01, "fan_avg", "uniform")


class Inputs(nn.Module):
    """Concatenate a head's inputs; images are stacked on channels and encoded first."""

    encoder: str | None = None

    @nn.compact
    def __call__(self, observations: Sequence, vectors: Sequence = ()):
        if self.encoder is None:
            return jnp.concatenate([*observations, *vectors], axis=-1)
        features = ENCODERS[self.encoder]()(jnp.concatenate(observations, axis=-1))
        return jnp.concatenate([features, *vectors], axis=-1)


class Value(nn.Module):
    """An ensemble of value MLPs over shared inputs; returns [ensemble, batch]."""

    hidden: Sequence[int]
    ensemble: int = 2
    layer_norm: bool = True
    encoder: str | None = None

    @nn.compact
    def __call__(self, observations: Sequence, vectors: Sequence = ()):
        x = Inputs(self.encoder)(observations, vectors)
        heads = nn.vmap(
            MLP,
            variable_axes={"params": 0},
            split_rngs={"params": True},
            in_axes=None,
            out_axes=0,
            axis_size=self.ensemble,
        )
        return heads((*self.hidden, 1), layer_norm=self.layer_norm)(x)[..., 0]


class Actor(nn.Module):
    """Gaussian policy (mean unsquashed; constant unit std or a learned state-independent std), or
    categorical for discrete actions (action_dim = number of actions)."""

    hidden: Sequence[int]
    action_dim: int
    discrete: bool = False
    const_std: bool = True
    layer_norm: bool = True
    encoder: str | None = None
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    # > 0: observations are (s, g) and the policy acts on concat(s, phi(s, g)), phi its own goal
    # representation of this size (SAW's flat policy in the published code).
    goal_rep_dim: int = 0
    goal_rep_layer_norm: bool = True

    @nn.compact
    def __call__(self, observations: Sequence, vectors: Sequence = ()):
        if self.goal_rep_dim:
            s, g = observations
            phi = GoalRep(self.hidden, self.goal_rep_dim, self.goal_rep_layer_norm, self.encoder)(s, g)
            observations, vectors = (s,), (*vectors, phi)
        x = Inputs(self.encoder)(observations, vectors)
        h = MLP(tuple(self.hidden), activate_final=True, layer_norm=self.layer_norm)(x)
        if self.discrete:
            return Categorical(nn.Dense(self.action_dim, kernel_init=small_init)(h))
        mean = nn.Dense(self.action_dim, kernel_init=small_init)(h)
        if self.const_std:
            log_std = jnp.zeros_like(mean)
        else:
            log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
            log_std = jnp.broadcast_to(jnp.clip(log_std, self.log_std_min, self.log_std_max), mean.shape)
        return Gaussian(mean, log_std)


class GoalRep(nn.Module):
    """phi(s, g): an MLP on the concatenation, scaled to norm sqrt(dim)."""

    hidden: Sequence[int]
    dim: int = 10
    layer_norm: bool = True
    encoder: str | None = None

    @nn.compact
    def __call__(self, observations, goals):
        x = Inputs(self.encoder)((observations, goals))
        return length_normalize(MLP((*self.hidden, self.dim), layer_norm=self.layer_norm)(x))
