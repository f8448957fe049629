"""GCBC: goal-conditioned behaviour cloning, maximise log pi(a | s, g)."""

from __future__ import annotations

from dataclasses import dataclass

import jax.numpy as jnp

from gcrl.agents.base import Agent, CommonConfig, DataSpec, LossGroup, actor_goal_sampler, flat_act, policy_of
from gcrl.nets.heads import Actor


@dataclass(frozen=True)
class Config(CommonConfig):
    pass


# OGBench's command lines give GCBC no per-dataset settings (actor goals stay trajectory-uniform,
# stitch datasets included); pixel datasets get gcrl.config's pixel preset.
DATASET_SETTINGS: tuple = ()


def make(config: Config, spec: DataSpec) -> Agent:
    actor = Actor(config.hidden, spec.action_dim, discrete=spec.discrete, layer_norm=config.actor_layer_norm, encoder=config.encoder)
    example = jnp.zeros((1, *spec.observation_shape), jnp.uint8 if spec.pixels else jnp.float32)

    def init(key):
        return {"actor": actor.init(key, (example, example))}

    def loss(params, target_params, batch, key):
        dist = actor.apply(params["actor"], (batch["observations"], batch["actor_goals"]))
        log_prob = dist.log_prob(batch["actions"])
        loss = -log_prob.mean()
        return loss, {"actor/loss": loss, "actor/log_prob": log_prob.mean()}

    return Agent(
        name="gcbc",
        config=config,
        init=init,
        groups=(LossGroup("all", ("actor",), loss),),
        act=flat_act(policy_of(actor), spec.discrete),
        sampler=actor_goal_sampler(config),
    )

