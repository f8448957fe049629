"""HBC: hierarchical behaviour cloning, two plain BC policies (no value, no weights).

- Low level pi_l(a | s, w), w = s_{min(t+k, end)} the k-step subgoal (batch key 'subgoals'):
  maximise log pi_l(a | s, w).
- High level pi_h(w | s, g), a Gaussian over observations: maximise log pi_h(w | s, g) with
  w = s_{min(t+k, goal index)} the k-step waypoint towards the actor goal (batch key 'waypoints').
  With `high_relative` (default) its mean is s + f(s, g): the network predicts the offset to the
  waypoint, which starts at "stay here" and is what changes with g.
- Acting: w from pi_h (mode at temperature 0), then a from pi_l, every step.

The high level predicts observations, so HBC is for state tasks; pixel datasets are refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from gcrl.agents.base import (
    Agent,
    CommonConfig,
    DataSpec,
    LossGroup,
    actor_goal_sampler,
    choose,
)
from gcrl.errors import GcrlError
from gcrl.nets.dists import Gaussian
from gcrl.nets.heads import Actor


@dataclass(frozen=True)
class Config(CommonConfig):
    # k. Short on purpose: plain BC learns the mean action E[a_t | s_t, s_t+k], and on noisy data
    # (OGBench's navigate datasets add N(0, 0.5) to every action) a far subgoal says little about
    # the next action. There the mean has zeros short of the subgoal (turns, reversals, momentum the
    # observation does not show) and the policy stops at them: on pointmaze-large, k = 25 and 10
    # scored 0%, k = 5 38% (seed 0, 25K updates). SAW's and HIQL's low levels avoid this by weighting
    # actions with their advantage towards the subgoal, so they keep HIQL's k = 25.
    subgoal_steps: int = 5
    high_relative: bool = True  # the high level's mean is s + f(s, g) (else f(s, g))
    high_const_std: bool = True  # unit std (the loss is then a squared error), else a learned std


# Hierarchical BC has no published configuration here: its k is its own (above), and it reads no
# discount or actor-goal mixture but the defaults.
DATASET_SETTINGS: tuple = ()


def make(config: Config, spec: DataSpec) -> Agent:
    if spec.pixels or len(spec.observation_shape) != 1:
        raise GcrlError(
            f"hbc: the high level predicts subgoal observations, so HBC is for state tasks (1-D observations); "
            f"this dataset has {'pixel ' if spec.pixels else ''}observations of shape {spec.observation_shape}. Use hiql for pixels."
        )
    obs_dim = spec.observation_shape[0]
    high = Actor(config.hidden, obs_dim, const_std=config.high_const_std, layer_norm=config.actor_layer_norm)
    low = Actor(config.hidden, spec.action_dim, discrete=spec.discrete, layer_norm=config.actor_layer_norm)
    example = jnp.zeros((1, obs_dim), jnp.float32)

    def init(key):
        k_high, k_low = jax.random.split(key)
        return {"high_actor": high.init(k_high, (example, example)), "low_actor": low.init(k_low, (example, example))}

    def high_dist(params, observations, goals):
        """pi_h(. | s, g) over subgoal observations."""
        dist = high.apply(params["high_actor"], (observations, goals))
        return Gaussian(dist.mean + observations, dist.log_std) if config.high_relative else dist

    def low_dist(params, observations, subgoals):
        return low.apply(params["low_actor"], (observations, subgoals))

    def loss(params, target_params, batch, key):
        s = batch["observations"]
        low_log_prob = low_dist(params, s, batch["subgoals"]).log_prob(batch["actions"])
        high_log_prob = high_dist(params, s, batch["actor_goals"]).log_prob(batch["waypoints"])
        low_loss, high_loss = -low_log_prob.mean(), -high_log_prob.mean()
        metrics = {"low_actor/loss": low_loss, "low_actor/log_prob": low_log_prob.mean(),
                   "high_actor/loss": high_loss, "high_actor/log_prob": high_log_prob.mean()}  # fmt: skip
        return low_loss + high_loss, metrics

    def subgoal(params, observations, goals, key, temperature=0.0):
        """The high level's subgoal observation (its mode at temperature 0)."""
        dist = high_dist(params, observations, goals)
        return jnp.where(temperature > 0, dist.sample(key, temperature), dist.mode())

    def reach(params, observations, subgoals, key, temperature=0.0):
        """The low level acting towards a subgoal observation."""
        return choose(low_dist(params, observations, subgoals), key, temperature, spec.discrete)

    def act(params, observations, goals, key, temperature=0.0):
        k_high, k_low = jax.random.split(key)
        return reach(params, observations, subgoal(params, observations, goals, k_high, temperature), k_low, temperature)

    return Agent(
        name="hbc",
        config=config,
        init=init,
        groups=(LossGroup("all", ("high_actor", "low_actor"), loss),),
        act=act,
        sampler=actor_goal_sampler(config),
        parts={
            "subgoal": subgoal,
            "reach": reach,
            # For hierarchical execution and DAgger (gcrl/hierarchy/policy.py, gcrl/hierarchy/dagger.py): the high
            # level works in observation space, and its training target is the subgoal itself.
            "subgoal_space": "observation",
            "high_dist": high_dist,
            "subgoal_target": lambda params, observations, subgoals: subgoals,
        },
    )
