"""How far a run's value function knows its pointmaze (gcrl/experiments/value_check.py): the share of greedy
steps on V(neighbour, goal) that lie on a shortest path to the goal, by the distance to the goal in
cells, beside a random neighbour's chance, and how far the evaluation tasks' goals are.

    python benchmarks/value_vs_maze_distance.py RUN_DIR [RUN_DIR ...] [--bins 1,6,11,21,31] [--out FILE]

For runs with a value (gcivl, hiql, saw) on pointmaze datasets. Prints a markdown table; --out also
writes it as a section for `gcrl report --include`.
"""

from __future__ import annotations

import argparse
import sys

from gcrl.console import run_command
from gcrl.data.files import atomic_path
from gcrl.errors import GcrlError
from gcrl.experiments.value_check import by_distance, greedy_steps, task_distances
from gcrl.hierarchy.levels import load, oracle_env
from gcrl.train import eval_env_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run directories (gcivl, hiql or saw on a pointmaze dataset)")
    parser.add_argument("--bins", default="1,6,11,21,31", help="lower edges of the distance bins, in cells (default 1,6,11,21,31)")
    parser.add_argument("--out", metavar="FILE", help="also write the table as a markdown section to FILE")
    args = parser.parse_args()
    try:
        edges = [int(b) for b in args.bins.split(",")]
    except ValueError:
        raise GcrlError(f"--bins expects increasing whole numbers of cells like 1,6,11, got '{args.bins}'.") from None
    if edges != sorted(set(edges)) or edges[0] < 1:
        raise GcrlError(f"--bins expects increasing whole numbers of cells from 1 up, like 1,6,11, got '{args.bins}'.")

    runs = [load(path) for path in args.runs]
    for path, run in zip(args.runs, runs):  # all checked before the first is measured
        if "value" not in run.agent.parts:
            raise GcrlError(f"{path} is a {run.agent.name} run, which has no value function; give gcivl, hiql or saw runs.")
    header = ["run", "updates", *(f"{lo}-{hi - 1} cells" for lo, hi in zip(edges, edges[1:])), f"{edges[-1]}+ cells"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    tasks: dict[str, list[int]] = {}
    for path, run in zip(args.runs, runs):
        env_name = eval_env_name(run.train_cfg)
        env = oracle_env(env_name, run.spec.observation_shape)
        try:
            rows = greedy_steps(env.unwrapped, run.agent.parts["value"], run.params)
            tasks[env_name] = task_distances(env.unwrapped)
        finally:
            env.close()
        cells = [f"{100 * b[2]:.0f}% ({100 * b[3]:.0f}%)" if b else "-" for b in by_distance(rows, edges)]
        lines.append(f"| {path} | {run.step:,} | " + " | ".join(cells) + " |")
    text = "\n".join([
        "## How far the values reach",
        "",
        "For every goal cell and every other free cell of the maze: does the neighbour with the highest V(neighbour, goal) "
        "(cell centres as observations) lie on a shortest path to the goal? The share of such right steps, by the distance to the "
        "goal in cells, and in brackets a random neighbour's chance. A value-weighted policy or a value-guided high level needs "
        "this ordering; where it is at chance, the value cannot guide.",
        "",
        *lines,
        "",
        "The evaluation tasks' goals lie, in cells along a shortest path from the start: "
        + "; ".join(f"{name}: {', '.join(map(str, d))}" for name, d in tasks.items()) + ".",
        "",
        f"Made by `python benchmarks/value_vs_maze_distance.py {' '.join(args.runs)}" + (f" --out {args.out}`." if args.out else "`."),
    ])  # fmt: skip
    print(text)
    if args.out:
        with atomic_path(args.out) as tmp:
            tmp.write_text(text + "\n")


if __name__ == "__main__":
    sys.exit(run_command(main))
