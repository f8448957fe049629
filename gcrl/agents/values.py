"""The goal-conditioned value function that GCIVL, HIQL and SAW share: an ensemble of two MLPs,
on concat(s, g) or on concat(s, phi(s, g)) with phi a goal representation, trained by GCIVL's
expectile loss against Polyak-averaged targets.

As in the published code, only the value heads have target copies: the targets run the target
heads on the online phi (there phi is one module shared by the value, its target and the
policies that read it)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gcrl.agents.base import DataSpec, gcivl_value_loss, policy_of
from gcrl.nets.heads import Actor, GoalRep, Value


class GoalValue:
    def __init__(self, config, spec: DataSpec, goal_rep: bool, rep_dim: int = 10):
        self.uses_goal_rep = goal_rep
        self.value = Value(config.hidden, layer_norm=config.layer_norm, encoder=config.encoder)
        self.goal_rep = GoalRep(config.hidden, rep_dim, config.layer_norm, config.encoder) if goal_rep else None
        self.keys = ("value", "goal_rep") if goal_rep else ("value",)
        self.target_keys = ("value",)
        self.example = jnp.zeros((1, *spec.observation_shape), jnp.uint8 if spec.pixels else jnp.float32)
        self.rep_dim = rep_dim

    def init(self, key) -> dict:
        if not self.uses_goal_rep:
            return {"value": self.value.init(key, (self.example, self.example))}
        k_rep, k_value = jax.random.split(key)
        params = {"goal_rep": self.goal_rep.init(k_rep, self.example, self.example)}
        params["value"] = self.value.init(k_value, (self.example,), (jnp.zeros((1, self.rep_dim)),))
        return params

    def phi(self, params, observations, goals):
        return self.goal_rep.apply(params["goal_rep"], observations, goals)

    def goal_input(self, params, observations, goals):
        """What the heads read beside the observation: phi(s, g), or the goal itself."""
        return self.phi(params, observations, goals) if self.uses_goal_rep else goals

    def heads_on(self, heads, observations, goal_inputs):
        """[2, B] values of the heads with parameters `heads`, on already computed goal inputs."""
        if self.uses_goal_rep:
            return self.value.apply(heads, (observations,), (goal_inputs,))
        return self.value.apply(heads, (observations, goal_inputs))

    def __call__(self, params, observations, goals, heads=None):
        """[2, B] values of the two heads; `heads` replaces params['value'] (the target heads)."""
        heads = params["value"] if heads is None else heads
        return self.heads_on(heads, observations, self.goal_input(params, observations, goals))

    def mean(self, params, observations, goals):
        return self(params, observations, goals).mean(0)

    def many(self, params, pairs, reduce_mean: bool = True, heads=None):
        """Values of several (observations, goals) pairs in one forward pass: one large matrix
        product runs faster than several small ones. Outputs are constants to the gradient."""
        params, heads = jax.lax.stop_gradient((params, heads))
        values = self(params, jnp.concatenate([p[0] for p in pairs]), jnp.concatenate([p[1] for p in pairs]), heads)
        if reduce_mean:
            values = values.mean(0)
        return jnp.split(values, len(pairs), axis=-1)

    def named(self, params, pairs: dict) -> dict:
        """`many` over a dict of named pairs: {name: value}."""
        return dict(zip(pairs, self.many(params, list(pairs.values()))))

    def loss(self, params, target_params, batch, discount: float, expectile: float):
        s, s_next, g = batch["observations"], batch["next_observations"], batch["value_goals"]
        # The goal input (phi(s, g)) once: with its gradient under the online heads, as a constant
        # under the target heads, which run on s and s' in one pass.
        goal_input = self.goal_input(params, s, g)
        next_goal_input = self.goal_input(jax.lax.stop_gradient(params), s_next, g)
        online = self.heads_on(params["value"], s, goal_input)
        heads, goal_inputs = jax.lax.stop_gradient((target_params["value"], jnp.concatenate([goal_input, next_goal_input])))
        target, next_target = jnp.split(self.heads_on(heads, jnp.concatenate([s, s_next]), goal_inputs), 2, axis=-1)
        return gcivl_value_loss(online, target, next_target, batch["rewards"], batch["masks"], discount, expectile)


def flat_policy(value: GoalValue, config, spec: DataSpec, **actor_kwargs):
    """The flat policy pi(a | s, g) of SAW and RIS. With config.share_goal_rep it reads the value's
    phi(s, g) and its gradient trains phi (the published pixel setting); otherwise it has its own
    goal representation of (s, g). Returns (policy, init): policy(params, s, g) -> distribution,
    init(key) -> the actor's parameters."""
    kwargs = dict(discrete=spec.discrete, **actor_kwargs)
    if config.share_goal_rep:
        actor = Actor(config.hidden, spec.action_dim, **kwargs)
        inputs = ((value.example,), (jnp.zeros((1, value.rep_dim)),))

        def policy(params, observations, goals):
            return actor.apply(params["actor"], (observations,), (value.phi(params, observations, goals),))
    else:
        actor = Actor(config.hidden, spec.action_dim, **kwargs, goal_rep_dim=config.rep_dim, goal_rep_layer_norm=config.layer_norm)
        inputs = ((value.example, value.example),)
        policy = policy_of(actor)
    return policy, lambda key: actor.init(key, *inputs)
