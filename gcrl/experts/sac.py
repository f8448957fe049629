"""SAC, as OGBench trains its expert locomotion policies (impls/agents/sac.py, get_config's defaults).

Networks (all MLPs Dense -> GELU, the critics with LayerNorm after each GELU when layer_norm):
- actor: MLP(actor_hidden) -> mean and log_std heads (state-dependent std), both initialised at
  scale actor_fc_scale; log_std clipped to [-5, 2]; a ~ tanh(N(mean, (exp(log_std) T)^2)), whose
  log-density subtracts log|d tanh(x)/dx| = 2 (log 2 - x - softplus(-2x)) per dimension;
- critic: two Q(s, a) MLPs (value_hidden, 1) on concat(s, a), and their Polyak target;
- temperature alpha = exp(log_alpha), log_alpha initialised at 0.

Loss, every term at the parameters the update starts from (one Adam, lr, over them all):
  critic   mean over both Qs and the batch of (Q_i(s, a) - y)^2,
           y = r + gamma m (Qbar'(s', a') - alpha log pi(a'|s')),  a' ~ pi(.|s'),
           Qbar' = min_i Q'_i (min_q) or mean_i Q'_i, Q' the target critic
  actor    E[alpha log pi(a|s) - Qbar(s, a)],  a ~ pi(.|s) reparameterised, Qbar on the critic
           (no gradient into the critic)
  alpha    alpha (H - H_target),  H = -E[log pi(a|s)] (no gradient), H_target = -0.5 dim(A)
Then the target critic moves by tau towards the critic's parameters from before this step (the
published target_update averages self.network's parameters, the update's starting point).

Keys as published: the update splits its key into (next key, k); k into (_, actor key, critic key).
Acting samples at temperature 1 while training (clipped to [-1, 1]); evaluation takes the mode,
tanh(mean) (eval_temperature 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from gcrl.nets.layers import MLP

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
_LOG_2PI = jnp.log(2 * jnp.pi)


@dataclass(frozen=True)
class Config:
    """impls/agents/sac.py get_config."""

    lr: float = 1e-4
    batch_size: int = 256
    actor_hidden: tuple[int, ...] = (256, 256)
    value_hidden: tuple[int, ...] = (256, 256)
    layer_norm: bool = False  # in the critics (the actor never has one)
    discount: float = 0.99
    tau: float = 0.005
    target_entropy_multiplier: float = 0.5  # H_target = -multiplier x dim(A)
    actor_fc_scale: float = 0.01
    min_q: bool = True


class TanhGaussian(NamedTuple):
    """tanh(x), x ~ N(mean, std^2) per dimension (std already scaled by the temperature)."""

    mean: jax.Array
    log_std: jax.Array

    def sample_and_log_prob(self, key):
        noise = jax.random.normal(key, self.mean.shape)
        x = self.mean + jnp.exp(self.log_std) * noise
        base = jnp.sum(-0.5 * noise**2 - self.log_std - 0.5 * _LOG_2PI, axis=-1)
        log_det = jnp.sum(2.0 * (jnp.log(2.0) - x - jax.nn.softplus(-2.0 * x)), axis=-1)
        return jnp.tanh(x), base - log_det

    def mode(self):
        return jnp.tanh(self.mean)

    def std(self):
        return jnp.exp(self.log_std)


class Actor(nn.Module):
    hidden: tuple[int, ...]
    action_dim: int
    fc_scale: float = 0.01

    @nn.compact
    def __call__(self, observations):
        init = nn.initializers.variance_scaling(self.fc_scale, "fan_avg", "uniform")
        h = MLP(tuple(self.hidden), activate_final=True, layer_norm=False)(observations)
        mean = nn.Dense(self.action_dim, kernel_init=init)(h)
        log_std = jnp.clip(nn.Dense(self.action_dim, kernel_init=init)(h), LOG_STD_MIN, LOG_STD_MAX)
        return TanhGaussian(mean, log_std)


class Critic(nn.Module):
    """Two Q(s, a) MLPs; returns [2, B]."""

    hidden: tuple[int, ...]
    layer_norm: bool = False

    @nn.compact
    def __call__(self, observations, actions):
        heads = nn.vmap(MLP, variable_axes={"params": 0}, split_rngs={"params": True}, in_axes=None, out_axes=0, axis_size=2)
        return heads((*self.hidden, 1), layer_norm=self.layer_norm)(jnp.concatenate([observations, actions], axis=-1))[..., 0]


class SacState(NamedTuple):
    params: dict  # actor, critic, log_alpha
    target_critic: dict
    opt_state: object
    key: jax.Array
    step: jax.Array


class Sac:
    """The agent's pure functions: init, update(state, batch) and act."""

    def __init__(self, config: Config, observation_dim: int, action_dim: int):
        self.config, self.observation_dim, self.action_dim = config, observation_dim, action_dim
        self.actor = Actor(config.actor_hidden, action_dim, config.actor_fc_scale)
        self.critic = Critic(config.value_hidden, config.layer_norm)
        self.tx = optax.adam(config.lr)
        self.target_entropy = -config.target_entropy_multiplier * action_dim

    def init(self, key) -> SacState:
        key, k_actor, k_critic = jax.random.split(key, 3)
        obs, act = jnp.zeros((1, self.observation_dim)), jnp.zeros((1, self.action_dim))
        params = {"actor": self.actor.init(k_actor, obs), "critic": self.critic.init(k_critic, obs, act), "log_alpha": jnp.zeros(())}
        target = jax.tree_util.tree_map(jnp.copy, params["critic"])
        return SacState(params, target, self.tx.init(params), key, jnp.zeros((), jnp.int32))

    def _q(self, qs):
        return qs.min(0) if self.config.min_q else qs.mean(0)

    def losses(self, params, target_critic, frozen, batch, key):
        """(critic + actor + alpha loss, metrics); `frozen` are the same parameters under
        stop-gradient, where the published code reads the network's own parameters."""
        c = self.config
        _, actor_key, critic_key = jax.random.split(key, 3)
        alpha_frozen = jnp.exp(frozen["log_alpha"])

        next_actions, next_log_probs = self.actor.apply(frozen["actor"], batch["next_observations"]).sample_and_log_prob(critic_key)
        next_q = self._q(self.critic.apply(target_critic, batch["next_observations"], next_actions))
        target_q = batch["rewards"] + c.discount * batch["masks"] * (next_q - alpha_frozen * next_log_probs)
        q = self.critic.apply(params["critic"], batch["observations"], batch["actions"])
        critic_loss = jnp.square(q - target_q).mean()

        dist = self.actor.apply(params["actor"], batch["observations"])
        actions, log_probs = dist.sample_and_log_prob(actor_key)
        q_pi = self._q(self.critic.apply(frozen["critic"], batch["observations"], actions))
        actor_loss = (log_probs * alpha_frozen - q_pi).mean()
        entropy = -jax.lax.stop_gradient(log_probs).mean()
        alpha = jnp.exp(params["log_alpha"])
        alpha_loss = alpha * (entropy - self.target_entropy)

        metrics = {
            "critic/critic_loss": critic_loss, "critic/q_mean": q.mean(), "critic/q_max": q.max(), "critic/q_min": q.min(),
            "actor/actor_loss": actor_loss, "actor/alpha_loss": alpha_loss, "actor/alpha": alpha, "actor/entropy": -log_probs.mean(),
            "actor/std": dist.std().mean(),
        }  # fmt: skip
        return critic_loss + actor_loss + alpha_loss, metrics

    def update(self, state: SacState, batch: dict) -> tuple[SacState, dict]:
        next_key, key = jax.random.split(state.key)
        frozen = jax.lax.stop_gradient(state.params)
        grads, metrics = jax.grad(self.losses, has_aux=True)(state.params, state.target_critic, frozen, batch, key)
        updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        tau = self.config.tau
        target = jax.tree_util.tree_map(lambda p, t: tau * p + (1 - tau) * t, state.params["critic"], state.target_critic)
        return SacState(params, target, opt_state, next_key, state.step + 1), metrics

    def act(self, params, observations, key, temperature=1.0):
        """Sampled actions at `temperature` (training: 1), or the mode at temperature 0."""
        dist = self.actor.apply(params["actor"], observations)
        sampled, _ = TanhGaussian(dist.mean, dist.log_std + jnp.log(jnp.maximum(temperature, 1e-30))).sample_and_log_prob(key)
        return jnp.clip(jnp.where(temperature > 0, sampled, dist.mode()), -1.0, 1.0)
