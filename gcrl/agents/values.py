"""The goal-conditioned value function that GCIVL, HIQL and SAW share: an ensemble of two MLPs,
on concat(s, g) or on a goal representation phi(s, g), trained by GCIVL's expectile loss against
Polyak-averaged targets."""

from __future__ import annotations

import jax.numpy as jnp

from gcrl.agents.base import DataSpec, gcivl_value_loss
from gcrl.nets.heads import GoalRep, Value


class GoalValue:
    def __init__(self, config, spec: DataSpec, goal_rep: bool, rep_dim: int = 10):
        self.uses_goal_rep = goal_rep
        self.value = Value(config.hidden, layer_norm=config.layer_norm, encoder=None if goal_rep else config.encoder)
        self.goal_rep = GoalRep(config.hidden, rep_dim, config.layer_norm, config.encoder) if goal_rep else None
        self.keys = ("value", "goal_rep") if goal_rep else ("value",)
        self.example = jnp.zeros((1, *spec.observation_shape), jnp.uint8 if spec.pixels else jnp.float32)
        self.rep_dim = rep_dim

    def init(self, key) -> dict:
        if not self.uses_goal_rep:
            return {"value": self.value.init(key, (self.example, self.example))}
        params = {"goal_rep": self.goal_rep.init(key, self.example, self.example)}
        params["value"] = self.value.init(key, (), (jnp.zeros((1, self.rep_dim)),))
        return params

    def phi(self, params, observations, goals):
        return self.goal_rep.apply(params["goal_rep"], observations, goals)

    def __call__(self, params, observations, goals):
        """[2, B] values of the two heads."""
        if self.uses_goal_rep:
            return self.value.apply(params["value"], (), (self.phi(params, observations, goals),))
        return self.value.apply(params["value"], (observations, goals))

    def mean(self, params, observations, goals):
        return self(params, observations, goals).mean(0)

    def loss(self, params, target_params, batch, discount: float, expectile: float):
        s, s_next, g = batch["observations"], batch["next_observations"], batch["value_goals"]
        return gcivl_value_loss(
            self(params, s, g),
            self(target_params, s, g),
            self(target_params, s_next, g),
            batch["rewards"],
            batch["masks"],
            discount,
            expectile,
        )
