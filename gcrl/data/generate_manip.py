"""Generate OGBench's manipulation datasets (cube, scene, puzzle; play and noisy) locally, following
OGBench's published protocol (data_gen_scripts/generate_manipspace.py and commands.sh):

- the environment is `gymnasium.make(ENV, terminate_at_goal=False, mode='data_collection',
  max_episode_steps=1001)`: every episode runs its 1001 steps, the environment drawing a new subtask
  (`set_new_target`) each time the oracle of the current one is done;
- play: OGBench's non-Markovian plan oracles (CubePlanOracle, ...) with plan noise 0.1 smoothed over
  0.5 steps; noisy: its closed-loop Markov oracles (min_norm 0.4) plus Gaussian noise of per-episode
  level xi ~ U(0, 0.1), scaled [xi, xi, xi, 3 xi, 10 xi] over (x, y, z, yaw, gripper), and a uniformly
  random action with probability 0.1 (cube, scene) or 0.2 (puzzle) at each step; actions clipped to
  [-1, 1];
- cube stacking probability per episode: 0 (single), U(0, 0.25) (double), U(0.05, 0.35) (triple),
  U(0.1, 0.5) (quadruple), 0.5 otherwise (scene; puzzle ignores it);
- scene: an episode whose cube leaves the visible area (too far right, or too far left outside the
  drawer) is thrown away and collected again;
- N training episodes plus N // 10 validation episodes, with the field names and dtypes OGBench
  stores: observations, actions, qpos, qvel (float32), terminals (bool), button_states (int64, scene
  and puzzle).

Where gcrl differs from the published script, and why:

- Seeding. The script seeds nothing (its datasets cannot be regenerated bit for bit). gcrl seeds every
  episode from (seed, episode index, retry) through a SeedSequence: NumPy's global generator (which
  the oracles, the per-episode draws and the per-step noise use), the environment's own generator
  (`env.reset(seed=...)`, object and target placement) and the random actions. So a dataset is a pure
  function of `--seed`, whatever the number of worker processes, and `--episodes 20` is a prefix
  of the training episodes of `--episodes 1000`.
- Random actions. The script calls `env.action_space.sample()`, but ManipSpaceEnv builds a new,
  unseeded Box on every `action_space` access, so its random actions come from OS entropy. gcrl draws
  the same distribution (U[-1, 1)^5, float32) from the episode's seeded generator.
- Scene retries. A discarded scene episode is collected again from a new seed (retry + 1), not from
  wherever the global generator happens to be; after MAX_RETRIES unhealthy tries of one episode gcrl
  stops with an error instead of looping forever.
- Validation episodes: at least one (the script: N // 10, none for N < 10), so that the validation
  file of a small --episodes run is not empty; the same count for every N >= 10.
- Worker processes. Episodes are split over worker processes (spawn), each with its own environment,
  and concatenated in episode order; the script runs one loop. Since each episode is seeded on its
  own, the split does not change the arrays.
- Pixels. The visual-* datasets (gcrl.data.generate_visual) run this same loop in OGBench's visual
  environment (a protocol whose env_name starts with visual- and whose `render` settings are applied
  to it), which is the script's own way: it is run with --env_name=visual-cube-single-v0 and so on.
  The `renderer` hook (a picklable callable given the unwrapped environment, returning the
  observation to store) replaces the observation otherwise; uint8 observations are stored as uint8,
  as the script does.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gcrl import faults
from gcrl.console import Reporter
from gcrl.data import names
from gcrl.envs import mute_harmless_warnings
from gcrl.errors import DatasetError, GcrlError

# The manipulation environments gcrl generates, with their training episode counts (commands.sh).
EPISODES = {
    "cube-single": 1000, "cube-double": 1000, "cube-triple": 3000, "cube-quadruple": 5000,
    "scene": 1000,
    "puzzle-3x3": 1000, "puzzle-4x4": 1000, "puzzle-4x5": 3000, "puzzle-4x6": 5000,
}  # fmt: skip
MAX_RETRIES = 100  # unhealthy scene episodes in a row before gcrl gives up on one episode
PROGRESS_EVERY = 100  # steps between a worker's progress reports (a pixel episode takes minutes)
NOISE_SCALE = np.array([1.0, 1.0, 1.0, 3.0, 10.0])  # noisy: xi times this, over (x, y, z, yaw, gripper)

Renderer = Callable[[Any], np.ndarray]


@dataclass(frozen=True)
class ManipProtocol:
    """OGBench's settings for one manipulation dataset (commands.sh and the script's defaults)."""

    env_name: str  # the gymnasium id, e.g. cube-single-v0
    kind: str  # play (plan oracle) or noisy (Markov oracle)
    episodes: int
    max_episode_steps: int = 1001
    noise: float = 0.1  # play: plan noise; noisy: the upper end of the per-episode noise level xi
    noise_smoothing: float = 0.5  # play: Gaussian smoothing (in steps) of the plan noise
    min_norm: float = 0.4  # noisy: the Markov oracles' minimum relative-position norm
    p_random_action: float = 0.0  # noisy: 0.1 (cube, scene) or 0.2 (puzzle)
    render: Any = None  # visual-* only: generate_visual.RenderSettings, applied to the environment's renderer

    @property
    def family(self) -> str:
        return self.env_name.removeprefix("visual-").split("-")[0]  # cube, scene, puzzle

    @property
    def health_check(self) -> bool:
        return self.family == "scene"


MANIPULATION = names.GENERATABLE_MANIPULATION


def is_manipulation(name: str) -> bool:
    """Whether `name` is a (state) manipulation dataset this module generates."""
    return name in MANIPULATION


def protocol(name: str) -> ManipProtocol:
    """OGBench's settings for a manipulation dataset name such as cube-single-play-v0."""
    if not is_manipulation(name):
        raise DatasetError(f"'{name}' is not a manipulation dataset gcrl can generate ({', '.join(MANIPULATION)}).")
    env, kind = name.removesuffix("-v0").rsplit("-", 1)
    if kind == "play":
        return ManipProtocol(f"{env}-v0", kind, EPISODES[env])
    return ManipProtocol(f"{env}-v0", kind, EPISODES[env], p_random_action=0.2 if env.startswith("puzzle") else 0.1)


