"""How fast gcrl renders OGBench's visual manipulation frames, and how much each render setting changes them.

    .venv/bin/python benchmarks/visual_render_speed.py                  # 100 frames of 3 environments, 6 settings
    .venv/bin/python benchmarks/visual_render_speed.py --frames 200 --throughput 2

Each setting rolls out the same seeded oracle episode (gcrl's generation loop, in OGBench's visual
environment, in this process) and times it whole, physics and oracle included: ms/frame is what a
dataset costs per frame on one core. Its frames are compared with those of OGBench's own settings
(a 4096 shadow map, 4x multisampling): the share of pixels that differ and the largest difference of
a channel (0-255). `--throughput W` then renders a small dataset with W worker processes at OGBench's
settings and at gcrl's default, the frames/s a `gcrl datasets generate visual-...` gets here.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

if sys.platform.startswith("linux"):
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless; before mujoco is imported, which reads it
os.environ.setdefault("LP_NUM_THREADS", "1")  # llvmpipe: one thread, as in a generation worker

import numpy as np

from gcrl.data import generate_manip, generate_visual
from gcrl.data.generate_visual import RenderSettings

SETTINGS = {
    "ogbench (shadow 4096, 4x MSAA)": generate_visual.RENDER_OGBENCH,
    "shadow 2048, 4x MSAA (gcrl default)": RenderSettings(2048, 4),
    "shadow 1024, 4x MSAA": RenderSettings(1024, 4),
    "shadow 512, 4x MSAA": RenderSettings(512, 4),
    "shadow 4096, no MSAA": RenderSettings(4096, 0),
    "shadow 2048, no MSAA": RenderSettings(2048, 0),
}
ENVS = ("visual-cube-single-play-v0", "visual-scene-play-v0", "visual-puzzle-3x3-play-v0")


def rollout_frames(name: str, settings: RenderSettings, frames: int, seed: int) -> tuple[np.ndarray, float]:
    """The frames of episode 0 of `name` (shortened to `frames` steps) and the seconds it took."""
    proto = dataclasses.replace(generate_visual.protocol(name, settings), max_episode_steps=frames)
    collector = generate_manip.Collector(proto)
    collector.env.reset(seed=seed)  # warm-up: builds the renderer, compiles llvmpipe's shaders
    collector.env.unwrapped.render()
    start = time.perf_counter()
    episode = collector.rollout(seed, episode=0)
    elapsed = time.perf_counter() - start
    collector.close()
    return episode.arrays["observations"], elapsed


def difference(frames: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, int]:
    """Per frame, the share of pixels with any channel different; the largest channel difference."""
    delta = np.abs(frames.astype(np.int16) - reference.astype(np.int16)).max(axis=-1)
    return (delta > 0).mean(axis=(1, 2)), int(delta.max())


def measure(envs, frames: int, seed: int) -> list[dict]:
    rows = []
    references = {}
    for label, settings in SETTINGS.items():
        seconds, shares, worst = 0.0, [], 0
        for name in envs:
            images, elapsed = rollout_frames(name, settings, frames, seed)
            references.setdefault(name, images)
            share, max_diff = difference(images, references[name])
            seconds += elapsed
            shares.append(share)
            worst = max(worst, max_diff)
        share = np.concatenate(shares)
        ms = 1000 * seconds / (frames * len(envs))
        rows.append({"setting": label, "ms": ms, "fps": 1000 / ms, "pct": 100 * share.mean(), "worst_pct": 100 * share.max(),
                     "frames_changed": 100 * (share > 0).mean(), "max_diff": worst})  # fmt: skip
        print_row(rows[-1])
    return rows


HEADER = f"{'setting':38s} {'ms/frame':>9s} {'frames/s':>9s} {'% px diff':>10s} {'worst frame':>12s} {'frames changed':>15s} {'max abs diff':>13s}"


def print_row(row: dict) -> None:
    print(f"{row['setting']:38s} {row['ms']:9.1f} {row['fps']:9.2f} {row['pct']:9.4f}% {row['worst_pct']:11.3f}% "
          f"{row['frames_changed']:14.1f}% {row['max_diff']:13d}", flush=True)  # fmt: skip


def throughput(workers: int, episodes: int, steps: int, seed: int) -> None:
    """frames/s of a whole (small) generation with `workers` processes, OGBench's settings vs gcrl's."""
    print(f"\ngeneration throughput, {workers} workers, {episodes} + 1 episodes of {steps} steps (visual-cube-single-play-v0):")
    for label, settings in (("ogbench", generate_visual.RENDER_OGBENCH), ("gcrl default", generate_visual.RENDER_DEFAULT)):
        proto = dataclasses.replace(generate_visual.protocol("visual-cube-single-play-v0", settings), max_episode_steps=steps)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            generate_visual.render_dataset(proto, Path(tmp) / "t.npz", Path(tmp) / "v.npz", episodes, seed, workers, progress=False)
            elapsed = time.perf_counter() - start
        frames = (episodes + 1) * steps
        print(f"  {label:14s} {frames / elapsed:6.2f} frames/s  ({frames} frames in {elapsed:.1f} s, worker start-up included)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100, help="frames per environment and setting (default 100)")
    parser.add_argument("--envs", default=",".join(ENVS), help="comma-separated visual dataset names")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--throughput", type=int, default=0, metavar="W", help="also time a small generation with W workers")
    args = parser.parse_args()

    print(f"OpenGL: {generate_visual.probe_rendering()}   LP_NUM_THREADS={os.environ['LP_NUM_THREADS']}   cores: {os.cpu_count()}")
    print(f"{args.frames} frames of each of {args.envs}; differences against OGBench's settings\n")
    print(HEADER)
    measure(args.envs.split(","), args.frames, args.seed)
    if args.throughput:
        throughput(args.throughput, episodes=2 * args.throughput - 1, steps=args.frames, seed=args.seed)


if __name__ == "__main__":
    main()
