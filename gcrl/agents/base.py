"""What every agent provides to the training loop, and the pieces agents share.

An agent is a small set of pure functions over pytrees: `init` makes parameters, each loss group
maps (params, target_params, batch, key) to (loss, metrics), and `act` maps (params, observations,
goals, key, temperature) to actions. The loop jits, scans and vmaps them without the agent knowing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gcrl.data.sampling import GoalMix, SamplerConfig

MAX_WEIGHT = 100.0  # every exponential weight is clipped here


class DataSpec(NamedTuple):
    """What an agent needs to know about the data to build its networks."""

    observation_shape: tuple[int, ...]
    pixels: bool
    action_dim: int  # number of actions when discrete
    discrete: bool


class LossGroup(NamedTuple):
    """A loss and the parameter subtrees its own optimiser updates."""

    name: str
    keys: tuple[str, ...]
    loss: Callable  # (params, target_params, batch, key) -> (loss, metrics)


@dataclass(frozen=True)
class Agent:
    name: str
    config: Any
    init: Callable  # (key) -> params dict
    groups: tuple[LossGroup, ...]
    act: Callable  # (params, observations, goals, key, temperature) -> actions
    sampler: SamplerConfig
    target_keys: tuple[str, ...] = ()  # parameter subtrees with Polyak-averaged targets
    tau: float = 0.005
    parts: dict = field(default_factory=dict)  # extra pure functions, e.g. a low level's 'reach'


# ---- per-dataset settings ----------------------------------------------------------------------
# Each agent module has DATASET_SETTINGS: rows of (fnmatch patterns on the dataset name, settings),
# copied from the published command lines (OGBench's impls/hyperparameters.sh, SAW's for SAW).
# Every row whose pattern matches applies, in order; gcrl.config applies them after the preset.
# The rows most published configurations share:
LONG_HORIZON = (("*-giant-*", "*humanoidmaze-*"), {"discount": 0.995})
STITCH_ACTOR_GOALS = (("*-stitch-*",), {"actor_p_traj": 0.5, "actor_p_random": 0.5})
EXPLORE_ACTOR_GOALS = (("*-explore-*",), {"actor_p_traj": 0.0, "actor_p_random": 1.0})


def exp_weight(advantage, temperature: float):
    """exp(temperature * advantage), clipped at 100, under stop-gradient."""
    return jnp.minimum(jnp.exp(temperature * jax.lax.stop_gradient(advantage)), MAX_WEIGHT)


def expectile_weight(advantage, expectile: float):
    """|tau - 1(adv < 0)|."""
    return jnp.where(advantage >= 0, expectile, 1.0 - expectile)


def gcivl_value_loss(values, target_values, next_target_values, rewards, masks, discount: float, expectile: float):
    """Action-free IQL value loss (GCIVL). values, target_values, next_target_values: [2, B].

    adv = r + gamma m min_i V'_i(s', g) - mean_i V'_i(s, g)
    loss = sum_i E[ |tau - 1(adv < 0)| (r + gamma m V'_i(s', g) - V_i(s, g))^2 ]
    """
    adv = rewards + discount * masks * next_target_values.min(0) - target_values.mean(0)
    q = rewards + discount * masks * next_target_values
    weight = expectile_weight(adv, expectile)
    loss = (weight * (q - values) ** 2).mean(axis=1).sum()
    metrics = {"value/loss": loss, "value/v_mean": values.mean(), "value/adv_mean": adv.mean()}
    return loss, metrics


def clip_actions(actions, discrete: bool):
    return actions if discrete else jnp.clip(actions, -1.0, 1.0)


def choose(dist, key, temperature, discrete: bool):
    """The mode at temperature 0, else a sample at that temperature; continuous actions clipped."""
    sampled = dist.sample(key, temperature)
    actions = jnp.where(temperature > 0, sampled, dist.mode())
    return clip_actions(actions, discrete)


def policy_of(actor, name: str = "actor"):
    """pi(. | s, g) as a function of the parameters: the actor module stored under params[name]."""

    def policy(params, observations, goals):
        return actor.apply(params[name], (observations, goals))

    return policy


def flat_act(policy, discrete: bool):
    """act(params, observations, goals, key, temperature) of a flat policy, policy(params, s, g) -> dist."""

    def act(params, observations, goals, key, temperature=0.0):
        return choose(policy(params, observations, goals), key, temperature, discrete)

    return act


def actor_goal_sampler(config) -> SamplerConfig:
    """The sampler every agent here uses: OGBench's value and actor goal mixtures."""
    return SamplerConfig(
        discount=config.discount,
        value_goals=GoalMix(config.value_p_cur, config.value_p_traj, config.value_p_random, geometric=True),
        actor_goals=GoalMix(config.actor_p_cur, config.actor_p_traj, config.actor_p_random, geometric=False),
        subgoal_steps=getattr(config, "subgoal_steps", 1),
        frame_stack=config.frame_stack,
        p_aug=config.p_aug,
    )


@dataclass(frozen=True)
class CommonConfig:
    """Settings every agent shares; the defaults are the paper configuration for state tasks."""

    hidden: tuple[int, ...] = (512, 512, 512)
    layer_norm: bool = True  # in value and goal-representation MLPs
    actor_layer_norm: bool = False  # the published code's actors have none
    lr: float = 3e-4
    discount: float = 0.99
    value_p_cur: float = 0.2
    value_p_traj: float = 0.5
    value_p_random: float = 0.3
    # Actor goals: uniform over the trajectory's future by default; half random on stitch datasets,
    # all random on explore datasets (the published per-dataset settings, rows below).
    actor_p_cur: float = 0.0
    actor_p_traj: float = 1.0
    actor_p_random: float = 0.0
    encoder: str | None = None  # 'impala_small' for pixels
    frame_stack: int = 1
    p_aug: float = 0.0  # random-crop probability per batch (pixels)
