"""GCIQL: goal-conditioned implicit Q-learning (OGBench's baseline, after Kostrikov et al.'s IQL).

Networks: V(s, g) (one MLP), Q_1, Q_2(s, g, a) with Polyak-averaged targets Q'_i (tau = 0.005),
and a policy pi(a | s, g). g_v is the value goal (0.2 s_t itself, 0.5 a geometric future state of
the trajectory, 0.3 a random state), g_a the actor goal (uniform over the trajectory's future;
half or all random on stitch and explore datasets). r = 0, m = 0 when g_v = s_t, else r = -1, m = 1.

- Value: expectile regression of V towards the smaller target Q,
    L_V = E[ |tau - 1(u < 0)| u^2 ],  u = min_i Q'_i(s, g_v, a) - V(s, g_v),  tau = 0.9.
- Critic: L_Q = sum_i E[ (Q_i(s, g_v, a) - (r + gamma m V(s', g_v)))^2 ], V(s') a constant.
- Actor, `actor_loss`:
  'ddpgbc' (continuous actions; the default): with q = min_i Q_i(s, g_a, clip(mu(s, g_a), -1, 1)),
    mu the policy's mean (a reparameterised sample clipped to [-1, 1] when the std is learned),
    L_pi = -E[q] / sg(E|q| + 1e-6) - alpha E[log pi(a | s, g_a)];
    Q's parameters are constants: the actor's gradient reaches only the policy, through the action.
  'awr' (discrete actions, e.g. powderworld): L_pi = -E[ min(exp(alpha (min_i Q_i(s, g_a, a) -
    V(s, g_a))), 100) log pi(a | s, g_a) ], the weights constants.
All three losses are summed and take one Adam step, as the published code; each reaches only its
own network, so this is the same step as three separate optimisers.

Against the published code (seohongpark/ogbench impls/agents/gciql.py): the same losses and
constants. gcrl computes V(s', g_v) and (AWR) V(s, g_a) in one forward pass, as constants.

Against the IQL paper (and its code): the value and critic losses are IQL's (twin target critics,
their minimum, expectile regression), made goal-conditioned with r = -1 until the goal; IQL
extracts its policy by AWR only, while OGBench's GCIQL (and gcrl's) defaults to DDPG+BC for
continuous actions, with AWR kept for discrete ones.
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
    expectile_weight,
    flat_act,
    policy_of,
)
from gcrl.errors import GcrlError
from gcrl.nets.critics import GoalCritic
from gcrl.nets.heads import Actor

ACTOR_LOSSES = ("ddpgbc", "awr")


@dataclass(frozen=True)
class Config(CommonConfig):
    expectile: float = 0.9
    actor_loss: str = "ddpgbc"  # 'awr' for discrete actions
    alpha: float = 0.3  # the BC coefficient in DDPG+BC, the temperature in AWR
    const_std: bool = True  # the policy's std: 1, or learned (then DDPG+BC reads a sample)

    def __post_init__(self):
        check_actor_loss("gciql", self.actor_loss)


def check_actor_loss(agent: str, actor_loss: str) -> None:
    if actor_loss not in ACTOR_LOSSES:
        raise GcrlError(f"{agent}: actor_loss must be one of {', '.join(ACTOR_LOSSES)}, got '{actor_loss}'.")


def check_discrete(agent: str, actor_loss: str, spec: DataSpec) -> None:
    if spec.discrete and actor_loss == "ddpgbc":
        raise GcrlError(f"{agent}: actor_loss=ddpgbc needs continuous actions (it differentiates Q through the action); "
                        "with discrete actions use --set actor_loss=awr.")  # fmt: skip


# OGBench impls/hyperparameters.sh, GCIQL rows (the pixel variants take their state family's alpha).
DATASET_SETTINGS = (
    LONG_HORIZON,
    STITCH_ACTOR_GOALS,
    EXPLORE_ACTOR_GOALS,
    (("*pointmaze-*",), {"alpha": 0.003}),
    (("*antmaze-*",), {"alpha": 0.3}),
    (("*antmaze-*-explore-*",), {"alpha": 0.01}),
    (("*humanoidmaze-*", "*antsoccer-*"), {"alpha": 0.1}),
    (("*cube-*-play-*", "*scene-play-*", "*puzzle-*-play-*"), {"alpha": 1.0}),
    (("*cube-*-noisy-*", "*scene-noisy-*", "*puzzle-*-noisy-*"), {"alpha": 0.03}),
    (("powderworld-*",), {"actor_loss": "awr", "alpha": 3.0}),
)


def value_loss(v, target_qs, expectile: float):
    """E[|tau - 1(u < 0)| u^2], u = min_i Q'_i(s, g, a) - V(s, g); v [B], target_qs [2, B] constants."""
    u = jax.lax.stop_gradient(target_qs).min(0) - v
    return (expectile_weight(u, expectile) * u**2).mean()


def critic_loss(qs, next_v, rewards, masks, discount: float):
    """sum_i E[(Q_i(s, g, a) - (r + gamma m V(s', g)))^2]; qs [2, B], next_v [B] a constant.
    Also returns the target."""
    target = rewards + discount * masks * jax.lax.stop_gradient(next_v)
    return ((qs - target) ** 2).mean(axis=1).sum(), target


# ---- the actor losses the three value-based baselines share --------------------------------------


