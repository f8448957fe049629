"""DreamerV3's actor-critic, learned in imagination.

From every posterior state of a replayed batch (N = B T starts, under stop-gradient), imagine H = 15
steps with the world model's prior and the actor's sampled actions; on the H + 1 states predict
rewards r_t (two-hot mean), continues c_t (the continue head's probability, which already carries
the discount: its targets are (1 - terminal)(1 - 1/horizon), horizon 333) and values v_t. Then

  lambda-returns  R_t = r_{t+1} + c_{t+1} ((1 - lam) v_{t+1} + lam R_{t+1}),  R_H = v_H,  lam = 0.95
  weights         w_t = prod_{i<=t} c_i                (the start state's own continue included)
  scale           S = max(1, P95 - P5), with P5, P95 EMAs (rate 0.01) of the returns' percentiles
  actor           -w_t (log pi(a_t | s_t) sg((R_t - v_t) / S) + 3e-4 H[pi(. | s_t)])
  critic          w_t (-log p(twohot(R_t)) - log p(twohot(v^slow_t)))

for t = 0..H-1, averaged. The actor's gradient is REINFORCE for discrete and continuous actions
alike: the current DreamerV3 code stops the gradient through the imagined states (ac_grads off), so
no gradient flows through the dynamics. The critic's returns bootstrap from the online critic
(DreamerV3's imag_loss has slowtar off); its slow copy (EMA, rate 0.02 each update) only anchors it
through the second cross-entropy.

The critic also fits lambda-returns of the replayed sequence itself (DreamerV3's `repval` loss,
scale 0.3), the real rewards with discount 1 - 1/horizon, cut where terminal, bootstrapped at every
step from the imagined return R_0 of that step (and fully where the episode ended, is_last):
  R^rep_t = r_{t+1} + d_{t+1} ((1 - l_{t+1}) R0_{t+1} + l_{t+1} R^rep_{t+1}),  R^rep_{T-1} = R0_{T-1},
with d_t = (1 - terminal_t)(1 - 1/horizon), l_t = lam (1 - last_t), weighted by 1 - last_t. Its
critic reads the posterior features with their gradient, so that, differentiated together with the
world model (dreamer.py), this loss also shapes the representation, as DreamerV3's (repval_grad on).

Inputs are [features(s), k]: the model state and the task vector (see world_model.py).

Where gcrl differs from DreamerV3's code: is_last, when the batch lacks it, is read as the next
step's is_first (the last step's is unknown and does not change any loss); the discrete actor mixes
in 1% uniform (config.py); float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from gcrl.online.config import Config
from gcrl.online.dists import (
    BoundedNormal,
    OneHotCategorical,
    twohot_bins,
    twohot_loss,
    twohot_mean,
)
from gcrl.online.layers import MLP, dense, jit_init
from gcrl.online.world_model import State, WorldModel, features

sg = jax.lax.stop_gradient


class Actor(nn.Module):
    config: Config
    action_dim: int
    discrete: bool

    @nn.compact
    def __call__(self, x):
        c = self.config
        h = MLP(c.actor_layers, c.units)(x)
        if self.discrete:
            return OneHotCategorical.from_outputs(dense(self.action_dim, outscale=0.01)(h), c.actor_unimix)
        mean, std = dense(self.action_dim, outscale=0.01)(h), dense(self.action_dim, outscale=0.01)(h)
        return BoundedNormal.from_outputs(mean, std, c.actor_min_std, c.actor_max_std)


class Critic(nn.Module):
    """Two-hot logits of the value; the output layer starts at zero (value exactly 0)."""

    config: Config

    @nn.compact
    def __call__(self, x):
        return dense(self.config.bins, outscale=0.0)(MLP(self.config.critic_layers, self.config.units)(x))


class ReturnNorm(NamedTuple):
    low: jax.Array  # EMA of the returns' 5th percentile
    high: jax.Array  # ... and 95th


class ACState(NamedTuple):
    """What the actor-critic keeps beside its parameters."""

    slow_critic: dict
    retnorm: ReturnNorm


def lambda_return(reward, live, boot, lam):
    """R_t = r_{t+1} + live_{t+1} ((1 - lam_{t+1}) boot_{t+1} + lam_{t+1} R_{t+1}), R_{T-1} = boot_{T-1},
    over [N, T] inputs (lam a scalar or [N, T]); returns R_0..R_{T-2}, [N, T - 1]."""
    lam = jnp.broadcast_to(lam, reward.shape)

    def step(after, inputs):
        r, l, b, m = inputs
        ret = r + l * ((1.0 - m) * b + m * after)
        return ret, ret

    inputs = tuple(jnp.swapaxes(x[:, 1:], 0, 1) for x in (reward, live, boot, lam))
    _, rets = jax.lax.scan(step, boot[:, -1], inputs, reverse=True)
    return jnp.swapaxes(rets, 0, 1)


def update_return_norm(norm: ReturnNorm, returns, config: Config) -> ReturnNorm:
    """Move the percentile EMAs towards this batch's 5th and 95th percentiles."""
    returns = sg(returns)
    low, high = jnp.percentile(returns, config.retnorm_low), jnp.percentile(returns, config.retnorm_high)
    rate = config.retnorm_rate
    return ReturnNorm((1.0 - rate) * norm.low + rate * low, (1.0 - rate) * norm.high + rate * high)