def stacking_probability(env_name: str) -> float:
    """The episode's probability of stacking the target cube on another (drawn from NumPy's global
    generator, as the script does; the environment ignores it for puzzle)."""
    if "single" in env_name:
        return 0.0
    for size, (low, high) in (("double", (0.0, 0.25)), ("triple", (0.05, 0.35)), ("quadruple", (0.1, 0.5))):
        if size in env_name:
            return float(np.random.uniform(low, high))
    return 0.5


def scene_is_healthy(qpos: np.ndarray) -> bool:
    """The script's health check of a scene episode, on its [T, nq] qpos: the cube (qpos[14:17])
    must stay visible: never at y >= 0.29 (too far right), and never at y <= -0.3 unless at the
    drawer's height (0.06 <= z <= 0.08)."""
    xyz = np.asarray(qpos)[:, 14:17]
    too_right = (xyz[:, 1] >= 0.29).any()
    hidden_left = ((xyz[:, 1] <= -0.3) & ((xyz[:, 2] < 0.06) | (xyz[:, 2] > 0.08))).any()
    return not (too_right or hidden_left)


def episode_seeds(seed: int, episode: int, retry: int = 0) -> tuple[int, int, int]:
    """Seeds of one try of one episode: NumPy's global generator, the environment, random actions."""
    words = np.random.SeedSequence([seed, episode, retry]).generate_state(3)
    return int(words[0]), int(words[1]), int(words[2])


def make_oracles(env, proto: ManipProtocol) -> dict:
    """OGBench's oracles for each subtask type ('cube', 'button', 'drawer', 'window') of the env."""
    if proto.kind == "play":
        from ogbench.manipspace.oracles.plan.button_plan import ButtonPlanOracle
        from ogbench.manipspace.oracles.plan.cube_plan import CubePlanOracle
        from ogbench.manipspace.oracles.plan.drawer_plan import DrawerPlanOracle
        from ogbench.manipspace.oracles.plan.window_plan import WindowPlanOracle

        plan = {"env": env, "noise": proto.noise, "noise_smoothing": proto.noise_smoothing}
        if proto.family == "cube":
            return {"cube": CubePlanOracle(**plan)}
        if proto.family == "puzzle":
            return {"button": ButtonPlanOracle(**plan, gripper_always_closed=True)}
        return {"cube": CubePlanOracle(**plan), "button": ButtonPlanOracle(**plan),
                "drawer": DrawerPlanOracle(**plan), "window": WindowPlanOracle(**plan)}  # fmt: skip

    from ogbench.manipspace.oracles.markov.button_markov import ButtonMarkovOracle
    from ogbench.manipspace.oracles.markov.cube_markov import CubeMarkovOracle
    from ogbench.manipspace.oracles.markov.drawer_markov import DrawerMarkovOracle
    from ogbench.manipspace.oracles.markov.window_markov import WindowMarkovOracle

    markov = {"env": env, "min_norm": proto.min_norm}
    if proto.family == "cube":
        return {"cube": CubeMarkovOracle(**markov)}
    if proto.family == "puzzle":
        return {"button": ButtonMarkovOracle(**markov, gripper_always_closed=True)}
    return {"cube": CubeMarkovOracle(**markov, max_step=100), "button": ButtonMarkovOracle(**markov),
            "drawer": DrawerMarkovOracle(**markov), "window": WindowMarkovOracle(**markov)}  # fmt: skip


