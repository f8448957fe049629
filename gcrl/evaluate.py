"""Evaluate a goal-conditioned policy on OGBench's five evaluation tasks.

All episodes of one task run in lockstep: E environment instances step together and the policy is
called once per time step on a batch of fixed shape [E, ...], so a jitted policy compiles once and
the per-step Python overhead is shared by all episodes.

A policy with per-episode state (gcrl.hierarchy.HierarchicalPolicy) may also have reset(E), called
at the start of each task, and end_task(lengths) -> {'stats': ..., 'subgoals': ...}, called after it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from rich.table import Table

from gcrl.console import Reporter

# (observations [E, *obs_shape], goals [E, *obs_shape]) -> actions [E, action_dim]
PolicyFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class TaskResult:
    task_id: int
    successes: np.ndarray  # [E] float 0/1
    lengths: np.ndarray  # [E] int, steps taken
    trajectories: list[np.ndarray] = field(default_factory=list)  # per episode [T+1, 2] xy (maze envs only)
    starts: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # [E, 2] start xy (maze envs)
    goals_xy: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # [E, 2] goal xy (maze envs)
    hierarchy: dict | None = None  # a hierarchical policy's statistics (gcrl/hierarchy.py)
    subgoals: list[np.ndarray] = field(default_factory=list)  # per episode [N, 2] proposed subgoal xy

    @property
    def success(self) -> float:
        return float(np.mean(self.successes))


@dataclass
class EvalResult:
    env_name: str
    tasks: list[TaskResult]
    seconds: float
    env_steps: int

    @property
    def per_task(self) -> list[float]:
        return [t.success for t in self.tasks]

    @property
    def overall(self) -> float:
        """Mean over all episodes (equal to the mean over tasks when every task has E episodes)."""
        return float(np.mean(np.concatenate([t.successes for t in self.tasks])))

    def to_dict(self) -> dict:
        return dict(
            env_name=self.env_name,
            per_task={str(t.task_id): t.success for t in self.tasks},
            overall=self.overall,
            episodes=int(sum(len(t.successes) for t in self.tasks)),
            mean_length={str(t.task_id): float(np.mean(t.lengths)) for t in self.tasks},
            seconds=float(self.seconds),
            env_steps=int(self.env_steps),
            **self._hierarchy_dict(),
        )

    def _hierarchy_dict(self) -> dict:
        tasks = [t for t in self.tasks if t.hierarchy]
        if not tasks:
            return {}
        from gcrl.hierarchy import combine_stats

        return {"hierarchy": {"per_task": {str(t.task_id): t.hierarchy for t in tasks}, "overall": combine_stats([t.hierarchy for t in tasks])}}


def make_envs(env_name: str, count: int, **kwargs) -> list:
    """`count` instances of the gymnasium environment `env_name` (e.g. 'pointmaze-medium-v0'), each
    with the TimeLimit of its registered spec."""
    import gymnasium

    import ogbench  # noqa: F401  (registers the environments)

    return [gymnasium.make(env_name, **kwargs) for _ in range(count)]


def is_maze(env) -> bool:
    return hasattr(env.unwrapped, "maze_map") and hasattr(env.unwrapped, "get_xy")


def _run_task(policy: PolicyFn, envs: list, task_id: int, seed: int, on_done: Callable[[], None]) -> TaskResult:
    """One task: reset every env with task_id, then step all running episodes together."""
    count, maze = len(envs), is_maze(envs[0])
    obs, goals = [], []
    for e, env in enumerate(envs):
        reset_seed = seed * 100000 + task_id * 1000 + e
        # OGBench's maze reset draws its start noise from NumPy's global generator and its warm-up
        # actions from the action space, so both are seeded along with the env itself.
        np.random.seed(reset_seed)
        env.action_space.seed(reset_seed)
        ob, info = env.reset(seed=reset_seed, options=dict(task_id=task_id))
        obs.append(ob)
        goals.append(info["goal"])
    obs, goals = np.stack(obs), np.stack(goals)  # dtype kept: float states or uint8 images
    xys = [[env.unwrapped.get_xy().copy()] for env in envs] if maze else []
    starts = np.array([xy[0] for xy in xys]) if maze else np.zeros((0, 2))
    goals_xy = np.array([env.unwrapped.cur_goal_xy for env in envs], dtype=float) if maze else np.zeros((0, 2))

    successes, lengths = np.zeros(count), np.zeros(count, dtype=np.int64)
    running = np.ones(count, dtype=bool)
    if hasattr(policy, "reset"):  # a policy with per-episode state (a hierarchical one) starts afresh
        policy.reset(count)
    while running.any():
        # The full batch every step (finished episodes keep their last observation) so the policy
        # sees one shape; actions of finished episodes are ignored.
        actions = np.asarray(policy(obs, goals))
        for e in np.flatnonzero(running):
            ob, _, terminated, truncated, info = envs[e].step(actions[e])
            obs[e] = ob
            lengths[e] += 1
            if maze:
                xys[e].append(envs[e].unwrapped.get_xy().copy())
            if terminated or truncated:
                running[e] = False
                successes[e] = float(info.get("success", 0.0))
                on_done()
    trajectories = [np.array(xy) for xy in xys]
    extra = policy.end_task(lengths) if hasattr(policy, "end_task") else {}
    return TaskResult(task_id, successes, lengths, trajectories, starts, goals_xy, extra.get("stats"), extra.get("subgoals", []))


def evaluate(
    policy: PolicyFn,
    env_name: str,
    episodes_per_task: int = 50,
    tasks=(1, 2, 3, 4, 5),
    seed: int = 0,
    progress: bool = True,
    envs=None,
) -> EvalResult:
    """Run `episodes_per_task` episodes of each task in lockstep and report success.

    Reproducible for a given seed (and a deterministic policy). Pass `envs` (at least
    episodes_per_task of them, from make_envs) to reuse environments across evaluations; envs
    created here are closed at the end."""
    if episodes_per_task < 1:
        raise ValueError(f"episodes_per_task must be at least 1, got {episodes_per_task}.")
    own_envs = envs is None
    if own_envs:
        envs = make_envs(env_name, episodes_per_task)
    elif len(envs) < episodes_per_task:
        raise ValueError(f"evaluate needs {episodes_per_task} environments, got {len(envs)}.")
    envs = list(envs)[:episodes_per_task]

    saved_state = np.random.get_state()  # the env seeds the global generator; give it back afterwards
    bar = Reporter(f"evaluate {env_name}", len(tasks) * episodes_per_task, "episodes", enabled=progress)
    start = time.perf_counter()
    try:
        results = [_run_task(policy, envs, int(t), seed, bar.advance) for t in tasks]
    finally:
        bar.close()
        np.random.set_state(saved_state)
        if own_envs:
            for env in envs:
                env.close()
    seconds = time.perf_counter() - start
    env_steps = int(sum(r.lengths.sum() for r in results))
    return EvalResult(env_name, results, seconds, env_steps)


def success_table(result: EvalResult, title: str | None = None) -> Table:
    """Success per task and overall, as percentages."""
    table = Table(title=title or f"evaluation: {result.env_name}")
    table.add_column("task")
    table.add_column("success", justify="right")
    table.add_column("episodes", justify="right")
    table.add_column("mean length", justify="right")
    for t in result.tasks:
        table.add_row(f"task {t.task_id}", f"{100 * t.success:.1f}%", str(len(t.successes)), f"{np.mean(t.lengths):.0f}")
    episodes = sum(len(t.successes) for t in result.tasks)
    mean_length = result.env_steps / max(episodes, 1)
    table.add_row("overall", f"{100 * result.overall:.1f}%", str(episodes), f"{mean_length:.0f}", style="bold")
    return table
