"""Director (Hafner et al. 2022, "Deep Hierarchical Planning from Pixels") on gcrl's DreamerV3 world model.

A manager picks a goal every K = 8 steps, a code z (8 one-hot codes of 8 classes) that the goal
autoencoder (goal_autoencoder.py) decodes into a deter-sized goal g; a worker acts towards g. Both
learn in imagination by REINFORCE, as behavior.py's actor does.

Imagination. From every replayed posterior state (N = B T starts, stop-gradient, as behavior.py),
H = 16 steps (a multiple of K): at t = 0, K, 2K, ..., H the manager samples z_t ~ pi_m(. | s_t, k)
(k the task vector) and g_t = dec(z_t); the goal is held for K steps; the worker acts a_t ~
pi_w(. | s_t, g_t) and the prior steps. Every state s_t (t = 0..H) carries the goal in force there,
g_t (at t = K, 2K, ..., H the manager's new one). With continues c_t (the continue head, which
carries our base's per-step discount d = 1 - 1/333) and survival u_t = min(1, c_t / d):

  extrinsic    r^extr_t = reward head at s_t
  exploration  r^expl_t = mean_i (dec(z)_i - h_t,i)^2, z ~ enc(h_t)           (h_t = deter of s_t)
  goal         r^goal_t = g_t . h_t / max(|g_t|, |h_t|)^2                       ('cosine_max')

Manager: an abstract trajectory of J = H / K steps over the states s_0, s_K, ..., s_H:
  reward       R^i_{j+1} = (1/K) sum_{k=0..K-1} r^i_{jK+k+1} prod_{m=jK..jK+k} u_m       (block mean)
  continue     C_{j+1} = 0.99 prod_{m=jK+1..(j+1)K} u_m,   C_0 = u_0
  weights      W_j = C_0 C_1 ... C_j
  returns      lambda-returns of behavior.py over the abstract steps, one per reward i in {extr,
               expl}, each against its own critic v^i (two-hot, slow copy, percentile norm S^i)
  advantage    X_j = 1.0 (G^extr_j - v^extr_j) / sigma^extr + 0.1 (G^expl_j - v^expl_j) / sigma^expl,
               sigma^i the EMA std of critic i's returns (decay 0.999; sigma^i >= 0.01), then
               A_j = (X_j - mu_X) / sigma_X with the EMA mean and std of X (decay 0.99)  (adapt.py)
  actor        -W_j (log pi_m(z_jK | s_jK, k) sg(A_j) + sum_l s_l H[pi_m(z_l)] / log C)  (REINFORCE)
               with per-code scales s_l (from 1, times or divided by 1.1 each update, within
               [1e-5, 100]) holding each code's normalised entropy H / log C near 0.5
               (manager_norm 'dreamerv3' instead: A_j = sum_i w_i (G^i_j - v^i_j) / S^i, S^i the
               percentile scale of behavior.py, and the fixed bonus eta_m sum_l H[pi_m(z_l)])
  critics      W_j (CE(twohot(G^i_j)) + CE(twohot(v^i,slow_j)))

Worker: the imagined rollout cut into J segments s_jK..s_(j+1)K of K + 1 states each (neighbours
share a state). Within segment j the goal is g_jK throughout, its last state included: the value
there bootstraps against the segment's own goal, not the manager's next one, so no return crosses
a goal change. On segment j (k = 0..K):
  rewards      r^goal_{jK+k}  (k >= 1), continues c_{jK+k}, weights W_k = c_jK ... c_jK+k
  returns      lambda-returns (behavior.py) with the worker's critic v(s, g_jK), S its norm
  actor        -W_k (log pi_w(a_jK+k | s_jK+k, g_jK) sg((G_k - v_k) / S) + eta_w H[pi_w])
  critic       W_k (CE(twohot(G_k)) + CE(twohot(v^slow_k)))

Inputs: the manager's actor and critics read [h, z_rssm, k] (features and task); the worker's actor
and critic read [h, z_rssm, g] (Director's worker_inputs [deter, stoch, goal]), not the task.

One update: world-model loss + goal-autoencoder loss + manager loss + worker loss, one gradient,
one optimiser step (optim.py), then the slow critics' EMA (as dreamer.py). No actor-critic term
reaches the world model: imagination runs under stop-gradient and there is no replay-critic loss.
`finetune` picks the groups an update moves ('all'; 'manager': the manager's actor and critics;
'manager_wm': those and the world model); every other group's parameters, optimiser moments, slow
critics, return norms and KL weight are kept exactly (frozen updates are replaced, not just their
gradients zeroed, since the moments would keep moving them).

Acting: one posterior step, then a new goal where is_first, or with replan 'fixed' once the goal
has been held K steps (Director's env_skill_duration), or with 'reached' once
cosine_max(goal, h) >= reach_threshold or after replan_timeout steps; then the worker acts.

Where gcrl differs from the published code (danijar/director a6a649e, embodied/agents/director;
it is built on DreamerV2-era code, ours on DreamerV3):
- Kept from Director: the goal autoencoder on deter (8 x 8 codes, straight-through, KL to uniform
  with the AutoAdapt weight towards 10 nats), K = 8, H = 16, the jointly-trained manager and worker
  (`jointly: new`), the manager's rewards (extr 1.0, expl 0.1 'adver squared') and abstract
  trajectory (block-mean rewards weighted by in-block survival, continue = 0.99 times the block's
  survival, states every K-th), the worker's cosine_max reward (weight 1.0, alone) and its
  segmentation with the goal held on each segment's last state, per-segment weights, REINFORCE for
  the manager, the worker's inputs, the decoder image of a goal from the prior's mode stoch.
- Kept from Director for the manager (manager_norm 'director', the default): each return and
  baseline divided by the EMA std of its critic's returns, the weighted sum normalised to zero mean
  and unit std, and the per-code adaptive entropy bonus. With our base's percentile scale instead
  (the default of earlier sessions, still `manager_norm=dreamerv3`) the scale sat at its floor of 1
  because the manager's rewards are small (in results/online/train/director-seed0: task rewards
  ~1e-4 and exploration rewards ~1e-2 per step): its advantages stayed ~1e-3, its entropy at the
  maximum (8 log 8 = 16.6), and it chose goals at random.
- Taken from our base (behavior.py) in place of Director's DreamerV2-era actor-critic: two-hot
  critics with an EMA slow copy (rate 0.02) used as a regulariser, returns bootstrapped from the
  online critic (Director: symlog-MSE critics, hard slow-target copy every 100 updates, returns
  and baselines from the slow critic); for the worker, the percentile return scale max(1, P95 -
  P5) with no final advantage normalisation and a fixed entropy scale 3e-4 (Director treats the
  worker as the manager: EMA-std returns, normalised advantages, an adaptive entropy bonus towards
  0.5); REINFORCE for the worker
  (Director backpropagates through the dynamics for continuous worker actions); the worker's
  per-step discount is the continue head's (1 - 1/333; Director: 0.99 times survival); one
  optimiser (LaProp + AGC) for all groups, as dreamer.py (Director: one Adam per module); MLPs
  of our base (RMSNorm, SiLU, `units` wide, DreamerV3 initialiser; actor outputs scaled 0.01).
- The manager's per-abstract-step discount is 0.99 as in the published code, which applies
  `discount` once per abstract step (not 0.99^K); survival u_t is our continue divided by our
  per-step discount, so the base's 1 - 1/333 is not applied on top.
- The published reward r^goal_t compares s_t with the goal in force at s_t, so the last reward of
  each segment (t = (j+1)K) is measured against the manager's next goal; gcrl keeps this.
- The manager always samples its code when acting (as Director's policy); sample=False makes
  only the worker take its mode.
- Acting resets the goal at is_first (Director's policy state is not reset between episodes: its
  step counter runs on); 'reached', `finetune` and the task input of the manager are gcrl's.
- The start state's continue is our continue head's (Director: 1 - is_terminal of the replay).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gcrl.errors import GcrlError
from gcrl.online import goal_autoencoder, world_model
from gcrl.online.adapt import Moments, auto_adapt, moments_init, moments_stats, moments_update
from gcrl.online.behavior import (
    Actor,
    Critic,
    ReturnNorm,
    critic_loss,
    flat,
    imagination_weights,
    lambda_return,
    reinforce_loss,
    return_scale,
    update_return_norm,
)
from gcrl.online.config import Config
from gcrl.online.dists import (
    OneHotCategorical,
    straight_through_sample,
    twohot_bins,
    twohot_mean,
)
from gcrl.online.layers import MLP, dense, jit_init
from gcrl.online.optim import optimizer
from gcrl.online.world_model import State, WorldModel, features

sg = jax.lax.stop_gradient

GROUPS = ("wm", "goal", "manager", "worker")
TRAINABLE = {"all": GROUPS, "manager": ("manager",), "manager_wm": ("manager", "wm")}
MANAGER_CRITICS = ("extr", "expl")


class ManagerActor(nn.Module):
    """pi_m(z | s, k): a categorical per code, logits [..., L, C] (1% unimix, as our actor)."""

    config: Config

    @nn.compact
    def __call__(self, x):
        c = self.config
        out = dense(c.goal_codes * c.goal_classes, outscale=0.01)(MLP(c.actor_layers, c.units)(x))
        return OneHotCategorical.from_outputs(out.reshape((*x.shape[:-1], c.goal_codes, c.goal_classes)), c.actor_unimix)


class Imagined(NamedTuple):
    states: State  # [N, H + 1]
    actions: jax.Array  # [N, H, A], the worker's, taken at states 0..H-1
    codes: jax.Array  # [N, J + 1, L, C], the manager's, chosen at states 0, K, ..., H
    goals: jax.Array  # [N, H + 1, D], the goal in force at each state


class ManagerNorm(NamedTuple):
    """The published normalisers of the manager's advantage and entropy (manager_norm 'director')."""

    returns: dict  # Moments of each manager critic's returns
    advantage: Moments  # Moments of the weighted sum of the normalised advantages
    entropy_scale: jax.Array  # [L], the entropy bonus's adaptive scale per code