def policy_actions(dist, key, const_std: bool):
    """The action DDPG+BC evaluates: the mean with constant std, else a reparameterised sample;
    clipped to [-1, 1]."""
    actions = dist.mode() if const_std else dist.sample(key, 1.0)
    return jnp.clip(actions, -1.0, 1.0)


def ddpgbc_loss(q, log_prob, alpha: float):
    """-E[q] / sg(E|q| + 1e-6) - alpha E[log pi(a | s, g)]: q at the policy's action (its gradient
    reaches the policy through the action), log_prob of the data's action."""
    scale = jax.lax.stop_gradient(jnp.abs(q).mean() + 1e-6)
    q_loss = -q.mean() / scale
    bc_loss = -alpha * log_prob.mean()
    loss = q_loss + bc_loss
    return loss, {"actor/loss": loss, "actor/q_loss": q_loss, "actor/bc_loss": bc_loss, "actor/q_mean": q.mean(),
                  "actor/q_abs_mean": jnp.abs(q).mean(), "actor/log_prob": log_prob.mean()}  # fmt: skip


def awr_loss(advantage, log_prob, alpha: float):
    """-E[min(exp(alpha A), 100) log pi(a | s, g)], the weights constants."""
    weights = exp_weight(advantage, alpha)
    loss = -(weights * log_prob).mean()
    return loss, {"actor/loss": loss, "actor/adv": advantage.mean(), "actor/weight": weights.mean(), "actor/log_prob": log_prob.mean()}


def example_inputs(spec: DataSpec):
    """An observation and an action of the right shapes and types, for initialisation."""
    observation = jnp.zeros((1, *spec.observation_shape), jnp.uint8 if spec.pixels else jnp.float32)
    action = jnp.zeros((1,), jnp.int32) if spec.discrete else jnp.zeros((1, spec.action_dim), jnp.float32)
    return observation, action


def make_actor(config, spec: DataSpec) -> Actor:
    return Actor(config.hidden, spec.action_dim, discrete=spec.discrete, const_std=config.const_std,
                 layer_norm=config.actor_layer_norm, encoder=config.encoder)  # fmt: skip


# ---- the agent -----------------------------------------------------------------------------------


def make(config: Config, spec: DataSpec) -> Agent:
    check_discrete("gciql", config.actor_loss, spec)
    value = GoalCritic(config.hidden, ensemble=1, layer_norm=config.layer_norm, encoder=config.encoder)
    critic = GoalCritic(config.hidden, ensemble=2, layer_norm=config.layer_norm, encoder=config.encoder,
                        num_actions=spec.action_dim if spec.discrete else 0)  # fmt: skip
    actor = make_actor(config, spec)
    policy = policy_of(actor)
    example, example_action = example_inputs(spec)
    awr = config.actor_loss == "awr"

    def init(key):
        k_value, k_critic, k_actor = jax.random.split(key, 3)
        return {
            "value": value.init(k_value, (example, example)),
            "critic": critic.init(k_critic, (example, example), example_action),
            "actor": actor.init(k_actor, (example, example)),
        }

    def loss(params, target_params, batch, key):
        s, a, g, g_actor = batch["observations"], batch["actions"], batch["value_goals"], batch["actor_goals"]
        constants = jax.lax.stop_gradient(params)

        # Value: expectile of V(s, g) towards min_i Q'_i(s, g, a).
        v = value.apply(params["value"], (s, g))
        v_loss = value_loss(v, critic.apply(target_params["critic"], (s, g), a), config.expectile)

        # V(s', g) for the critic's target and (AWR) V(s, g_a) for the advantage: one pass, constants.
        if awr:
            both = value.apply(constants["value"], (jnp.concatenate([batch["next_observations"], s]), jnp.concatenate([g, g_actor])))
            next_v, v_actor = jnp.split(both, 2)
        else:
            next_v = value.apply(constants["value"], (batch["next_observations"], g))

        # Critic: both heads towards r + gamma m V(s', g).
        q = critic.apply(params["critic"], (s, g), a)
        q_loss, target = critic_loss(q, next_v, batch["rewards"], batch["masks"], config.discount)

        dist = policy(params, s, g_actor)
        log_prob = dist.log_prob(a)
        if awr:
            q_data = critic.apply(constants["critic"], (s, g_actor), a).min(0)
            actor_loss, actor_metrics = awr_loss(q_data - v_actor, log_prob, config.alpha)
        else:
            q_pi = critic.apply(constants["critic"], (s, g_actor), policy_actions(dist, key, config.const_std)).min(0)
            actor_loss, actor_metrics = ddpgbc_loss(q_pi, log_prob, config.alpha)

        metrics = {
            "value/loss": v_loss, "value/v_mean": v.mean(), "value/v_max": v.max(), "value/v_min": v.min(),
            "critic/loss": q_loss, "critic/q_mean": q.mean(), "critic/target_mean": target.mean(), **actor_metrics,
        }  # fmt: skip
        return v_loss + q_loss + actor_loss, metrics

    return Agent(
        name="gciql",
        config=config,
        init=init,
        groups=(LossGroup("all", ("value", "critic", "actor"), loss),),
        act=flat_act(policy, spec.discrete),
        sampler=actor_goal_sampler(config),
        target_keys=("critic",),
        tau=0.005,
        parts={"value": lambda params, s, g: value.apply(params["value"], (s, g))},  # V(s, g), for diagnostics
    )
