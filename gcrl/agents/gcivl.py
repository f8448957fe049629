"""GCIVL: action-free IQL value learning with an AWR policy,
weight exp(alpha (V(s', g) - V(s, g))) clipped at 100."""

from __future__ import annotations

from dataclasses import dataclass

import jax

from gcrl.agents.base import (
    EXPLORE_ACTOR_GOALS,
    LONG_HORIZON,
    STITCH_ACTOR_GOALS,
    Agent,
    CommonConfig,
    DataSpec,
    LossGroup,
    actor_goal_sampler,
    exp_weight,
    flat_act,
    policy_of,
)
from gcrl.agents.values import GoalValue
from gcrl.nets.heads import Actor


@dataclass(frozen=True)
class Config(CommonConfig):
    expectile: float = 0.9  # OGBench's get_config (0.7 is HIQL's and SAW's value expectile)
    alpha: float = 10.0
    goal_rep: bool = False  # value on concat(s, phi(s, g)) (as HIQL and SAW) instead of concat(s, g)
    # The policy on concat(s, phi_pi(s, g)), phi_pi its own goal representation: SAW's flat policy,
    # so that SAW with beta = 0 is exactly this.
    actor_goal_rep: bool = False
    rep_dim: int = 10


# OGBench impls/hyperparameters.sh, GCIVL rows (alpha 10 everywhere but powderworld).
DATASET_SETTINGS = (
    LONG_HORIZON,
    STITCH_ACTOR_GOALS,
    EXPLORE_ACTOR_GOALS,
    (("powderworld-*",), {"alpha": 3.0}),
)


def awr_policy_loss(policy, params, batch, v, next_v, alpha: float):
    """-E[exp(alpha (V(s', g) - V(s, g))) log pi(a | s, g)], g the actor goal; v = V(s, g) and
    next_v = V(s', g) come in under stop-gradient; policy(params, s, g) -> distribution. Also
    returns the policy's distribution."""
    advantage = next_v - v
    weights = exp_weight(advantage, alpha)
    dist = policy(params, batch["observations"], batch["actor_goals"])
    log_prob = dist.log_prob(batch["actions"])
    loss = -(weights * log_prob).mean()
    metrics = {"actor/awr_loss": loss, "actor/adv": advantage.mean(), "actor/weight": weights.mean(), "actor/log_prob": log_prob.mean()}
    return loss, metrics, dist


def policy_value_pairs(batch) -> dict:
    """The (observations, goals) pairs whose values the AWR weights need."""
    s, g = batch["observations"], batch["actor_goals"]
    return {"v": (s, g), "next_v": (batch["next_observations"], g)}


def make(config: Config, spec: DataSpec) -> Agent:
    value = GoalValue(config, spec, goal_rep=config.goal_rep, rep_dim=config.rep_dim)
    actor = Actor(
        config.hidden, spec.action_dim, discrete=spec.discrete, layer_norm=config.actor_layer_norm, encoder=config.encoder,
        goal_rep_dim=config.rep_dim if config.actor_goal_rep else 0, goal_rep_layer_norm=config.layer_norm,
    )  # fmt: skip
    policy = policy_of(actor)

    def init(key):
        k_value, k_actor = jax.random.split(key)
        return {**value.init(k_value), "actor": actor.init(k_actor, (value.example, value.example))}

    def loss(params, target_params, batch, key):
        value_loss, value_metrics = value.loss(params, target_params, batch, config.discount, config.expectile)
        v = value.named(params, policy_value_pairs(batch))
        actor_loss, actor_metrics, _ = awr_policy_loss(policy, params, batch, v["v"], v["next_v"], config.alpha)
        return value_loss + actor_loss, {**value_metrics, **actor_metrics}

    return Agent(
        name="gcivl",
        config=config,
        init=init,
        groups=(LossGroup("all", (*value.keys, "actor"), loss),),
        act=flat_act(policy, spec.discrete),
        sampler=actor_goal_sampler(config),
        target_keys=value.target_keys,
        parts={"value": value.mean},  # V(s, g), for diagnostics (benchmarks/value_vs_maze_distance.py)
    )

