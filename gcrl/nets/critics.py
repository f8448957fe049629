"""Critics for the value-based baselines: Q(s, g, a) and V(s, g) MLP ensembles (GCIQL), the
bilinear critic phi(s, a) . psi(g) / sqrt(d) (CRL), quasimetric distances d(phi(s), phi(g))
(QRL's IQE and MRN) and QRL's latent dynamics model.

Pixels go through the `encoder` the way the other heads do (gcrl/nets/heads.py `Inputs`), and as
the published code wires it: a goal-conditioned critic encodes s and g stacked on channels with
one encoder; the bilinear critic has one encoder for states and another for goals, each shared by
the ensemble's heads; the quasimetric encodes s and g separately with one shared encoder.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from gcrl.nets.heads import Inputs
from gcrl.nets.layers import MLP

QUASIMETRICS = ("iqe", "mrn")


def ensemble_mlp(features: Sequence[int], ensemble: int, layer_norm: bool, name: str | None = None) -> nn.Module:
    """`ensemble` MLPs with their own parameters on shared inputs (outputs stacked on a leading
    axis); ensemble = 1 is one plain MLP with no leading axis."""
    if ensemble == 1:
        return MLP(tuple(features), layer_norm=layer_norm, name=name)
    heads = nn.vmap(MLP, variable_axes={"params": 0}, split_rngs={"params": True}, in_axes=None, out_axes=0, axis_size=ensemble)
    return heads(tuple(features), layer_norm=layer_norm, name=name)


def action_input(actions, num_actions: int):
    """Actions as a critic reads them: one-hot for discrete actions (num_actions > 0)."""
    return jax.nn.one_hot(actions, num_actions) if num_actions else actions


class GoalCritic(nn.Module):
    """Q(s, g, a) on concat(s, g, a), or V(s, g) when called without actions. Returns
    [ensemble, B], or [B] with ensemble = 1."""

    hidden: Sequence[int]
    ensemble: int = 2
    layer_norm: bool = True
    encoder: str | None = None
    num_actions: int = 0  # discrete actions: how many (they are one-hot encoded)

    @nn.compact
    def __call__(self, observations: Sequence, actions=None):
        vectors = () if actions is None else (action_input(actions, self.num_actions),)
        x = Inputs(self.encoder)(observations, vectors)
        return ensemble_mlp((*self.hidden, 1), self.ensemble, self.layer_norm)(x)[..., 0]


def bilinear(phi, psi):
    """phi . psi / sqrt(d) over the last axis."""
    return jnp.sum(phi * psi, axis=-1) / jnp.sqrt(phi.shape[-1])


def pairwise_logits(phi, psi):
    """logits[..., i, j] = phi_i . psi_j / sqrt(d): every state-action row against every goal."""
    return jnp.einsum("...ik,...jk->...ij", phi, psi) / jnp.sqrt(phi.shape[-1])


class BilinearCritic(nn.Module):
    """Q(s, g, a) = phi(s, a) . psi(g) / sqrt(d) (or V(s, g) = phi(s) . psi(g) / sqrt(d) without
    actions). phi and psi are each an ensemble of MLPs; returns [ensemble, B], or [B] with
    ensemble = 1. With pixels, s and g each have their own encoder ahead of the ensemble.

    `state_features` and `phi_from` split phi so that a loss can encode s once and read phi at
    several actions (the data's and the policy's)."""

    hidden: Sequence[int]
    latent_dim: int = 512
    ensemble: int = 2
    layer_norm: bool = True
    encoder: str | None = None
    num_actions: int = 0

    def setup(self):
        self.state_inputs = Inputs(self.encoder)
        self.goal_inputs = Inputs(self.encoder)
        self.phi_net = ensemble_mlp((*self.hidden, self.latent_dim), self.ensemble, self.layer_norm)
        self.psi_net = ensemble_mlp((*self.hidden, self.latent_dim), self.ensemble, self.layer_norm)

    def state_features(self, observations):
        return self.state_inputs((observations,))

    def phi_from(self, features, actions=None):
        vectors = [features] if actions is None else [features, action_input(actions, self.num_actions)]
        return self.phi_net(jnp.concatenate(vectors, axis=-1))

    def phi(self, observations, actions=None):
        return self.phi_from(self.state_features(observations), actions)

    def psi(self, goals):
        return self.psi_net(self.goal_inputs((goals,)))

    def __call__(self, observations, goals, actions=None):
        return bilinear(self.phi(observations, actions), self.psi(goals))


# ---- quasimetrics --------------------------------------------------------------------------------


def interval_union_length(x, y):
    """IQE's component: the total length of the union of the intervals [x_i, y_i] over the last
    axis (k of them), an interval being empty where y_i <= x_i.

    The union is a set of disjoint segments [l, r]; its length is sum(r) - sum(l). A nonempty
    interval's end y_i is a segment's right end unless another nonempty interval j reaches past it
    (x_j <= y_i < y_j), its start x_i a left end unless another starts before it and reaches it
    (x_j < x_i <= y_j); of equal ends (or starts) only the first counts. Those are comparisons of
    pairs, k^2 per component, with no sort: the length is then linear in x and y, and its gradient
    is +1 on the right ends' y, -1 on the left ends' x, the published code's gradient. (The
    published code sorts all 2k end points and counts open intervals; on a CPU the comparisons of
    pairs with the interval axis leading run several times faster, and their gradient costs nothing.)"""
    x, y = jnp.moveaxis(x, -1, 0), jnp.moveaxis(y, -1, 0)  # [k, ...]: the pairs' axes lead
    k = x.shape[0]
    nonempty = x < y
    earlier = jnp.tri(k, k, -1, bool).reshape(k, k, *([1] * (x.ndim - 1)))  # [i, j]: j < i
    x_i, y_i, x_j, y_j, nonempty_j = x[:, None], y[:, None], x[None], y[None], nonempty[None]
    end_covered = jnp.any(nonempty_j & (((x_j <= y_i) & (y_i < y_j)) | (earlier & (y_j == y_i))), axis=1)
    start_covered = jnp.any(nonempty_j & (((x_j < x_i) & (x_i <= y_j)) | (earlier & (x_j == x_i))), axis=1)
    right_ends, left_ends = nonempty & ~end_covered, nonempty & ~start_covered
    return jnp.sum(jnp.where(right_ends, y, 0.0) - jnp.where(left_ends, x, 0.0), axis=0)


def iqe(zs, zg, dim_per_component: int, mix):
    """Interval quasimetric embedding: zs, zg [..., d] split into d / k components of k intervals;
    d = mix * mean + (1 - mix) * max of the components' union lengths, mix in (0, 1)."""
    shape = (*zs.shape[:-1], zs.shape[-1] // dim_per_component, dim_per_component)
    components = interval_union_length(zs.reshape(shape), zg.reshape(shape))
    return mix * components.mean(axis=-1) + (1.0 - mix) * components.max(axis=-1)


def mrn(zs, zg):
    """Metric residual network: the Euclidean distance on the first half of the latent plus
    max(0, max_i (zs_i - zg_i)) on the second (the square root floored at 1e-12 inside, as the
    published code, so that its gradient stays finite at zs = zg)."""
    half = zs.shape[-1] // 2
    symmetric = jnp.sqrt(jnp.maximum(jnp.sum((zs[..., :half] - zg[..., :half]) ** 2, axis=-1), 1e-12))
    return symmetric + jax.nn.relu(jnp.max(zs[..., half:] - zg[..., half:], axis=-1))


class Quasimetric(nn.Module):
    """d(s, g) = d_q(phi(s), phi(g)): phi an MLP to `latent_dim` (with pixels, one encoder shared by
    s and g ahead of it) and d_q IQE (components of `dim_per_component` intervals, mean and max
    mixed by sigmoid of a learned scalar, 1/2 at initialisation) or MRN."""

    hidden: Sequence[int]
    latent_dim: int = 512
    kind: str = "iqe"
    dim_per_component: int = 8
    layer_norm: bool = True
    encoder: str | None = None

    def setup(self):
        self.inputs = Inputs(self.encoder)
        self.phi_net = MLP((*self.hidden, self.latent_dim), layer_norm=self.layer_norm)
        if self.kind == "iqe":
            self.mix_logit = self.param("mix_logit", nn.initializers.zeros, ())

    def phi(self, observations):
        return self.phi_net(self.inputs((observations,)))

    def distance(self, zs, zg):
        if self.kind == "iqe":
            return iqe(zs, zg, self.dim_per_component, jax.nn.sigmoid(self.mix_logit))
        return mrn(zs, zg)

    def __call__(self, observations, goals):
        return self.distance(self.phi(observations), self.phi(goals))


class LatentDynamics(nn.Module):
    """z' = z + f([z, a]): QRL's latent dynamics model, an MLP predicting the change of phi."""

    hidden: Sequence[int]
    latent_dim: int = 512
    layer_norm: bool = True

    @nn.compact
    def __call__(self, latents, actions):
        return latents + MLP((*self.hidden, self.latent_dim), layer_norm=self.layer_norm)(jnp.concatenate([latents, actions], axis=-1))
