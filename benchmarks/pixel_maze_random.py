"""What uniformly random actions reach in the pixel maze: the floor an online agent must clear.

Success on each of OGBench's five tasks and towards each goal set's cells from random starts, with
the loop's action repeat and episode length (defaults: the cpu preset's). Only the physics runs
(PixelMaze.advance), no rendering.

    python benchmarks/pixel_maze_random.py [--layout medium] [--action-repeat 4] [--steps 125]
        [--episodes 40] [--goal-sets train,heldout] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np

from gcrl.envs.pixel_maze import PixelMaze


def success_rate(env: PixelMaze, rng, episodes: int, options=None) -> float:
    wins = 0
    for _ in range(episodes):
        env.reset(seed=int(rng.integers(2**31)), options=options)
        done, reward = False, 0.0
        while not done:
            reward, terminated, truncated, _ = env.advance(rng.uniform(-1.0, 1.0, 2))
            done = terminated or truncated
        wins += reward > 0
    return wins / episodes


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", default="medium")
    parser.add_argument("--action-repeat", type=int, default=4)
    parser.add_argument("--steps", type=int, default=125, help="agent steps per episode")
    parser.add_argument("--episodes", type=int, default=40, help="per task, and per goal set")
    parser.add_argument("--goal-sets", default="train,heldout")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    print(f"random actions, pixel-maze-{args.layout}, action repeat {args.action_repeat}, {args.steps} steps, {args.episodes} episodes each")
    env = PixelMaze(args.layout, size=16, max_episode_steps=args.steps, action_repeat=args.action_repeat)
    tasks = [success_rate(env, rng, args.episodes, {"task_id": k}) for k in range(1, 6)]
    print("  five tasks: " + ", ".join(f"task {k} {100 * s:.0f}%" for k, s in enumerate(tasks, 1)) + f"; mean {100 * np.mean(tasks):.1f}%")
    for goal_set in args.goal_sets.split(","):
        env = PixelMaze(args.layout, size=16, goal_set=goal_set, max_episode_steps=args.steps, action_repeat=args.action_repeat)
        print(f"  {goal_set} cells, random starts: {100 * success_rate(env, rng, args.episodes * 5):.1f}%")


if __name__ == "__main__":
    main()
