"""Flat against hierarchical execution (issue 6, part 5): SAW's flat policy, HIQL under each
replanning rule and hierarchical BC, from the runs of a sweep (results/sweep.toml and
results/hierarchy.toml), each evaluated at its final checkpoint with the same episodes.

    python benchmarks/flat_vs_hierarchical.py results/runs [--episodes 20] [--out results]

Writes flat_vs_hierarchical.md (mean ± std over seeds, in percent) and .json into --out; the
evaluations land in each run's eval/ folder, and finished ones are reused.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from gcrl.console import console, run_command
from gcrl.data.files import atomic_path
from gcrl.errors import GcrlError
from gcrl.experiments.report import is_finished as finished
from gcrl.hierarchy.evaluate import evaluate_hierarchical, variant_tag

# (column, agent of the run, replanning rule or None for the run's own flat execution, agent whose
# run of the same seed gives the high level or None for the run's own)
COLUMNS = [
    ("SAW (flat)", "saw", None, None),
    ("HIQL, always", "hiql", "always", None),
    ("HIQL, every:25", "hiql", "every:25", None),
    ("HIQL, reached:value:-12", "hiql", "reached:value:-12", None),
    ("HBC, always", "hbc", "always", None),
    ("HBC, every:5", "hbc", "every:5", None),  # HBC's k is 5 (gcrl/agents/hbc.py says why)
    ("HBC, reached:state:0.5", "hbc", "reached:state:0.5", None),
    ("HIQL's high level over SAW's subpolicy, every:25", "saw", "every:25", "hiql"),
]


def final_success(run: Path, rule: str | None, episodes: int, high: Path | None = None) -> float | None:
    summary = json.loads((run / "summary.json").read_text())
    if rule is None:  # the flat policy: its own final evaluation
        return summary["eval"]["overall"]
    if high is not None and not finished(high):
        return None
    step = summary["step"]
    path = run / "eval" / f"step_{step:08d}-{variant_tag(None if high is None else str(high), rule)}.json"
    if path.exists() and json.loads(path.read_text())["episodes"] == 5 * episodes:
        return json.loads(path.read_text())["overall"]
    result, _, _ = evaluate_hierarchical(run, episodes=episodes, replan=rule, high=None if high is None else str(high), progress=False)
    return result.overall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", help="the sweep root: ROOT/DATASET/AGENT/seedS")
    parser.add_argument("--episodes", type=int, default=20, help="episodes per task (default 20)")
    parser.add_argument("--datasets", default="pointmaze-large-navigate-v0,pointmaze-giant-navigate-v0")
    parser.add_argument("--out", default="results")
    args = parser.parse_args()

    datasets = args.datasets.split(",")
    missing = [d for d in datasets if not (Path(args.root) / d).is_dir()]
    if missing:  # checked before anything is evaluated or written
        raise GcrlError(f"no runs of {', '.join(missing)} under {args.root} (expected ROOT/DATASET/AGENT/seedS); run the sweeps first.")
    table: dict = {}
    for dataset in datasets:
        for column, agent, rule, high_agent in COLUMNS:
            runs = sorted(r for r in (Path(args.root) / dataset / agent).glob("seed*") if finished(r))
            highs = [None if high_agent is None else Path(args.root) / dataset / high_agent / r.name for r in runs]
            scores = [final_success(r, rule, args.episodes, h) for r, h in zip(runs, highs)]
            table.setdefault(dataset, {})[column] = [100 * s for s in scores if s is not None]
    lines = ["| dataset | " + " | ".join(c for c, *_ in COLUMNS) + " |", "| --- |" + " --- |" * len(COLUMNS)]
    for dataset, row in table.items():
        cells = [f"{np.mean(s):.1f} ± {np.std(s):.1f} (n={len(s)})" if s else "-" for s in row.values()]
        lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    table_text = "\n".join(lines)
    console.print(table_text)
    text = "\n".join([
        "## Flat against hierarchical",
        "",
        "Success (%) at each run's final checkpoint, mean ± std over seeds, with the same episodes "
        f"({args.episodes} per task) for every column. SAW (flat) is the run's own final evaluation; HIQL and "
        "HBC run their high level over their low level, replanning every step (`always`), every k steps (HIQL's "
        "subgoals are k = 25 steps ahead, HBC's k = 5: plain BC fails with far subgoals on these noisy datasets), or "
        "when the subgoal is reached (HIQL: the value V(s, subgoal) at least -12, about 13 steps away at discount 0.99; HBC: "
        "within 0.5 units of the subgoal's position, about half its 5 steps), with a timeout of 50 steps. The last column runs the HIQL run's "
        "high level over the SAW run of the same seed: each z = phi(s, w) is decoded to the nearest of 1,024 dataset "
        "states in phi-space, which SAW's subpolicy takes as its subgoal.",
        "",
        table_text,
        "",
        f"Made by `python benchmarks/flat_vs_hierarchical.py {args.root} --episodes {args.episodes} --out {args.out}`.",
    ])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, content in (("flat_vs_hierarchical.md", text + "\n"), ("flat_vs_hierarchical.json", json.dumps(table, indent=2))):
        with atomic_path(out / name) as tmp:
            tmp.write_text(content)


if __name__ == "__main__":
    sys.exit(run_command(main))
