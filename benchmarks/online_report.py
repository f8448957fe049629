"""The online study's page: ROOT/README.md with its tables and ROOT/curves-*.png, from the run
directories benchmarks/online_study.py leaves (nothing is rerun).

    python benchmarks/online_report.py [--root results/online] [--level 0.5]
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

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


def steps_to(run_dir: Path, level: float) -> float | None:
    steps, success = read_curve(run_dir)
    hit = np.nonzero(success >= level)[0]
    return float(steps[hit[0]]) if len(hit) else None


def curves(root: Path, arms, title: str, path: Path) -> bool:
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
        ax.plot(runs[0][0][:n], 100 * np.mean([y[:n] for _, y in runs], 0), color=colour, lw=2.5, label=f"{arm} ({len(runs)} seeds)")
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


def write_report(root: Path, level: float = 0.5) -> Path:
    train, adapt = root / "train", root / "adapt"
    lines = [(root / "intro.md").read_text().rstrip() + "\n" if (root / "intro.md").exists() else "# Director against the flat agent on the pixel maze\n"]
    lines += ["## 1. Training goals (pixel-maze-medium, goals from the maze's training cells, random starts)\n",
              "| agent | training goals, last evaluation (%) | held-out cells, final (%) | OGBench's five tasks, final (%) |", "| --- | --- | --- | --- |"]  # fmt: skip
    for arm in TRAIN_ARMS:
        runs = seeds_of(train, arm)
        held = [(read_json(r / "final-heldout.json") or {}).get("overall") for r in runs]
        tasks = [(read_json(r / "final-tasks.json") or {}).get("overall") for r in runs]
        lines.append(f"| {arm} | {mean_std([final_success(r) for r in runs])} | {mean_std(held)} | {mean_std(tasks)} |")
    if curves(train, TRAIN_ARMS, "training goals, pixel-maze-medium", root / "curves-train.png"):
        lines += ["", "![training curves](curves-train.png)"]
    lines += ["", "## 2. Zero-shot: held-out goal cells", "",
              "The held-out column above: the final checkpoints, greedy, towards cells that were never a goal in training; no further training.", ""]  # fmt: skip
    lines += ["## 3. Adaptation to pixel-maze-medium-b (a layout neither agent saw)\n"]
    if not any(seeds_of(adapt, arm) for arm in ADAPT_ARMS):
        lines.append("No adaptation runs yet (`benchmarks/online_study.py --phases adapt` runs them from the training runs).")
    else:
        lines += [f"| run | final success (%) | env steps to {level:.0%} success |", "| --- | --- | --- |"]
    for arm in ADAPT_ARMS if any(seeds_of(adapt, arm) for arm in ADAPT_ARMS) else ():
        runs = seeds_of(adapt, arm)
        reached = [steps_to(r, level) for r in runs]
        shown = ", ".join("never" if s is None else f"{s:,.0f}" for s in reached) or "-"
        lines.append(f"| {arm} | {mean_std([final_success(r) for r in runs])} | {shown} |")
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
    parser.add_argument("--level", type=float, default=0.5)
    args = parser.parse_args()
    write_report(Path(args.root), args.level)
