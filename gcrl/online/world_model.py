"""DreamerV3's world model: an RSSM over images, with reward and continue heads and a task input.

State s_t = (h_t, z_t): h_t the deterministic state (D floats), z_t the stochastic one, S one-hot
categoricals of C classes (straight-through samples, 1% unimix). With prev action a_{t-1}:

  h_t = f(h_{t-1}, z_{t-1}, a_{t-1}, k)        block GRU (below), k the task vector
  prior      p(z_t | h_t)      = Cat(MLP_img(h_t))            imagination
  posterior  q(z_t | h_t, e_t) = Cat(MLP_obs([h_t, e_t]))     e_t = CNN(image_t)
  decoder    x_t ~ sigmoid(CNN^T(h_t, z_t)),  reward r_t ~ twohot(MLP([h_t, z_t, k])),
  continue   c_t ~ Bernoulli(MLP([h_t, z_t, k]))

f, DreamerV3's current core: a/max(1, |a|); h, z, a (and k) each through dense -> RMSNorm -> SiLU
to `hidden`; these inputs, concatenated, join each of G blocks of h; one block-diagonal layer
(dense per block, then RMSNorm, SiLU); a block-diagonal layer to 3D gate inputs (r, c, u) per
block; h' = u' c' + (1 - u') h with r' = sigmoid(r), c' = tanh(r' c), u' = sigmoid(u - 1).

Resets: where is_first, h, z and a_{t-1} are zeroed before the step (the initial state is zeros, as
DreamerV3's current code; its 2023 version learned one).

Encoder: image / 255 - 0.5, then per stage a 5x5 'same' conv of depth x mult channels, 2x2 max-pool,
RMSNorm, SiLU, until the image is 4 x 4 (64 x 64: 4 stages; 32 x 32: 3; 16 x 16: 2), flattened.
Decoder: DreamerV3's `bspace` projection to 4 x 4 (a block-linear map of h, G = 8 blocks each
giving C/G channels of the whole map, plus an MLP of z), RMSNorm, SiLU, then per stage nearest 2x
upsampling, a 5x5 conv, RMSNorm, SiLU; the last stage's conv gives the image channels, sigmoid.

Loss over a batch [B, T] (all terms averaged over B and T, then summed with these scales):
  rec  = sum_pixels (decoder(s_t) - x_t / 255)^2                                       x 1
  rew  = -log p(twohot(r_t))                                                           x 1
  con  = -log Bernoulli(c_t; (1 - terminal_t)(1 - 1/horizon))                          x 1
  dyn  = max(1, KL(sg(q_t) || p_t))                                                    x 0.5
  rep  = max(1, KL(q_t || sg(p_t)))                                                    x 0.1
(KLs summed over the S latents, each clipped below at 1 nat of free bits as DreamerV3 does.)

Where gcrl differs from DreamerV3's code (commit e3f0224; rssm.py and agent.py as of f8817c4):
- The task vector k (not in DreamerV3; arXiv 2407.19142 conditions its agents on it): fed to the
  GRU as one more input branch (so prior, posterior and decoder can use it; `task_in_dynamics`)
  and to the reward and continue heads beside the state features (and, in behavior.py, to actor
  and critic). The task decides the reward, so the heads read it directly rather than trusting the
  latent to carry it through 15 imagined steps; with the goal drawn in the image (the pixel maze),
  the dynamics use it too. This placement is gcrl's choice: check it against the paper's appendix
  before quoting its numbers.
- dyn scale 0.5, the paper's (the code's configs.yaml now uses 1.0): see config.py.
- The CNN runs as many stages as bring the image to 4 x 4 (DreamerV3 always runs all four and
  asserts the result is 3..16 pixels wide, which rules out 16 x 16 and 32 x 32 images).
- Each training sequence starts from the zero state and a zero previous action (DreamerV3 carries
  both over from the previous chunk of the same episode, its `replay_context`); `observe` takes a
  state and previous actions for callers that carry them.
- float32 throughout (DreamerV3 computes in bfloat16).

Batches: image [B, T, H, W, C] uint8, action [B, T, A] (the action taken after image t, one-hot when
discrete; DreamerV3's convention), reward [B, T] (received on arriving at image t), is_first,
is_terminal [B, T], task [B, T, K] float (K may be 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from gcrl.errors import GcrlError
from gcrl.online.config import Config
from gcrl.online.dists import (
    categorical_entropy,
    categorical_kl,
    straight_through_sample,
    twohot_bins,
    twohot_loss,
    twohot_mean,
    unimix_logits,
)
from gcrl.online.layers import (
    MLP,
    BlockLinear,
    Conv,
    NormedLinear,
    dense,
    jit_init,
    norm,
)

sg = jax.lax.stop_gradient


class State(NamedTuple):
    deter: jax.Array  # [..., D]
    stoch: jax.Array  # [..., S, C] one-hot samples
    logits: jax.Array  # [..., S, C] log-probabilities (after unimix) they were drawn from


def features(state: State) -> jax.Array:
    """[h, z] flattened: what the heads read."""
    return jnp.concatenate([state.deter, state.stoch.reshape((*state.stoch.shape[:-2], -1))], -1)


def cnn_stages(image_shape, config: Config) -> int:
    """How many halvings bring the image to `min_res` (both sides divisible)."""
    height, width = image_shape[:2]
    stages = round(math.log2(min(height, width) / config.min_res))
    if stages < 1 or stages > len(config.mults) or height % 2**stages or width % 2**stages:
        raise GcrlError(f"online: images of {height} x {width} do not halve to {config.min_res} pixels within {len(config.mults)} CNN stages.")
    return stages


def upsample(x):
    return x.repeat(2, axis=-3).repeat(2, axis=-2)


class Encoder(nn.Module):
    config: Config
    stages: int

    @nn.compact
    def __call__(self, image):
        c = self.config
        x = image.astype(jnp.float32) / 255.0 - 0.5
        for mult in c.mults[: self.stages]:
            x = Conv(c.depth * mult, c.kernel)(x)
            n, h, w, ch = x.shape
            x = x.reshape((n, h // 2, 2, w // 2, 2, ch)).max((2, 4))
            x = jax.nn.silu(norm()(x))
        return x.reshape((x.shape[0], -1))


class Decoder(nn.Module):
    config: Config
    stages: int
    image_shape: tuple[int, int, int]

    @nn.compact
    def __call__(self, deter, stoch_flat):
        c = self.config
        height, width, channels = self.image_shape
        h, w = height >> self.stages, width >> self.stages
        depths = [c.depth * mult for mult in c.mults[: self.stages]]
        top, groups = depths[-1], c.dec_blocks
        if top % groups:
            raise GcrlError(f"online: the decoder's {top} channels do not split into dec_blocks={groups}.")
        x0 = BlockLinear(h * w * top, groups)(deter)
        x0 = x0.reshape((-1, groups, h, w, top // groups)).transpose((0, 2, 3, 1, 4)).reshape((-1, h, w, top))
        x1 = dense(h * w * top)(NormedLinear(2 * c.units)(stoch_flat)).reshape((-1, h, w, top))
        x = jax.nn.silu(norm()(x0 + x1))
        for depth in reversed(depths[:-1]):
            x = jax.nn.silu(norm()(Conv(depth, c.kernel)(upsample(x))))
        return jax.nn.sigmoid(Conv(channels, c.kernel)(upsample(x)))


class Networks(nn.Module):
    """Every world-model network; the methods are the pieces the functions below compose."""

    config: Config
    action_dim: int
    task_dim: int
    image_shape: tuple[int, int, int]

    def setup(self):
        c = self.config
        stages = cnn_stages(self.image_shape, c)
        self.encoder = Encoder(c, stages)
        self.decoder = Decoder(c, stages, tuple(self.image_shape))
        self.in_deter, self.in_stoch, self.in_action = NormedLinear(c.hidden), NormedLinear(c.hidden), NormedLinear(c.hidden)
        self.in_task = NormedLinear(c.hidden) if self.task_to_core else None
        self.dyn_hidden = [BlockLinear(c.deter, c.blocks) for _ in range(c.dyn_layers)]
        self.dyn_norms = [norm() for _ in range(c.dyn_layers)]
        self.dyn_gates = BlockLinear(3 * c.deter, c.blocks)
        self.prior_mlp, self.prior_out = MLP(c.img_layers, c.hidden), dense(c.stoch * c.classes)
        self.post_mlp, self.post_out = MLP(c.obs_layers, c.hidden), dense(c.stoch * c.classes)
        self.reward_mlp, self.reward_out = MLP(c.reward_layers, c.units), dense(c.bins, outscale=0.0)
        self.cont_mlp, self.cont_out = MLP(c.cont_layers, c.units), dense(1)

    @property
    def task_to_core(self) -> bool:
        return self.config.task_in_dynamics and self.task_dim > 0

    def core(self, deter, stoch, action, task):
        """h_t from (h_{t-1}, z_{t-1}, a_{t-1}, k): the block GRU of the module docstring."""
        c, groups = self.config, self.config.blocks
        action = action / sg(jnp.maximum(1.0, jnp.abs(action)))
        inputs = [self.in_deter(deter), self.in_stoch(stoch.reshape((*stoch.shape[:-2], -1))), self.in_action(action)]
        if self.task_to_core:
            inputs.append(self.in_task(task))
        shared = jnp.concatenate(inputs, -1)
        lead = deter.shape[:-1]
        shared = jnp.broadcast_to(shared[..., None, :], (*lead, groups, shared.shape[-1]))
        x = jnp.concatenate([deter.reshape((*lead, groups, -1)), shared], -1).reshape((*lead, -1))
        for layer, layer_norm in zip(self.dyn_hidden, self.dyn_norms):
            x = jax.nn.silu(layer_norm(layer(x)))
        gates = self.dyn_gates(x).reshape((*lead, groups, 3, c.deter // groups))
        reset, cand, update = (gates[..., i, :].reshape((*lead, c.deter)) for i in range(3))
        reset = jax.nn.sigmoid(reset)
        cand = jnp.tanh(reset * cand)
        update = jax.nn.sigmoid(update - 1.0)
        return update * cand + (1.0 - update) * deter

    def _latent(self, out, x):
        c = self.config
        return unimix_logits(out(x).reshape((*x.shape[:-1], c.stoch, c.classes)), c.unimix)

    def prior(self, deter):
        return self._latent(self.prior_out, self.prior_mlp(deter))

    def posterior(self, deter, embed):
        return self._latent(self.post_out, self.post_mlp(jnp.concatenate([deter, embed], -1)))

    def img_step(self, state: State, action, task, key) -> State:
        deter = self.core(state.deter, state.stoch, action, task)
        logits = self.prior(deter)
        return State(deter, straight_through_sample(key, logits), logits)

    def obs_step(self, state: State, action, embed, task, is_first, key) -> State:
        keep = ~is_first.astype(bool)
        state, action = jax.tree_util.tree_map(lambda x: x * keep.reshape(keep.shape + (1,) * (x.ndim - keep.ndim)), (state, action))
        deter = self.core(state.deter, state.stoch, action, task)
        logits = self.posterior(deter, embed)
        return State(deter, straight_through_sample(key, logits), logits)

    def encode(self, image):
        lead = image.shape[:-3]
        return self.encoder(image.reshape((-1, *image.shape[-3:]))).reshape((*lead, -1))

    def decode(self, state: State):
        lead = state.deter.shape[:-1]
        flat = features(state)
        deter, stoch = flat[..., : self.config.deter], flat[..., self.config.deter :]
        image = self.decoder(deter.reshape((-1, deter.shape[-1])), stoch.reshape((-1, stoch.shape[-1])))
        return image.reshape((*lead, *image.shape[1:]))

    def reward_logits(self, state: State, task):
        return self.reward_out(self.reward_mlp(jnp.concatenate([features(state), task], -1)))

    def cont_logit(self, state: State, task):
        return self.cont_out(self.cont_mlp(jnp.concatenate([features(state), task], -1)))[..., 0]

    def __call__(self, image, action, task, is_first, key):
        """Every network once (for init): one observed step, one imagined step, decoder and heads."""
        k_obs, k_img = jax.random.split(key)
        zeros = State(*(jnp.zeros((image.shape[0], *s)) for s in self.state_shapes()))
        post = self.obs_step(zeros, action, self.encode(image), task, is_first, k_obs)
        prior = self.img_step(post, action, task, k_img)
        return self.decode(prior), self.reward_logits(prior, task), self.cont_logit(prior, task)

    def state_shapes(self):
        c = self.config
        return (c.deter,), (c.stoch, c.classes), (c.stoch, c.classes)


def time_major(x):
    return jnp.swapaxes(x, 0, 1)


def previous_actions(action):
    """a_{t-1} for each step t of [B, T, A]; zero at t = 0."""
    return jnp.concatenate([jnp.zeros_like(action[:, :1]), action[:, :-1]], 1)


def kl_balance(post_logits, prior_logits, free_nats: float):
    """(dyn, rep) per step from latents [..., S, C]: KL summed over the S latents, each term
    clipped below at `free_nats`. dyn = KL(sg(q) || p) trains the prior, rep = KL(q || sg(p)) the
    posterior (and, through it, the encoder)."""
    dyn = categorical_kl(sg(post_logits), prior_logits).sum(-1)
    rep = categorical_kl(post_logits, sg(prior_logits)).sum(-1)
    return jnp.maximum(dyn, free_nats), jnp.maximum(rep, free_nats)


def bernoulli_nll(logit, target):
    return -(target * jax.nn.log_sigmoid(logit) + (1.0 - target) * jax.nn.log_sigmoid(-logit))


@dataclass(frozen=True)
class WorldModel:
    """The world model's pure functions over its parameters (build with `make`)."""

    config: Config
    action_dim: int
    task_dim: int
    image_shape: tuple[int, int, int]

    @property
    def nets(self) -> Networks:
        return Networks(self.config, self.action_dim, self.task_dim, tuple(self.image_shape))

    @property
    def bins(self):
        return twohot_bins(self.config.bins)

    def init(self, key):
        k_init, k_call = jax.random.split(key)
        image = jnp.zeros((1, *self.image_shape), jnp.uint8)
        return jit_init(self.nets.init)(k_init, image, jnp.zeros((1, self.action_dim)), jnp.zeros((1, self.task_dim)), jnp.ones((1,), bool), k_call)

    def initial(self, batch_size: int) -> State:
        return State(*(jnp.zeros((batch_size, *s)) for s in self.nets.state_shapes()))

    def encode(self, params, image):
        return self.nets.apply(params, image, method=Networks.encode)

    def obs_step(self, params, state: State, prev_action, embed, task, is_first, key) -> State:
        return self.nets.apply(params, state, prev_action, embed, task, is_first, key, method=Networks.obs_step)

    def img_step(self, params, state: State, action, task, key) -> State:
        return self.nets.apply(params, state, action, task, key, method=Networks.img_step)

    def prior(self, params, deter):
        return self.nets.apply(params, deter, method=Networks.prior)

    def decode(self, params, state: State):
        return self.nets.apply(params, state, method=Networks.decode)

    def reward(self, params, state: State, task):
        return twohot_mean(self.nets.apply(params, state, task, method=Networks.reward_logits), self.bins)

    def cont(self, params, state: State, task):
        return jax.nn.sigmoid(self.nets.apply(params, state, task, method=Networks.cont_logit))

    def observe(self, params, embed, prev_action, is_first, task, key, state: State | None = None):
        """Posterior states over a sequence, all inputs [B, T, ...]; `state` [B] (default: zeros)
        precedes step 0. Returns (the last state, the states [B, T])."""
        batch, length = is_first.shape
        state = self.initial(batch) if state is None else state

        def step(carry, inputs):
            e, a, k, first, key_t = inputs
            post = self.obs_step(params, carry, a, e, k, first, key_t)
            return post, post

        inputs = (*map(time_major, (embed, prev_action, task, is_first)), jax.random.split(key, length))
        last, states = jax.lax.scan(step, state, inputs)
        return last, jax.tree_util.tree_map(time_major, states)

    def imagine(self, params, start: State, policy: Callable, horizon: int, task, key):
        """Prior states from `start` [N] under policy(state, key) -> action [N, A]. Returns the
        states [N, H + 1] (the start first) and the actions [N, H] taken from states 0..H-1."""

        def step(state, key_t):
            k_act, k_img = jax.random.split(key_t)
            action = policy(sg(state), k_act)
            after = self.img_step(params, state, action, task, k_img)
            return after, (after, action)

        _, (states, actions) = jax.lax.scan(step, start, jax.random.split(key, horizon))
        states = jax.tree_util.tree_map(lambda s, x: jnp.concatenate([s[:, None], time_major(x)], 1), start, states)
        return states, time_major(actions)

    def world_model_loss(self, params, batch, key):
        """(loss, (metrics, posterior states [B, T])) of a batch (module docstring). The posterior
        keeps its gradient: actor_critic_loss stops it where DreamerV3 does."""
        c = self.config
        task = batch["task"].astype(jnp.float32)
        embed = self.encode(params, batch["image"])
        _, post = self.observe(params, embed, previous_actions(batch["action"]), batch["is_first"], task, key)
        prior_logits = self.prior(params, post.deter)
        dyn, rep = kl_balance(post.logits, prior_logits, c.free_nats)
        target = batch["image"].astype(jnp.float32) / 255.0
        rec = jnp.square(self.decode(params, post) - target).sum((-3, -2, -1))
        reward_logits = self.nets.apply(params, post, task, method=Networks.reward_logits)
        rew = twohot_loss(reward_logits, batch["reward"].astype(jnp.float32), self.bins)
        cont_target = (1.0 - batch["is_terminal"].astype(jnp.float32)) * c.discount
        con = bernoulli_nll(self.nets.apply(params, post, task, method=Networks.cont_logit), cont_target)
        losses = {
            "rec": rec.mean(),
            "reward": rew.mean(),
            "cont": con.mean(),
            "dyn": dyn.mean(),
            "rep": rep.mean(),
        }
        scales = {"rec": c.rec_scale, "reward": c.reward_scale, "cont": c.cont_scale, "dyn": c.dyn_scale, "rep": c.rep_scale}
        loss = sum(scales[k] * v for k, v in losses.items())
        metrics = {f"wm/{k}_loss": v for k, v in losses.items()}
        metrics.update({
            "wm/loss": loss,
            "wm/kl": categorical_kl(post.logits, prior_logits).sum(-1).mean(),
            "wm/prior_entropy": categorical_entropy(prior_logits).sum(-1).mean(),
            "wm/post_entropy": categorical_entropy(post.logits).sum(-1).mean(),
            "wm/reward_pred": twohot_mean(reward_logits, self.bins).mean(),
        })  # fmt: skip
        return loss, (metrics, post)


def make(config: Config, action_dim: int, task_dim: int, image_shape) -> WorldModel:
    image_shape = tuple(int(s) for s in image_shape)
    cnn_stages(image_shape, config)  # fail early on an image size the CNN cannot take
    return WorldModel(config, action_dim, task_dim, image_shape)
