"""The world model's open-loop prediction of a replayed sequence, as a picture: the real frames on
top, below them the model's frames: reconstructions of the first `context` frames (observed), then
frames imagined from the recorded actions alone (decoded prior states), as DreamerV3's report."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from gcrl.data.files import atomic_path
from gcrl.online.world_model import previous_actions


@partial(jax.jit, static_argnums=(0, 3))
def predict(wm, params, batch, context: int, key):
    """Frames [B, T, H, W, C] in [0, 1]: posterior reconstructions of steps < context, then the
    prior's imagination driven by the recorded actions."""
    k_obs, k_img = jax.random.split(key)
    task = batch["task"].astype(jnp.float32)
    embed = wm.encode(params, batch["image"][:, :context])
    last, post = wm.observe(params, embed, previous_actions(batch["action"])[:, :context], batch["is_first"][:, :context], task[:, :context], k_obs)

    def step(state, inputs):
        action, k = inputs
        after = wm.img_step(params, state, action, task[:, 0], k)
        return after, after

    actions = jnp.swapaxes(batch["action"][:, context - 1 : -1], 0, 1)  # the action after frame t drives t + 1
    _, imagined = jax.lax.scan(step, last, (actions, jax.random.split(k_img, actions.shape[0])))
    imagined = jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), imagined)
    states = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b], 1), post, imagined)
    return wm.decode(params, states)


def openloop_picture(agent, params, batch, context: int, path: Path, key) -> Path:
    """Write the picture of the first sequence of `batch` (real above, predicted below) as PNG."""
    from PIL import Image

    frames = np.asarray(predict(agent.wm, params["wm"], batch, context, key))[0]
    real = batch["image"][0]
    pred = (np.clip(frames, 0, 1) * 255).astype(np.uint8)
    length, size = real.shape[0], real.shape[1]
    scale, gap = max(1, 64 // size), 2
    cell = size * scale + gap
    canvas = np.full((2 * cell + gap, length * cell + gap, 3), 255, np.uint8)
    for t in range(length):
        for row, image in enumerate((real[t], pred[t])):
            y, x = gap + row * cell, gap + t * cell
            canvas[y : y + size * scale, x : x + size * scale] = image.repeat(scale, 0).repeat(scale, 1)
    boundary = gap + context * cell - gap // 2 - 1  # a red line where observation ends and imagination begins
    canvas[:, boundary : boundary + 1] = (230, 40, 40)
    with atomic_path(path) as tmp:
        Image.fromarray(canvas).save(tmp, format="PNG")
    return Path(path)
