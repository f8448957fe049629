"""QRL: quasimetric RL (Wang et al., 2023), as OGBench runs it.

Value: a quasimetric d(s, g) = d_q(phi(s), phi(g)), phi an MLP to a 512-d latent and d_q IQE
(64 components of 8 intervals; d = w mean + (1 - w) max of the components' union lengths, w =
sigmoid of a learned scalar) or MRN (`quasimetric`). -d(s, g) plays the value: minus the number of
steps from s to g. Value goals g are random dataset states only (value_p_random = 1).

- Value: push random pairs apart, keep transitions within one step, with a Lagrange multiplier:
    L_d = E[100 softplus(5 - d(s, g) / 100)] + sg(lam) E[relu(d(s, s') - 1)^2]
    L_lam = lam (eps - sg(E[relu(d(s, s') - 1)^2])),  lam = exp(log_lam), eps = 0.05,
  so the multiplier grows while the transitions' penalty exceeds eps and shrinks below it. The
  softplus shaping bounds the push: the gradient of 100 softplus(5 - d / 100) fades for d >> 500.
- Latent dynamics (DDPG+BC only): z' = phi(s) + f([phi(s), a]), trained by the symmetric
  quasimetric error L_f = E[(d_q(phi(s'), z') + d_q(z', phi(s'))) / 2]. Its gradient also reaches
  phi and the IQE mixing weight, as in the published code.
- Actor, `actor_loss`:
  'ddpgbc' (continuous actions; the default): q = -d_q(phi(s) + f([phi(s), a_pi]), phi(g_a)) with
    a_pi = clip(mu(s, g_a), -1, 1) (a reparameterised sample with learned std),
    L_pi = -E[q] / sg(E|q| + 1e-6) - alpha E[log pi(a | s, g_a)]; phi, f and d_q are constants.
  'awr' (discrete actions): weights min(exp(alpha (d(s, g_a) - d(s', g_a))), 100); no dynamics.
All losses are summed and take one Adam step, as the published code.

Against the published code (seohongpark/ogbench impls/agents/qrl.py): the same losses and
constants. phi runs once per update on [s, s', g_v] with its gradient, shared by the value loss
(the published code encodes s twice there) and the dynamics loss (there a third time); the actor
reads those latents as constants and encodes only g_a anew. Summed gradients are the same. IQE's
union lengths come from comparisons of pairs instead of a sort (gcrl/nets/critics.py): the same
values and gradient, several times faster on a CPU.
The discount is unused (value goals are never drawn from the trajectory); the per-dataset rows set
it anyway, as the published command lines do.

Against the QRL paper's own code (quasimetric-learning/quasimetric-rl), which OGBench re-tuned:
there the push is 10 softplus(1.5 - d / 10) (offset 15, beta 0.1; here offset 500, beta 0.01), the
dynamics loss is 0.1 E[(d_q(z', phi(s'))^2 + d_q(phi(s'), z')^2) / 2] (here unsquared, weight 1), IQE
runs on a projection of the latent (2048-d, 64 components of 32), and the actor minimises
d_q(z', phi(g)) outright with an adaptive entropy bonus instead of DDPG+BC.
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
    flat_act,
    policy_of,
)
from gcrl.agents.gciql import awr_loss, check_actor_loss, check_discrete, ddpgbc_loss, example_inputs, make_actor, policy_actions
from gcrl.errors import GcrlError
from gcrl.nets.critics import QUASIMETRICS, LatentDynamics, Quasimetric


@dataclass(frozen=True)
class Config(CommonConfig):
    quasimetric: str = "iqe"  # or 'mrn'
    latent_dim: int = 512
    dim_per_component: int = 8  # IQE
    eps: float = 0.05  # the margin of the multiplier's loss
    actor_loss: str = "ddpgbc"  # 'awr' for discrete actions
    alpha: float = 0.003  # the BC coefficient in DDPG+BC, the temperature in AWR
    const_std: bool = True
    # Value goals: random dataset states only.
    value_p_cur: float = 0.0
    value_p_traj: float = 0.0
    value_p_random: float = 1.0

    def __post_init__(self):
        check_actor_loss("qrl", self.actor_loss)
        if self.quasimetric not in QUASIMETRICS:
            raise GcrlError(f"qrl: quasimetric must be one of {', '.join(QUASIMETRICS)}, got '{self.quasimetric}'.")
        if self.latent_dim < 2 or self.dim_per_component < 1 or self.eps <= 0:
            raise GcrlError(f"qrl: latent_dim must be at least 2, dim_per_component at least 1 and eps above 0 "
                            f"(got {self.latent_dim}, {self.dim_per_component}, {self.eps}).")  # fmt: skip
        if self.quasimetric == "iqe" and self.latent_dim % self.dim_per_component:
            raise GcrlError(f"qrl: latent_dim ({self.latent_dim}) must be a multiple of dim_per_component ({self.dim_per_component}).")
        if self.quasimetric == "mrn" and self.latent_dim % 2:
            raise GcrlError(f"qrl: with mrn, latent_dim ({self.latent_dim}) must be even.")


# OGBench impls/hyperparameters.sh, QRL rows (the pixel variants take their state family's alpha).
DATASET_SETTINGS = (
    LONG_HORIZON,
    STITCH_ACTOR_GOALS,
    EXPLORE_ACTOR_GOALS,
    (("*pointmaze-*",), {"alpha": 0.0003}),
    (("*antmaze-*", "*antsoccer-*"), {"alpha": 0.003}),
    (("*antmaze-*-explore-*", "*humanoidmaze-*"), {"alpha": 0.001}),
    (("*cube-*-play-*", "*scene-play-*", "*puzzle-*-play-*"), {"alpha": 0.3}),
    (("*cube-*-noisy-*", "*scene-noisy-*", "*puzzle-*-noisy-*"), {"alpha": 0.03}),
    (("powderworld-*",), {"actor_loss": "awr", "alpha": 3.0}),
)


def value_loss(d_neg, d_pos, log_lam, eps: float):
    """The quasimetric's loss and the multiplier's: d_neg = d(s, g) on random goals, d_pos =
    d(s, s'). Returns (loss, metrics)."""
    lam = jnp.exp(log_lam)
    neg_loss = (100.0 * jax.nn.softplus(5.0 - d_neg / 100.0)).mean()
    pos_loss = (jax.nn.relu(d_pos - 1.0) ** 2).mean()
    distance_loss = neg_loss + jax.lax.stop_gradient(lam) * pos_loss
    lam_loss = lam * (eps - jax.lax.stop_gradient(pos_loss))
    return distance_loss + lam_loss, {
        "value/loss": distance_loss, "value/lam_loss": lam_loss, "value/lam": lam, "value/d_neg_loss": neg_loss,
        "value/d_pos_loss": pos_loss, "value/d_neg_mean": d_neg.mean(), "value/d_pos_mean": d_pos.mean(), "value/d_pos_max": d_pos.max(),
    }  # fmt: skip


def make(config: Config, spec: DataSpec) -> Agent:
    check_discrete("qrl", config.actor_loss, spec)
    quasi = Quasimetric(config.hidden, config.latent_dim, config.quasimetric, config.dim_per_component, config.layer_norm, config.encoder)
    ddpgbc = config.actor_loss == "ddpgbc"
    dynamics = LatentDynamics(config.hidden, config.latent_dim, config.layer_norm)
    actor = make_actor(config, spec)
    policy = policy_of(actor)
    example, example_action = example_inputs(spec)

    def phi(params, observations):
        return quasi.apply(params["value"], observations, method="phi")

    def distance(params, zs, zg):
        return quasi.apply(params["value"], zs, zg, method="distance")

    def init(key):
        k_value, k_dynamics, k_actor = jax.random.split(key, 3)
        params = {
            "value": quasi.init(k_value, example, example),
            "lam": {"log_lam": jnp.zeros(())},  # lam = 1 at the start
            "actor": actor.init(k_actor, (example, example)),
        }
        if ddpgbc:
            params["dynamics"] = dynamics.init(k_dynamics, jnp.zeros((1, config.latent_dim)), example_action)
        return params

    def loss(params, target_params, batch, key):
        s, s_next, a, g_actor = batch["observations"], batch["next_observations"], batch["actions"], batch["actor_goals"]
        constants = jax.lax.stop_gradient(params)

        # phi of s, s' and the (random) value goal in one pass, with its gradient.
        z, z_next, z_goal = jnp.split(phi(params, jnp.concatenate([s, s_next, batch["value_goals"]])), 3)
        d_neg, d_pos = jnp.split(distance(params, jnp.concatenate([z, z]), jnp.concatenate([z_goal, z_next])), 2)
        total, metrics = value_loss(d_neg, d_pos, params["lam"]["log_lam"], config.eps)

        z_actor_goal = phi(constants, g_actor)
        dist = policy(params, s, g_actor)
        log_prob = dist.log_prob(a)
        if ddpgbc:
            predicted = dynamics.apply(params["dynamics"], z, a)
            dynamics_loss = distance(params, jnp.concatenate([z_next, predicted]), jnp.concatenate([predicted, z_next])).mean()  # both directions
            z_const = jax.lax.stop_gradient(z)
            z_pi = dynamics.apply(constants["dynamics"], z_const, policy_actions(dist, key, config.const_std))
            q = -distance(constants, z_pi, z_actor_goal)
            actor_loss, actor_metrics = ddpgbc_loss(q, log_prob, config.alpha)
            total = total + dynamics_loss
            metrics["dynamics/loss"] = dynamics_loss
        else:
            d_actor = distance(constants, jax.lax.stop_gradient(jnp.concatenate([z, z_next])), jnp.concatenate([z_actor_goal, z_actor_goal]))
            d_now, d_next = jnp.split(d_actor, 2)
            actor_loss, actor_metrics = awr_loss(d_now - d_next, log_prob, config.alpha)  # V(s', g) - V(s, g), V = -d
        return total + actor_loss, {**metrics, **actor_metrics}

    return Agent(
        name="qrl",
        config=config,
        init=init,
        groups=(LossGroup("all", ("value", "lam", "actor", *(("dynamics",) if ddpgbc else ())), loss),),
        act=flat_act(policy, spec.discrete),
        sampler=actor_goal_sampler(config),
        # -d(s, g), minus the steps from s to g, for diagnostics
        parts={"value": lambda params, s, g: -quasi.apply(params["value"], s, g), "distance": lambda params, s, g: quasi.apply(params["value"], s, g)},
    )
