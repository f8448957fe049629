"""gcrl beside the published code, on the same locally generated dataset and budget.

The published code is the SAW repository's `impls/` (github.com/johnlyzhou/saw: OGBench's agents
unchanged, plus SAW, RIS and GCWAE), run from a snapshot outside this project with its own Python
environment. Both sides train on pointmaze-medium-navigate-v0 as `gcrl datasets generate` makes it,
cpu-sized (batch 256, 2 x 256 networks), 50K updates, evaluated at 25K and 50K with 50 episodes per
task, seeds 0-1. gcrl's side is the acceptance grid's runs (results/acceptance.toml), trained here
where missing; the published side runs `main.py` with the per-dataset flags of its
`hyperparameters.sh`, and its evaluations are kept in results/side_by_side/published/.

Two things are changed in the published code's copy, and only these: wandb is replaced by a no-op
module (its logging goes to the CSVs main.py also writes), and GCWAE acts with its flat actor, as
gcrl's does (the published `sample_actions` selects a `low_actor` the file never builds, so it cannot
evaluate as it stands).

    python benchmarks/side_by_side.py --published SNAPSHOT/impls --python ENV/bin/python [--agents gciql,qrl] [--seeds 0,1] [--segments 2|4]

ENV needs the snapshot's requirements.txt (jax, flax, distrax, ml_collections, ogbench; wandb and
moviepy are not needed).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

from gcrl.cli import main as gcrl
from gcrl.experiments.report import find_runs, is_finished, read_eval

DATASET = "pointmaze-medium-navigate-v0"
GRID, GCRL_ROOT = Path("results/acceptance.toml"), Path("results/acceptance")
OUT = Path("results/side_by_side")
AGENTS = ("gcbc", "gcivl", "hiql", "saw", "gciql", "qrl", "crl", "ris", "gcwae")
# hyperparameters.sh's flags for pointmaze-medium-navigate-v0; RIS and GCWAE have no line there and run their defaults.
DATASET_FLAGS = {
    "gcbc": [],
    "gcivl": ["--agent.alpha=10.0"],
    "hiql": ["--agent.high_alpha=3.0", "--agent.low_alpha=3.0"],
    "saw": [],
    "gciql": ["--agent.alpha=0.003"],
    "qrl": ["--agent.alpha=0.0003"],
    "crl": ["--agent.alpha=0.03"],
    "ris": [],
    "gcwae": [],
}
CPU_SIZE = ["--agent.batch_size=256", "--agent.actor_hidden_dims=(256,256)", "--agent.value_hidden_dims=(256,256)"]
NO_VALUE = {"gcbc"}  # its config has no value network, and main.py rejects a flag for one
# SAW's subpolicy has its own width there (3 x 512 by default); gcrl's cpu preset sizes it as the other actors.
AGENT_SIZE = {"saw": ["--agent.low_actor_hidden_dims=(256,256)"]}

WANDB_STUB = '''"""No-op wandb for running the published main.py offline."""
class _Run:
    project, name, config = "OGBench", "local", {}
run = _Run()
class Settings:
    def __init__(self, **kwargs): pass
class Image:
    def __init__(self, *args, **kwargs): pass
Video = Histogram = Image
def init(*args, **kwargs): return run
def log(*args, **kwargs): pass
def finish(*args, **kwargs): pass
'''
GCWAE_PUBLISHED_ACT = "        high_dist = self.network.select('high_actor')(observations, goals, temperature=temperature)\n"
GCWAE_FLAT_ACT = (
    "        # side_by_side.py: act with the flat actor (the published file selects a low_actor it never builds).\n"
    "        low_dist = self.network.select('actor')(observations, goals, temperature=temperature)\n"
    "        return jnp.clip(low_dist.sample(seed=low_seed), -1, 1)\n"
)


def published_flags(agent: str) -> list[str]:
    """The published main.py's --agent.* flags matching gcrl's cpu configuration of `agent`."""
    size = [flag for flag in CPU_SIZE if not (agent in NO_VALUE and flag.startswith("--agent.value_"))]
    return [*DATASET_FLAGS[agent], *size, *AGENT_SIZE.get(agent, [])]


def prepare_code(published: Path, scratch: Path) -> Path:
    """A copy of the published impls/ with the two changes the module docstring names."""
    code = scratch / "code"
    if code.exists():
        shutil.rmtree(code)
    shutil.copytree(published, code, ignore=shutil.ignore_patterns("exp", "__pycache__"))
    (code / "_stubs" / "wandb").mkdir(parents=True)
    (code / "_stubs" / "wandb" / "__init__.py").write_text(WANDB_STUB)
    gcwae = code / "agents" / "gcwae.py"
    text = gcwae.read_text()
    if GCWAE_PUBLISHED_ACT not in text:
        raise SystemExit(f"{gcwae}: its sample_actions is not the one this script knows; check the snapshot.")
    gcwae.write_text(text.replace(GCWAE_PUBLISHED_ACT, GCWAE_PUBLISHED_ACT + GCWAE_FLAT_ACT, 1))
    return code


def run_published(code: Path, python: str, agent: str, seed: int, args, scratch: Path) -> Path:
    """Train and evaluate one published run in `args.segments` pieces; returns its kept eval.csv.

    main.py cannot resume, so a run longer than a session can be cut in two or four: each piece
    trains steps / segments updates, saves the whole agent (parameters, optimiser state, random
    key) and evaluates it, and the next restores it (`--restore_path`). A finished segment is
    skipped when the script is run again. The next segment's --seed is offset by 1000 x its index,
    so its batches are fresh draws rather than a replay of the first segment's (the seed then only
    seeds the sampler and the evaluation: the restored agent replaces the one it initialises).
    """
    kept = OUT / "published" / f"{agent}-seed{seed}" / "eval.csv"
    if kept.is_file():
        return kept
    length = args.steps // args.segments
    segments = [scratch / f"{agent}-seed{seed}" / f"segment{k}" for k in range(args.segments)]
    commands = []
    for k, save_dir in enumerate(segments):
        # main.py saves under SAVE_DIR/project/group/run-name; the pattern finds the one run there.
        restore = [f"--restore_path={segments[k - 1]}/*/*/*", f"--restore_epoch={length}"] if k else []
        command = [python, "main.py", f"--env_name={DATASET}", f"--agent=agents/{agent}.py", *published_flags(agent),
                   f"--train_steps={length}", f"--eval_interval={min(args.steps // 2, length)}", f"--eval_episodes={args.episodes}",
                   "--log_interval=5000", "--video_episodes=0", f"--save_interval={length}", f"--seed={seed + 1000 * k}",
                   f"--save_dir={save_dir}", *restore]  # fmt: skip
        commands.append(" ".join(command[1:]))
        if list(save_dir.rglob(f"params_{length}.pkl")):
            print(f"published {agent} seed {seed}: segment {k + 1} of {args.segments} already done", flush=True)
            continue
        shutil.rmtree(save_dir, ignore_errors=True)
        env = {**os.environ, "PYTHONPATH": str(code / "_stubs"), "WANDB_MODE": "disabled"}
        print(f"published {agent} seed {seed}, segment {k + 1} of {args.segments}: {commands[-1]}", flush=True)
        subprocess.run(command, cwd=code, env=env, check=True)
    kept.parent.mkdir(parents=True, exist_ok=True)
    for name in ("train.csv", "eval.csv"):  # eval.csv last: it marks the run kept
        parts = [next(save_dir.rglob(name), None) for save_dir in segments]
        if None in parts:
            raise SystemExit(f"published {agent} seed {seed}: a segment wrote no {name} under {scratch}.")
        write_joined(parts, length, kept.with_name(name))
    (kept.parent / "command.txt").write_text("\n".join(commands) + "\n")
    return kept


def write_joined(parts: list[Path], length: int, out: Path) -> None:
    """One CSV from the segments' CSVs, steps counted from the first segment's start; a later
    segment's step-1 evaluation (main.py always evaluates at its step 1) repeats the one before it
    and is dropped."""
    rows, fields = [], None
    for k, part in enumerate(parts):
        with open(part) as f:
            reader = csv.DictReader(f)
            fields = fields or reader.fieldnames
            for row in reader:
                if k and int(row["step"]) == 1:
                    continue
                rows.append({**row, "step": str(int(row["step"]) + k * length)})
    tmp = out.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(out)


def published_success(path: Path) -> dict[int, float]:
    with open(path) as f:
        return {int(row["step"]): float(row["evaluation/overall_success"]) for row in csv.DictReader(f)}


def gcrl_success(agent: str, seed: int) -> dict[int, float]:
    run_dir = GCRL_ROOT / DATASET / agent / f"seed{seed}"
    if not is_finished(run_dir):
        return {}
    steps, success = read_eval(run_dir / "eval.csv")
    return {int(s): float(v) for s, v in zip(steps, success)}


def table(agents, seeds, steps: int) -> str:
    """One row per agent and seed that has a result on either side; the mean row pairs the seeds
    that both sides have, so a seed run on one side only never skews (or blanks) a comparison."""
    marks = (steps // 2, steps)
    head = " | ".join(f"{side} at {m // 1000}K" for m in marks for side in ("published", "gcrl"))
    lines = [f"| agent | seed | {head} |", "| --- | --- |" + " --- |" * 4]
    for agent in agents:
        paired = {m: ([], []) for m in marks}
        for seed in seeds:
            path = OUT / "published" / f"{agent}-seed{seed}" / "eval.csv"
            sides = (published_success(path) if path.is_file() else {}, gcrl_success(agent, seed))
            if not any(sides):
                continue
            cells = ["-" if side.get(m) is None else f"{100 * side[m]:.0f}" for m in marks for side in sides]
            lines.append(f"| {agent.upper()} | {seed} | " + " | ".join(cells) + " |")
            for m in marks:
                if all(side.get(m) is not None for side in sides):
                    for side, pool in zip(sides, paired[m]):
                        pool.append(100 * side[m])
        counts = {len(paired[m][0]) for m in marks}
        if max(counts) > 1:
            cells = [f"**{sum(p) / len(p):.0f}**" if p else "-" for m in marks for p in paired[m]]
            label = "mean" if counts == {len(seeds)} else f"mean of the {max(counts)} paired seeds"
            lines.append(f"| {agent.upper()} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--published", type=Path, help="the published snapshot's impls/ folder (omit to only write the table)")
    parser.add_argument("--python", default=sys.executable, help="the Python that runs the published code")
    parser.add_argument("--agents", default=",".join(AGENTS))
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--segments", type=int, default=1, choices=(1, 2, 4),
                        help="2 or 4: train each published run in pieces, each finished piece kept if a later one is interrupted (a run longer than a session)")
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/gcrl-side-by-side"))
    args = parser.parse_args()
    agents, seeds = args.agents.split(","), [int(s) for s in args.seeds.split(",")]
    if args.steps % max(2, args.segments):
        raise SystemExit(f"error: --steps {args.steps} must be a multiple of {max(2, args.segments)} (evaluations at half and at the end, "
                         f"{args.segments} equal segment(s)).")
    unknown = sorted(set(agents) - set(AGENTS))
    if unknown:
        raise SystemExit(f"error: unknown agent(s) {', '.join(unknown)}; choose from {', '.join(AGENTS)}.")

    if args.published:
        code = prepare_code(args.published.resolve(), args.scratch.resolve())
        for agent in agents:
            for seed in seeds:
                if not gcrl_success(agent, seed):
                    gcrl(["sweep", str(GRID), "--agents", agent, "--seeds", str(seed)])
                run_published(code, args.python, agent, seed, args, args.scratch.resolve())
    text = table(AGENTS, seeds, args.steps)  # every agent, so that running a few never drops the others' rows
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "table.md").write_text(text)
    print(text)
    missing = [d for d in find_runs([GCRL_ROOT]) if not is_finished(d)]
    if missing:
        print(f"({len(missing)} gcrl run(s) unfinished, e.g. {missing[0]}.)")


if __name__ == "__main__":
    main()