class DirectorState(NamedTuple):
    """What an update keeps besides the parameters."""

    slow: dict  # slow critics {'manager': {'extr', 'expl'}, 'worker': {'critic'}}
    retnorm: dict  # a ReturnNorm per critic, same layout (the manager's are read with manager_norm 'dreamerv3')
    goal_kl_scale: jax.Array  # the goal autoencoder's adaptive KL weight
    manager_norm: ManagerNorm


class TrainState(NamedTuple):
    params: dict  # 'wm', 'goal' {'enc', 'dec'}, 'manager' {'actor', 'extr', 'expl'}, 'worker' {'actor', 'critic'}
    ac_state: DirectorState
    opt_state: optax.OptState
    step: jax.Array


class Carry(NamedTuple):
    """What acting carries from step to step, per environment."""

    state: State
    prev_action: jax.Array
    goal: jax.Array  # [N, D], the worker's current goal
    since: jax.Array  # [N] int32, steps the current goal has been acted on


# ---- the math, on plain arrays ------------------------------------------------------------------


def cosine_max(goal, deter):
    """g . h / max(|g|, |h|)^2 over the last axis (norms + 1e-12, as Director): 1 only at h = g."""
    norm = jnp.maximum(jnp.linalg.norm(goal, axis=-1), jnp.linalg.norm(deter, axis=-1)) + 1e-12
    return (goal * deter).sum(-1) / jnp.square(norm)


