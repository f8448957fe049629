"""Do the pixel agents learn? SAW and HIQL (any agents) on a locally rendered visual-cube-single-play
dataset, with the published pixel settings (IMPALA encoder, batch 256, random crops), evaluated on
OGBench's visual-cube-single-v0, beside a random policy and beside the same agents untrained.

    python benchmarks/pixels_learn.py [--agents saw,hiql] [--steps 200] [--eval-episodes 4] [--episodes 15] [--root results/pixels]

Phases, each skipping what is done (rerun the same command after an interruption):
1. data: `gcrl datasets generate visual-cube-single-play-v0 --episodes E` unless it is on disk.
2. train: a `gcrl sweep` of the agents (resumable; a checkpoint every --checkpoint-every updates),
   evaluated once at the end on the five tasks (pixel evaluation runs in worker processes and says
   its expected time up front).
3. random: a uniform random policy on the same five tasks (in cube-single-v0: the same dynamics and
   tasks; success does not depend on the images a random policy ignores).
4. value: on held-out trajectories (the dataset's validation split), the share of (far, near, goal)
   frame triples where V(near, goal) > V(far, goal), by the goal's distance in steps, for the trained
   run and for the same network at initialisation (gcrl/experiments/value_check.py). Chance is 50%.
   A value that ranks above its initialisation has learned from pixels even where the tasks stay at 0.
5. strip: one episode of task 1 by the first agent's policy, every 20th frame beside the goal image.
Then ROOT/README.md: the tables and the strip, with the budget against the published one.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from gcrl.console import console, run_command
from gcrl.data.files import atomic_path
from gcrl.data.load import dataset_dir, load, split_paths
from gcrl.errors import GcrlError
from gcrl.experiments.report import is_finished
from gcrl.experiments.value_check import temporal_order, temporal_triples

DATASET, ENV, STATE_ENV = "visual-cube-single-play-v0", "visual-cube-single-v0", "cube-single-v0"
BINS = [2, 10, 50, 200]  # lower edges of the goal-distance bins, in steps
PUBLISHED_STEPS = 500_000  # OGBench's and SAW's pixel runs: 500K updates at batch 256


def gcrl_cli(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "gcrl", *args])
    if done.returncode:
        raise GcrlError(f"gcrl {' '.join(args)} failed (exit {done.returncode}); its output is above.")


def data_phase(args) -> None:
    train_path, _ = split_paths(DATASET, dataset_dir(args.dataset_dir))
    if train_path.exists():
        console.print(f"data: {train_path} is there (delete it, or pass --dataset-dir, to make another size)")
        return
    gcrl_cli("datasets", "generate", DATASET, "--episodes", str(args.episodes), *dir_args(args))


def dir_args(args) -> list[str]:
    return ["--dataset-dir", args.dataset_dir] if args.dataset_dir else []


def run_dir(args, agent: str) -> Path:
    return Path(args.root) / DATASET / agent / f"seed{args.seed}"


def train_phase(args) -> None:
    gcrl_cli("sweep", "--agents", ",".join(args.agents), "--datasets", DATASET, "--seeds", str(args.seed), "--steps", str(args.steps),
             "--eval-every", "0", "--eval-episodes", str(args.eval_episodes), "--root", args.root, "--workers", "0",
             "--set", f"checkpoint_every={args.checkpoint_every}", *(["--batch-size", str(args.batch_size)] if args.batch_size else []),
             *dir_args(args))  # fmt: skip


def random_phase(args) -> dict:
    path = Path(args.root) / "random.json"
    if path.exists():
        return json.loads(path.read_text())
    from gcrl.evaluate import evaluate

    rng = np.random.default_rng(args.seed)
    result = evaluate(lambda obs, goals: rng.uniform(-1, 1, (len(obs), 5)).astype(np.float32), STATE_ENV, args.eval_episodes, seed=args.seed)
    out = result.to_dict()
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(out, indent=1))
    return out


def frames_per_trajectory(data) -> np.ndarray:
    """Observation rows per trajectory, in either layout: each trajectory's rows end at a terminal."""
    return np.diff(np.concatenate([[-1], np.nonzero(data.terminals > 0)[0]]))


