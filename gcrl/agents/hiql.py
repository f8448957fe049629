"""HIQL: a high-level policy over subgoal representations and a low-level policy that reaches them.

- Value: GCIVL on phi(s, g).
- High policy pi_h(z | s, g) regresses z = phi(s, w), w the k-step waypoint towards g, weighted
  by exp(alpha_h (V(w, g) - V(s, g))).
- Low policy pi_l(a | s, phi(s, w_k)), w_k the k-step subgoal, weighted by
  exp(alpha_l (V(s', w_k) - V(s, w_k))); its gradient also trains phi with low_actor_rep_grad
  (the published setting on pixel datasets; off on states).
- Acting: z from pi_h (mode at temperature 0), renormalised to norm sqrt(dim), then a from pi_l.
"""

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
    choose,
    exp_weight,
)
from gcrl.agents.values import GoalValue
from gcrl.nets.heads import Actor
from gcrl.nets.layers import length_normalize


@dataclass(frozen=True)
class Config(CommonConfig):
    expectile: float = 0.7
    high_alpha: float = 3.0
    low_alpha: float = 3.0
    subgoal_steps: int = 25
    rep_dim: int = 10
    low_actor_rep_grad: bool = False  # the low policy's gradient trains phi (published: pixels only)


# OGBench impls/hyperparameters.sh, HIQL rows. SUBGOAL_STEPS also serves RIS and GCWAE, which have
# no command lines of their own.
SUBGOAL_STEPS = (
    (("*humanoidmaze-*",), {"subgoal_steps": 100}),
    (("*cube-*", "*scene-*", "*puzzle-*", "powderworld-*"), {"subgoal_steps": 10}),
)
DATASET_SETTINGS = (
    LONG_HORIZON,
    STITCH_ACTOR_GOALS,
    EXPLORE_ACTOR_GOALS,
    (("*-explore-*",), {"high_alpha": 10.0, "low_alpha": 10.0}),
    *SUBGOAL_STEPS,
    (("visual-*", "pixel-*", "powderworld-*"), {"low_actor_rep_grad": True}),
)


class HiqlNetworks:
    """HIQL's value, high actor and low actor, and the parts hierarchical execution and DAgger use
    (gcrl/hierarchy/policy.py, levels.py, dagger.py). RIS builds the same three and adds a flat
    actor; with subgoal_rep=False (RIS's setting) the high actor predicts subgoal observations."""

    def __init__(self, config, spec: DataSpec, const_std: bool = True, subgoal_rep: bool = True):
        self.config, self.spec, self.subgoal_rep = config, spec, subgoal_rep
        self.value = GoalValue(config, spec, goal_rep=True, rep_dim=config.rep_dim)
        kwargs = dict(const_std=const_std, layer_norm=config.actor_layer_norm, encoder=config.encoder)
        self.high = Actor(config.hidden, config.rep_dim if subgoal_rep else spec.observation_shape[0], **kwargs)
        self.low = Actor(config.hidden, spec.action_dim, discrete=spec.discrete, **kwargs)

    def init(self, key):
        return self.init_from(*jax.random.split(key, 3))

    def init_from(self, k_value, k_high, k_low) -> dict:
        example = self.value.example
        params = self.value.init(k_value)
        params["high_actor"] = self.high.init(k_high, (example, example))
        params["low_actor"] = self.low.init(k_low, (example,), (jax.numpy.zeros((1, self.config.rep_dim)),))
        return params

    def high_dist(self, params, observations, goals):
        return self.high.apply(params["high_actor"], (observations, goals))

    def subgoal(self, params, observations, goals, key, temperature=0.0):
        """The high level's subgoal: z renormalised to norm sqrt(dim), or an observation."""
        dist = self.high_dist(params, observations, goals)
        out = jax.numpy.where(temperature > 0, dist.sample(key, temperature), dist.mode())
        return length_normalize(out) if self.subgoal_rep else out

    def low_dist(self, params, observations, subgoal_rep):
        return self.low.apply(params["low_actor"], (observations,), (subgoal_rep,))

    def reach_rep(self, params, observations, z, key, temperature=0.0):
        """The low level acting on a subgoal representation z."""
        return choose(self.low_dist(params, observations, z), key, temperature, self.spec.discrete)

    def reach(self, params, observations, subgoal_observations, key, temperature=0.0):
        """The low level acting towards a subgoal given as an observation."""
        return self.reach_rep(params, observations, self.value.phi(params, observations, subgoal_observations), key, temperature)

    def parts(self) -> dict:
        """Subgoals are representations z = phi(s, w) (the low level acts on z directly; values and
        phi serve completion tests, subgoal errors in phi-space and the high level's training
        target), or observations (subgoal_rep=False)."""
        parts = {"reach": self.reach, "subgoal": self.subgoal, "value": self.value.mean, "phi": self.value.phi, "high_dist": self.high_dist}
        if self.subgoal_rep:
            parts.update(subgoal_space="representation", subgoal_target=self.value.phi, reach_rep=self.reach_rep,
                         value_rep=lambda params, s, z: self.value.heads_on(params["value"], s, z).mean(0))  # fmt: skip
        else:
            parts.update(subgoal_space="observation", subgoal_target=lambda params, observations, subgoals: subgoals)
        return parts


def make(config: Config, spec: DataSpec) -> Agent:
    nets = HiqlNetworks(config, spec)
    value = nets.value

    def loss(params, target_params, batch, key):
        value_loss, metrics = value.loss(params, target_params, batch, config.discount, config.expectile)
        s = batch["observations"]

        # Weights of both levels from one forward pass of the value.
        w, g, waypoint = batch["subgoals"], batch["actor_goals"], batch["waypoints"]
        v_next_w, v_w, v_waypoint_g, v_g = value.many(params, [(batch["next_observations"], w), (s, w), (waypoint, g), (s, g)])

        # Low level: reach the k-step subgoal.
        low_weights = exp_weight(v_next_w - v_w, config.low_alpha)
        rep = value.phi(params, s, w)
        if not config.low_actor_rep_grad:
            rep = jax.lax.stop_gradient(rep)
        low_log_prob = nets.low_dist(params, s, rep).log_prob(batch["actions"])
        low_loss = -(low_weights * low_log_prob).mean()

        # High level: predict the representation of the waypoint towards g.
        high_weights = exp_weight(v_waypoint_g - v_g, config.high_alpha)
        target = jax.lax.stop_gradient(value.phi(params, s, waypoint))
        high_log_prob = nets.high_dist(params, s, g).log_prob(target)
        high_loss = -(high_weights * high_log_prob).mean()

        metrics.update({
            "low_actor/loss": low_loss, "low_actor/weight": low_weights.mean(), "low_actor/log_prob": low_log_prob.mean(),
            "high_actor/loss": high_loss, "high_actor/weight": high_weights.mean(), "high_actor/log_prob": high_log_prob.mean(),
        })  # fmt: skip
        return value_loss + low_loss + high_loss, metrics

    def act(params, observations, goals, key, temperature=0.0):
        k_high, k_low = jax.random.split(key)
        z = nets.subgoal(params, observations, goals, k_high, temperature)
        return choose(nets.low_dist(params, observations, z), k_low, temperature, spec.discrete)

    return Agent(
        name="hiql",
        config=config,
        init=nets.init,
        groups=(LossGroup("all", (*value.keys, "high_actor", "low_actor"), loss),),
        act=act,
        sampler=actor_goal_sampler(config),
        target_keys=value.target_keys,
        parts=nets.parts(),
    )
