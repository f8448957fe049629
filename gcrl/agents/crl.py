"""CRL: contrastive RL (Eysenbach et al., 2022), as OGBench runs it.

Critic: Q_e(s, g, a) = phi_e(s, a) . psi_e(g) / sqrt(d), e = 1, 2 (an ensemble of two phi and two
psi MLPs, d = 512). Value goals g_j are geometric futures of s_j in its own trajectory only
(value_p_traj = 1): the positives. For a batch of B, every state-action row i meets every goal j:
    logits_e[i, j] = phi_e(s_i, a_i) . psi_e(g_j) / sqrt(d),
    L_Q = mean over e, i, j of BCE(sigmoid(logits_e[i, j]), 1(i = j))
(binary NCE: one positive on the diagonal, B - 1 negatives per row; BCE(x, y) = softplus(x) - x y).
The logit then estimates log p(g | s, a) / p(g) (the discounted future-state density ratio) up to a
constant, so it can be maximised over actions.

Actor, `actor_loss`:
- 'ddpgbc' (continuous actions; the default): q = min_e Q_e(s, g_a, clip(mu(s, g_a), -1, 1)),
  L_pi = -E[q] / sg(E|q| + 1e-6) - alpha E[log pi(a | s, g_a)]; the critic is a constant.
- 'awr' (discrete actions): a separate bilinear V(s, g) = phi_V(s) . psi_V(g) / sqrt(d) (one head)
  trained by the same contrastive loss without actions, and weights
  min(exp(alpha (min_e Q_e(s, g_a, a) - V(s, g_a))), 100).
All losses are summed and take one Adam step, as the published code.

Against the published code (seohongpark/ogbench impls/agents/crl.py, after its June 2025 change
"Improve the stability of CRL": before it, the actor read log(max(exp(logit), 1e-6)), not the logit):
the same losses and constants. gcrl encodes s once per update: the critic's phi(s, a) in its loss
and at the policy's action read the same state features (one pixel encoder pass, not two), and
AWR's Q(s, g_a, a) and V(s, g_a) reuse the contrastive loss's phi(s, a) and phi_V(s) as constants,
encoding only g_a anew. The published code has only the binary loss, and so has gcrl (no InfoNCE
or logsumexp-penalty setting).

Against the paper's own code (google-research/contrastive_rl): its actor minimises
alpha_ent log pi(a_pi | s, g) - min_e Q_e(s, g, a_pi) (an entropy term, no 1 / E|q| normalisation),
the offline variant mixing in behaviour cloning as bc_coef (-log pi(a | s, g)) + (1 - bc_coef) (that
loss); InfoNCE is an option of its critic loss there, not of OGBench's.
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
from gcrl.nets.critics import BilinearCritic, bilinear, pairwise_logits


@dataclass(frozen=True)
class Config(CommonConfig):
    latent_dim: int = 512
    actor_loss: str = "ddpgbc"  # 'awr' for discrete actions (adds the V network)
    alpha: float = 0.1  # the BC coefficient in DDPG+BC, the temperature in AWR
    const_std: bool = True
    # Value goals: geometric futures in the same trajectory only (the positives).
    value_p_cur: float = 0.0
    value_p_traj: float = 1.0
    value_p_random: float = 0.0

    def __post_init__(self):
        check_actor_loss("crl", self.actor_loss)
        if self.latent_dim < 1:
            raise GcrlError(f"crl: latent_dim must be at least 1, got {self.latent_dim}.")


# OGBench impls/hyperparameters.sh, CRL rows (the pixel variants take their state family's alpha).
DATASET_SETTINGS = (
    LONG_HORIZON,
    STITCH_ACTOR_GOALS,
    EXPLORE_ACTOR_GOALS,
    (("*pointmaze-*",), {"alpha": 0.03}),
    (("*antmaze-*", "*humanoidmaze-*"), {"alpha": 0.1}),
    (("*antmaze-*-explore-*",), {"alpha": 0.003}),
    (("*antsoccer-*",), {"alpha": 0.3}),
    (("*cube-*-play-*", "*scene-play-*", "*puzzle-*-play-*"), {"alpha": 3.0}),
    (("*cube-*-noisy-*", "*scene-noisy-*", "*puzzle-*-noisy-*"), {"alpha": 0.1}),
    (("powderworld-*",), {"actor_loss": "awr", "alpha": 3.0}),
)


def contrastive_loss(phi, psi, prefix: str):
    """Binary NCE over all B x B pairs: phi [E, B, d] (or [B, d]), psi likewise; row i's positive is
    goal i. Returns (loss, metrics)."""
    logits = pairwise_logits(phi, psi)  # [E, B, B] or [B, B]
    labels = jnp.eye(logits.shape[-1])
    loss = jnp.mean(jax.nn.softplus(logits) - logits * labels)
    mean_logits = logits.mean(0) if logits.ndim == 3 else logits
    diagonal = jnp.diagonal(mean_logits)
    off_diagonal = (mean_logits.sum() - diagonal.sum()) / max(mean_logits.size - diagonal.size, 1)
    return loss, {
        f"{prefix}/loss": loss, f"{prefix}/logits_pos": diagonal.mean(), f"{prefix}/logits_neg": off_diagonal,
        f"{prefix}/binary_accuracy": jnp.mean((mean_logits > 0) == (labels > 0)),
        f"{prefix}/categorical_accuracy": jnp.mean(jnp.argmax(mean_logits, axis=1) == jnp.arange(mean_logits.shape[0])),
    }  # fmt: skip


def make(config: Config, spec: DataSpec) -> Agent:
    check_discrete("crl", config.actor_loss, spec)
    critic = BilinearCritic(config.hidden, config.latent_dim, ensemble=2, layer_norm=config.layer_norm, encoder=config.encoder,
                            num_actions=spec.action_dim if spec.discrete else 0)  # fmt: skip
    awr = config.actor_loss == "awr"
    value = BilinearCritic(config.hidden, config.latent_dim, ensemble=1, layer_norm=config.layer_norm, encoder=config.encoder)
    actor = make_actor(config, spec)
    policy = policy_of(actor)
    example, example_action = example_inputs(spec)

    def init(key):
        k_critic, k_value, k_actor = jax.random.split(key, 3)
        params = {"critic": critic.init(k_critic, example, example, example_action), "actor": actor.init(k_actor, (example, example))}
        if awr:
            params["value"] = value.init(k_value, example, example)
        return params

    def loss(params, target_params, batch, key):
        s, a, g_actor = batch["observations"], batch["actions"], batch["actor_goals"]
        constants = jax.lax.stop_gradient(params)

        features = critic.apply(params["critic"], s, method="state_features")
        phi = critic.apply(params["critic"], features, a, method="phi_from")
        psi = critic.apply(params["critic"], batch["value_goals"], method="psi")
        total, metrics = contrastive_loss(phi, psi, "critic")

        psi_actor = critic.apply(constants["critic"], g_actor, method="psi")
        dist = policy(params, s, g_actor)
        log_prob = dist.log_prob(a)
        if awr:
            phi_v = value.apply(params["value"], s, method="phi")
            value_loss, value_metrics = contrastive_loss(phi_v, value.apply(params["value"], batch["value_goals"], method="psi"), "value")
            q = bilinear(jax.lax.stop_gradient(phi), psi_actor).min(0)
            v = bilinear(jax.lax.stop_gradient(phi_v), value.apply(constants["value"], g_actor, method="psi"))
            actor_loss, actor_metrics = awr_loss(q - v, log_prob, config.alpha)
            total = total + value_loss
            metrics.update(value_metrics)
        else:
            phi_pi = critic.apply(constants["critic"], jax.lax.stop_gradient(features), policy_actions(dist, key, config.const_std), method="phi_from")
            actor_loss, actor_metrics = ddpgbc_loss(bilinear(phi_pi, psi_actor).min(0), log_prob, config.alpha)
        return total + actor_loss, {**metrics, **actor_metrics}

    return Agent(
        name="crl",
        config=config,
        init=init,
        groups=(LossGroup("all", ("critic", "actor", *(("value",) if awr else ())), loss),),
        act=flat_act(policy, spec.discrete),
        sampler=actor_goal_sampler(config),
        # min_e Q_e(s, g, a): the critic's logit, for diagnostics (not in steps: no 'value' part)
        parts={"q": lambda params, s, g, a: critic.apply(params["critic"], s, g, a).min(0)},
    )
