"""How good an expert is: episodes with the policy's mode (main_sac.py evaluates at temperature 0),
all environments stepped together and acted for in one batched call, and a picture of its paths.

Per episode: the return, the length, and for directional experts the mean speed along the commanded
direction (progress per step / dt, in m/s) and the return of each full direction segment (100 steps
for the ant): how far it walks the way it is told before the next direction comes."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from gcrl.experts import envs


def rollouts(act, params, name: str, episodes: int, seed: int, directions=None, max_steps: int | None = None) -> dict:
    """`episodes` episodes in lockstep; `directions` [episodes, 2] fixes each one's direction for the
    whole episode (the path picture). Returns per-episode arrays and the xy paths."""
    group = [envs.make_env(name, seed + 1000 * i) for i in range(episodes)]
    try:
        obs = []
        for i, env in enumerate(group):
            o, _ = env.reset(seed=seed + 1000 * i)
            if directions is not None:
                env.z, env.every = np.asarray(directions[i], float), 10**12
                o = np.concatenate([o[:-2], env.z])
            obs.append(o)
        obs = np.stack(obs)
        spec = envs.spec(name)
        every = spec.resample_every if spec.directional else 0
        dt = group[0].unwrapped.dt
        ret, length, progress = np.zeros(episodes), np.zeros(episodes, int), np.zeros(episodes)
        segment = np.zeros(episodes)
        segments = [[] for _ in range(episodes)]
        paths = [[np.asarray(env.unwrapped.data.qpos[:2]).copy()] for env in group]
        alive = np.ones(episodes, bool)
        key = jax.random.PRNGKey(seed)
        while alive.any() and (max_steps is None or length.max() < max_steps):
            actions = np.asarray(act(params, obs, key, 0.0))
            for i in np.flatnonzero(alive):
                o, r, terminated, truncated, info = group[i].step(actions[i])
                obs[i], ret[i], length[i] = o, ret[i] + r, length[i] + 1
                segment[i] += r
                if every and length[i] % every == 0:
                    segments[i].append(segment[i])
                    segment[i] = 0.0
                if "progress" in info:
                    progress[i] += info["progress"]
                    paths[i].append(info["xy"])
                alive[i] = not (terminated or truncated)
    finally:
        for env in group:
            env.close()
    out = {"return": ret, "length": length, "paths": [np.stack(p) for p in paths]}
    if every:
        out["speed"] = progress / np.maximum(length, 1) / dt
        out["segment_return"] = np.array([np.mean(s) if s else np.nan for s in segments])
    return out


def summary(result: dict) -> dict:
    row = {"return": float(result["return"].mean()), "return_std": float(result["return"].std()), "length": float(result["length"].mean())}
    if "speed" in result:
        row["speed"] = float(result["speed"].mean())
        row["segment_return"] = float(np.nanmean(result["segment_return"])) if np.isfinite(result["segment_return"]).any() else float("nan")
    return row


def eight_directions() -> np.ndarray:
    angles = np.arange(8) * np.pi / 4
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def path_picture(act, params, name: str, path: Path, seed: int = 0, steps: int = 1000, title: str = "") -> Path:
    """The expert's paths from the origin, one per direction of eight (each held a whole episode)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directions = eight_directions()
    result = rollouts(act, params, name, 8, seed, directions=directions, max_steps=steps)
    fig, ax = plt.subplots(figsize=(6, 6))
    colors = plt.cm.hsv(np.linspace(0, 1, 9)[:-1])
    reach = max(float(np.abs(np.concatenate(result["paths"])).max()), 1.0)
    for d, xy, color, speed in zip(directions, result["paths"], colors, result["speed"]):
        ax.plot(xy[:, 0], xy[:, 1], color=color, lw=1.5, label=f"{np.degrees(np.arctan2(d[1], d[0])):.0f} deg: {speed:.2f} m/s")
        ax.annotate("", xy=d * reach * 0.95, xytext=(0, 0), arrowprops=dict(arrowstyle="->", color=color, alpha=0.35))
    ax.set_aspect("equal")
    ax.set_xlim(-reach * 1.05, reach * 1.05)
    ax.set_ylim(-reach * 1.05, reach * 1.05)
    ax.set_title(title or f"{name}: paths for 8 commanded directions ({steps} steps each)", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from gcrl.data.files import atomic_path

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
