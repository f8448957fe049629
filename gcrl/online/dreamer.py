"""The flat agent: world model and actor-critic trained together, and acting step by step.

One update, as DreamerV3's: the loss is world_model_loss + actor_critic_loss on one batch, one
gradient over all parameters (the actor-critic terms reach the world model only through the
replay-critic loss, see behavior.py), one optimiser step (optim.py), then the slow critic's EMA.
Acting: encode the image, one posterior step from the carried state and previous action (both reset
where is_first), sample the actor (DreamerV3 samples when evaluating too; `sample=False` takes the
mode instead).

`train_step` and `act` are pure and jit-able; the environment loop and the replay buffer live
elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from gcrl.online import behavior, world_model
from gcrl.online.behavior import ACState, ActorCritic
from gcrl.online.config import Config
from gcrl.online.optim import optimizer
from gcrl.online.world_model import State, WorldModel


class TrainState(NamedTuple):
    params: dict  # 'wm', 'actor', 'critic'
    ac_state: ACState
    opt_state: optax.OptState
    step: jax.Array


class Carry(NamedTuple):
    """What acting carries from step to step, per environment."""

    state: State
    prev_action: jax.Array


@dataclass(frozen=True)
class Dreamer:
    config: Config
    wm: WorldModel
    ac: ActorCritic

    @property
    def tx(self) -> optax.GradientTransformation:
        return optimizer(self.config)

    def init(self, key) -> TrainState:
        k_wm, k_ac = jax.random.split(key)
        ac_params, ac_state = self.ac.init(k_ac)
        params = {"wm": self.wm.init(k_wm), **ac_params}
        return TrainState(params, ac_state, self.tx.init(params), jnp.zeros((), jnp.int32))

    def loss(self, params, ac_state: ACState, batch, key):
        """(world-model loss + actor-critic loss, (metrics, new ACState))."""
        k_wm, k_ac = jax.random.split(key)
        wm_loss, (metrics, posterior) = self.wm.world_model_loss(params["wm"], batch, k_wm)
        ac_params = {"actor": params["actor"], "critic": params["critic"]}
        ac_loss, (ac_metrics, ac_state) = self.ac.actor_critic_loss(ac_params, ac_state, params["wm"], posterior, batch, k_ac)
        return wm_loss + ac_loss, ({**metrics, **ac_metrics}, ac_state)

    def train_step(self, state: TrainState, batch, key) -> tuple[TrainState, dict]:
        (loss, (metrics, ac_state)), grads = jax.value_and_grad(self.loss, has_aux=True)(state.params, state.ac_state, batch, key)
        updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        ac_state = self.ac.update_slow(ac_state, params)
        metrics = {**metrics, "loss": loss, "grad_norm": optax.tree.norm(grads)}
        return TrainState(params, ac_state, opt_state, state.step + 1), metrics

    def initial_carry(self, batch_size: int) -> Carry:
        return Carry(self.wm.initial(batch_size), jnp.zeros((batch_size, self.wm.action_dim)))

    def act(self, params, carry: Carry, obs, key, sample: bool = True) -> tuple[jax.Array, Carry]:
        """obs: image [N, H, W, C] uint8, is_first [N], task [N, K]. Returns actions [N, A] (one-hot
        when discrete) and the next carry."""
        k_obs, k_act = jax.random.split(key)
        embed = self.wm.encode(params["wm"], obs["image"])
        task = obs["task"].astype(jnp.float32)
        state = self.wm.obs_step(params["wm"], carry.state, carry.prev_action, embed, task, obs["is_first"], k_obs)
        dist = self.ac.policy(params, state, task)
        action = dist.sample(k_act) if sample else dist.mode()
        return action, Carry(state, action)


def make(config: Config, action_dim: int, discrete: bool, task_dim: int, image_shape) -> Dreamer:
    wm = world_model.make(config, action_dim, task_dim, image_shape)
    return Dreamer(config, wm, behavior.make(config, wm, discrete))
