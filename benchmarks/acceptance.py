"""Acceptance benchmark: GCBC, GCIVL, HIQL and SAW on pointmaze-medium-navigate-v0, cpu preset,
50K updates, 50 evaluation episodes per task. Prints a markdown table and writes JSON.

    python benchmarks/acceptance.py [--agents saw,hiql,gcivl,gcbc] [--steps 50000] [--out runs/acceptance]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gcrl import checkpoint, config
from gcrl.train import train

DATASET = "pointmaze-medium-navigate-v0"
PUBLISHED_CODE = {"saw": "0.86 (50K)", "hiql": "0.71 (50K)", "gcivl": "0.60 (100K, alpha 10)", "gcbc": "-"}  # REFERENCE.md, this machine kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", default="saw,hiql,gcivl,gcbc")
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset-dir")
    parser.add_argument("--out", default="runs/acceptance")
    args = parser.parse_args()

    results = {}
    for agent in args.agents.split(","):
        train_cfg, agent_cfg = config.resolve(agent, DATASET, "cpu", {"steps": args.steps, "eval_episodes": args.episodes, "seed": args.seed})
        run_dir = Path(args.out) / f"{agent}-seed{args.seed}"
        if (run_dir / "summary.json").exists() and json.loads((run_dir / "summary.json").read_text()).get("finished"):
            summary = json.loads((run_dir / "summary.json").read_text())
        else:
            summary = train(train_cfg, agent_cfg, run_dir=run_dir, dataset_dir=args.dataset_dir, resume=checkpoint.exists(run_dir))
        results[agent] = summary

    lines = [
        "| agent | updates | overall | task 1-5 | updates/s | compile s | published code, this machine |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for agent, s in results.items():
        ev, t = s["eval"], s["timings"]
        tasks = ", ".join(f"{v:.2f}" for v in ev["per_task"].values())
        lines.append(f"| {agent} | {s['step']:,} | {ev['overall']:.2f} | {tasks} | {t['updates_per_s']:.0f} | {t['compile_s']:.1f} | {PUBLISHED_CODE.get(agent, '-')} |")
    table = "\n".join(lines)
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "acceptance.json").write_text(json.dumps(results, indent=2))
    (out / "acceptance.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
