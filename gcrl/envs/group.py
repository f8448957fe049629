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
import traceback

import numpy as np

from gcrl.envs import mute_harmless_warnings
from gcrl.errors import GcrlError

# One episode's step as the evaluation needs it: (index, observation, done, success, xy or None).
Step = tuple[int, np.ndarray, bool, float, "np.ndarray | None"]


def make_envs(env_name: str, count: int, **kwargs) -> list:
    """`count` instances of the gymnasium environment `env_name` (e.g. 'pointmaze-medium-v0'), each
    with the TimeLimit of its registered spec."""
    if env_name.startswith("visual-"):  # OGBench's visual environments render with MuJoCo: headless here, read at mujoco's import
        from gcrl.data.generate_visual import headless_backend

        os.environ.setdefault("MUJOCO_GL", headless_backend())
    import gymnasium

    import gcrl.envs.pixel_maze  # noqa: F401  (registers gcrl's pixel-pointmaze environments)

    mute_harmless_warnings()  # before mujoco's import, where glfw warns
    import ogbench  # noqa: F401  (registers the environments)

    return [gymnasium.make(env_name, **kwargs) for _ in range(count)]


def check_matches(env_name: str, spec, dataset: str):
    """One clear error, before any training, when the environment's observations or actions are not
    the dataset's (`spec`, a gcrl.agents.base.DataSpec): a policy trained on one cannot act in the other.
    Returns the spec with a discrete action head sized by the environment's action count (a dataset
    need not use every action; OGBench's main.py sizes the head from the environment too)."""
    import gymnasium

    env = make_envs(env_name, 1)[0]
    try:
        obs_space, act_space = env.observation_space, env.action_space
    finally:
        env.close()
    fix = f"Pass the OGBench environment the data was collected in as --env (or collect the data in {env_name})."
    if tuple(obs_space.shape) != tuple(spec.observation_shape):
        raise GcrlError(f"{env_name} gives observations of shape {tuple(obs_space.shape)}, but {dataset} holds observations of shape "
                        f"{tuple(spec.observation_shape)}. {fix}")  # fmt: skip
    if spec.pixels != (obs_space.dtype == np.uint8):
        kind = lambda pixels: "uint8 images" if pixels else "float vectors"  # noqa: E731
        raise GcrlError(f"{env_name} gives {kind(obs_space.dtype == np.uint8)}, but {dataset} holds {kind(spec.pixels)}. {fix}")
    if isinstance(act_space, gymnasium.spaces.Discrete):
        if not spec.discrete or spec.action_dim > act_space.n:
            held = f"actions of dimension {spec.action_dim}" if not spec.discrete else f"discrete actions up to {spec.action_dim - 1}"
            raise GcrlError(f"{env_name} takes {act_space.n} discrete actions, but {dataset} holds {held}. {fix}")
        return spec._replace(action_dim=int(act_space.n))
    if spec.discrete or (spec.action_dim,) != tuple(act_space.shape):
        held = f"{spec.action_dim} discrete actions" if spec.discrete else f"actions of dimension {spec.action_dim}"
        raise GcrlError(f"{env_name} takes actions of shape {tuple(act_space.shape)}, but {dataset} holds {held}. {fix}")
    return spec


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
        self.workers = 1

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


class WorkerFailure(str):
    """What a worker sends instead of an answer when it fails: its traceback."""


def _worker(conn, env_name: str, first: int, count: int) -> None:
    """Owns environments first .. first + count - 1 and answers reset/step/close; an exception is
    sent back to the parent, which raises it as a GcrlError."""
    try:
        _serve(conn, env_name, first, count)
    except Exception:
        conn.send(WorkerFailure(traceback.format_exc()))
        conn.close()


def _serve(conn, env_name: str, first: int, count: int) -> None:
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
        self.workers = len(self.slices)
        self.count, self.conns, self.procs = count, [], []
        for first, last in self.slices:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(child, env_name, first, last - first), daemon=True)
            proc.start()
            self.conns.append(parent)
            self.procs.append(proc)
        try:
            self.maze = all([self._receive(i) for i in range(len(self.conns))])
        except GcrlError:
            self.close()
            raise

    def __len__(self) -> int:
        return self.count

    def reset(self, task_id: int, seed: int, count: int) -> list:
        for i in range(len(self.conns)):
            self._send(i, ("reset", (task_id, seed, count)))
        return [item for i in range(len(self.conns)) for item in self._receive(i)]

    def step(self, actions, running) -> list[Step]:
        busy = []
        for i, (first, last) in enumerate(self.slices):
            if running[first:last].any():  # send to every worker first, so they step together
                self._send(i, ("step", (np.asarray(actions[first:last]), running[first:last])))
                busy.append(i)
        return [item for i in busy for item in self._receive(i)]

    def _send(self, i: int, message) -> None:
        try:
            self.conns[i].send(message)
        except (EOFError, OSError):
            raise self._died(i) from None

    def _receive(self, i: int):
        """Worker i's answer; its failure or death becomes one clear error."""
        try:
            answer = self.conns[i].recv()
        except (EOFError, OSError):
            raise self._died(i) from None
        if isinstance(answer, WorkerFailure):
            raise GcrlError(f"{self._name(i)} failed:\n{answer.rstrip()}")
        return answer

    def _name(self, i: int) -> str:
        first, last = self.slices[i]
        return f"The evaluation worker process for environments {first}-{last - 1}"

    def _died(self, i: int) -> GcrlError:
        self.procs[i].join(timeout=1)
        return GcrlError(
            f"{self._name(i)} died (exit code {self.procs[i].exitcode}), perhaps out of memory or killed. "
            "To step the environments in this process instead, set GCRL_EVAL_WORKERS=1."
        )

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.send(("close", None))
            except OSError:  # already gone
                pass
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
        self.conns, self.procs = [], []


def default_workers(count: int, env_name: str = "") -> int:
    """Worker processes for `count` lockstep episodes: one per core, with at least 8 episodes each
    (fewer would not repay the messages), or for OGBench's visual environments, whose camera costs
    tens of ms a frame, one episode each; the environment variable GCRL_EVAL_WORKERS overrides it."""
    chosen = os.environ.get("GCRL_EVAL_WORKERS")
    if chosen is not None:
        if not chosen.isdigit() or int(chosen) < 1:
            raise GcrlError(f"GCRL_EVAL_WORKERS must be a whole number >= 1 (1: no worker processes), got '{chosen}'.")
        return min(int(chosen), max(count, 1))
    per_worker = 1 if env_name.startswith("visual-") else 8
    return max(1, min(os.cpu_count() or 1, count // per_worker, 16))


def make_env_group(env_name: str, count: int, workers: int | None = None):
    """`count` environments that evaluate together; workers > 1 steps them in that many processes."""
    workers = default_workers(count, env_name) if workers is None else workers
    if workers > 1:
        return ProcessEnvGroup(env_name, count, workers)
    return LocalEnvGroup(make_envs(env_name, count), owned=True)