def block_average(reward, survival, every: int):
    """The manager's rewards [N, J + 1] from rewards [N, H + 1] aligned with the states (index 0
    unused): entry j + 1 is (1/K) sum_k r_{jK+k+1} u_jK ... u_jK+k; entry 0 is 0."""
    n, steps = reward.shape[0], reward.shape[1] - 1
    blocks = steps // every
    weights = jnp.cumprod(survival[:, :-1].reshape(n, blocks, every), -1)
    averaged = (reward[:, 1:].reshape(n, blocks, every) * weights).mean(-1)
    return jnp.concatenate([jnp.zeros_like(averaged[:, :1]), averaged], 1)


def abstract_continues(survival, every: int, discount: float):
    """[u_0, discount prod(u_1..u_K), discount prod(u_K+1..u_2K), ...]: [N, J + 1]."""
    n, steps = survival.shape[0], survival.shape[1] - 1
    blocks = survival[:, 1:].reshape(n, steps // every, every).prod(-1)
    return jnp.concatenate([survival[:, :1], discount * blocks], 1)


def segments(x, every: int):
    """[N, H + 1, ...] -> [N J, K + 1, ...]: segment j holds steps jK..(j+1)K (neighbours share one)."""
    blocks = (x.shape[1] - 1) // every
    index = np.arange(blocks)[:, None] * every + np.arange(every + 1)[None]
    picked = x[:, index]
    return picked.reshape((-1, every + 1, *x.shape[2:]))


def segment_goals(goals, every: int):
    """Each segment's goal, the one in force at its first state, on all K + 1 of its states."""
    n, steps = goals.shape[0], goals.shape[1] - 1
    first = goals[:, 0:steps:every]  # [N, J, D]
    held = jnp.broadcast_to(first[:, :, None], (n, steps // every, every + 1, goals.shape[-1]))
    return held.reshape((-1, every + 1, goals.shape[-1]))


def segment_actions(actions, every: int):
    """[N, H, A] -> [N J, K, A]: segment j's actions, taken at its states 0..K-1 (rows as `segments`)."""
    return actions.reshape((-1, every, actions.shape[-1]))


def combined_advantage(returns: dict, values: dict, scales: dict, weights: dict):
    """sum_i w_i (G_i - v_i) / S_i under stop-gradient."""
    return sg(sum(weights[k] * (returns[k] - values[k]) / scales[k] for k in returns))


def director_advantage(returns: dict, values: dict, weights: dict, norm: ManagerNorm, config: Config):
    """The published manager advantage (manager_norm 'director'): A = (X - mu_X) / sigma_X with
    X = sum_i w_i (G_i - v_i) / sigma_i, sigma_i the EMA std of critic i's returns (a divisor of at
    least 1 / manager_retnorm_max) and mu_X, sigma_X the EMA mean and std of X, every EMA updated
    with this batch first (adapt.py). Returns (A under stop-gradient, {critic: sigma_i}, the new
    Moments of the returns, the new Moments of X)."""
    c = config
    moments, sigma, score = {}, {}, 0.0
    for name in returns:
        moments[name] = moments_update(norm.returns[name], returns[name], c.manager_retnorm_decay)
        _, scale = moments_stats(moments[name], c.manager_retnorm_decay, c.manager_retnorm_max)
        sigma[name] = 1.0 / scale
        score = score + weights[name] * (returns[name] - values[name]) * scale
    advantage_moments = moments_update(norm.advantage, score, c.manager_advnorm_decay)
    mean, scale = moments_stats(advantage_moments, c.manager_advnorm_decay, c.manager_advnorm_max)
    return sg((score - mean) * scale), sigma, moments, advantage_moments


def code_entropy_bonus(code_entropy, scale, config: Config):
    """The published per-code entropy bonus: with e_l = H[pi(z_l)] / log C (code_entropy [..., L]),
    the scales s_l take one AutoAdapt step (inverse, towards manager_entropy_target) on the batch
    mean of e_l, then the bonus is sum_l s_l e_l. Returns (bonus [...], the new scales [L])."""
    c = config
    normalised = code_entropy / np.log(c.goal_classes)
    mean = normalised.reshape((-1, normalised.shape[-1])).mean(0)
    scale = auto_adapt(scale, mean, c.manager_entropy_target, c.manager_entropy_thres, c.manager_entropy_vel, c.manager_entropy_min, c.manager_entropy_max, inverse=True)
    return (scale * normalised).sum(-1), scale


def keep_frozen(new, old, mask):
    """`new` with every subtree shaped like the parameters taking `old`'s leaves where mask is False
    (the optimiser's moments of frozen parameters do not drift)."""
    shape = jax.tree_util.tree_structure(mask)

    def like_params(x):
        return jax.tree_util.tree_structure(x) == shape

    def pick(n, o):
        if like_params(n):
            return jax.tree_util.tree_map(lambda a, b, m: a if m else b, n, o, mask)
        return n

    return jax.tree_util.tree_map(pick, new, old, is_leaf=like_params)


# ---- the agent ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Director:
    config: Config
    wm: WorldModel
    discrete: bool

    @property
    def tx(self) -> optax.GradientTransformation:
        return optimizer(self.config)

    @property
    def trainable(self) -> tuple[str, ...]:
        return TRAINABLE[self.config.finetune]

    @property
    def blocks(self) -> int:
        return self.config.director_imag_length // self.config.goal_every

    @property
    def feature_size(self) -> int:
        c = self.wm.config
        return c.deter + c.stoch * c.classes

    def init(self, key) -> TrainState:
        c = self.config
        keys = jax.random.split(key, 7)
        manager_x = jnp.zeros((1, self.feature_size + self.wm.task_dim))
        worker_x = jnp.zeros((1, self.feature_size + c.deter))
        critic = Critic(c)
        params = {
            "wm": self.wm.init(keys[0]),
            "goal": goal_autoencoder.init(c, keys[1]),
            "manager": {
                "actor": jit_init(ManagerActor(c).init)(keys[2], manager_x),
                "extr": jit_init(critic.init)(keys[3], manager_x),
                "expl": jit_init(critic.init)(keys[4], manager_x),
            },
            "worker": {
                "actor": jit_init(Actor(c, self.wm.action_dim, self.discrete).init)(keys[5], worker_x),
                "critic": jit_init(critic.init)(keys[6], worker_x),
            },
        }
        slow = {
            "manager": {k: jax.tree_util.tree_map(jnp.copy, params["manager"][k]) for k in MANAGER_CRITICS},
            "worker": {"critic": jax.tree_util.tree_map(jnp.copy, params["worker"]["critic"])},
        }
        zero = ReturnNorm(jnp.zeros(()), jnp.zeros(()))
        retnorm = {"manager": {k: zero for k in MANAGER_CRITICS}, "worker": {"critic": zero}}
        # AutoAdapt 'mult' starts its scales at 1 (the KL weight and the entropy bonus's)
        manager_norm = ManagerNorm({k: moments_init() for k in MANAGER_CRITICS}, moments_init(), jnp.ones((c.goal_codes,)))
        ac_state = DirectorState(slow, retnorm, jnp.ones(()), manager_norm)
        return TrainState(params, ac_state, self.tx.init(params), jnp.zeros((), jnp.int32))

    # ---- networks -------------------------------------------------------------------------------

    def manager_policy(self, manager_params, state: State, task) -> OneHotCategorical:
        return ManagerActor(self.config).apply(manager_params["actor"], jnp.concatenate([features(state), task], -1))

    def manager_value_logits(self, critic_params, state: State, task):
        return Critic(self.config).apply(critic_params, jnp.concatenate([features(state), task], -1))

    def worker_policy(self, worker_params, state: State, goal):
        actor = Actor(self.config, self.wm.action_dim, self.discrete)
        return actor.apply(worker_params["actor"], jnp.concatenate([features(state), goal], -1))

    def worker_value_logits(self, critic_params, state: State, goal):
        return Critic(self.config).apply(critic_params, jnp.concatenate([features(state), goal], -1))

    def decode_goal(self, goal_params, code):
        return goal_autoencoder.decode(self.config, goal_params, code)

    # ---- imagination ----------------------------------------------------------------------------

    def choose_goal(self, params, state: State, task, key):
        code = self.manager_policy(params["manager"], state, task).sample(key)
        return code, self.decode_goal(params["goal"], code)

    def imagine(self, params, starts: State, task, key) -> Imagined:
        """H steps from `starts` [N]: the manager every K steps, the worker in between (docstring)."""
        every, wm_params = self.config.goal_every, params["wm"]

        def block(state, key_j):
            k_goal, k_steps = jax.random.split(key_j)
            code, goal = self.choose_goal(params, state, task, k_goal)

            def step(s, key_t):
                k_act, k_img = jax.random.split(key_t)
                action = self.worker_policy(params["worker"], s, goal).sample(k_act)
                return self.wm.img_step(wm_params, s, action, task, k_img), (s, action)

            last, (states, actions) = jax.lax.scan(step, state, jax.random.split(k_steps, every))
            return last, (states, actions, code, goal)

        k_blocks, k_last = jax.random.split(key)
        last, (states, actions, codes, goals) = jax.lax.scan(block, starts, jax.random.split(k_blocks, self.blocks))
        last_code, last_goal = self.choose_goal(params, last, task, k_last)  # H is a multiple of K

        def steps_major(x):  # [J, K, N, ...] -> [N, J K, ...]
            return jnp.swapaxes(x.reshape((-1, *x.shape[2:])), 0, 1)

        states = jax.tree_util.tree_map(lambda x, l: jnp.concatenate([steps_major(x), l[:, None]], 1), states, last)
        goals = jnp.repeat(jnp.swapaxes(goals, 0, 1), every, 1)
        codes = jnp.concatenate([jnp.swapaxes(codes, 0, 1), last_code[:, None]], 1)
        return Imagined(states, steps_major(actions), codes, jnp.concatenate([goals, last_goal[:, None]], 1))

    def imagined_rewards(self, params, traj: Imagined, task, key):
        """({'extr', 'expl', 'goal'}: [N, H + 1] each, continues [N, H + 1]), under stop-gradient."""
        task_h = jnp.broadcast_to(task[:, None], (*traj.goals.shape[:2], task.shape[-1]))
        deter = traj.states.deter
        rewards = {
            "extr": self.wm.reward(params["wm"], traj.states, task_h),
            "expl": goal_autoencoder.reconstruction_error(self.config, params["goal"], deter, key),
            "goal": cosine_max(traj.goals, deter),
        }
        return sg(rewards), sg(self.wm.cont(params["wm"], traj.states, task_h))

    # ---- losses ---------------------------------------------------------------------------------

    def manager_loss(self, manager_params, ac_state: DirectorState, traj: Imagined, task, rewards, cont):
        """(loss, (metrics, the manager's new return norms, its new ManagerNorm)) on the abstract
        trajectory (docstring)."""
        c, every, bins = self.config, self.config.goal_every, twohot_bins(self.config.bins)
        survival = jnp.clip(cont / c.discount, 0.0, 1.0)
        live = abstract_continues(survival, every, c.manager_discount)
        weight = imagination_weights(live)
        states = jax.tree_util.tree_map(lambda x: x[:, ::every], traj.states)
        task_j = jnp.broadcast_to(task[:, None], (*live.shape, task.shape[-1]))
        returns, values, scales, norms, value_losses = {}, {}, {}, {}, {}
        for name in MANAGER_CRITICS:
            logits = self.manager_value_logits(manager_params[name], states, task_j)
            value = sg(twohot_mean(logits, bins))
            slow = sg(twohot_mean(self.manager_value_logits(ac_state.slow["manager"][name], states, task_j), bins))
            returns[name] = sg(lambda_return(block_average(rewards[name], survival, every), live, value, c.lam))
            norms[name] = update_return_norm(ac_state.retnorm["manager"][name], returns[name], c)
            values[name], scales[name] = value[:, :-1], return_scale(norms[name], c)
            value_losses[name] = critic_loss(logits[:, :-1], returns[name], slow[:, :-1], weight, bins, c.slowreg)
        weights, manager_norm = {"extr": c.manager_extr, "expl": c.manager_expl}, ac_state.manager_norm
        head = jax.tree_util.tree_map(lambda x: x[:, :-1], states)
        dist = self.manager_policy(manager_params, head, task_j[:, :-1])
        log_prob, code_entropy = dist.log_prob(sg(traj.codes[:, :-1])).sum(-1), dist.entropy()
        if c.manager_norm == "director":
            advantage, scales, moments, advantage_moments = director_advantage(returns, values, weights, manager_norm, c)
            bonus, entropy_scale = code_entropy_bonus(code_entropy, manager_norm.entropy_scale, c)
            policy_loss = reinforce_loss(log_prob, bonus, advantage, weight, 1.0)
            manager_norm = ManagerNorm(moments, advantage_moments, entropy_scale)
        else:
            advantage = combined_advantage(returns, values, scales, weights)
            policy_loss = reinforce_loss(log_prob, code_entropy.sum(-1), advantage, weight, c.manager_actent)
        loss = c.policy_scale * policy_loss + c.value_scale * sum(value_losses.values())
        metrics = {
            "manager/policy_loss": policy_loss,
            "manager/advantage": advantage.mean(),
            "manager/advantage_std": advantage.std(),
            "manager/entropy": code_entropy.sum(-1).mean(),
            "manager/entropy_scale": manager_norm.entropy_scale.mean(),
            "manager/weight": weight.mean(),
        }
        for name in MANAGER_CRITICS:
            metrics[f"manager/{name}_value_loss"] = value_losses[name]
            metrics[f"manager/{name}_return"] = returns[name].mean()
            metrics[f"manager/{name}_reward"] = rewards[name][:, 1:].mean()
            metrics[f"manager/{name}_return_scale"] = scales[name]
        return loss, (metrics, norms, manager_norm)

    def worker_loss(self, worker_params, ac_state: DirectorState, traj: Imagined, goal_reward, cont):
        """(loss, (metrics, the worker's new return norm)) on the K-step segments (docstring)."""
        c, every, bins = self.config, self.config.goal_every, twohot_bins(self.config.bins)
        states = jax.tree_util.tree_map(lambda x: segments(x, every), traj.states)
        goal = segment_goals(traj.goals, every)
        reward, live = segments(goal_reward, every), segments(cont, every)
        weight = imagination_weights(live)  # restarts at each segment, as Director's split_traj
        logits = self.worker_value_logits(worker_params["critic"], states, goal)
        value = sg(twohot_mean(logits, bins))
        slow = sg(twohot_mean(self.worker_value_logits(ac_state.slow["worker"]["critic"], states, goal), bins))
        returns = sg(lambda_return(reward, live, value, c.lam))
        norm = update_return_norm(ac_state.retnorm["worker"]["critic"], returns, c)
        advantage = sg((returns - value[:, :-1]) / return_scale(norm, c))
        actions = segment_actions(traj.actions, every)
        head = jax.tree_util.tree_map(lambda x: x[:, :-1], states)
        dist = self.worker_policy(worker_params, head, goal[:, :-1])
        entropy = dist.entropy()
        policy_loss = reinforce_loss(dist.log_prob(sg(actions)), entropy, advantage, weight, c.worker_actent)
        value_loss = critic_loss(logits[:, :-1], returns, slow[:, :-1], weight, bins, c.slowreg)
        metrics = {
            "worker/policy_loss": policy_loss,
            "worker/value_loss": value_loss,
            "worker/return": returns.mean(),
            "worker/goal_reward": goal_reward[:, 1:].mean(),
            "worker/advantage": advantage.mean(),
            "worker/entropy": entropy.mean(),
            "worker/return_scale": return_scale(norm, c),
        }
        return c.policy_scale * policy_loss + c.value_scale * value_loss, (metrics, {"critic": norm})

    def loss(self, params, ac_state: DirectorState, batch, key):
        """(world model + goal autoencoder + manager + worker losses, (metrics, new DirectorState))."""
        c = self.config
        k_wm, k_goal, k_imag, k_expl = jax.random.split(key, 4)
        wm_loss, (metrics, posterior) = self.wm.world_model_loss(params["wm"], batch, k_wm)
        goal_loss, (goal_metrics, kl_scale) = goal_autoencoder.goal_autoencoder_loss(c, params["goal"], ac_state.goal_kl_scale, posterior.deter, k_goal)
        frozen = sg(params)
        task = flat(batch["task"].astype(jnp.float32))
        traj = self.imagine(frozen, jax.tree_util.tree_map(flat, sg(posterior)), task, k_imag)
        rewards, cont = self.imagined_rewards(frozen, traj, task, k_expl)
        manager_loss, (manager_metrics, manager_norms, manager_norm) = self.manager_loss(params["manager"], ac_state, traj, task, rewards, cont)
        worker_loss, (worker_metrics, worker_norms) = self.worker_loss(params["worker"], ac_state, traj, rewards["goal"], cont)
        ac_state = DirectorState(ac_state.slow, {"manager": manager_norms, "worker": worker_norms}, kl_scale, manager_norm)
        metrics = {**metrics, **goal_metrics, **manager_metrics, **worker_metrics, "imag/cont": cont.mean()}
        return wm_loss + goal_loss + manager_loss + worker_loss, (metrics, ac_state)

    # ---- the update -----------------------------------------------------------------------------

    def trainable_mask(self, params):
        """True on every parameter leaf that `finetune` lets an update move."""
        return {g: jax.tree_util.tree_map(lambda _, t=(g in self.trainable): t, p) for g, p in params.items()}

    def update_slow(self, ac_state: DirectorState, params) -> DirectorState:
        """slow <- rate critic + (1 - rate) slow, for every critic."""
        rate = self.config.slow_rate
        critics = {"manager": {k: params["manager"][k] for k in MANAGER_CRITICS}, "worker": {"critic": params["worker"]["critic"]}}
        slow = jax.tree_util.tree_map(lambda s, p: (1.0 - rate) * s + rate * p, ac_state.slow, critics)
        return ac_state._replace(slow=slow)

    def keep_frozen_state(self, new: DirectorState, old: DirectorState) -> DirectorState:
        """The frozen groups' slow critics, return norms and KL weight as they were."""
        slow = {g: new.slow[g] if g in self.trainable else old.slow[g] for g in new.slow}
        retnorm = {g: new.retnorm[g] if g in self.trainable else old.retnorm[g] for g in new.retnorm}
        scale = new.goal_kl_scale if "goal" in self.trainable else old.goal_kl_scale
        manager_norm = new.manager_norm if "manager" in self.trainable else old.manager_norm
        return DirectorState(slow, retnorm, scale, manager_norm)

    def train_step(self, state: TrainState, batch, key) -> tuple[TrainState, dict]:
        mask = self.trainable_mask(state.params)

        def loss(params):  # frozen groups under stop-gradient: no work spent on their gradients
            params = {g: p if g in self.trainable else sg(p) for g, p in params.items()}
            return self.loss(params, state.ac_state, batch, key)

        (total, (metrics, ac_state)), grads = jax.value_and_grad(loss, has_aux=True)(state.params)
        updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
        moved = optax.apply_updates(state.params, updates)
        params = jax.tree_util.tree_map(lambda n, o, m: n if m else o, moved, state.params, mask)
        opt_state = keep_frozen(opt_state, state.opt_state, mask)
        ac_state = self.keep_frozen_state(self.update_slow(ac_state, params), state.ac_state)
        metrics = {**metrics, "loss": total, "grad_norm": optax.tree.norm(grads)}
        return TrainState(params, ac_state, opt_state, state.step + 1), metrics

    # ---- acting ---------------------------------------------------------------------------------

    @property
    def replan_after(self) -> int:
        return self.config.goal_every if self.config.replan == "fixed" else self.config.replan_timeout

    def initial_carry(self, batch_size: int) -> Carry:
        since = jnp.full((batch_size,), self.replan_after, jnp.int32)  # the first step sets a goal
        zeros = jnp.zeros((batch_size, self.config.deter))
        return Carry(self.wm.initial(batch_size), jnp.zeros((batch_size, self.wm.action_dim)), zeros, since)

    def should_replan(self, carry: Carry, deter, is_first):
        """[N] bool: a new goal at is_first, and by the `replan` rule (module docstring)."""
        due = carry.since >= self.replan_after
        if self.config.replan == "reached":
            due = due | (cosine_max(carry.goal, deter) >= self.config.reach_threshold)
        return is_first | due

    def act(self, params, carry: Carry, obs, key, sample: bool = True) -> tuple[jax.Array, Carry]:
        """obs: image [N, H, W, C] uint8, is_first [N], task [N, K]. Returns the worker's actions
        [N, A] and the next carry; the manager samples a code where a new goal is due."""
        k_obs, k_goal, k_act = jax.random.split(key, 3)
        task, first = obs["task"].astype(jnp.float32), obs["is_first"].astype(bool)
        embed = self.wm.encode(params["wm"], obs["image"])
        state = self.wm.obs_step(params["wm"], carry.state, carry.prev_action, embed, task, first, k_obs)
        replan = self.should_replan(carry, state.deter, first)
        _, new_goal = self.choose_goal(params, state, task, k_goal)
        goal = jnp.where(replan[:, None], new_goal, carry.goal)
        since = jnp.where(replan, 0, carry.since) + 1
        dist = self.worker_policy(params["worker"], state, goal)
        action = dist.sample(k_act) if sample else dist.mode()
        return action, Carry(state, action, goal, since)

    def goal_image(self, params, goal_deter, key=None, sample: bool = False):
        """uint8 [N, H, W, C]: the decoder's image of goals [N, D], with the prior's stoch at that
        deter, its mode as Director's get_stoch (sample=True draws it with `key` instead)."""
        logits = self.wm.prior(params["wm"], goal_deter)
        stoch = straight_through_sample(key, logits) if sample else jax.nn.one_hot(jnp.argmax(logits, -1), logits.shape[-1])
        image = self.wm.decode(params["wm"], State(goal_deter, stoch, logits))
        return jnp.round(jnp.clip(image, 0.0, 1.0) * 255.0).astype(jnp.uint8)


def goal_picture(frames, goal_frames, path, every: int = 8, title: str | None = None):
    """Save real frames [T, H, W, C] in the top row and, below each, the decoded goal [T, H, W, C]
    the manager had asked for at that step; one column every `every` steps."""
    from matplotlib.figure import Figure

    steps = list(range(0, len(frames), every))
    fig = Figure(figsize=(1.3 * len(steps) + 0.8, 3.0))
    axes = fig.subplots(2, len(steps), squeeze=False)
    for column, t in enumerate(steps):
        for row, image in enumerate((frames[t], goal_frames[t])):
            axes[row, column].imshow(np.asarray(image))
            axes[row, column].set_xticks([])
            axes[row, column].set_yticks([])
        axes[0, column].set_title(f"t={t}", fontsize=8)
    axes[0, 0].set_ylabel("frame", fontsize=8)
    axes[1, 0].set_ylabel("goal", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=100, bbox_inches="tight")


def make(config: Config, action_dim: int, discrete: bool, task_dim: int, image_shape) -> Director:
    if config.director_imag_length % config.goal_every:
        raise GcrlError(f"online: director_imag_length ({config.director_imag_length}) must be a multiple of goal_every ({config.goal_every}).")
    if config.replan not in ("fixed", "reached"):
        raise GcrlError(f"online: replan must be 'fixed' or 'reached', got '{config.replan}'.")
    if config.manager_norm not in ("director", "dreamerv3"):
        raise GcrlError(f"online: manager_norm must be 'director' or 'dreamerv3', got '{config.manager_norm}'.")
    if config.finetune not in TRAINABLE:
        raise GcrlError(f"online: finetune must be one of {', '.join(TRAINABLE)}, got '{config.finetune}'.")
    return Director(config, world_model.make(config, action_dim, task_dim, image_shape), discrete)
