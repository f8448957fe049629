"""The ant expert trained by gcrl beside OGBench's main_sac.py trained here for the same steps: the
evaluations of each (the mode, 50 episodes) and the training speed, as one markdown table.

    python benchmarks/experts_side_by_side.py --gcrl RUN [RUN ...] --published SAVE_DIR [SAVE_DIR ...] --out results/experts/README.md

It also evaluates every run's final policy with gcrl's evaluation, the same episodes for all (the
published parameters read from main_sac.py's params_STEP.pkl), and draws each published expert's
paths for eight directions (SAVE_DIR/paths.png).

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


def same_evaluation(gcrl_runs: list[Path], published: list[Path], episodes: int, seed: int) -> str:
    """Every run's final policy under gcrl's evaluation, the same episodes for all (their starts and
    directions from `seed`): the published parameters (params_STEP.pkl, main_sac.py's save_agent)
    read into gcrl's SAC."""
    import pickle

    import jax
    from flax.traverse_util import flatten_dict

    from gcrl.experts.evaluate import path_picture, rollouts, summary
    from gcrl.experts.loop import restore
    from gcrl.experts.sac import Config, Sac
    from published_sac_check import to_gcrl

    sac = Sac(Config(), 29, 8)
    act = jax.jit(sac.act)
    policies = []
    for run in gcrl_runs:
        saved = restore(run, sac, 29, 8)
        policies.append((gcrl_run(run)["label"], int(saved.step), saved.agent.params))
    for path in published:
        pkl = max(path.glob("params_*.pkl"), key=lambda p: int(p.stem.split("_")[1]))
        flat = {"final/" + "/".join(k): v for k, v in flatten_dict(pickle.loads(pkl.read_bytes())["agent"]["network"]["params"]).items()}
        policies.append((published_run(path)["label"], int(pkl.stem.split("_")[1]), to_gcrl(flat, "final")[0]))
        path_picture(act, policies[-1][2], "ant", path / "paths.png", title=f"published main_sac.py ant expert ({path.name}): paths for 8 directions")
    rows = [f"| run | env steps | return | speed along the direction (m/s) | return per 100-step segment | length |", "| --- | --- | --- | --- | --- | --- |"]
    for label, step, params in policies:
        r = summary(rollouts(act, params, "ant", episodes, seed))
        rows.append(f"| {label} | {step:,} | {r['return']:.1f} +- {r['return_std']:.1f} | {r['speed']:.2f} | {r['segment_return']:.2f} | {r['length']:.0f} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gcrl", nargs="+", type=Path, required=True)
    parser.add_argument("--published", nargs="+", type=Path, default=[])
    parser.add_argument("--out", type=Path, help="also write the table to this markdown file (after the text of --intro)")
    parser.add_argument("--intro", type=Path, help="a markdown file placed before the table")
    parser.add_argument("--episodes", type=int, default=50, help="episodes of the same evaluation (default 50; 0 skips it)")
    parser.add_argument("--seed", type=int, default=200_000, help="the same evaluation's seed")
    args = parser.parse_args()
    runs = [gcrl_run(p) for p in args.gcrl] + [published_run(p) for p in args.published]
    text = "Each run's own evaluations (the mode, 50 episodes; return and mean speed along the commanded direction):\n\n" + table(runs)
    if args.episodes:
        text += (f"\n\nThe final policies under one evaluation (gcrl's, {args.episodes} episodes, the same starts and directions for every "
                 f"run, seed {args.seed}):\n\n" + same_evaluation(args.gcrl, args.published, args.episodes, args.seed))
    print(text)
    if args.out:
        intro = args.intro.read_text().rstrip() + "\n\n" if args.intro else ""
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(intro + text + "\n")


if __name__ == "__main__":
    main()
