"""The goal-conditioned value function that GCIVL, HIQL and SAW share: an ensemble of two MLPs,
on concat(s, g) or on a goal representation phi(s, g), trained by GCIVL's expectile loss against
Polyak-averaged targets."""

from __future__ import annotations

import jax
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

    def many(self, params, pairs, reduce_mean: bool = True):
        """Values of several (observations, goals) pairs in one forward pass: one large matrix
        product runs faster than several small ones. Outputs are constants to the gradient."""
        params = jax.lax.stop_gradient(params)
        values = self(params, jnp.concatenate([p[0] for p in pairs]), jnp.concatenate([p[1] for p in pairs]))
        if reduce_mean:
            values = values.mean(0)
        return jnp.split(values, len(pairs), axis=-1)

    def named(self, params, pairs: dict) -> dict:
        """`many` over a dict of named pairs: {name: value}."""
        return dict(zip(pairs, self.many(params, list(pairs.values()))))

    def loss(self, params, target_params, batch, discount: float, expectile: float):
        s, s_next, g = batch["observations"], batch["next_observations"], batch["value_goals"]
        target, next_target = self.many(target_params, [(s, g), (s_next, g)], reduce_mean=False)
        return gcivl_value_loss(self(params, s, g), target, next_target, batch["rewards"], batch["masks"], discount, expectile)
