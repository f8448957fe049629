"""Pictures of evaluations: the maze with each task's trajectories, starts and goals."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gcrl.data.files import atomic_path
from gcrl.evaluate import EvalResult, is_maze, make_envs


def plot_maze(result: EvalResult, path, env=None, max_episodes_per_task: int = 5, subgoals=None) -> Path:
    """Draw the maze walls and, per task in its own colour, up to `max_episodes_per_task`
    trajectories (failed ones dashed), their starts (circles) and goals (stars). `subgoals` is an
    optional list of [N, 2] xy arrays to scatter. Writes a PNG atomically and returns its path."""
    # A bare Figure (no pyplot) renders with Agg and touches no global backend state.
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    maze_map, unit, walls, origin = _maze_layout(result, env)
    fig = Figure(figsize=(8.5, 6.5 * maze_map.shape[0] / maze_map.shape[1]), dpi=110)
    ax = fig.add_subplot()
    for x, y in walls:
        ax.add_patch(Rectangle((x - unit / 2, y - unit / 2), unit, unit, facecolor="0.25", edgecolor="0.25"))
    _draw_episodes(ax, result, max_episodes_per_task, subgoals)

    rows, cols = maze_map.shape
    x0, y0 = origin
    ax.set_xlim(x0 - unit / 2, x0 + (cols - 0.5) * unit)
    ax.set_ylim(y0 - unit / 2, y0 + (rows - 0.5) * unit)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    per_task = "  ".join(f"{t.task_id}: {100 * t.success:.0f}%" for t in result.tasks)
    ax.set_title(f"{result.env_name}  (overall {100 * result.overall:.0f}%)\n{per_task}", fontsize=10)

    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            fig.savefig(f, format="png", bbox_inches="tight")
    return path


def _maze_layout(result: EvalResult, env=None):
    """(maze map, cell size, wall centres in xy, xy of cell (0, 0)) of the result's maze, from `env`
    or an environment opened and closed here."""
    own_env = env is None
    if own_env:
        env = make_envs(result.env_name, 1)[0]
    try:
        if not is_maze(env) or not any(t.trajectories for t in result.tasks):
            raise ValueError(f"plot_maze draws maze environments only; '{result.env_name}' has no maze or no trajectories.")
        maze = env.unwrapped
        maze_map, unit = np.asarray(maze.maze_map), float(maze._maze_unit)
        walls = [maze.ij_to_xy((i, j)) for i, j in zip(*np.nonzero(maze_map == 1))]
        return maze_map, unit, walls, maze.ij_to_xy((0, 0))
    finally:
        if own_env:
            env.close()


def _draw_episodes(ax, result: EvalResult, max_episodes_per_task: int, subgoals) -> None:
    """Each task's trajectories in its colour (failed ones dashed), starts, goals, subgoals, and
    the legend's entries."""
    colours = [f"C{k}" for k in range(10)]
    for k, task in enumerate(result.tasks):
        colour = colours[k % len(colours)]
        shown = min(max_episodes_per_task, len(task.trajectories))
        for e in range(shown):
            traj = task.trajectories[e]
            style = "-" if task.successes[e] > 0 else "--"
            ax.plot(traj[:, 0], traj[:, 1], style, color=colour, lw=1.2, alpha=0.8)
        if shown:
            ax.scatter(task.starts[:shown, 0], task.starts[:shown, 1], marker="o", s=60, color=colour, edgecolors="black", zorder=3)
            ax.scatter(task.goals_xy[:shown, 0], task.goals_xy[:shown, 1], marker="*", s=260, color=colour, edgecolors="black", zorder=3)
        ax.plot([], [], "-", color=colour, label=f"task {task.task_id}: {100 * task.success:.0f}%")
    for points in subgoals or []:
        points = np.asarray(points).reshape(-1, 2)
        ax.scatter(points[:, 0], points[:, 1], marker="x", s=18, color="black", alpha=0.6, zorder=2)

    # Legend entries for the markers and line styles, drawn once in neutral colours.
    ax.scatter([], [], marker="o", color="white", edgecolors="black", label="start")
    ax.scatter([], [], marker="*", s=120, color="white", edgecolors="black", label="goal")
    ax.plot([], [], "--", color="0.4", label="failed episode")
    if subgoals:
        ax.scatter([], [], marker="x", color="black", label="subgoals")


def plot_curves(title: str, curves: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, int]], path) -> Path:
    """Learning curves: per (label, steps, mean %, std %, seeds) a mean line and a +- std band.
    Writes a PNG atomically and returns its path."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(7, 4.5), dpi=110)
    ax = fig.add_subplot()
    for k, (label, steps, mean, std, seeds) in enumerate(curves):
        colour = f"C{k % 10}"
        ax.plot(steps, mean, "-o", color=colour, lw=1.6, ms=3, label=f"{label} ({seeds} seed{'s' if seeds != 1 else ''})")
        ax.fill_between(steps, np.clip(mean - std, 0, 100), np.clip(mean + std, 0, 100), color=colour, alpha=0.2, lw=0)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x / 1000:g}K" if abs(x) >= 1000 else f"{x:g}"))
    ax.set_xlabel("updates")
    ax.set_ylabel("success (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title, fontsize=10)

    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            fig.savefig(f, format="png", bbox_inches="tight")
    return path
