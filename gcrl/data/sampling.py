"""Goal-conditioned batch sampling as pure JAX functions (DESIGN.md section 2).

Everything here is index arithmetic on arrays that live on the device: no host round trip, so a
training loop can sample inside `jit` and `lax.scan`. Indices refer to `DeviceData.observations`;
`final_idxs[t]` is the last index a goal may take in t's trajectory ('end').
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gcrl.data.dataset import Dataset

CROP_PADDING = 3  # pixels of edge padding for random-crop augmentation, as OGBench


class DeviceData(NamedTuple):
    """A dataset on the device (a pytree; pass it to jitted functions as an argument)."""

    observations: jax.Array  # [M, ...]
    actions: jax.Array  # [M, A] or [M]
    next_observations: jax.Array | None  # standard layout; None: successor of t is t + 1
    transition_idxs: jax.Array  # [N] the indices that start a transition
    final_idxs: jax.Array  # [M] end of t's trajectory
    start_idxs: jax.Array  # [M] start of t's trajectory (frame stacking)

    @property
    def num_transitions(self) -> int:
        return self.transition_idxs.shape[0]


def to_device(dataset: Dataset, device=None) -> DeviceData:
    """Put a dataset on the device once; pixel observations stay uint8."""
    put = lambda x: None if x is None else jax.device_put(np.asarray(x), device)  # noqa: E731
    return DeviceData(
        observations=put(dataset.observations),
        actions=put(dataset.actions),
        next_observations=put(dataset.next_observations),
        transition_idxs=put(dataset.transition_idxs()),
        final_idxs=put(dataset.final_idxs()),
        start_idxs=put(dataset.start_idxs()),
    )


@dataclass(frozen=True)
class GoalMix:
    """Probabilities of the three goal sources; traj goals are geometric or uniform in the future."""

    p_cur: float = 0.0
    p_traj: float = 1.0
    p_random: float = 0.0
    geometric: bool = False

    def __post_init__(self):
        total = self.p_cur + self.p_traj + self.p_random
        if abs(total - 1.0) > 1e-6 or min(self.p_cur, self.p_traj, self.p_random) < 0:
            raise ValueError(f"goal probabilities must be >= 0 and sum to 1, got {self.p_cur}, {self.p_traj}, {self.p_random}")


VALUE_GOALS = GoalMix(p_cur=0.2, p_traj=0.5, p_random=0.3, geometric=True)
ACTOR_GOALS = GoalMix(p_cur=0.0, p_traj=1.0, p_random=0.0, geometric=False)


@dataclass(frozen=True)
class SamplerConfig:
    """What a batch holds and how goals are drawn. Hashable: it is a static argument of jit."""

    discount: float = 0.99
    value_goals: GoalMix = field(default_factory=lambda: VALUE_GOALS)
    actor_goals: GoalMix = field(default_factory=lambda: ACTOR_GOALS)
    subgoal_steps: int = 25  # k
    frame_stack: int = 1
    p_aug: float = 0.0  # probability that a batch is randomly cropped (pixels)


# ---- goal indices ----------------------------------------------------------------------------

def sample_idxs(key, data: DeviceData, batch_size: int) -> jax.Array:
    """Transition start indices, uniform over the dataset's transitions."""
    pick = jax.random.randint(key, (batch_size,), 0, data.num_transitions)
    return data.transition_idxs[pick]


def traj_geometric_idxs(key, idxs, final_idxs, discount: float):
    """g = s_min(t + offset, end), offset ~ Geometric(1 - discount) >= 1."""
    offsets = jax.random.geometric(key, 1.0 - discount, idxs.shape, dtype=jnp.int32)
    return jnp.minimum(idxs + offsets, final_idxs)


def traj_uniform_idxs(key, idxs, final_idxs):
    """g = s_j, j uniform in [min(t + 1, end), end], rounded (OGBench's rule)."""
    u = jax.random.uniform(key, idxs.shape)
    low = jnp.minimum(idxs + 1, final_idxs)
    return jnp.round(low * u + final_idxs * (1.0 - u)).astype(idxs.dtype)


def goal_idxs(key, data: DeviceData, idxs, mix: GoalMix, discount: float):
    """Mix of cur (g = s_t), traj (geometric or uniform future of t) and random dataset goals."""
    return goal_idxs_and_sources(key, data, idxs, mix, discount)[0]


def goal_idxs_and_sources(key, data: DeviceData, idxs, mix: GoalMix, discount: float):
    """`goal_idxs`, and whether each goal was drawn at random (not from t's trajectory)."""
    k_traj, k_rand, k_pick_traj, k_pick_cur = jax.random.split(key, 4)
    final = data.final_idxs[idxs]
    if mix.geometric:
        traj = traj_geometric_idxs(k_traj, idxs, final, discount)
    else:
        traj = traj_uniform_idxs(k_traj, idxs, final)
    if mix.p_random == 0.0:
        goals, is_random = traj, jnp.zeros(idxs.shape, bool)
    else:
        random = sample_idxs(k_rand, data, idxs.shape[0])
        p_traj_given_not_cur = mix.p_traj / (1.0 - mix.p_cur) if mix.p_cur < 1.0 else 0.0
        is_random = jax.random.uniform(k_pick_traj, idxs.shape) >= p_traj_given_not_cur
        goals = jnp.where(is_random, random, traj)
    if mix.p_cur > 0.0:
        is_cur = jax.random.uniform(k_pick_cur, idxs.shape) < mix.p_cur
        goals, is_random = jnp.where(is_cur, idxs, goals), is_random & ~is_cur
    return goals, is_random