@dataclass
class Episode:
    arrays: dict[str, np.ndarray]  # observations, actions, terminals, qpos, qvel[, button_states]
    subtasks: int  # oracle subtasks finished (agent.done) in the kept try
    retries: int  # unhealthy tries thrown away before it (scene)


class Collector:
    """One environment with its oracles, collecting seeded episodes one at a time (one per worker)."""

    def __init__(self, proto: ManipProtocol, renderer: Renderer | None = None):
        import gymnasium

        self.proto, self.renderer = proto, renderer
        self.on_rows: Callable[[int], None] | None = None  # told of rows collected (taken back: negative)
        if proto.render is not None:
            proto.render.prepare_process()  # the GL backend is chosen when mujoco is imported, just below
        mute_harmless_warnings()
        import ogbench.manipspace  # noqa: F401  (registers the environments)

        self.env = gymnasium.make(proto.env_name, terminate_at_goal=False, mode="data_collection", max_episode_steps=proto.max_episode_steps)
        self.agents = make_oracles(self.env, proto)
        if proto.render is not None:
            proto.render.apply(self.env.unwrapped)
        self.has_button_states = hasattr(self.env.unwrapped, "_cur_button_states")

    def close(self) -> None:
        self.env.close()

    def _observe(self, ob):
        return ob if self.renderer is None else self.renderer(self.env.unwrapped)

    def rollout(self, seed: int, episode: int, retry: int = 0) -> Episode:
        """One try of one episode, the script's loop step for step."""
        proto, env = self.proto, self.env
        global_seed, env_seed, action_seed = episode_seeds(seed, episode, retry)
        np.random.seed(global_seed)
        random_actions = np.random.default_rng(action_seed)

        ob, info = env.reset(seed=env_seed)
        p_stack = stacking_probability(proto.env_name)
        xi = np.random.uniform(0, proto.noise) if proto.kind == "noisy" else 0.0
        agent = self.agents[info["privileged/target_task"]]
        agent.reset(ob, info)

        rows: dict[str, list] = {k: [] for k in ("observations", "actions", "terminals", "qpos", "qvel")}
        if self.has_button_states:
            rows["button_states"] = []
        stored_ob = self._observe(ob)
        subtasks, done = 0, False
        while not done:
            if np.random.rand() < proto.p_random_action:
                action = random_actions.uniform(-1.0, 1.0, 5).astype(np.float32)  # env.action_space.sample()
            else:
                action = np.array(agent.select_action(ob, info))
                if proto.kind == "noisy":
                    action = action + np.random.normal(0, xi * NOISE_SCALE, action.shape)
            action = np.clip(action, -1, 1)
            next_ob, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
            if agent.done:  # the subtask is over: the environment draws the next one
                subtasks += 1
                agent_ob, agent_info = env.unwrapped.set_new_target(p_stack=p_stack)
                agent = self.agents[agent_info["privileged/target_task"]]
                agent.reset(agent_ob, agent_info)
            rows["observations"].append(stored_ob)
            rows["actions"].append(action)
            rows["terminals"].append(done)
            rows["qpos"].append(info["prev_qpos"])
            rows["qvel"].append(info["prev_qvel"])
            if self.has_button_states:
                rows["button_states"].append(info["prev_button_states"])
            ob = next_ob
            stored_ob = self._observe(ob)
            if len(rows["actions"]) % PROGRESS_EVERY == 0:
                self._report(PROGRESS_EVERY)
        self._report(len(rows["actions"]) % PROGRESS_EVERY)
        return Episode({k: np.asarray(v) for k, v in rows.items()}, subtasks, retry)

    def _report(self, rows: int) -> None:
        if self.on_rows is not None and rows:
            self.on_rows(rows)

    def episode(self, seed: int, episode: int) -> Episode:
        """Episode `episode` of the dataset: for scene, the first try that passes the health check."""
        for retry in range(MAX_RETRIES):
            result = self.rollout(seed, episode, retry)
            if not self.proto.health_check or scene_is_healthy(result.arrays["qpos"]):
                return _stored_dtypes(result)
            self._report(-len(result.arrays["actions"]))  # thrown away: the progress bar takes its rows back
        raise DatasetError(f"{self.proto.env_name}: episode {episode} failed the scene health check {MAX_RETRIES} times in a row; try another --seed.")


