"""Director against the flat world-model agent on the pixel maze: the three questions of "On the
benefits of pixel-based hierarchical policies for task generalization" (arXiv 2407.19142), and the
flat agent's benchmark (success against environment steps, env steps/s, updates/s).

Phases (each run is one `gcrl online train` process with its own run directory under --root; a
finished run is skipped, an interrupted one resumes from its newest checkpoint):

  train     pixel-maze-medium, goals from the maze's 'train' cells (random starts), evaluated on
            them: dreamer, director, and the control dreamer-ezgreedy (the flat agent with temporally
            extended epsilon-greedy exploration), --seeds each.                         (question 1)
  evaluate  each train run's final checkpoint (its eval_policy: sampled unless set) on the held-out cells (never a goal in
            training), on OGBench's five tasks, and on the held-out cells with decoys (another held-out
            goal shown than the one success counts: the control for whether success there reads the
            goal); no further training.                                                 (question 2)
  adapt     pixel-maze-medium-b (a layout neither agent saw), from each train run of --adapt-seeds:
            Director fine-tuning the manager only (world model, worker, goal autoencoder frozen),
            the manager and the world model, everything; the flat agent fine-tuning
            everything; and both agents from scratch for reference.                     (question 3)
  report    ROOT/README.md: tables, curves (ROOT/curves-*.png), budgets.

    python benchmarks/online_study.py [--phases train,evaluate,adapt,report] [--root results/online]
        [--seeds 0,1,2] [--adapt-seeds 0,1] [--steps 50000] [--adapt-steps 25000] [--parallel 3]
        [--deadline SECONDS] [--pin-cores] [--arms dreamer,...] [--set KEY=VALUE ...]

The flat agent's benchmark (issue: success on the five tasks against env steps, cpu preset, 3 seeds):
    python benchmarks/online_study.py --phases train,evaluate --arms dreamer --root results/online/cpu \
        --steps 100000 --set eval_goals=tasks

--pin-cores gives each run a core of its own (of this process's cores, in turn; a run started when
every core is taken shares the least used one). On a 2-core CPU two single-core runs side by side
made 7.9 updates/s together, one run on both cores 5.2 (XLA:CPU's thread pools spin against each
other when several processes share the cores: with three unpinned runs half the time went to the
kernel).

--deadline stops launching runs after that many seconds and interrupts running ones (each saves a
checkpoint; run the command again to continue). --set applies to every run (e.g. train_ratio=16).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

TRAIN_ENV, ADAPT_ENV = "pixel-maze-medium", "pixel-maze-medium-b"
ARMS = {  # name: (agent, extra --set values)
    "dreamer": ("dreamer", []),
    "director": ("director", []),
    "dreamer-ezgreedy": ("dreamer", ["explore=ezgreedy"]),
}
ADAPT_ARMS = {  # name: (agent, fine-tuned from the train run of this arm, extra --set values)
    "director-manager": ("director", "director", ["finetune=manager"]),
    "director-manager_wm": ("director", "director", ["finetune=manager_wm"]),
    "director-all": ("director", "director", ["finetune=all"]),
    "dreamer-all": ("dreamer", "dreamer", []),
    "director-scratch": ("director", None, []),
    "dreamer-scratch": ("dreamer", None, []),
}
COMMON = ["goal_set=train", "eval_goals=train"]
# Adaptation is read as env steps to a success level: evaluate every 5,000 env steps, not the
# preset's 20,000 (a 25,000-step run would have two points).
ADAPT_EVAL = ["eval_every=5000"]
# (goals, decoy) of the final evaluations: the held-out cells, the five tasks, the held-out cells
# with another held-out cell shown (the control: does success there need the goal?), and goals shown
# by a task vector outside the training range (the outer ring's cells, shown as the border beyond),
# beside the same ring cells shown as they are (the control for the cells themselves).
FINAL_EVALUATIONS = (("heldout", False), ("tasks", False), ("heldout", True), ("ring", False), ("outside", False))


@dataclass
class Run:
    name: str
    command: list[str]
    run_dir: Path
    after: list[Path] = field(default_factory=list)  # runs that must be finished first


def finished(run_dir: Path) -> bool:
    try:
        return json.loads((run_dir / "summary.json").read_text())["finished"]
    except (OSError, ValueError, KeyError):
        return False


def train_command(agent: str, env: str, seed: int, steps: int, run_dir: Path, sets: list[str], preset: str) -> list[str]:
    command = [sys.executable, "-m", "gcrl", "online", "train", "--agent", agent, "--env", env, "--preset", preset, "--seed", str(seed),
               "--steps", str(steps), "--run-dir", str(run_dir), "--quiet"]  # fmt: skip
    if (run_dir / "checkpoints").exists():
        command.append("--resume")
    for item in sets:
        command += ["--set", item]
    return command


def plan(args) -> list[Run]:
    root, runs = Path(args.root), []
    phases = args.phases.split(",")
    for seed in args.seeds:
        for arm, (agent, sets) in ARMS.items():
            if args.arms and arm not in args.arms:
                continue
            run_dir = root / "train" / f"{arm}-seed{seed}"
            if "train" in phases:
                runs.append(Run(f"train {arm} seed {seed}", train_command(agent, TRAIN_ENV, seed, args.steps, run_dir, COMMON + sets + args.set, args.preset), run_dir))
            if "evaluate" in phases:
                for goals, decoy in FINAL_EVALUATIONS:
                    out = run_dir / f"final-{goals}{'-decoy' if decoy else ''}.json"
                    if not out.exists():
                        runs.append(Run(f"evaluate {arm} seed {seed} on {goals}{' with decoys' if decoy else ''}",
                                        [sys.executable, "-m", "gcrl", "online", "evaluate", str(run_dir), "--goals", goals, "--episodes", str(args.final_episodes),
                                         "--out", str(out), *(["--decoy"] if decoy else [])], out, [run_dir]))  # fmt: skip
    if "adapt" in phases:
        for seed in args.adapt_seeds:
            for arm, (agent, source, sets) in ADAPT_ARMS.items():
                if args.arms and arm not in args.arms:
                    continue
                run_dir = root / "adapt" / f"{arm}-seed{seed}"
                source_dir = root / "train" / f"{source}-seed{seed}" if source else None
                extra = COMMON + ADAPT_EVAL + sets + args.set + ([f"init_from={source_dir}"] if source_dir else [])
                runs.append(Run(f"adapt {arm} seed {seed}", train_command(agent, ADAPT_ENV, seed, args.adapt_steps, run_dir, extra, args.preset), run_dir, [source_dir] if source_dir else []))
    return runs


def done(run: Run) -> bool:
    return run.run_dir.suffix == ".json" and run.run_dir.exists() or finished(run.run_dir)


def free_core(cores: list[int], taken: list[int]) -> int:
    """The first of `cores` no active run holds, else the one the fewest hold."""
    return min(cores, key=lambda core: (taken.count(core), cores.index(core)))


def execute(runs: list[Run], parallel: int, deadline: float | None, log_dir: Path, pin: bool = False) -> None:
    """Run what is not done, `parallel` at a time, in order, each once its prerequisites are done."""
    start, pending, active = time.monotonic(), [r for r in runs if not done(r)], {}
    log_dir.mkdir(parents=True, exist_ok=True)
    print(f"{len(runs) - len(pending)} of {len(runs)} runs already done; {len(pending)} to run, {parallel} at a time", flush=True)

    def stamp() -> str:
        return f"[{time.monotonic() - start:6.0f} s]"

    while pending or active:
        for name, (run, proc, _) in list(active.items()):
            if proc.poll() is not None:
                del active[name]
                print(f"{stamp()} {name}: {'done' if done(run) else f'stopped with exit {proc.returncode}, see {log_path(log_dir, run)}'}", flush=True)
        if deadline is not None and time.monotonic() - start > deadline:
            break
        coming = {r.run_dir for r in pending} | {r.run_dir for r, _, _ in active.values()}
        for run in [r for r in pending if any(not finished(a) and a not in coming for a in r.after)]:
            print(f"{stamp()} skipped {run.name}: {', '.join(str(a) for a in run.after if not finished(a))} did not finish", flush=True)
            pending.remove(run)
        for run in [r for r in pending if all(finished(a) for a in r.after)][: max(0, parallel - len(active))]:
            pending.remove(run)
            core = free_core(sorted(os.sched_getaffinity(0)), [c for _, _, c in active.values()]) if pin else None
            pin_to = (lambda c=core: os.sched_setaffinity(0, {c})) if pin else None
            with open(log_path(log_dir, run), "a") as log:
                proc = subprocess.Popen(run.command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=pin_to)
            active[run.name] = (run, proc, core)
            print(f"{stamp()} started {run.name}" + (f" on core {core}" if pin else ""), flush=True)
        time.sleep(1.0)
    stop_all(active, stamp)


def log_path(log_dir: Path, run: Run) -> Path:
    return log_dir / (run.name.replace(" ", "_") + ".log")


def stop_all(active: dict, stamp) -> None:
    """Interrupt what still runs (each saves a checkpoint), then kill what does not stop in 30 s."""
    for _, proc, _ in active.values():
        proc.send_signal(signal.SIGINT)
    for name, (_, proc, _) in active.items():
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        print(f"{stamp()} interrupted {name} at the deadline (run the study again to continue it)", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phases", default="train,evaluate,adapt,report")
    parser.add_argument("--root", default="results/online")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--arms", type=lambda s: s.split(","), default=None, help=f"only these arms (train: {', '.join(ARMS)}; adapt: {', '.join(ADAPT_ARMS)})")
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1, 2])
    parser.add_argument("--adapt-seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1])
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--adapt-steps", type=int, default=25_000)
    parser.add_argument("--final-episodes", type=int, default=10, help="episodes per group in the final evaluations")
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--deadline", type=float, default=None, help="seconds")
    parser.add_argument("--pin-cores", action="store_true", help="each run on a core of its own (CPU machines)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    runs = plan(args)
    if runs:
        execute(runs, args.parallel, args.deadline, Path(args.root) / "logs", args.pin_cores)
    if "report" in args.phases.split(","):
        from online_report import write_report

        write_report(Path(args.root))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
