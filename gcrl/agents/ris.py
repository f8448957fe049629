"""Offline RIS: a flat policy pulled towards a low-level actor aimed at an imagined subgoal.

The offline version of RIS (Chane-Sane et al., ICML 2021) in the SAW paper's repository
(johnlyzhou/saw impls/agents/ris.py). HIQL's three parts, plus a flat actor that acts:

1. Value V(s, g) = V(s, phi(s, g)): GCIVL's expectile loss, as HIQL.
2. Low actor pi_l(a | s, phi(s, w)), w = s_{t+k} the k-step subgoal: HIQL's low actor, AWR with
   weight exp(low_alpha (V(s', w) - V(s, w))); phi(s, w) under stop-gradient unless
   low_actor_rep_grad (the published setting for pixels).
3. High actor pi_h(. | s, g): HIQL's high actor, AWR with weight exp(high_alpha (V(w_g, g) - V(s, g)))
   on the target phi(s, w_g) (use_subgoal_rep, the default) or the observation w_g itself, w_g the
   k-step waypoint towards g.
4. Flat actor pi(a | s, g), g the actor goal, on concat(s, phi_pi(s, g)) with phi_pi its own goal
   representation (share_goal_rep: the value's phi, gradients included):
     L = -E[exp(low_alpha (V(s', g) - V(s, g))) log pi(a | s, g)]                 (add_one_step)
         + E[c(s, g) ||mu_pi(s, g) - mu_l(s, z_hat)||^2],
   z_hat the high actor's mode (a sample without const_std), mu the actors' means, and
     c = kl_alpha                                                    with subgoal representations,
     c = min(exp(kl_alpha (V(w_hat, g) - V(s, g))), 100)             without (w_hat an observation).
   Only the flat actor (and phi_pi) moves with L: the value, the high actor and the low actor at
   z_hat are constants to it. Note the one-step term's temperature is low_alpha, as published: the
   published file has no separate one.
All five terms are summed and take one Adam step; only the value heads have Polyak targets.
Acting: the flat actor alone (its mode at temperature 0). The high and low actors are only a
training signal, but `parts` exposes them, so the run's hierarchy can be evaluated like HIQL's
(`gcrl evaluate RUN --high RIS_RUN`, subgoals z = phi(s, w) renormalised to norm sqrt(dim)).

The RIS paper and the published offline code differ: the paper is online and off-policy (a
Q-function, SAC-style updates); its high-level policy imagines subgoals halfway to the goal, using
the value as a distance; its prior is the policy itself (a slowly updated copy) conditioned on
several sampled imagined subgoals, and the policy is kept near it by KL(pi || prior) with a
constant coefficient. The offline code keeps the constant coefficient (with subgoal
representations) but replaces the rest: IVL's value with no Q, one-step AWR, HIQL's k-step
waypoint high actor, a separately trained low actor as the prior, one subgoal (the high actor's
mode) per sample, and the squared distance between the means (twice the KL of two unit-std
Gaussians) instead of the KL.

How gcrl differs from the published file, and why:
- use_subgoal_rep=False cannot run there: the waypoint term feeds the raw predicted observation
  w_hat to the low actor as if it were a representation (goal_encoded=True), a shape error when the
  observation size is not rep_dim. Here the low actor reads phi(s, w_hat), as it was trained; and
  its training input phi(s, w) follows low_actor_rep_grad in both settings (the published file lets
  the low actor's gradient into phi whenever use_subgoal_rep is off).
- Discrete actions: the published term compares the actors' modes, which for a categorical policy
  are argmax indices with no gradient. Here the term is KL(pi_l(. | s, z_hat) || pi(. | s, g)).
- The subgoal z_hat in the loss is the high actor's raw mode, not renormalised, as published (the
  hierarchy's `subgoal` part renormalises, as HIQL acts).
- Observation-space subgoals (use_subgoal_rep=False) need vector observations: pixel datasets are
  refused, as the high actor would have to predict images.
- Speed: the value, phi, the high actor and the low actor each run once per update on all the
  inputs they need (concatenated), not once per term.
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
)
from gcrl.agents.gcivl import awr_policy_loss
from gcrl.agents.hiql import SUBGOAL_STEPS, HiqlNetworks
from gcrl.agents.values import flat_policy
from gcrl.errors import GcrlError
from gcrl.nets.dists import Categorical


@dataclass(frozen=True)
class Config(CommonConfig):
    # The published get_config (ris.py).
    expectile: float = 0.7
    low_alpha: float = 3.0  # the low actor's AWR temperature, and the flat actor's one-step one
    high_alpha: float = 3.0
    kl_alpha: float = 3.0  # the waypoint term's coefficient (subgoal reps) or advantage temperature
    subgoal_steps: int = 25
    use_subgoal_rep: bool = True  # the high actor predicts z = phi(s, w), else the observation w
    share_goal_rep: bool = False  # the flat actor reads the value's phi (and trains it)
    add_one_step: bool = True  # the flat actor's one-step AWR term
    rep_dim: int = 10
    low_actor_rep_grad: bool = False  # the low actor's gradient trains phi (published: for pixels)
    const_std: bool = True  # every actor has unit std; else learned (and z_hat is sampled)


# The SAW repository has no per-dataset command lines for RIS: its README's one example
# (antmaze-large-navigate) sets high_alpha = low_alpha = kl_alpha = 3, the defaults. The rows here
# are HIQL's for the discount, the subgoal steps and the actor goals (OGBench hyperparameters.sh),
# plus low_actor_rep_grad on pixels, as get_config's comment says, and expectile 0.9 on the state
# cube-single, the setting the SAW paper's Table 1 marks for its RIS result there (gcrl/experiments/reference.py
# EXPECTILE_09; SAW's own command line sets it too). HIQL's explore temperatures (10) are not
# carried over.
DATASET_SETTINGS = (
    LONG_HORIZON,
    STITCH_ACTOR_GOALS,
    EXPLORE_ACTOR_GOALS,
    *SUBGOAL_STEPS,
    (("visual-*", "pixel-*", "powderworld-*"), {"low_actor_rep_grad": True}),
    (("cube-single-*",), {"expectile": 0.9}),
)


def pull(prior, policy):
    """The waypoint term's distance per sample; `prior` (the low actor at z_hat) is a constant.
    ||mu_pi - mu_prior||^2 as published, or KL(prior || pi) for discrete actions."""
    if isinstance(policy, Categorical):
        return prior.kl(policy)
    return jnp.sum((policy.mean - prior.mean) ** 2, axis=-1)


def _halves(tree):
    """Split every leaf of a pytree in two along the batch axis."""
    first = jax.tree_util.tree_map(lambda x: jnp.split(x, 2)[0], tree)
    second = jax.tree_util.tree_map(lambda x: jnp.split(x, 2)[1], tree)
    return first, second


def make(config: Config, spec: DataSpec) -> Agent:
    rep = config.use_subgoal_rep
    if not rep and (spec.pixels or len(spec.observation_shape) != 1):
        raise GcrlError(
            f"ris: with use_subgoal_rep=false the high actor predicts subgoal observations, which needs vector observations; "
            f"this dataset has {'pixel ' if spec.pixels else ''}observations of shape {spec.observation_shape}. Keep use_subgoal_rep=true."
        )
    nets = HiqlNetworks(config, spec, const_std=config.const_std, subgoal_rep=rep)  # HIQL's value, high and low actors
    value, low, high_dist = nets.value, nets.low, nets.high_dist
    policy, init_actor = flat_policy(value, config, spec, const_std=config.const_std, layer_norm=config.actor_layer_norm, encoder=config.encoder)

    def init(key):
        k_value, k_high, k_low, k_actor = jax.random.split(key, 4)
        return {**nets.init_from(k_value, k_high, k_low), "actor": init_actor(k_actor)}

    def loss(params, target_params, batch, key):
        value_loss, metrics = value.loss(params, target_params, batch, config.discount, config.expectile)
        s, s_next, g, w, waypoint = (batch[k] for k in ("observations", "next_observations", "actor_goals", "subgoals", "waypoints"))

        # The high actor once on (s, g): its likelihood of the waypoint, and its subgoal z_hat.
        h_dist = high_dist(params, s, g)
        z_hat = jax.lax.stop_gradient(h_dist.mode() if config.const_std else h_dist.sample(key))

        # Every value the weights need, in one forward pass (constants to the gradient).
        pairs = {"next_w": (s_next, w), "w": (s, w), "waypoint": (waypoint, g), "g": (s, g)}
        if config.add_one_step:
            pairs["next_g"] = (s_next, g)
        if not rep:
            pairs["w_hat"] = (z_hat, g)  # z_hat is an observation here
        v = value.named(params, pairs)

        # phi once: the low actor's input phi(s, w), and the high target phi(s, waypoint) (subgoal
        # representations) or the low actor's input at the predicted observation phi(s, w_hat).
        rep_w, second = jnp.split(value.phi(params, jnp.concatenate([s, s]), jnp.concatenate([w, waypoint if rep else z_hat])), 2)
        if not config.low_actor_rep_grad:
            rep_w = jax.lax.stop_gradient(rep_w)
        high_target = jax.lax.stop_gradient(second) if rep else waypoint
        prior_input = z_hat if rep else jax.lax.stop_gradient(second)

        # The low actor once: on (s, phi(s, w)) for its own loss, on (s, z_hat) as the flat actor's prior.
        low_dist, prior = _halves(low.apply(params["low_actor"], (jnp.concatenate([s, s]),), (jnp.concatenate([rep_w, prior_input]),)))
        prior = jax.lax.stop_gradient(prior)

        low_weights = exp_weight(v["next_w"] - v["w"], config.low_alpha)
        low_log_prob = low_dist.log_prob(batch["actions"])
        low_loss = -(low_weights * low_log_prob).mean()

        high_weights = exp_weight(v["waypoint"] - v["g"], config.high_alpha)
        high_log_prob = h_dist.log_prob(high_target)
        high_loss = -(high_weights * high_log_prob).mean()

        # The flat actor once: the one-step AWR term and the pull towards the prior.
        if config.add_one_step:
            one_step, actor_metrics, dist = awr_policy_loss(policy, params, batch, v["g"], v["next_g"], config.low_alpha)
        else:
            one_step, actor_metrics, dist = 0.0, {}, policy(params, s, g)
        coeff = config.kl_alpha if rep else exp_weight(v["w_hat"] - v["g"], config.kl_alpha)
        distance = pull(prior, dist)
        waypoint_loss = (coeff * distance).mean()

        metrics.update({
            **actor_metrics, "actor/loss": one_step + waypoint_loss,
            "waypoint/loss": waypoint_loss, "waypoint/distance": distance.mean(), "waypoint/weight": jnp.mean(coeff),
            "low_actor/loss": low_loss, "low_actor/weight": low_weights.mean(), "low_actor/log_prob": low_log_prob.mean(),
            "high_actor/loss": high_loss, "high_actor/weight": high_weights.mean(), "high_actor/log_prob": high_log_prob.mean(),
        })  # fmt: skip
        return value_loss + low_loss + high_loss + one_step + waypoint_loss, metrics

    # act() is the flat actor, not the hierarchy: what a plain evaluation should run. The high and low
    # actors are only a training signal, but the hierarchy can be evaluated like HIQL's.
    parts = {**nets.parts(), "acts_flat": True}

    return Agent(
        name="ris",
        config=config,
        init=init,
        groups=(LossGroup("all", (*value.keys, "high_actor", "low_actor", "actor"), loss),),
        act=flat_act(policy, spec.discrete),
        sampler=actor_goal_sampler(config),
        target_keys=value.target_keys,
        parts=parts,
    )