def value_phase(args) -> dict:
    path = Path(args.root) / "value_check.json"
    found = json.loads(path.read_text()) if path.exists() else {}
    val = load(DATASET, args.dataset_dir, split="val", allow_download=False)  # the held-out frames only
    triples = temporal_triples(frames_per_trajectory(val), BINS, args.triples, seed=args.seed)
    import jax

    from gcrl.hierarchy.levels import load as load_run

    for agent in args.agents:
        run = load_run(run_dir(args, agent))
        key = f"{agent}@{run.step}"
        if key in found or "value" not in run.agent.parts:
            continue
        value = run.agent.parts["value"]
        initial = run.agent.init(jax.random.PRNGKey(args.seed))
        found[key] = {
            "initial": [temporal_order(value, initial, val.observations, t) for t in triples],
            "trained": [temporal_order(value, run.params, val.observations, t) for t in triples],
        }
        with atomic_path(path) as tmp:
            Path(tmp).write_text(json.dumps(found, indent=1))
    return found


def strip_phase(args) -> Path:
    path = Path(args.root) / "strip.png"
    if path.exists():
        return path
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gcrl.envs.group import LocalEnvGroup, make_envs
    from gcrl.hierarchy.levels import load as load_run
    from gcrl.policy import Policy

    run = load_run(run_dir(args, args.agents[0]))
    policy = Policy(run.agent, run.params, run.spec)
    env = LocalEnvGroup(make_envs(ENV, 1), owned=True)  # the evaluation's own reset and step
    try:
        ob, goal, _, _ = env.reset(1, args.seed, 1)[0]
        frames, done, success = [ob], False, 0.0
        while not done:
            _, ob, done, success, _ = env.step(policy(ob[None], goal[None]), np.ones(1, bool))[0]
            frames.append(ob)
    finally:
        env.close()
    shown = frames[::20][:10]
    fig, axes = plt.subplots(1, len(shown) + 1, figsize=(1.6 * (len(shown) + 1), 1.9))
    for i, (ax, frame) in enumerate(zip(axes, [*shown, goal])):
        ax.imshow(frame)
        ax.set_title("goal" if i == len(shown) else f"step {20 * i}", fontsize=8)
        ax.axis("off")
    fig.suptitle(f"{args.agents[0]} after {run.step:,} updates, task 1 ({'success' if success else 'no success'} in {len(frames) - 1} steps)", fontsize=9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def updates_per_s(directory: Path) -> float:
    with open(directory / "metrics.csv", newline="") as f:
        return float(list(csv.DictReader(f))[-1]["updates_per_s"])


def budget_line(args) -> str:
    """What the published budget would cost at the rate measured here (the slowest agent's)."""
    rates = [updates_per_s(run_dir(args, a)) for a in args.agents if (run_dir(args, a) / "metrics.csv").is_file()]
    if not rates:
        return ""
    rate = min(rates)
    return (f"At {rate:.3g} updates/s, the published {PUBLISHED_STEPS:,} updates would take {PUBLISHED_STEPS / rate / 86_400:.0f} days "
            f"per agent on this machine ({args.steps:,} took {args.steps / rate / 60:.0f} min): a pixel run at the published budget is a GPU job.")


def success_rows(args, random: dict) -> list[str]:
    rows = ["| policy | updates | updates/s | evaluation s/episode | task 1 | task 2 | task 3 | task 4 | task 5 | overall |", "|" + " --- |" * 10]
    for agent in args.agents:
        directory = run_dir(args, agent)
        evals = sorted((directory / "eval").glob("step_*.json"))
        if not evals:
            rows.append(f"| {agent} | not evaluated yet | | | | | | | | |")
            continue
        ev, rate = json.loads(evals[-1].read_text()), updates_per_s(directory)
        tasks = " | ".join(f"{100 * ev['per_task'][str(t)]:.0f}" for t in range(1, 6))
        rows.append(f"| {agent} | {ev['step']:,} | {rate:.3f} | {ev['seconds'] / ev['episodes']:.1f} | {tasks} | {100 * ev['overall']:.0f} |")
    tasks = " | ".join(f"{100 * random['per_task'][str(t)]:.0f}" for t in range(1, 6))
    rows.append(f"| uniform random actions | - | - | - | {tasks} | {100 * random['overall']:.0f} |")
    return rows


def value_rows(values: dict) -> list[str]:
    edges = [*BINS, None]
    names = [f"{lo}-{hi - 1} steps" if hi else f"{lo}+ steps" for lo, hi in zip(edges, edges[1:])]
    rows = ["| run | " + " | ".join(names) + " |", "|" + " --- |" * (len(names) + 1)]
    for key, v in values.items():
        cells = " | ".join(f"{100 * a:.0f}% -> **{100 * b:.0f}%**" for a, b in zip(v["initial"], v["trained"]))
        rows.append(f"| {key.replace('@', ' after ')} updates | {cells} |")
    return rows


def report(args, random: dict, values: dict, strip: Path | None) -> Path:
    train_path, val_path = split_paths(DATASET, dataset_dir(args.dataset_dir))
    frames = {path: len(np.load(path)["terminals"]) for path in (train_path, val_path)}  # one small field, not the images
    lines = [
        "# Pixels learn? SAW and HIQL on visual-cube-single-play, rendered locally",
        "",
        f"Dataset: {DATASET} as `gcrl datasets generate` renders it, {frames[train_path]:,} training frames, {frames[val_path]:,} held out. "
        f"The published pixel settings (IMPALA encoder, batch {args.batch_size or 256}{'' if args.batch_size in (None, 256) else ' instead of 256'}, "
        f"random crops p = 0.5) but the cpu preset's 2 x 256 layers after the encoder (published: 3 x 512), {args.steps:,} updates: "
        f"{100 * args.steps / PUBLISHED_STEPS:.2f}% of the published {PUBLISHED_STEPS:,}. Rerun: "
        f"`python benchmarks/pixels_learn.py --agents {','.join(args.agents)} --steps {args.steps} --eval-episodes {args.eval_episodes}"
        f"{f' --batch-size {args.batch_size}' if args.batch_size else ''}`.",
        "",
        f"## Success on OGBench's five tasks ({ENV}, {args.eval_episodes} episode{'s' * (args.eval_episodes > 1)} per task, %)",
        "",
        *success_rows(args, random),
        "",
        budget_line(args),
        "",
        "## The value on held-out frames",
        "",
        "Of two frames before a goal frame in a held-out trajectory, does V rank the later one higher? The share of such triples "
        f"({args.triples} per bin), at initialisation -> after training; chance is 50%.",
        "",
        *value_rows(values),
    ]
    if strip:
        lines += ["", "## The agent's observations and the goal", "", f"![frames]({strip.name})"]
    path = Path(args.root) / "README.md"
    with atomic_path(path) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    # MuJoCo picks its GL backend once, at import: the random policy's state environment imports it
    # before the strip renders, so the headless backend is chosen here, first.
    from gcrl.data.generate_visual import headless_backend

    os.environ.setdefault("MUJOCO_GL", headless_backend())
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", default="saw,hiql", help="agents with a value (default saw,hiql)")
    parser.add_argument("--steps", type=int, default=200, help="updates per agent (default 200: about 20 minutes each on 2 CPU cores, 7 more to evaluate, so that the whole benchmark fits in a working session)")
    parser.add_argument("--batch-size", type=int, help="default: the published 256")
    parser.add_argument("--eval-episodes", type=int, default=4, help="episodes per task, for the agents and the random policy (default 4: about 20 s each on 2 CPU cores)")
    parser.add_argument("--episodes", type=int, default=15, help="training episodes to render when the dataset is missing (default 15)")
    parser.add_argument("--checkpoint-every", type=int, default=50, help="updates between checkpoints (default 50)")
    parser.add_argument("--triples", type=int, default=512, help="frame triples per distance bin in the value check (default 512)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", default="results/pixels")
    parser.add_argument("--dataset-dir")
    parser.add_argument("--phases", default="data,train,random,value,strip,report")
    args = parser.parse_args()
    args.agents = [a.strip() for a in args.agents.split(",") if a.strip()]
    phases = set(args.phases.split(","))

    if "data" in phases:
        data_phase(args)
    if "train" in phases:
        train_phase(args)
    random = random_phase(args) if phases & {"random", "report"} else {}
    values = value_phase(args) if phases & {"value", "report"} else {}
    finished = all(is_finished(run_dir(args, a)) for a in args.agents)
    strip = strip_phase(args) if phases & {"strip", "report"} and finished else None
    if "report" in phases:
        console.print(f"wrote {report(args, random, values, strip)}")


if __name__ == "__main__":
    sys.exit(run_command(main))
