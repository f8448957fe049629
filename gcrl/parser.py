"""The `gcrl` command's parser: one builder per command, and argument types that refuse
out-of-range numbers with one `error:` line (exit code 2) before anything runs."""

from __future__ import annotations

import argparse
import math
import sys

from gcrl.console import err_console

DEFAULT_DATASET = "pointmaze-medium-navigate-v0"


class Parser(argparse.ArgumentParser):
    """argparse with gcrl's error style: one `error:` line naming the command, then exit 2."""

    def error(self, message: str):
        err_console.print(f"[bold red]error:[/] {self.prog}: {message} (see {self.prog} --help)", highlight=False, soft_wrap=True)
        sys.exit(2)


def count(minimum: int):
    """An argument type: a whole number of at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number of at least {minimum}, got '{text}'") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = "count"
    return parse


def number(low: float, high: float | None = None, open_low: bool = False):
    """An argument type: a finite number >= low (> low with open_low), <= high if given."""
    where = f"{'greater than' if open_low else 'at least'} {low:g}" + (f" and at most {high:g}" if high is not None else "")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number {where}, got '{text}'") from None
        if not math.isfinite(value) or value < low or (open_low and value == low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be a finite number {where}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


def _add_dataset_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset-dir",
        metavar="DIR",
        help="where datasets live (default: $GCRL_DATASET_DIR, else ~/.ogbench/data)",
    )


def _add_run_options(parser: argparse.ArgumentParser, preset_help: str) -> None:
    """The training budget options that `train` and `sweep` share."""
    parser.add_argument("--preset", choices=("cpu", "paper"), help=preset_help)
    parser.add_argument("--steps", type=count(1), help="number of updates per run (default: the preset's; cpu 50,000)")
    parser.add_argument("--batch-size", type=count(1), help="batch size (default: the preset's)")
    parser.add_argument("--eval-episodes", type=count(0), help="evaluation episodes per task (default 50; 0 skips evaluation)")
    parser.add_argument("--eval-every", type=count(0), help="evaluate every N updates (default: the preset's; 0 = only at the end)")


def _add_wandb(parser: argparse.ArgumentParser, what: str) -> None:
    """--wandb and its W&B run options (train, sweep, online train)."""
    parser.add_argument("--wandb", action="store_true", help=f"also log {what} to Weights & Biases: the config, every metric, the evaluations (per-task table) "
                        "and pictures (needs pip install 'gcrl[wandb]'; WANDB_MODE=offline logs under WANDB_DIR with no network; a W&B failure never stops training)")
    parser.add_argument("--wandb-project", metavar="NAME", help="W&B project (default: $WANDB_PROJECT, else gcrl)")
    parser.add_argument("--wandb-entity", metavar="NAME", help="W&B entity, a user or team (default: $WANDB_ENTITY, else your default)")
    parser.add_argument("--wandb-group", metavar="NAME", help="W&B group (default: $WANDB_RUN_GROUP; a sweep's runs: sweep-ROOTNAME; several --seeds: their common name)")
    parser.add_argument("--wandb-tags", metavar="T,T", help="comma-separated W&B tags (default: $WANDB_TAGS)")


def _datasets(sub) -> None:
    """gcrl datasets generate | info | list"""
    datasets = sub.add_parser("datasets", help="generate, inspect and list datasets")
    dsub = datasets.add_subparsers(dest="datasets_command", metavar="ACTION", required=True)

    gen = dsub.add_parser(
        "generate", help="generate a pointmaze or manipulation (cube, scene, puzzle; states or visual-*) dataset locally with OGBench's protocol",
        description="Generate a dataset locally with OGBench's protocol. visual-* datasets (e.g. visual-cube-single-play-v0) are the same "
        "episodes as the state dataset with the same seed, rendered headless in OGBench's visual environment (MUJOCO_GL=egl; on Debian: "
        "apt-get install libegl1 libopengl0 libgl1-mesa-dri). Rendering is slow on a CPU (about 7 frames/s per core): their default is "
        "15 + 1 episodes of 1001 steps (16,016 frames), about 20 minutes on 2 idle cores (40 on busy ones); --episodes 1000 is OGBench's size (about a day).",
    )
    gen.add_argument("name", help="dataset name, e.g. pointmaze-medium-navigate-v0 or visual-cube-single-play-v0")
    gen.add_argument("--episodes", type=count(1), help="training episodes (default: OGBench's count; visual-*: 15); validation gets a tenth")
    gen.add_argument("--seed", type=count(0), default=0, help="random seed; the same seed gives identical arrays (default 0)")
    gen.add_argument("--workers", type=count(1), help="worker processes for manipulation datasets (default: one per core); the arrays do not depend on it")
    gen.add_argument("--render", choices=("default", "ogbench"), default="default",
                     help="visual-* only: 'default' renders with a 2048 shadow map (about 1.3x faster; a few shadow-edge pixels differ, "
                     "at most 0.15%% of a frame), 'ogbench' with OGBench's settings, pixel for pixel (default: default)")  # fmt: skip
    gen.add_argument("--force", action="store_true", help="regenerate even if the files exist")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_dataset_dir(gen)
    gen.set_defaults(func="datasets_generate")

    info = dsub.add_parser("info", help="summarize a dataset given by name or .npz path")
    info.add_argument("dataset", help="OGBench dataset name or path to an .npz file")
    info.add_argument("--split", choices=("train", "val"), default="train", help="which split (default train)")
    _add_dataset_dir(info)
    info.set_defaults(func="datasets_info")

    lst = dsub.add_parser("list", help="list OGBench dataset names and which are on disk")
    _add_dataset_dir(lst)
    lst.set_defaults(func="datasets_list")


def _train(sub) -> None:
    """gcrl train"""
    tr = sub.add_parser(
        "train",
        help="train an agent (no arguments: SAW on pointmaze-medium-navigate-v0)",
        description="Train an agent on a dataset, evaluate it on OGBench's five tasks, and save the run.",
    )
    from gcrl.agents import AGENTS

    tr.add_argument("--agent", default="saw", choices=sorted(AGENTS), help="algorithm (default saw)")
    tr.add_argument("--dataset", default=DEFAULT_DATASET, help=f"OGBench dataset name or .npz path (default {DEFAULT_DATASET})")
    _add_dataset_dir(tr)
    _add_run_options(tr, preset_help="network and batch sizes: cpu (2x256, batch 256) or paper (3x512, batch 1024, 1M updates); default: cpu without a GPU, paper with one")
    tr.add_argument("--env", metavar="ENV", help="the OGBench environment to evaluate in (default: the dataset's own), e.g. antmaze-large-v0 for a .npz dataset of your own collected there; its observation and action shapes must match the dataset's")
    tr.add_argument("--run-dir", help="where the run is saved (default runs/DATASET/AGENT-seedS-TIME)")
    tr.add_argument("--seed", type=count(0), help="random seed (default 0)")
    tr.add_argument("--seeds", metavar="S,S,...", help="train several seeds in one program (vmapped on a GPU; one after another within each chunk on a CPU), e.g. 0,1,2,3 or 0-3; each gets its own run directory (--run-dir DIR: DIR/seedS)")
    tr.add_argument("--resume", action="store_true", help="continue the run in --run-dir (default: the latest run of this agent, dataset and seed) from its newest verified checkpoint, with its saved settings; --steps raises its budget, and --set (and --batch-size, --eval-*) change settings, e.g. --set lr=1e-4 after a divergence")
    tr.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any agent or training setting, e.g. --set alpha=10 --set hidden=512,512; repeatable")
    _add_wandb(tr, "the run")
    tr.add_argument("--quiet", action="store_true", help="no progress bars")
    tr.set_defaults(func="train")


def _evaluate(sub) -> None:
    """gcrl evaluate RUN_DIR"""
    ev = sub.add_parser(
        "evaluate",
        help="evaluate a trained run on OGBench's five tasks, flat or hierarchically (a high level over a low level)",
        description="Evaluate a trained run on OGBench's five tasks. Flat agents (gcbc, gcivl, gciql, qrl, crl, saw, and ris and gcwae, which "
        "train a high level but act flat) act with their policy; --replan or --high runs ris's or gcwae's own hierarchy. Hierarchical agents "
        "(hiql, hbc) run their own high level over their own low level, replanning every step as published, and report how the levels "
        "worked together: subgoals per episode, steps per subgoal, how often the low level reached its subgoal before the next one, how "
        "often a subgoal timed out, and (pointmaze) the distance from each proposed subgoal to the maze oracle's: in xy for observation "
        "subgoals, in phi-space (||z - phi(s, oracle w)||) for HIQL's. With --high, RUN_DIR provides the low level (hbc or hiql's low level, "
        "SAW's subpolicy, or a flat policy aimed at the subgoal) and --high the high level. Results: RUN_DIR/eval/step_S[-TAG].json and, "
        "in mazes, a picture with the proposed subgoals.",
    )
    ev.add_argument("run_dir", help="a run directory made by gcrl train (or a gcrl dagger output folder)")
    ev.add_argument("--episodes", type=count(1), default=50, help="episodes per task (default 50)")
    ev.add_argument("--seed", type=count(0), default=0, help="evaluation seed (default 0)")
    ev.add_argument("--temperature", type=number(0), default=0.0, help="0 acts with the mode (default); > 0 samples")
    ev.add_argument("--env", metavar="ENV", help="the OGBench environment to evaluate in (default: the run's: its --env, else its dataset's), e.g. antmaze-large-v0")
    ev.add_argument("--high", metavar="RUN_DIR|oracle", help="the high level: a hbc, hiql, ris or gcwae run, a gcrl dagger output folder, or 'oracle' (the maze's next cell on a shortest path; pointmaze, antmaze and humanoidmaze from states); default: RUN_DIR's own")
    ev.add_argument("--replan", metavar="RULE", help="when the high level proposes a new subgoal, per episode: always (every step; default), every:N (every N steps), "
                    "reached:state:D (when ||s - w|| <= D on --subgoal-dims), reached:value:V (when V(s, w) >= V; about -steps to go, e.g. -12)")
    ev.add_argument("--subgoal-timeout", type=count(1), default=50, metavar="N", help="with reached:*, replan after N steps on one subgoal even if it was not reached (default 50)")
    ev.add_argument("--subgoal-dims", metavar="I,J,...", help="observation dims a state test compares (default: 0,1 = xy in mazes, all dims otherwise)")
    ev.add_argument("--reach-test", metavar="state:D|value:V", help="how reaching is measured under always/every:N (default: state:1.0 for observation subgoals, value:-k/2 for HIQL's)")
    ev.add_argument("--decode-candidates", type=count(1), metavar="N",
                    help="a HIQL high level over another run's low level: its z is decoded to the nearest of N dataset states (default 1024)")
    _add_dataset_dir(ev)
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    ev.set_defaults(func="evaluate")


def _bench(sub) -> None:
    """gcrl bench"""
    be = sub.add_parser("bench", help="measure updates/s, compile time, FLOPs and memory per agent and preset, evaluation and generation speed")
    be.add_argument("--quick", action="store_true", help="about a minute: cpu preset, SAW and GCBC, short timings")
    be.add_argument("--agents", help="comma-separated agents (default all; --quick: saw,gcbc)")
    be.add_argument("--presets", help="comma-separated presets (default cpu,paper; --quick: cpu)")
    be.add_argument("--json", metavar="FILE", help="write the results as JSON (and a markdown table beside it)")
    be.add_argument("--seeds", type=count(0), default=0, metavar="N", help="also measure N seeds trained in one program (vmapped, and mapped one after another), per seed, against one alone")
    be.add_argument("--seed-modes", default="vmap,map", metavar="MODES",
                    help="with --seeds: vmap (batched: what fills a GPU), map (one after another in the program: the CPU's default) or both (default vmap,map)")
    be.add_argument("--pixels", action="store_true", help="measure the agents on 64 x 64 frames with the visual cube's pixel settings (IMPALA encoder, batch 256) and the pixel evaluation's seconds per episode, instead of pointmaze's states")
    be.set_defaults(func="bench")


def _sweep(sub) -> None:
    """gcrl sweep [FILE]"""
    sw = sub.add_parser(
        "sweep",
        help="run a grid of agents x datasets x seeds x variants; rerunning it skips finished runs and resumes interrupted ones",
        description="Run a grid of agents x datasets x seeds (x variants, from a sweep file). Each run lives in ROOT/DATASET/AGENT[-TAG]/seedS: "
        "running the same sweep again skips finished runs, resumes interrupted ones and starts the rest. A failed run is recorded and the "
        "sweep goes on; the exit status is 1 if any failed. ROOT/sweep.json holds the grid and every run's status.",
    )
    sw.add_argument("file", nargs="?", help="a TOML sweep file with the same keys as the options (agents, datasets, seeds, steps, set, overrides = [{}, {beta = 0}], ...); options given here win")
    sw.add_argument("--agents", help="comma-separated agents, e.g. saw,hiql")
    sw.add_argument("--datasets", help=f"comma-separated dataset names or .npz paths (default {DEFAULT_DATASET})")
    sw.add_argument("--seeds", help="comma-separated seeds (default 0)")
    _add_run_options(sw, preset_help="default: cpu without a GPU, paper with one (on Ray: whether the cluster has GPUs)")
    sw.add_argument("--set", action="append", metavar="KEY=VALUE", help="a setting for every run, e.g. --set hidden=512,512; repeatable")
    sw.add_argument("--root", help="where the runs and sweep.json go (default runs); use one root per sweep")
    _add_dataset_dir(sw)
    sw.add_argument("--workers", type=count(0), help="runs at a time, each in a fresh process; 0 = one after another in this process (default: 0 with <= 2 cores, else half the cores)")
    sw.add_argument("--ray", metavar="ADDRESS", help="run on the Ray cluster at ADDRESS (e.g. auto, or HOST:6379), one task per run; needs pip install 'gcrl[ray]'")
    sw.add_argument("--ray-cpus-per-run", type=number(0, open_low=True), help="CPUs Ray reserves for each run (default 1)")
    sw.add_argument("--ray-gpus-per-run", type=number(0), help="GPUs Ray reserves for each run; a fraction shares a GPU (default: 1 if the cluster has GPUs, else 0)")
    sw.add_argument("--dry-run", action="store_true", help="print each run and what would happen to it (skip, resume, start); run nothing")
    _add_wandb(sw, "every run, grouped by the sweep,")
    sw.add_argument("--quiet", action="store_true", help="no progress bars")
    sw.set_defaults(func="sweep")


def _report(sub) -> None:
    """gcrl report PATH..."""
    rp = sub.add_parser(
        "report",
        help="tables and learning curves of runs, mean +- std over seeds, beside the published numbers",
        description="Find the runs (directories with config.json) under the given paths, score each by the mean of its last evaluations, "
        "aggregate over seeds per dataset and agent, and write report.md (a table in the papers' style, with the published numbers) "
        "and one learning-curve PNG per dataset.",
    )
    rp.add_argument("paths", nargs="+", metavar="RUN_OR_ROOT", help="run directories, or folders to search for them (e.g. a sweep's root)")
    rp.add_argument("--out", help="where report.md and the PNGs go (default: the first path given)")
    rp.add_argument("--last", type=count(1), default=3, help="score each run by the mean of its last N evaluations (default 3)")
    rp.add_argument("--name", default="report.md", help="the page's file name in --out (default report.md; README.md for a results folder)")
    rp.add_argument("--intro", metavar="FILE", help="a markdown file placed after the title (what was run, how to rerun it, how to read it)")
    rp.add_argument("--include", metavar="FILE", action="append", help="a markdown file appended after the table as its own section (repeatable)")
    rp.add_argument("--maze-agent", metavar="AGENT", help="whose maze picture to show per dataset (default: the best of each row)")
    rp.add_argument("--unfinished", action="store_true", help="also report runs that have not trained all their updates")
    rp.set_defaults(func="report")


def _dagger(sub) -> None:
    """gcrl dagger RUN_DIR"""
    dg = sub.add_parser(
        "dagger",
        help="correct a hierarchical run's high level with the maze oracle (DAgger), the low level frozen",
        description="DAgger on the high level only (pointmaze). Each round evaluates the hierarchy, then rolls it out again with corrections: "
        "where the high level's subgoal is farther than --threshold from the maze oracle's (the next cell on a shortest path), the oracle's "
        "is executed and (s, goal, oracle subgoal) recorded; then the high level alone is fine-tuned (its own Adam optimiser) on all "
        "corrections so far, mixed with the original data. Works for hbc (subgoal observations; distances in xy) and hiql (targets "
        "phi(s, oracle w); distances in phi-space). Prints success per round and writes OUT/dagger.json, corrections.npz and "
        "high_actor.msgpack; evaluate the result with gcrl evaluate OUT.",
    )
    dg.add_argument("run_dir", help="a hbc, hiql, ris or gcwae run directory: its high level is corrected")
    dg.add_argument("--low", metavar="RUN_DIR", help="take the low level from this run instead (e.g. a saw run's subpolicy); it stays frozen")
    dg.add_argument("--rounds", type=count(1), default=3, help="correction rounds (default 3)")
    dg.add_argument("--episodes", type=count(1), default=10, help="collection episodes per task per round (default 10)")
    dg.add_argument("--eval-episodes", type=count(1), help="evaluation episodes per task per round (default: --episodes)")
    dg.add_argument("--tasks", metavar="I,J,...", help="evaluation tasks (default 1,2,3,4,5)")
    dg.add_argument("--updates", type=count(1), default=2000, help="high-level fine-tuning updates per round (default 2000)")
    dg.add_argument("--batch-size", type=count(1), default=256, help="fine-tuning batch size (default 256)")
    dg.add_argument("--lr", type=number(0, open_low=True), default=3e-4, help="fine-tuning learning rate (default 3e-4)")
    dg.add_argument("--threshold", type=number(0, open_low=True), default=2.0, help="disagreement above which the oracle takes over: xy units for hbc (pointmaze cells are 4 wide), phi units for hiql (default 2.0)")
    dg.add_argument("--mix-data", type=number(0, 1), default=0.5, help="fraction of each fine-tuning batch from the original data's (s, goal, waypoint) triples (default 0.5; 0: corrections only)")
    dg.add_argument("--replan", default="always", metavar="RULE", help="replanning rule during rollouts, as gcrl evaluate's --replan (default always)")
    dg.add_argument("--subgoal-timeout", type=count(1), default=50, metavar="N", help="with reached:* rules, max steps per subgoal (default 50)")
    dg.add_argument("--seed", type=count(0), default=0, help="seed of evaluation and fine-tuning (default 0)")
    dg.add_argument("--out", help="output folder (default RUN_DIR/dagger)")
    _add_dataset_dir(dg)
    dg.add_argument("--quiet", action="store_true", help="no progress bars")
    dg.set_defaults(func="dagger")


def _export(sub) -> None:
    """gcrl export RUN_DIR --out FILE"""
    ex = sub.add_parser(
        "export",
        help="write a run's policy to a file that runs with JAX alone (jax.export), with a JSON sidecar",
        description="Write a run's policy (its newest checkpoint) as JAX's serialized export: StableHLO with the parameters inside. "
        "In any Python with jax and flatbuffers, gcrl not installed: policy = jax.export.deserialize(open(FILE, 'rb').read()); "
        "action = policy.call(observation, goal) (with --sample: policy.call(observation, goal, key), key = jax.random.PRNGKey(seed)). "
        "FILE.json says the shapes, dtypes, action bounds, agent, dataset and run. Pixel policies take uint8 images.",
    )
    ex.add_argument("run_dir", metavar="RUN_DIR", help="a run directory made by gcrl train (or a gcrl dagger output folder: its fine-tuned high level)")
    ex.add_argument("--out", required=True, metavar="FILE", help="the file to write, e.g. policy.jax (FILE.json is written beside it)")
    ex.add_argument("--sample", action="store_true", help="sampled actions: the function takes a key (uint32[2]) and draws at --temperature (default: the mode, as evaluation acts)")
    ex.add_argument("--temperature", type=number(0, open_low=True), default=1.0, help="with --sample: the sampling temperature (default 1)")
    ex.add_argument("--no-batch", action="store_true", help="one observation and goal without a batch axis (default: a symbolic batch dimension, so one file serves any batch size)")
    ex.add_argument("--platforms", default="cpu", metavar="P,P", help="where the file runs: cpu, cuda, rocm, tpu, comma-separated; exporting for a GPU needs no GPU here (default cpu)")
    ex.add_argument("--levels", action="store_true", help="also write the high and low levels as files of their own (FILE.high.jax, FILE.low.jax), for a controller that "
                    "replans on its own schedule (hiql, hbc, ris, gcwae); FILE itself is the agent's own act (hiql, hbc: a new subgoal every step, as published)")
    ex.set_defaults(func="export")


def _experts(sub) -> None:
    """gcrl experts train | evaluate"""
    ex = sub.add_parser("experts", help="train OGBench's expert locomotion policies (SAC), as its data scripts do, and evaluate them",
                        description="The expert policies OGBench collected its locomotion datasets with, trained here with SAC exactly as "
                        "OGBench's data_gen_scripts/main_sac.py and commands.sh: ant (online-ant-xy-v0, 400K env steps), antball "
                        "(online-antball-v0, 12M) and humanoid (online-humanoid-xy-v0, 40M).")
    esub = ex.add_subparsers(dest="experts_command", metavar="ACTION", required=True)
    tr = esub.add_parser("train", help="train (or resume) an expert", description="Train an expert with SAC: one update per train_interval env steps "
                         "after seed_steps random ones, checkpointed with its replay, evaluated with its mode (and, for directional experts, a picture "
                         "of its paths for eight commanded directions).")
    from gcrl.experts.envs import EXPERTS

    tr.add_argument("expert", choices=sorted(EXPERTS), help="which expert: ant, antball or humanoid")
    tr.add_argument("--steps", type=count(1), help="environment steps (default: the published; ant 400,000)")
    tr.add_argument("--seed", type=count(0), help="random seed (default 0)")
    tr.add_argument("--run-dir", help="where the run is saved (default runs/experts/EXPERT/seedS-TIME)")
    tr.add_argument("--resume", action="store_true", help="continue the run in --run-dir (default: the latest of this expert and seed) from its newest checkpoint, replay included")
    tr.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a loop or SAC setting, e.g. --set eval_episodes=10 --set lr=3e-4; repeatable")
    _add_wandb(tr, "the run")
    tr.add_argument("--quiet", action="store_true", help="no progress bars")
    tr.set_defaults(func="experts_train")
    ev = esub.add_parser("evaluate", help="evaluate an expert run's newest checkpoint (the mode) and draw its paths for eight directions")
    ev.add_argument("run_dir", metavar="RUN", help="the expert's run directory")
    ev.add_argument("--episodes", type=count(1), default=50, help="episodes (default 50)")
    ev.add_argument("--seed", type=count(0), default=0, help="evaluation seed (default 0)")
    ev.set_defaults(func="experts_evaluate")


def _online(sub) -> None:
    """gcrl online train | evaluate"""
    on = sub.add_parser("online", help="online RL from pixels: a world-model agent (DreamerV3) or its hierarchy (Director), trained in the pixel maze",
                        description="Train a world-model agent online in a pixel maze, or evaluate such a run.")
    osub = on.add_subparsers(dest="online_command", metavar="ACTION", required=True)
    tr = osub.add_parser("train", help="train (or resume) an online run", description="Train an agent online: environments step with the policy, "
                         "sequences are replayed for the updates at a train ratio, the run is checkpointed and evaluated on the maze's five tasks.")
    tr.add_argument("--agent", default="dreamer", choices=("dreamer", "director"), help="dreamer: the flat world-model agent; director: its manager/worker hierarchy (default dreamer)")
    tr.add_argument("--env", default="pixel-maze-medium", metavar="ENV", help="pixel-maze-LAYOUT: medium, medium-b, medium-mirrored, large, giant, arena, corridor (default pixel-maze-medium)")
    tr.add_argument("--preset", default="cpu", choices=("cpu", "paper"), help="cpu: 16x16 images, action repeat 4, training-cell goals, a tiny model, batch 8x32, train ratio 32 (~1 h for its 100K env steps on 2 cores); paper: DreamerV3 small, 64x64, batch 16x64, ratio 32 (default cpu)")
    tr.add_argument("--steps", type=count(1), help="environment steps (default: the preset's; cpu 100,000)")
    tr.add_argument("--seed", type=count(0), help="random seed (default 0)")
    tr.add_argument("--run-dir", help="where the run is saved (default runs/online/ENV/AGENT-seedS-TIME)")
    tr.add_argument("--resume", action="store_true", help="continue the run in --run-dir (default: the latest of this agent, env and seed) from its newest checkpoint; the replay is refilled with the prefill")
    tr.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a loop or model setting, e.g. --set train_ratio=16 --set deter=512; repeatable")
    _add_wandb(tr, "the run")
    tr.add_argument("--quiet", action="store_true", help="no progress bars")
    tr.set_defaults(func="online_train")
    ev = osub.add_parser("evaluate", help="evaluate an online run's newest checkpoint on the five tasks")
    ev.add_argument("run_dir", metavar="RUN", help="the run directory")
    ev.add_argument("--episodes", type=count(1), help="episodes per task (default: the run's eval_episodes)")
    ev.add_argument("--goals", choices=("tasks", "train", "heldout", "all", "near", "ring", "outside"), help="the five tasks, or episodes towards a goal set's cells from random starts ('near': the start's cell or a neighbour; 'ring': the maze's outer ring of cells; 'outside': the same, shown as the border cell beyond, a task vector outside the training range) (default: the run's eval_goals)")
    ev.add_argument("--policy", choices=("sample", "mode"), help="the actor's samples (DreamerV3's evaluation) or its mode, greedy (default: the run's eval_policy)")
    ev.add_argument("--decoy", action="store_true", help="show each episode another goal of the same set (picture and task vector) while success counts the true one: "
                    "the control for whether success is more than wandering (the same starts and goals as without)")
    ev.add_argument("--out", metavar="JSON", help="also write the result to this file")
    ev.set_defaults(func="online_evaluate")


def build_parser() -> Parser:
    parser = Parser(
        prog="gcrl",
        description="Goal-conditioned RL on OGBench: offline, with flat and hierarchical policies (SAW, HIQL, RIS, GCWAE, GCIVL, GCIQL, QRL, CRL, GCBC, HBC), and online from pixels (a DreamerV3 world-model agent in the pixel maze).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    for add in (_datasets, _train, _evaluate, _export, _bench, _sweep, _report, _dagger, _online, _experts):
        add(sub)
    return parser
