"""Acceptance benchmark: every agent of SAW's Table 1 (GCBC, GCIVL, GCIQL, QRL, CRL, HIQL, RIS, SAW)
and GCWAE on pointmaze-medium-navigate-v0, cpu preset, 50K updates, evaluated at 25K and 50K with 50
episodes per task, seeds 0-2 (the grid is results/acceptance.toml).

It runs the grid (finished runs are skipped, interrupted ones resume; the run records are committed,
so this continues on a fresh clone), then writes results/acceptance/README.md: one `gcrl report`
table at 50K with every agent's updates/s, and our ordering of the agents beside the published one
(OGBench's and the SAW paper's, 1M updates).

    python benchmarks/acceptance.py [--report-only] [--agents gciql,qrl] [--seeds 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from gcrl.cli import main as gcrl
from gcrl.experiments import reference
from gcrl.experiments.report import aggregate, find_runs, is_finished, read_run

GRID = Path("results/acceptance.toml")
ROOT = Path("results/acceptance")
DATASET = "pointmaze-medium-navigate-v0"


def ordering_section(root: Path) -> str:
    """Markdown: per agent, ours at each evaluation and the published number, with both rankings."""
    runs = [r for r in (read_run(d, 1) for d in find_runs([root]) if is_finished(d)) if r is not None]
    final = aggregate(runs, final=True)
    halfway = {}
    for run in runs:
        if len(run.steps) > 1:
            halfway.setdefault(run.label, []).append(100 * run.success[-2])
    labels = sorted((label for _, label in final), key=lambda lab: -final[(DATASET, lab)].mean)
    published = {lab: reference.published(DATASET, lab) for lab in labels}
    ranked = sorted((lab for lab in labels if published[lab]), key=lambda lab: -published[lab][0])
    lines = [
        "## Our ordering against the published one",
        "",
        "Ours: 50K updates of the cpu preset; published: 1M updates of the paper preset (OGBench's paper; RIS and SAW from "
        "the SAW paper), 8 seeds.",
        "",
        "| agent | ours at 25K (%) | ours at 50K (%) | seeds | our rank | published (%) | published rank |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for rank, label in enumerate(labels, 1):
        cell, half = final[(DATASET, label)], halfway.get(label)
        half_text = f"{np.mean(half):.1f} ± {np.std(half):.1f}" if half else "-"
        pub = published[label]
        pub_text, pub_rank = (f"{pub[0]} ± {pub[1]}", str(ranked.index(label) + 1)) if pub else ("-", "-")
        lines.append(f"| {label} | {half_text} | {cell.mean:.1f} ± {cell.std:.1f} | {cell.n} | {rank} | {pub_text} | {pub_rank} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report-only", action="store_true", help="write the page from the runs there are; train nothing")
    parser.add_argument("--agents", help="only these agents (comma-separated), e.g. to fill the grid in parts")
    parser.add_argument("--seeds", help="only these seeds (comma-separated)")
    args = parser.parse_args()

    if not args.report_only:
        only = [*(["--agents", args.agents] if args.agents else []), *(["--seeds", args.seeds] if args.seeds else [])]
        status = gcrl(["sweep", str(GRID), *only])
        if status != 0:
            raise SystemExit(status)
    section = ROOT / "ordering.md"
    section.write_text(ordering_section(ROOT))
    intro = ROOT / "intro.md"
    page = ["report", str(ROOT), "--out", str(ROOT), "--name", "README.md", "--last", "1", "--include", str(section)]
    raise SystemExit(gcrl(page + (["--intro", str(intro)] if intro.is_file() else [])))


if __name__ == "__main__":
    main()
