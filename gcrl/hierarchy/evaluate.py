"""`gcrl evaluate` for hierarchical policies: compose the levels, evaluate, save the JSON (success
and the hierarchy's statistics) and the maze picture with the proposed subgoals, print the tables."""

from __future__ import annotations

import json
import re
from pathlib import Path

from gcrl.console import console
from gcrl.data.files import atomic_path
from gcrl.evaluate import evaluate, success_table
from gcrl.hierarchy.levels import Run, compose, load
from gcrl.hierarchy.policy import hierarchy_table, plot_subgoals


def variant_tag(high: str | None, replan: str | None) -> str:
    """'' for the run's own hierarchy under its default rule, else a file-name-safe tag."""
    if high is None and replan is None:
        return ""
    name = "self" if high is None else ("oracle" if high == "oracle" else Path(high).name)
    if re.fullmatch(r"seed\d+", name):  # a sweep's ROOT/DATASET/AGENT/seedS: name the agent too
        name = f"{Path(high).parent.name}-{name}"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", f"high-{name}_{replan or 'always'}").strip("-")


def evaluate_hierarchical(run_dir, episodes: int = 50, seed: int = 0, temperature: float = 0.0, high: str | None = None, replan: str | None = None,
                          timeout: int = 50, dims=None, reach_test: str | None = None, progress: bool = True, tasks=(1, 2, 3, 4, 5), envs=None,
                          dataset_dir=None, candidates: int | None = None):  # fmt: skip
    """Evaluate RUN_DIR's (a path or a levels.Run) low level under a high level and a replanning rule; results go to
    RUN_DIR/eval/step_S[-TAG].json and maze_step_S[-TAG].png. Returns (result, policy, json path)."""
    run = run_dir if isinstance(run_dir, Run) else load(run_dir)
    policy = compose(run, high, replan, timeout, dims, reach_test, temperature, seed, dataset_dir=dataset_dir, candidates=candidates)
    info = policy.describe()
    measured = f", reaching measured by {info['reach_test']}" if info["reach_test"] else ""
    console.print(f"[bold]hierarchical[/]: {info['high']} -> {info['low']}, {info['space']} subgoals, replan {info['replan']}{measured}")
    try:
        result = evaluate(policy, policy_env_name(run), episodes_per_task=episodes, tasks=tasks, seed=seed, progress=progress, envs=envs)
    finally:
        policy.close()

    tag = variant_tag(high, replan)
    suffix = f"-{tag}" if tag else ""
    out = run.path / "eval"
    out.mkdir(exist_ok=True)
    record = {"step": run.step, **info, "timeout": policy.rule.timeout, **result.to_dict()}
    json_path = out / f"step_{run.step:08d}{suffix}.json"
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(record, indent=2))
    if result.tasks and result.tasks[0].trajectories:
        from gcrl.experiments.plots import plot_maze

        plot_maze(result, out / f"maze_step_{run.step:08d}{suffix}.png", subgoals=plot_subgoals(result) or None)
    title = f"{result.env_name}, {run.agent.name}{f' ({tag})' if tag else ''}, step {run.step:,}"
    console.print(success_table(result, title=title))
    console.print(hierarchy_table(result, title=f"{info['high']} -> {info['low']}, replan {info['replan']}", units=info["error_units"]))
    return result, policy, json_path


def policy_env_name(run) -> str:
    from gcrl.errors import GcrlError
    from gcrl.train import eval_env_name

    env_name = eval_env_name(run.train_cfg)
    if env_name is None:
        raise GcrlError(f"{run.path} was trained on a file ({run.train_cfg.dataset}); there is no OGBench environment to evaluate in; name one with --env ENV.")
    return env_name