def subgoal_idxs(idxs, final_idxs, k: int):
    """The k-step subgoal: w = s_min(t + k, end)."""
    return jnp.minimum(idxs + k, final_idxs)


def waypoint_idxs(idxs, goal, final_idxs, k: int, goal_is_random=None):
    """The k-step waypoint towards g: s_min(t + k, goal index) for a goal from t's trajectory; for a
    random goal (OGBench's HGCDataset: by how it was drawn, even if it lands ahead of t in the same
    trajectory) the k-step subgoal s_min(t + k, end)."""
    ahead = (goal >= idxs) & (goal <= final_idxs)
    if goal_is_random is not None:
        ahead = ahead & ~goal_is_random
    return jnp.where(ahead, jnp.minimum(idxs + k, goal), jnp.minimum(idxs + k, final_idxs))


def rewards_and_masks(idxs, value_goal):
    """r = 0, m = 0 where the goal is s_t itself; otherwise r = -1, m = 1."""
    success = (idxs == value_goal).astype(jnp.float32)
    return success - 1.0, 1.0 - success


# ---- observations ----------------------------------------------------------------------------

def _frames(observations, last, start, count: int) -> list:
    """`count` frames ending at index `last`, clamped at the trajectory's `start`."""
    return [observations[jnp.maximum(last - i, start)] for i in reversed(range(count))]


def gather(data: DeviceData, idxs, frame_stack: int = 1):
    """Observations at idxs; with frame stacking, the last `frame_stack` frames of each index's
    trajectory (clamped at its start), concatenated on the channel axis."""
    if frame_stack == 1:
        return data.observations[idxs]
    return jnp.concatenate(_frames(data.observations, idxs, data.start_idxs[idxs], frame_stack), axis=-1)


def gather_next(data: DeviceData, idxs, frame_stack: int = 1):
    """Successor observations of the transitions at idxs (frame-stacked like `gather`)."""
    if data.next_observations is None:  # compact: the successor is the next row, same trajectory
        return gather(data, idxs + 1, frame_stack)
    last = data.next_observations[idxs]
    if frame_stack == 1:
        return last
    previous = _frames(data.observations, idxs, data.start_idxs[idxs], frame_stack - 1)
    return jnp.concatenate(previous + [last], axis=-1)


def random_crop(key, images: dict, padding: int = CROP_PADDING) -> dict:
    """Random-crop augmentation: pad each image by `padding` (edge mode) and crop back to size at a
    random offset, the same offset for every key of one sample (observation and its goals move
    together). Images are [B, H, W, C]."""
    any_image = next(iter(images.values()))
    batch, height, width = any_image.shape[:3]
    offsets = jax.random.randint(key, (batch, 2), 0, 2 * padding + 1)

    def crop_one(image, offset):
        padded = jnp.pad(image, ((padding, padding), (padding, padding), (0, 0)), mode="edge")
        return jax.lax.dynamic_slice(padded, (offset[0], offset[1], 0), (height, width, image.shape[-1]))

    return {name: jax.vmap(crop_one)(img, offsets) for name, img in images.items()}


# ---- the batch -------------------------------------------------------------------------------

def sample_idx_batch(data: DeviceData, key, batch_size: int, config: SamplerConfig) -> dict:
    """The indices behind a batch: t, its trajectory end, value goal, actor goal, subgoal, waypoint."""
    k_idx, k_vgoal, k_agoal = jax.random.split(key, 3)
    idxs = sample_idxs(k_idx, data, batch_size)
    final = data.final_idxs[idxs]
    actor_goal, actor_goal_is_random = goal_idxs_and_sources(k_agoal, data, idxs, config.actor_goals, config.discount)
    return {
        "idxs": idxs,
        "final": final,
        "value_goals": goal_idxs(k_vgoal, data, idxs, config.value_goals, config.discount),
        "actor_goals": actor_goal,
        "subgoals": subgoal_idxs(idxs, final, config.subgoal_steps),
        "waypoints": waypoint_idxs(idxs, actor_goal, final, config.subgoal_steps, actor_goal_is_random),
    }


GOAL_KEYS = ("value_goals", "actor_goals", "subgoals", "waypoints")
IMAGE_KEYS = ("observations", "next_observations") + GOAL_KEYS


def sample_batch(data: DeviceData, key, batch_size: int, config: SamplerConfig) -> dict:
    """One goal-conditioned batch.

    Keys: observations, next_observations, actions, rewards, masks, value_goals, actor_goals,
    subgoals (k-step, for subgoal-conditioned low-level policies) and waypoints (k steps towards the
    actor goal, for SAW's flat policy and HIQL's high level). Jit with batch_size and config static.
    """
    k_idx, k_aug, k_crop = jax.random.split(key, 3)
    ix = sample_idx_batch(data, k_idx, batch_size, config)
    idxs, stack = ix["idxs"], config.frame_stack
    rewards, masks = rewards_and_masks(idxs, ix["value_goals"])
    batch = {
        "observations": gather(data, idxs, stack),
        "next_observations": gather_next(data, idxs, stack),
        "actions": data.actions[idxs],
        "rewards": rewards,
        "masks": masks,
        **{name: gather(data, ix[name], stack) for name in GOAL_KEYS},
    }
    if config.p_aug > 0.0 and batch["observations"].ndim == 4:
        images = {k: batch[k] for k in IMAGE_KEYS}
        augment = jax.random.uniform(k_aug) < config.p_aug  # one draw per batch, as OGBench
        batch.update(jax.lax.cond(augment, lambda im: random_crop(k_crop, im), lambda im: im, images))
    return batch