def return_scale(norm: ReturnNorm, config: Config):
    """max(1, P95 - P5): returns spread over less than 1 are not scaled up."""
    return sg(jnp.maximum(config.retnorm_limit, norm.high - norm.low))


def imagination_weights(cont):
    """w_t = c_0 c_1 ... c_t for t = 0..H-1 from continues [N, H + 1], under stop-gradient: an
    imagined step counts as much as the model believes the episode is still running there."""
    return sg(jnp.cumprod(cont, 1)[:, :-1])


def reinforce_loss(log_prob, entropy, advantage, weight, actent: float):
    """mean of -w (log pi(a | s) A + actent H[pi(. | s)]), A already normalised, all [N, H]."""
    return (weight * -(log_prob * sg(advantage) + actent * entropy)).mean()


def critic_loss(logits, returns, slow_value, weight, bins, slowreg: float):
    """mean of w (CE(twohot(R)) + slowreg CE(twohot(v_slow))), all [N, H] (logits [N, H, bins])."""
    return (weight * (twohot_loss(logits, returns, bins) + slowreg * twohot_loss(logits, slow_value, bins))).mean()


def replay_last(batch):
    """is_last [B, T]: the batch's own, or the next step's is_first (False at the end)."""
    if "is_last" in batch:
        return batch["is_last"].astype(jnp.float32)
    first = batch["is_first"].astype(jnp.float32)
    return jnp.concatenate([first[:, 1:], jnp.zeros_like(first[:, :1])], 1)


def flat(x):
    return x.reshape((-1, *x.shape[2:]))


