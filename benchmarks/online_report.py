"""The online study's page: ROOT/README.md with its tables and ROOT/curves-*.png, from the run
directories benchmarks/online_study.py leaves (nothing is rerun).

    python benchmarks/online_report.py [--root results/online] [--levels 0.5,0.2]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from gcrl.console import plural

TRAIN_ARMS = ("dreamer", "director", "dreamer-ezgreedy")
ADAPT_ARMS = ("director-manager", "director-manager_wm", "director-all", "dreamer-all", "director-scratch", "dreamer-scratch")


def read_curve(run_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(env steps, success) of a run's evaluations, in order."""
    try:
        rows = list(csv.DictReader(open(run_dir / "eval.csv")))
    except OSError:
        return np.zeros(0), np.zeros(0)
    return np.array([float(r["step"]) for r in rows]), np.array([float(r["overall"]) for r in rows])


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def seeds_of(root: Path, arm: str) -> list[Path]:
    return sorted(root.glob(f"{arm}-seed*"), key=lambda p: int(p.name.rsplit("seed", 1)[1]))


def mean_std(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    return f"{100 * np.mean(values):.0f} ± {100 * np.std(values):.0f} (n={len(values)})"


def final_success(run_dir: Path) -> float | None:
    _, success = read_curve(run_dir)
    return float(success[-1]) if len(success) else None


def curve_mean(run_dir: Path) -> float | None:
    """The mean of a run's evaluations: steadier than its last one when every point is a few episodes."""
    _, success = read_curve(run_dir)
    return float(success.mean()) if len(success) else None


def eval_rows(run_dir: Path) -> list[dict]:
    try:
        return list(csv.DictReader(open(run_dir / "eval.csv")))
    except OSError:
        return []


def progress_table(arm: str, runs: list[Path]) -> list[str]:
    """Success (%) at every evaluation, one column per seed and their mean; then, where the
    evaluation is per task, each task's success at the last evaluation (mean over seeds)."""
    tables = {r.name: {int(float(row["step"])): row for row in eval_rows(r)} for r in runs}
    steps = sorted({s for t in tables.values() for s in t})
    if not steps:
        return []
    target = evaluated_on(runs)
    lines = [f"{arm}, success (%) on {target} against environment steps:", "", "| env steps | " + " | ".join(tables) + " | mean |",
             "| --- |" + " --- |" * (len(tables) + 1)]  # fmt: skip
    for step in steps:
        values = [100 * float(t[step]["overall"]) if step in t else None for t in tables.values()]
        known = [v for v in values if v is not None]
        cells = ["-" if v is None else f"{v:.0f}" for v in values]
        lines.append(f"| {step:,} | " + " | ".join(cells) + f" | {np.mean(known):.0f} |")
    last = [t[max(t)] for t in tables.values() if t]
    tasks = sorted(k for k in last[0] if k.startswith("task"))
    if tasks:
        what = "each task" if target == "OGBench's five tasks" else "each goal group"
        lines += ["", f"{arm}, {what} at the last evaluation (mean over {plural(len(last), 'seed')}, %): "
                  + ", ".join(f"{k} {100 * np.mean([float(row[k]) for row in last]):.0f}" for k in tasks)]  # fmt: skip
    return lines + [""]


def evaluated_on(runs: list[Path]) -> str:
    """What these runs' periodic evaluations aim at (their loop's eval_goals)."""
    configs = [read_json(r / "config.json") for r in runs]
    goals = {c["loop"].get("eval_goals") for c in configs if c}
    names = {"train": "the training goals", "tasks": "OGBench's five tasks", "heldout": "the held-out cells"}
    return " / ".join(names.get(g, str(g)) for g in sorted(goals, key=str)) or "the training goals"


def steps_to(run_dir: Path, level: float) -> float | None:
    steps, success = read_curve(run_dir)
    hit = np.nonzero(success >= level)[0]
    return float(steps[hit[0]]) if len(hit) else None


def curves(root: Path, arms, title: str, path: Path, labels: dict | None = None) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    drawn = False
    for k, arm in enumerate(arms):
        runs = [read_curve(r) for r in seeds_of(root, arm)]
        runs = [(s, y) for s, y in runs if len(s)]
        if not runs:
            continue
        colour = f"C{k}"
        for s, y in runs:
            ax.plot(s, 100 * y, color=colour, alpha=0.3, lw=1)
        n = min(len(s) for s, _ in runs)
        ax.plot(runs[0][0][:n], 100 * np.mean([y[:n] for _, y in runs], 0), color=colour, lw=2.5, label=f"{(labels or {}).get(arm, arm)} ({plural(len(runs), 'seed')})")
        drawn = True
    if drawn:
        ax.set(xlabel="environment steps", ylabel="success (%)", title=title, ylim=(-2, 102))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    plt.close(fig)
    return drawn


def budget_rows(root: Path) -> list[str]:
    rows = []
    for run_dir in sorted(root.glob("*/*-seed*")):
        summary, config = read_json(run_dir / "summary.json"), read_json(run_dir / "config.json")
        if not summary or not config:
            continue
        t, loop = summary["timings"], config["loop"]
        rows.append(f"| {run_dir.parent.name}/{run_dir.name} | {summary['env_steps']:,} | {summary['updates']:,} | {loop['train_ratio']:g} | "
                    f"{t['env_steps_per_s']:.0f} | {t['updates_per_s']:.1f} | {t['compile_s']:.0f} | {t['eval_s']:.0f} |")  # fmt: skip
    return rows


def write_report(root: Path, levels=(0.5, 0.2)) -> Path:
    train, adapt = root / "train", root / "adapt"
    lines = [(root / "intro.md").read_text().rstrip() + "\n" if (root / "intro.md").exists() else "# Director against the flat agent on the pixel maze\n"]
    runs_of = {arm: seeds_of(train, arm) for arm in TRAIN_ARMS if seeds_of(train, arm)}
    arms = list(runs_of)
    targets = {arm: evaluated_on(runs_of[arm]) for arm in arms}
    periodic = " / ".join(sorted(set(targets.values()))) or "the training goals"
    mixed = len(set(targets.values())) > 1  # arms evaluated on different goals: say which on every row
    lines += ["## 1. Training goals (pixel-maze-medium, goals from the maze's training cells, random starts)\n",
              f"| agent | {'periodic evaluations' if mixed else periodic}, last (%) | held-out cells, final (%) | held-out cells, decoy goal shown (%) | "
              "outer-ring cells, final (%) | the same, task vector outside the training range (%) | OGBench's five tasks, final (%) |",
              "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for arm, runs in runs_of.items():
        finals = [mean_std([(read_json(r / f"final-{name}.json") or {}).get("overall") for r in runs]) for name in ("heldout", "heldout-decoy", "ring", "outside", "tasks")]
        on = f" (on {targets[arm]})" if mixed else ""
        lines.append(f"| {arm} | {mean_std([final_success(r) for r in runs])}{on} | " + " | ".join(finals) + " |")
    if mixed:
        lines += ["", "The arms' periodic evaluations aim at different goals (each run's `eval_goals`): compare them on the final columns."]
    labels = {arm: f"{arm}, on {targets[arm]}" for arm in arms} if mixed else {}
    if curves(train, arms, f"{periodic}, pixel-maze-medium", root / "curves-train.png", labels):
        lines += ["", "![training curves](curves-train.png)"]
    lines.append("")
    for arm, runs in runs_of.items():
        lines += progress_table(arm, runs)
    policies = sorted({(read_json(r / "final-heldout.json") or {}).get("policy") for runs in runs_of.values() for r in runs} - {None})
    how = {"sample": "sampling the actor (DreamerV3's evaluation)", "mode": "the actor's mode"}
    policy_text = " and ".join(how.get(p, p) for p in policies) or "the run's eval_policy"
    lines += ["", "## 2. Zero-shot: held-out goal cells", "",
              f"The held-out column above: the final checkpoints, {policy_text}, towards cells that were never a goal in training; no further training. "
              "The decoy column is the control: the same episodes with another held-out goal shown (picture and task vector) than the one success counts. "
              "An agent that reads its goal loses success there; one that only wanders keeps it.", ""]  # fmt: skip
    lines += ["## 3. Adaptation to pixel-maze-medium-b (a layout neither agent saw)\n"]
    if not any(seeds_of(adapt, arm) for arm in ADAPT_ARMS):
        lines.append("No adaptation runs yet (`benchmarks/online_study.py --phases adapt` runs them from the training runs).")
    else:
        lines += ["| run | final success (%) | mean of its evaluations (%) | " + " | ".join(f"env steps to {level:.0%} success, per seed" for level in levels) + " |",
                  "|" + " --- |" * (3 + len(levels))]  # fmt: skip
    for arm in ADAPT_ARMS if any(seeds_of(adapt, arm) for arm in ADAPT_ARMS) else ():
        runs = seeds_of(adapt, arm)
        reached = [", ".join("never" if s is None else f"{s:,.0f}" for s in (steps_to(r, level) for r in runs)) or "-" for level in levels]
        lines.append(f"| {arm} | {mean_std([final_success(r) for r in runs])} | {mean_std([curve_mean(r) for r in runs])} | " + " | ".join(reached) + " |")
    if curves(adapt, ADAPT_ARMS, "adaptation, pixel-maze-medium-b", root / "curves-adapt.png"):
        lines += ["", "![adaptation curves](curves-adapt.png)"]
    pictures = sorted(train.glob("director-seed*/eval/goals_step_*.png"))
    if pictures:
        lines += ["", "## What the manager asked for", "", f"![frames and decoded goals]({pictures[-1].relative_to(root)})"]
    lines += ["", "## Budget and speed of every run", "",
              "| run | env steps | updates | train ratio | env steps/s | updates/s | compile s | evaluation s |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    lines += budget_rows(root)
    out = root / "README.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="results/online")
    parser.add_argument("--levels", default="0.5,0.2", help="success levels for the adaptation table's env steps to reach them")
    args = parser.parse_args()
    write_report(Path(args.root), tuple(float(x) for x in args.levels.split(",")))
