"""The ant expert trained by gcrl beside OGBench's main_sac.py trained here for the same steps: the
evaluations of each (the mode, 50 episodes) and the training speed, as one markdown table.

    python benchmarks/experts_side_by_side.py --gcrl RUN [RUN ...] --published SAVE_DIR [SAVE_DIR ...] --out results/experts/README.md

RUN: a `gcrl experts train ant` run directory (its eval.csv, metrics.csv); SAVE_DIR: a main_sac.py
save directory (its eval.csv, train.csv, flags.json). The published evaluation logs the episode
return (for the ant, the displacement along the commanded direction summed over the episode) and
length; the speed along the direction is return / (length x dt), dt = 0.1 s (10 Hz)."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

DT = 0.1  # the ant's control step (frame skip 5 x 0.02 s)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def gcrl_run(path: Path) -> dict:
    evals = {int(r["step"]): (float(r["return"]), float(r["length"])) for r in read_csv(path / "eval.csv")}
    rates = [float(r["steps_per_s"]) for r in read_csv(path / "metrics.csv")[1:]]
    seed = json.loads((path / "config.json").read_text())["expert"]["seed"]
    return {"label": f"gcrl seed {seed} ({path.name})", "evals": evals, "rate": float(np.median(rates)) if rates else float("nan")}


def published_run(path: Path) -> dict:
    evals = {int(r["step"]): (float(r["evaluation/episode.return"]), float(r["evaluation/episode.length"])) for r in read_csv(path / "eval.csv")}
    train = read_csv(path / "train.csv")
    rates = [1.0 / float(r["time/epoch_time"]) for r in train[1:] if float(r["time/epoch_time"]) > 0]
    seed = json.loads((path / "flags.json").read_text()).get("seed", "?")
    return {"label": f"published seed {seed}", "evals": evals, "rate": float(np.median(rates)) if rates else float("nan")}


def table(runs: list[dict]) -> str:
    steps = sorted({s for run in runs for s in run["evals"]})
    head = "| run | " + " | ".join(f"{s // 1000}K: return (m/s)" for s in steps) + " | env steps/s (update phase, median) |"
    rows = [head, "| --- |" + " --- |" * (len(steps) + 1)]
    for run in runs:
        cells = []
        for s in steps:
            if s in run["evals"]:
                ret, length = run["evals"][s]
                cells.append(f"{ret:.1f} ({ret / (length * DT):.2f})")
            else:
                cells.append("-")
        rows.append(f"| {run['label']} | " + " | ".join(cells) + f" | {run['rate']:.0f} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gcrl", nargs="+", type=Path, required=True)
    parser.add_argument("--published", nargs="+", type=Path, default=[])
    parser.add_argument("--out", type=Path, help="also write the table to this markdown file (after the text of --intro)")
    parser.add_argument("--intro", type=Path, help="a markdown file placed before the table")
    args = parser.parse_args()
    runs = [gcrl_run(p) for p in args.gcrl] + [published_run(p) for p in args.published]
    text = table(runs)
    print(text)
    if args.out:
        intro = args.intro.read_text().rstrip() + "\n\n" if args.intro else ""
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(intro + text + "\n")


if __name__ == "__main__":
    main()
