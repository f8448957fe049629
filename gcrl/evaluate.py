"""Evaluate a goal-conditioned policy on OGBench's five evaluation tasks.

All episodes of one task run in lockstep: E environment instances step together and the policy is
called once per time step on a batch of fixed shape [E, ...], so a jitted policy compiles once and
the per-step Python overhead is shared by all episodes.

A policy with per-episode state (gcrl.hierarchy.policy.HierarchicalPolicy) may also have reset(E), called
at the start of each task, and end_task(lengths) -> {'stats': ..., 'subgoals': ...}, called after it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from rich.table import Table

from gcrl import faults
from gcrl.console import Reporter, console
from gcrl.envs.group import LocalEnvGroup, is_maze, make_env_group, make_envs  # noqa: F401  (make_envs, is_maze: re-exported)

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
    hierarchy: dict | None = None  # a hierarchical policy's statistics (gcrl/hierarchy/policy.py)
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
        from gcrl.hierarchy.policy import combine_stats

        return {"hierarchy": {"per_task": {str(t.task_id): t.hierarchy for t in tasks}, "overall": combine_stats([t.hierarchy for t in tasks])}}


def episode_limit(env_name: str) -> int | None:
    """The registered time limit of `env_name`'s episodes (None when unknown)."""
    import gymnasium

    try:
        return gymnasium.spec(env_name).max_episode_steps
    except Exception:  # not in gymnasium's registry (yet): no estimate
        return None


def expected_time_text(step_seconds: float, max_steps: int, tasks: int, episodes: int, workers: int) -> str:
    """What an evaluation will cost at most, from its first lockstep step's time."""
    total = step_seconds * max_steps * tasks
    where = f"on {workers} worker processes" if workers > 1 else "in one process"
    return (f"  evaluating {tasks} task{'s' if tasks > 1 else ''} x {episodes} episodes in lockstep {where}: {step_seconds:.2f} s per step "
            f"here, up to {max_steps} steps per task: at most about {total / 60:.0f} min (less where episodes succeed early)")  # fmt: skip


SLOW_EVALUATION_S = 60.0  # announce an evaluation's expected time when it may take longer than this


def _run_task(policy: PolicyFn, group, count: int, task_id: int, seed: int, on_done: Callable[[], None],
              first_step: Callable[[float], None] | None = None) -> TaskResult:  # fmt: skip
    """One task: reset `count` envs of the group with task_id, then step all running episodes
    together. `first_step` hears how long a lockstep step takes (policy and environments): the
    second step's time, as the first includes compiling the policy."""
    maze = group.maze
    resets = group.reset(task_id, seed, count)
    obs = np.stack([r[0] for r in resets])  # dtype kept: float states or uint8 images
    goals = np.stack([r[1] for r in resets])
    xys = [[r[2]] for r in resets] if maze else []
    starts = np.array([r[2] for r in resets]) if maze else np.zeros((0, 2))
    goals_xy = np.array([r[3] for r in resets], dtype=float) if maze else np.zeros((0, 2))

    successes, lengths = np.zeros(count), np.zeros(count, dtype=np.int64)
    running, steps = np.ones(count, dtype=bool), 0
    if hasattr(policy, "reset"):  # a policy with per-episode state (a hierarchical one) starts afresh
        policy.reset(count)
    while running.any():
        # The full batch every step (finished episodes keep their last observation) so the policy
        # sees one shape; actions of finished episodes are ignored.
        step_start = time.perf_counter()
        actions = np.asarray(policy(obs, goals))
        faults.point("evaluation")  # tests kill here, mid-episode
        for e, ob, done, success, xy in group.step(actions, running):
            obs[e] = ob
            lengths[e] += 1
            if maze:
                xys[e].append(xy)
            if done:
                running[e] = False
                successes[e] = success
                on_done()
        steps += 1
        if first_step is not None and steps == 2:
            first_step(time.perf_counter() - step_start)
            first_step = None
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

    Reproducible for a given seed (and a deterministic policy), whichever way the environments
    step. Pass `envs` (at least episodes_per_task of them: a list from make_envs, or a group from
    gcrl.envs.group.make_env_group, whose worker processes step them in parallel) to reuse them
    across evaluations; without it a group is made here (workers by default_workers) and closed."""
    if episodes_per_task < 1:
        raise ValueError(f"episodes_per_task must be at least 1, got {episodes_per_task}.")
    own_envs = envs is None
    if own_envs:
        group = make_env_group(env_name, episodes_per_task)
    else:
        group = LocalEnvGroup(envs) if isinstance(envs, (list, tuple)) else envs
        if len(group) < episodes_per_task:
            raise ValueError(f"evaluate needs {episodes_per_task} environments, got {len(group)}.")

    saved_state = np.random.get_state()  # the env seeds the global generator; give it back afterwards
    bar = Reporter(f"evaluate {env_name}", len(tasks) * episodes_per_task, "episodes", enabled=progress)
    start = time.perf_counter()
    max_steps = episode_limit(env_name)

    def announce(step_seconds: float) -> None:  # once, after the second step of the first task
        if progress and max_steps and step_seconds * max_steps * len(tasks) >= SLOW_EVALUATION_S:
            console.print(expected_time_text(step_seconds, max_steps, len(tasks), episodes_per_task, getattr(group, "workers", 1)), highlight=False)

    try:
        results = [_run_task(policy, group, episodes_per_task, int(t), seed, bar.advance, announce if i == 0 else None) for i, t in enumerate(tasks)]
    finally:
        bar.close()
        np.random.set_state(saved_state)
        if own_envs:
            group.close()
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