@dataclass(frozen=True)
class ActorCritic:
    """The actor-critic's pure functions (build with `make`)."""

    config: Config
    wm: WorldModel
    discrete: bool

    @property
    def actor(self) -> Actor:
        return Actor(self.config, self.wm.action_dim, self.discrete)

    @property
    def critic(self) -> Critic:
        return Critic(self.config)

    def init(self, key):
        """(params {'actor', 'critic'}, ACState) with the slow critic a copy of the critic."""
        k_actor, k_critic = jax.random.split(key)
        x = jnp.zeros((1, self.wm.config.deter + self.wm.config.stoch * self.wm.config.classes + self.wm.task_dim))
        params = {"actor": jit_init(self.actor.init)(k_actor, x), "critic": jit_init(self.critic.init)(k_critic, x)}
        slow = jax.tree_util.tree_map(jnp.copy, params["critic"])
        return params, ACState(slow, ReturnNorm(jnp.zeros(()), jnp.zeros(())))

    def policy(self, params, state: State, task):
        """pi(. | s, k): BoundedNormal or OneHotCategorical."""
        return self.actor.apply(params["actor"], jnp.concatenate([features(state), task], -1))

    def value_logits(self, critic_params, state: State, task):
        return self.critic.apply(critic_params, jnp.concatenate([features(state), task], -1))

    def update_slow(self, ac_state: ACState, params) -> ACState:
        """slow <- rate critic + (1 - rate) slow, after each optimiser step."""
        rate = self.config.slow_rate
        slow = jax.tree_util.tree_map(lambda s, p: (1.0 - rate) * s + rate * p, ac_state.slow_critic, params["critic"])
        return ac_state._replace(slow_critic=slow)

    def imagine(self, params, wm_params, starts: State, task, key):
        """The imagined trajectory from `starts` [N]: states [N, H + 1], actions [N, H]."""

        def act(state, k):
            return self.policy(params, state, task).sample(k)

        return self.wm.imagine(wm_params, starts, act, self.config.imag_length, task, key)

    def actor_critic_loss(self, params, ac_state: ACState, wm_params, posterior: State, batch, key):
        """(loss, (metrics, new ACState)): the actor, critic and replay-critic losses of the module
        docstring, from the posterior states [B, T] of `batch`. Only `params` and, through the
        replay-critic loss, `posterior` carry gradients."""
        c, bins = self.config, twohot_bins(self.config.bins)
        wm_params, frozen = sg(wm_params), sg(params)
        task = batch["task"].astype(jnp.float32)
        starts, task_n = jax.tree_util.tree_map(flat, sg(posterior)), flat(task)
        traj, actions = self.imagine(frozen, wm_params, starts, task_n, key)
        task_h = jnp.broadcast_to(task_n[:, None], (*traj.deter.shape[:2], task_n.shape[-1]))
        reward = self.wm.reward(wm_params, traj, task_h)
        cont = self.wm.cont(wm_params, traj, task_h)
        logits = self.value_logits(params["critic"], traj, task_h)
        value = sg(twohot_mean(logits, bins))
        slow_value = sg(twohot_mean(self.value_logits(ac_state.slow_critic, traj, task_h), bins))

        returns = sg(lambda_return(reward, cont, value, c.lam))
        retnorm = update_return_norm(ac_state.retnorm, returns, c)
        advantage = sg((returns - value[:, :-1]) / return_scale(retnorm, c))
        weight = imagination_weights(cont)
        head = jax.tree_util.tree_map(lambda x: x[:, :-1], traj)
        dist = self.policy(params, head, task_h[:, :-1])
        entropy = dist.entropy()
        policy_loss = reinforce_loss(dist.log_prob(sg(actions)), entropy, advantage, weight, c.actent)
        value_loss = critic_loss(logits[:, :-1], returns, slow_value[:, :-1], weight, bins, c.slowreg)

        repval_loss = self.replay_value_loss(params, ac_state, posterior, batch, returns[:, 0], bins)
        loss = c.policy_scale * policy_loss + c.value_scale * value_loss + c.repval_scale * repval_loss
        metrics = {
            "ac/policy_loss": policy_loss,
            "ac/value_loss": value_loss,
            "ac/repval_loss": repval_loss,
            "ac/return": returns.mean(),
            "ac/value": value.mean(),
            "ac/advantage": advantage.mean(),
            "ac/advantage_std": advantage.std(),
            "ac/entropy": entropy.mean(),
            "ac/imag_reward": reward.mean(),
            "ac/imag_cont": cont.mean(),
            "ac/weight": weight.mean(),
            "ac/retnorm_low": retnorm.low,
            "ac/retnorm_high": retnorm.high,
            "ac/return_scale": return_scale(retnorm, c),
        }
        return loss, (metrics, ac_state._replace(retnorm=retnorm))

    def replay_value_loss(self, params, ac_state: ACState, posterior: State, batch, imagined_returns, bins):
        """The critic on the replayed states [B, T], towards their own lambda-returns (docstring)."""
        c = self.config
        batch_size, length = batch["is_first"].shape
        task = batch["task"].astype(jnp.float32)
        logits = self.value_logits(params["critic"], posterior, task)
        slow_value = sg(twohot_mean(self.value_logits(ac_state.slow_critic, posterior, task), bins))
        last = replay_last(batch)
        live = (1.0 - batch["is_terminal"].astype(jnp.float32)) * c.discount
        boot = imagined_returns.reshape(batch_size, length)
        returns = sg(lambda_return(batch["reward"].astype(jnp.float32), live, boot, c.lam * (1.0 - last)))
        return critic_loss(logits[:, :-1], returns, slow_value[:, :-1], 1.0 - last[:, :-1], bins, c.slowreg)


def make(config: Config, wm: WorldModel, discrete: bool) -> ActorCritic:
    return ActorCritic(config, wm, discrete)
