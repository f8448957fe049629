"""E evaluation environments that reset and step together, in this process or split across worker
processes.

Stepping is most of an evaluation's time (MuJoCo holds the GIL, so threads do not help); with
`workers` processes each steps its share of the running episodes at the same time, and the policy
still sees one batch per step. Both kinds give identical episodes: each environment is seeded by
its index alone.
"""

from __future__ import annotations

import multiprocessing as mp
import os

import numpy as np

# One episode's step as the evaluation needs it: (index, observation, done, success, xy or None).
Step = tuple[int, np.ndarray, bool, float, "np.ndarray | None"]


def make_envs(env_name: str, count: int, **kwargs) -> list:
    """`count` instances of the gymnasium environment `env_name` (e.g. 'pointmaze-medium-v0'), each
    with the TimeLimit of its registered spec."""
    import gymnasium

    import ogbench  # noqa: F401  (registers the environments)

    return [gymnasium.make(env_name, **kwargs) for _ in range(count)]


def is_maze(env) -> bool:
    return hasattr(env.unwrapped, "maze_map") and hasattr(env.unwrapped, "get_xy")


def reset_seed(seed: int, task_id: int, index: int) -> int:
    return seed * 100000 + task_id * 1000 + index


def _reset(env, task_id: int, seed: int, index: int, maze: bool):
    s = reset_seed(seed, task_id, index)
    # OGBench's maze reset draws its start noise from NumPy's global generator and its warm-up
    # actions from the action space, so both are seeded along with the env itself.
    np.random.seed(s)
    env.action_space.seed(s)
    ob, info = env.reset(seed=s, options=dict(task_id=task_id))
    if not maze:
        return ob, info["goal"], None, None
    return ob, info["goal"], env.unwrapped.get_xy().copy(), np.asarray(env.unwrapped.cur_goal_xy, dtype=float)


def _step(env, action, maze: bool):
    ob, _, terminated, truncated, info = env.step(action)
    done = bool(terminated or truncated)
    return ob, done, float(info.get("success", 0.0)) if done else 0.0, env.unwrapped.get_xy().copy() if maze else None


class LocalEnvGroup:
    """The environments in this process, stepped one after another."""

    def __init__(self, envs: list, owned: bool = False):
        self.envs, self.owned = list(envs), owned
        self.maze = is_maze(self.envs[0])

    def __len__(self) -> int:
        return len(self.envs)

    def reset(self, task_id: int, seed: int, count: int) -> list:
        return [_reset(env, task_id, seed, e, self.maze) for e, env in enumerate(self.envs[:count])]

    def step(self, actions, running) -> list[Step]:
        return [(e, *_step(self.envs[e], actions[e], self.maze)) for e in np.flatnonzero(running)]

    def close(self) -> None:
        if self.owned:
            for env in self.envs:
                env.close()


def _worker(conn, env_name: str, first: int, count: int) -> None:
    """Owns environments first .. first + count - 1 and answers reset/step/close."""
    envs = make_envs(env_name, count)
    maze = is_maze(envs[0])
    conn.send(maze)
    while True:
        command, payload = conn.recv()
        if command == "reset":
            task_id, seed, upto = payload
            conn.send([_reset(env, task_id, seed, first + i, maze) for i, env in enumerate(envs) if first + i < upto])
        elif command == "step":
            actions, running = payload
            conn.send([(first + i, *_step(envs[i], actions[i], maze)) for i in np.flatnonzero(running)])
        else:
            for env in envs:
                env.close()
            conn.close()
            return


class ProcessEnvGroup:
    """The environments split across `workers` processes that step at the same time."""

    def __init__(self, env_name: str, count: int, workers: int):
        ctx = mp.get_context("spawn")  # a fresh interpreter: no JAX state forked into the workers
        bounds = np.linspace(0, count, workers + 1).astype(int)
        self.slices = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
        self.count, self.conns, self.procs = count, [], []
        for first, last in self.slices:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, env_name, first, last - first), daemon=True)
            proc.start()
            self.conns.append(parent)
            self.procs.append(proc)
        self.maze = all([conn.recv() for conn in self.conns])

    def __len__(self) -> int:
        return self.count

    def reset(self, task_id: int, seed: int, count: int) -> list:
        for conn in self.conns:
            conn.send(("reset", (task_id, seed, count)))
        return [item for conn in self.conns for item in conn.recv()]

    def step(self, actions, running) -> list[Step]:
        busy = []
        for conn, (first, last) in zip(self.conns, self.slices):
            if running[first:last].any():  # send to every worker first, so they step together
                conn.send(("step", (np.asarray(actions[first:last]), running[first:last])))
                busy.append(conn)
        return [item for conn in busy for item in conn.recv()]

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.send(("close", None))
            except (BrokenPipeError, OSError):
                pass
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
        self.conns, self.procs = [], []


def default_workers(count: int) -> int:
    """Worker processes for `count` lockstep episodes: one per core, with at least 8 episodes each
    (fewer would not repay the messages)."""
    return max(1, min(os.cpu_count() or 1, count // 8, 16))


def make_env_group(env_name: str, count: int, workers: int | None = None):
    """`count` environments that evaluate together; workers > 1 steps them in that many processes."""
    workers = default_workers(count) if workers is None else workers
    if workers > 1:
        return ProcessEnvGroup(env_name, count, workers)
    return LocalEnvGroup(make_envs(env_name, count), owned=True)
