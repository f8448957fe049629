"""GCWAE: goal-conditioned waypoint advantage estimation (the SAW paper, section 4.2).

A flat policy whose AWR advantage is taken towards a subgoal a high-level actor predicts, instead of
towards the distant goal, where the one-step advantage is drowned by discounting and noise
(johnlyzhou/saw impls/agents/gcwae.py):

1. Value V(s, g): GCIVL's expectile loss, on concat(s, g) (on concat(s, phi(s, g)) with
   use_subgoal_rep).
2. High actor pi_h(. | s, g), HIQL's: AWR with weight exp(high_alpha (V(w_g, g) - V(s, g))) on the
   k-step waypoint w_g towards g: the observation itself (the published default), or its
   representation phi(s, w_g) with use_subgoal_rep.
3. Flat actor pi(a | s, g), on concat(s, g), g the actor goal:
     L = -E[exp(low_alpha (V(s', w_hat) - V(s, w_hat))) log pi(a | s, g)],
   w_hat = the high actor's mode (under stop-gradient; the mode even without const_std, as
   published), the weight clipped at 100. The value and the high actor are constants to L.
All three are summed and take one Adam step; only the value heads have Polyak targets.

How gcrl differs from the published file, and why:
- Acting. The published sample_actions queries the high actor and then a 'low_actor' module that
  GCWAE never builds, so a published run cannot be evaluated. Here GCWAE acts with its flat actor
  pi(a | s, g) alone (its mode at temperature 0): the policy the loss trains, as the paper's flat
  methods act. `parts` exposes the high actor for hierarchical execution (observation subgoals; the
  flat actor aimed at a subgoal is then the low level).
- use_subgoal_rep=True cannot run there: the flat actor's weight feeds the predicted representation
  z_hat to the value as if it were a goal observation (phi(s, z_hat) of the wrong size). Here
  V(s, z_hat) and V(s', z_hat) are the value heads read on z_hat directly (as HIQL's value_rep).
  The high level is then not exposed: no network here reads a z to act on it.
- Pixels: published, the flat actor has no image encoder (its encoder key is never set) and the
  observation-space high actor would predict images (its output size is the channel count). Here
  every network has the configured encoder, and pixel datasets need use_subgoal_rep=true.
- get_config's actor_rep_grad is read nowhere in the published file; it is left out.
- Discrete actions: the published discrete actor reads the low actor's encoder (phi(s, g) with
  use_subgoal_rep); here the flat actor always reads concat(s, g).
- Speed: the value (and phi) run once per update on every pair the weights need.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

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
from gcrl.agents.hiql import SUBGOAL_STEPS
from gcrl.agents.values import GoalValue
from gcrl.errors import GcrlError
from gcrl.nets.heads import Actor


@dataclass(frozen=True)
class Config(CommonConfig):
    # The published get_config (gcwae.py).
    expectile: float = 0.7
    low_alpha: float = 3.0  # the flat actor's AWR temperature (towards the predicted subgoal)
    high_alpha: float = 3.0
    subgoal_steps: int = 25
    use_subgoal_rep: bool = False  # the high actor predicts z = phi(s, w) (value on phi), else w itself
    rep_dim: int = 10
    const_std: bool = True  # both actors have unit std; else learned


# The SAW repository has no per-dataset command lines for GCWAE: its README's one example
# (antmaze-large-navigate) sets high_alpha = low_alpha = 3, the defaults. The rows here are HIQL's
# for the discount, the subgoal steps and the actor goals (OGBench hyperparameters.sh).
DATASET_SETTINGS = (
    LONG_HORIZON,
    STITCH_ACTOR_GOALS,
    EXPLORE_ACTOR_GOALS,
    *SUBGOAL_STEPS,
)


def make(config: Config, spec: DataSpec) -> Agent:
    rep = config.use_subgoal_rep
    if not rep and (spec.pixels or len(spec.observation_shape) != 1):
        raise GcrlError(
            f"gcwae: the high actor predicts subgoal observations (use_subgoal_rep=false, the published default), which needs vector "
            f"observations; this dataset has {'pixel ' if spec.pixels else ''}observations of shape {spec.observation_shape}. "
            f"Set use_subgoal_rep=true (--set use_subgoal_rep=true)."
        )
    value = GoalValue(config, spec, goal_rep=rep, rep_dim=config.rep_dim)
    actor_kwargs = dict(const_std=config.const_std, layer_norm=config.actor_layer_norm, encoder=config.encoder)
    high = Actor(config.hidden, config.rep_dim if rep else spec.observation_shape[0], **actor_kwargs)
    actor = Actor(config.hidden, spec.action_dim, discrete=spec.discrete, **actor_kwargs)
    policy = policy_of(actor)

    def init(key):
        k_value, k_high, k_actor = jax.random.split(key, 3)
        pair = (value.example, value.example)
        return {**value.init(k_value), "high_actor": high.init(k_high, pair), "actor": actor.init(k_actor, pair)}

    def high_dist(params, observations, goals):
        return high.apply(params["high_actor"], (observations, goals))

    def weight_values(params, batch, w_hat):
        """V(s, w_hat), V(s', w_hat), V(waypoint, g), V(s, g) in one forward pass, and the high
        actor's target: all constants to the gradient."""
        s, s_next, g, waypoint = (batch[k] for k in ("observations", "next_observations", "actor_goals", "waypoints"))
        if not rep:
            return (*value.many(params, [(s, w_hat), (s_next, w_hat), (waypoint, g), (s, g)]), waypoint)
        params = jax.lax.stop_gradient(params)
        # phi(waypoint, g) and phi(s, g) for the high weights, phi(s, waypoint) the high target; the
        # heads then read z_hat directly for the flat actor's weights.
        phi_waypoint_g, phi_g, target = jnp.split(value.phi(params, jnp.concatenate([waypoint, s, s]), jnp.concatenate([g, g, waypoint])), 3)
        inputs = jnp.concatenate([s, s_next, waypoint, s]), jnp.concatenate([w_hat, w_hat, phi_waypoint_g, phi_g])
        return (*jnp.split(value.heads_on(params["value"], *inputs).mean(0), 4), target)

    def loss(params, target_params, batch, key):
        value_loss, metrics = value.loss(params, target_params, batch, config.discount, config.expectile)
        s, g = batch["observations"], batch["actor_goals"]

        # The high actor once on (s, g): its likelihood of the waypoint, and its subgoal w_hat.
        h_dist = high_dist(params, s, g)
        w_hat = jax.lax.stop_gradient(h_dist.mode())
        v_w_hat, v_next_w_hat, v_waypoint, v_g, high_target = weight_values(params, batch, w_hat)

        advantage = v_next_w_hat - v_w_hat
        weights = exp_weight(advantage, config.low_alpha)
        log_prob = policy(params, s, g).log_prob(batch["actions"])
        actor_loss = -(weights * log_prob).mean()

        high_weights = exp_weight(v_waypoint - v_g, config.high_alpha)
        high_log_prob = h_dist.log_prob(high_target)
        high_loss = -(high_weights * high_log_prob).mean()

        metrics.update({
            "actor/loss": actor_loss, "actor/adv": advantage.mean(), "actor/weight": weights.mean(), "actor/log_prob": log_prob.mean(),
            "high_actor/loss": high_loss, "high_actor/weight": high_weights.mean(), "high_actor/log_prob": high_log_prob.mean(),
        })  # fmt: skip
        return value_loss + actor_loss + high_loss, metrics

    def subgoal(params, observations, goals, key, temperature=0.0):
        """The high actor's subgoal observation (its mode at temperature 0)."""
        dist = high_dist(params, observations, goals)
        return jnp.where(temperature > 0, dist.sample(key, temperature), dist.mode())

    parts = {"value": value.mean, "acts_flat": True}  # act() is the flat actor: what a plain evaluation should run
    if rep:
        parts["phi"] = value.phi
    else:
        # For hierarchical execution and DAgger (gcrl/hierarchy/levels.py, gcrl/hierarchy/dagger.py): observation
        # subgoals; with no 'reach' the low level is the flat actor aimed at the subgoal.
        parts.update(subgoal=subgoal, subgoal_space="observation", high_dist=high_dist,
                     subgoal_target=lambda params, observations, subgoals: subgoals)  # fmt: skip

    return Agent(
        name="gcwae",
        config=config,
        init=init,
        groups=(LossGroup("all", (*value.keys, "high_actor", "actor"), loss),),
        act=flat_act(policy, spec.discrete),
        sampler=actor_goal_sampler(config),
        target_keys=value.target_keys,
        parts=parts,
    )