def _stored_dtypes(result: Episode) -> Episode:
    """The dtypes OGBench stores: uint8 pixels, bool terminals, int64 button states, float32 else."""
    def dtype(key, arr):
        if key == "observations" and arr.dtype == np.uint8:
            return np.uint8
        return {"terminals": bool, "button_states": np.int64}.get(key, np.float32)

    result.arrays = {k: v.astype(dtype(k, v), copy=False) for k, v in result.arrays.items()}
    return result


# ---- worker processes ---------------------------------------------------------------------------

def _worker(conn, proto: ManipProtocol, seed: int, renderer: Renderer | None) -> None:
    """Collect the episodes the parent asks for (an index, or None to stop), sending each back.
    Ends when the parent is gone: its end of `conn` then reads as EOF or breaks the send."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it ends the workers
    try:
        collector = Collector(proto, renderer)
        collector.on_rows = lambda rows: conn.send(("rows", rows))
        while (index := conn.recv()) is not None:
            conn.send(("episode", index, collector.episode(seed, index)))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return
    except BaseException as err:  # noqa: BLE001  (reported to the parent, which raises it)
        try:
            conn.send(("error", err if isinstance(err, GcrlError) else None, traceback.format_exc()))
        except OSError:
            pass
    finally:
        conn.close()


class _Workers:
    """`count` spawned workers that take the next episode index as soon as they are free, so a
    worker slowed down (another job on its core, a scene retry) holds nobody up. Which worker
    collects an episode does not change it: each episode is seeded on its own."""

    def __init__(self, count: int, proto: ManipProtocol, seed: int, total: int, renderer: Renderer | None):
        ctx = multiprocessing.get_context("spawn")
        self.total, self.next, self.finished = total, 0, False
        self.conns: list = []
        self.procs: list = []
        try:
            for w in range(count):
                mine, theirs = ctx.Pipe()
                proc = ctx.Process(target=_worker, args=(theirs, proto, seed, renderer), daemon=True, name=f"gcrl-generate-{w}")
                proc.start()
                theirs.close()  # the worker holds the only other end: its death reads as EOF here
                self.conns.append(mine)
                self.procs.append(proc)
        except BaseException:
            self.close()
            raise

    def _hand_out(self, conn) -> bool:
        """Send `conn`'s worker the next episode index, or None when none is left; True if busy."""
        index = self.next if self.next < self.total else None
        conn.send(index)
        if index is None:
            return False
        self.next += 1
        return True

    def results(self, on_rows: Callable[[int], None] | None = None):
        """(index, Episode) for every episode, in the order they are finished; `on_rows` is given the
        workers' progress reports (rows collected) as they come."""
        from multiprocessing.connection import wait

        busy = {conn: w for w, conn in enumerate(self.conns) if self._hand_out(conn)}
        finished = 0
        while finished < self.total:
            conn = wait(list(busy))[0]
            w = busy[conn]
            try:
                message = conn.recv()
            except (EOFError, ConnectionResetError):  # the worker is gone (its end closed, or reset)
                self.procs[w].join(timeout=5)
                raise RuntimeError(f"dataset generation worker {w} died (exit code {self.procs[w].exitcode}).") from None
            if message[0] == "rows":
                if on_rows is not None:
                    on_rows(message[1])
                continue
            if message[0] == "error":
                _, err, tb = message
                if err is not None:
                    raise err
                raise RuntimeError(f"dataset generation worker {w} failed:\n{tb}")
            finished += 1
            if not self._hand_out(conn):
                del busy[conn]
            yield message[1], message[2]
        self.finished = True

    def close(self) -> None:
        """Done: the workers were told to stop and end on their own. Interrupted or failed: end them."""
        for conn in self.conns:
            conn.close()
        for proc in self.procs:
            if self.finished:
                proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
            proc.join(timeout=10)


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def episodes_in_finishing_order(proto: ManipProtocol, seed: int, total: int, workers: int, renderer: Renderer | None = None,
                                spawn: bool = False, on_rows: Callable[[int], None] | None = None):  # fmt: skip
    """(index, Episode) for episodes 0 .. total - 1, in the order they are finished: from `workers`
    spawned processes, or from this process when workers == 1 (unless `spawn`: the visual datasets
    always render in a spawned worker, whose GL backend is chosen before mujoco is imported there).
    `on_rows` hears of the rows collected every PROGRESS_EVERY steps (a progress bar). The workers
    are ended, or this process's generator given back, when the caller stops iterating."""
    pool, collector, saved_state = None, None, None
    try:
        if workers > 1 or spawn:
            pool = _Workers(workers, proto, seed, total, renderer)
            yield from pool.results(on_rows)
        else:
            saved_state = np.random.get_state()  # the oracles draw from the global generator; give it back
            collector = Collector(proto, renderer)
            collector.on_rows = on_rows
            for index in range(total):
                yield index, collector.episode(seed, index)
    finally:
        if pool is not None:
            pool.close()
        if collector is not None:
            collector.close()
        if saved_state is not None:
            np.random.set_state(saved_state)


