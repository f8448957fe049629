"""Director's goal autoencoder: a discrete code for the world model's deterministic state.

The manager acts in this code space; the decoder turns a code into a goal (a deter-sized vector)
for the worker. With h a replayed posterior deter (D floats, under stop-gradient):

  encoder    q(z | h) = prod_{i=1..L} Cat(z_i; softmax(MLP_enc(h)_i)),  L = 8 codes of C = 8 classes
  sample     z = one-hot samples with straight-through gradients
  decoder    g = MLP_dec(z)                        (the mode of Director's 'mse' distribution)
  rec        = sum_d (g_d - h_d)^2
  kl         = sum_i KL(q(z_i | h) || Uniform(C)) = sum_i (log C - H[q(z_i | h)])
  loss       = mean(rec + beta' kl),  beta' = adapt(beta, mean(kl))

The KL weight beta adapts to hold the KL near a target (Director's AutoAdapt, impl 'mult', updated
before it is applied, as tfutils.AutoAdapt.__call__ does):
  beta' = clip(beta (1 + vel)   if mean(kl) > (1 + thres) target,
               beta / (1 + vel) if mean(kl) < target / (1 + thres),
               beta             otherwise,     min, max)
with target 10 nats, vel 0.1, thres 0.1, min 1e-5, max 1, starting at beta = 1 ('mult' starts its
variable at ones: configs.yaml's `encdec_kl.scale: 0.0` is read only by impl 'fixed').

The manager's exploration reward (configs.yaml expl_rew: adver, adver_impl: squared) is the
reconstruction error of an imagined deter through a sampled code, averaged over the D dimensions:
  r_expl(h) = mean_d (MLP_dec(z)_d - h_d)^2,  z ~ q(. | h).

Where gcrl differs from Director: the MLPs are our base's (RMSNorm, SiLU, width `units`, DreamerV3
initialiser; Director: LayerNorm, ELU, width 512, output variance-scaling 0.1 fan-avg); float32.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from gcrl.online.adapt import auto_adapt
from gcrl.online.config import Config
from gcrl.online.dists import categorical_kl, straight_through_sample
from gcrl.online.layers import MLP, dense, jit_init

sg = jax.lax.stop_gradient


class GoalEncoder(nn.Module):
    """Logits [..., L, C] of the code of a deter (no unimix: goal_encoder.unimix 0.0)."""

    config: Config

    @nn.compact
    def __call__(self, deter):
        c = self.config
        out = dense(c.goal_codes * c.goal_classes)(MLP(c.goal_enc_layers, c.units)(deter))
        return jax.nn.log_softmax(out.reshape((*deter.shape[:-1], c.goal_codes, c.goal_classes)), -1)


class GoalDecoder(nn.Module):
    """The goal (deter-sized) of a one-hot code [..., L, C]."""

    config: Config

    @nn.compact
    def __call__(self, code):
        c = self.config
        flat = code.reshape((*code.shape[:-2], c.goal_codes * c.goal_classes))
        return dense(c.deter)(MLP(c.goal_dec_layers, c.units)(flat))


def kl_to_uniform(logits):
    """sum_i KL(Cat(logits_i) || Uniform) over the L codes of logits [..., L, C]: [...]."""
    return categorical_kl(logits, jnp.zeros_like(logits)).sum(-1)


def adapt_kl_scale(scale, kl_mean, config: Config):
    """Director's AutoAdapt 'mult' rule (module docstring): one step of beta towards the target."""
    c = config
    return auto_adapt(scale, kl_mean, c.goal_kl_target, c.goal_kl_thres, c.goal_kl_vel, c.goal_kl_min, c.goal_kl_max)


def init(config: Config, key):
    """{'enc', 'dec'} parameters."""
    k_enc, k_dec = jax.random.split(key)
    c = config
    enc = jit_init(GoalEncoder(c).init)(k_enc, jnp.zeros((1, c.deter)))
    dec = jit_init(GoalDecoder(c).init)(k_dec, jnp.zeros((1, c.goal_codes, c.goal_classes)))
    return {"enc": enc, "dec": dec}


def encode(config: Config, params, deter):
    return GoalEncoder(config).apply(params["enc"], deter)


def decode(config: Config, params, code):
    return GoalDecoder(config).apply(params["dec"], code)


def reconstruction_error(config: Config, params, deter, key):
    """Director's exploration reward: mean_d (dec(z) - h)^2 with z ~ q(. | h), [...]."""
    code = straight_through_sample(key, encode(config, params, deter))
    return jnp.square(decode(config, params, code) - deter).mean(-1)


def goal_autoencoder_loss(config: Config, params, kl_scale, deter, key):
    """(loss, (metrics, new kl_scale)) on replayed deters [..., D] (stop-gradient taken here)."""
    deter = sg(deter)
    logits = encode(config, params, deter)
    code = straight_through_sample(key, logits)
    rec = jnp.square(decode(config, params, code) - deter).sum(-1)
    kl = kl_to_uniform(logits)
    kl_scale = adapt_kl_scale(kl_scale, kl.mean(), config)
    loss = (rec + kl_scale * kl).mean()
    metrics = {"goal/rec_loss": rec.mean(), "goal/kl": kl.mean(), "goal/kl_scale": kl_scale, "goal/loss": loss}
    return loss, (metrics, kl_scale)