# ---- the whole dataset ---------------------------------------------------------------------------

@dataclass
class Collection:
    train: dict[str, np.ndarray]
    val: dict[str, np.ndarray]
    subtasks: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # per episode, train then val
    retries: np.ndarray = field(default_factory=lambda: np.zeros(0, int))


def collect(name: str, episodes: int | None = None, seed: int = 0, progress: bool = True, workers: int | None = None,
            max_episode_steps: int | None = None, renderer: Renderer | None = None, proto: ManipProtocol | None = None) -> Collection:  # fmt: skip
    """Roll out OGBench's oracles for `name` and return both splits in OGBench's raw layout, with
    per-episode statistics. Deterministic given the seed, whatever `workers` (default: one per core;
    1 collects in this process). `max_episode_steps` shortens the episodes (tests).

    The workers are spawned: a script that calls this with more than one needs the usual
    `if __name__ == "__main__":` guard around its own work."""
    proto = proto or protocol(name)
    if max_episode_steps is not None:
        proto = dataclasses.replace(proto, max_episode_steps=max_episode_steps)
    train_episodes = proto.episodes if episodes is None else episodes
    total = names.episodes_with_validation(train_episodes)
    steps = proto.max_episode_steps
    workers = min(default_workers() if workers is None else max(1, workers), total)

    arrays: dict[str, np.ndarray] = {}
    subtasks, retries = np.zeros(total, int), np.zeros(total, int)
    bar = Reporter(f"generate {name}", total * steps, "steps", enabled=progress)
    try:
        with closing(episodes_in_finishing_order(proto, seed, total, workers, renderer, on_rows=bar.advance)) as results:
            for index, result in results:
                place_episode(arrays, index, result.arrays, total, steps)
                subtasks[index], retries[index] = result.subtasks, result.retries
                faults.point("dataset-generation")  # tests kill here, episodes in memory, nothing on disk
    finally:
        bar.close()

    cut = train_episodes * steps
    return Collection({k: v[:cut] for k, v in arrays.items()}, {k: v[cut:] for k, v in arrays.items()}, subtasks, retries)


def place_episode(arrays: dict, index: int, episode: dict, total: int, steps: int) -> None:
    """Copy episode `index`'s rows into the dataset's `arrays` of `total` episodes at its place (the
    arrays are made at the first episode: every episode has exactly `steps` rows), whatever the order
    the episodes came in."""
    if not arrays:
        arrays.update({k: np.empty((total * steps, *v.shape[1:]), v.dtype) for k, v in episode.items()})
    for key, value in episode.items():
        assert len(value) == steps, (key, len(value), steps)
        arrays[key][index * steps : (index + 1) * steps] = value


def generate_arrays(name: str, episodes: int | None = None, seed: int = 0, progress: bool = True, workers: int | None = None,
                    max_episode_steps: int | None = None) -> tuple[dict, dict]:  # fmt: skip
    """(train, val) dicts of arrays in OGBench's raw layout; see `collect`."""
    result = collect(name, episodes=episodes, seed=seed, progress=progress, workers=workers, max_episode_steps=max_episode_steps)
    return result.train, result.val
