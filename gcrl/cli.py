"""The `gcrl` command line."""

from __future__ import annotations

import argparse
import sys
import time

from gcrl.console import console, err_console
from gcrl.errors import GcrlError

DEFAULT_DATASET = "pointmaze-medium-navigate-v0"


def _add_dataset_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset-dir",
        metavar="DIR",
        help="where datasets live (default: $GCRL_DATASET_DIR, else ~/.ogbench/data)",
    )


# ---- gcrl datasets ... -----------------------------------------------------------------------

def cmd_datasets_generate(args) -> int:
    from gcrl.data import generate, load

    directory = load.dataset_dir(args.dataset_dir)
    train_path, val_path = load.split_paths(args.name, directory)
    proto = generate.protocol(args.name)  # fails early, with the list, for names gcrl cannot generate
    if train_path.exists() and val_path.exists() and not args.force:
        console.print(f"{train_path} already exists; pass --force to generate it again.")
        return 0
    episodes = args.episodes or proto.episodes
    console.print(
        f"Generating [bold]{args.name}[/]: {episodes} + {max(1, episodes // 10)} validation episodes of "
        f"{proto.max_episode_steps} steps, action noise {proto.noise}, seed {args.seed}"
    )
    start = time.perf_counter()
    generate.generate(args.name, directory, episodes=args.episodes, seed=args.seed, progress=not args.quiet)
    elapsed = time.perf_counter() - start
    console.print(f"Wrote {train_path} and {val_path} in {elapsed:.1f} s")
    _print_info(str(train_path))
    return 0


def _print_info(name_or_path: str, dataset_dir=None, split: str = "train") -> None:
    from gcrl.data import load
    from gcrl.data.summary import summary_table

    start = time.perf_counter()
    dataset = load.load(name_or_path, dataset_dir, split=split)
    elapsed = time.perf_counter() - start
    console.print(summary_table(dataset))
    console.print(f"loaded in {elapsed:.2f} s")


def cmd_datasets_info(args) -> int:
    _print_info(args.dataset, args.dataset_dir, args.split)
    return 0


def cmd_datasets_list(args) -> int:
    from rich.table import Table

    from gcrl.data import load, names

    directory = load.dataset_dir(args.dataset_dir)
    table = Table(title=f"OGBench datasets (directory: {directory})")
    table.add_column("dataset")
    table.add_column("on disk")
    table.add_column("gcrl can generate")
    for name in sorted(set(names.PUBLISHED) | set(names.GENERATABLE)):
        present = all(p.exists() for p in load.split_paths(name, directory))
        table.add_row(name, "yes" if present else "", "yes" if name in names.GENERATABLE else "")
    console.print(table)
    return 0


# ---- gcrl train / evaluate ------------------------------------------------------------------

def cmd_train(args) -> int:
    import jax

    from gcrl import config
    from gcrl.data import load, names
    from gcrl.train import train

    preset = args.preset
    if preset is None:
        preset = "cpu" if jax.default_backend() == "cpu" else "paper"
        if preset == "cpu":
            console.print("No GPU found: using the [bold]cpu[/] preset (2 x 256 networks, batch 256). Pass --preset paper for the published configuration.")
    pixels = not load.is_path(args.dataset) and names.parse(args.dataset).pixels
    train_overrides = dict(steps=args.steps, seed=args.seed, eval_episodes=args.eval_episodes, eval_every=args.eval_every, batch_size=args.batch_size)
    train_cfg, agent_cfg = config.resolve(args.agent, args.dataset, preset, train_overrides, config.parse_sets(args.set), pixels=pixels)
    train(train_cfg, agent_cfg, run_dir=args.run_dir, dataset_dir=args.dataset_dir, resume=args.resume, progress=not args.quiet)
    return 0


def cmd_evaluate(args) -> int:
    from gcrl.policy import Policy, load_run
    from gcrl.train import env_name_for, run_evaluation

    train_cfg, spec, agent, state = load_run(args.run_dir)
    env_name = env_name_for(train_cfg.dataset)
    if env_name is None:
        raise GcrlError(f"{args.run_dir} was trained on a file ({train_cfg.dataset}); there is no OGBench environment to evaluate in.")
    policy = Policy(agent, state.params, spec, args.temperature, seed=args.seed)
    run_evaluation(policy, env_name, args.episodes, args.seed, args.run_dir, int(state.step), progress=not args.quiet)
    console.print(f"Results in {args.run_dir}/eval/")
    return 0


def cmd_bench(args) -> int:
    from gcrl import bench

    presets = args.presets.split(",") if args.presets else (["cpu"] if args.quick else ["cpu", "paper"])
    agent_names = args.agents.split(",") if args.agents else (["saw", "gcbc"] if args.quick else ["gcbc", "gcivl", "hiql", "saw"])
    bench.run(agent_names, presets, quick=args.quick, json_path=args.json)
    return 0


# ---- parser ----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gcrl",
        description="Offline goal-conditioned RL with flat and hierarchical policies (SAW, HIQL, GCIVL, GCBC) on OGBench.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    datasets = sub.add_parser("datasets", help="generate, inspect and list datasets")
    dsub = datasets.add_subparsers(dest="datasets_command", metavar="ACTION", required=True)

    gen = dsub.add_parser("generate", help="generate a pointmaze dataset locally with OGBench's protocol")
    gen.add_argument("name", help="dataset name, e.g. pointmaze-medium-navigate-v0")
    gen.add_argument("--episodes", type=int, help="training episodes (default: OGBench's count); validation gets a tenth")
    gen.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives identical arrays (default 0)")
    gen.add_argument("--force", action="store_true", help="regenerate even if the files exist")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_dataset_dir(gen)
    gen.set_defaults(func=cmd_datasets_generate)

    info = dsub.add_parser("info", help="summarize a dataset given by name or .npz path")
    info.add_argument("dataset", help="OGBench dataset name or path to an .npz file")
    info.add_argument("--split", choices=("train", "val"), default="train", help="which split (default train)")
    _add_dataset_dir(info)
    info.set_defaults(func=cmd_datasets_info)

    lst = dsub.add_parser("list", help="list OGBench dataset names and which are on disk")
    _add_dataset_dir(lst)
    lst.set_defaults(func=cmd_datasets_list)

    tr = sub.add_parser(
        "train",
        help="train an agent (no arguments: SAW on pointmaze-medium-navigate-v0)",
        description="Train an agent on a dataset, evaluate it on OGBench's five tasks, and save the run.",
    )
    from gcrl.agents import AGENTS

    tr.add_argument("--agent", default="saw", choices=sorted(AGENTS), help="algorithm (default saw)")
    tr.add_argument("--dataset", default=DEFAULT_DATASET, help=f"OGBench dataset name or .npz path (default {DEFAULT_DATASET})")
    _add_dataset_dir(tr)
    tr.add_argument("--preset", choices=("cpu", "paper"), help="network and batch sizes: cpu (2x256, batch 256) or paper (3x512, batch 1024, 1M updates); default: cpu without a GPU, paper with one")
    tr.add_argument("--steps", type=int, help="number of updates (default: the preset's; cpu 50,000)")
    tr.add_argument("--batch-size", type=int, help="batch size (default: the preset's)")
    tr.add_argument("--eval-episodes", type=int, help="evaluation episodes per task (default 50; 0 skips evaluation)")
    tr.add_argument("--eval-every", type=int, help="evaluate every N updates (default: the preset's; 0 = only at the end)")
    tr.add_argument("--run-dir", help="where the run is saved (default runs/DATASET/AGENT-seedS-TIME)")
    tr.add_argument("--seed", type=int, help="random seed (default 0)")
    tr.add_argument("--resume", action="store_true", help="continue the run in --run-dir (default: the latest run of this agent, dataset and seed) from its last checkpoint")
    tr.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any agent or training setting, e.g. --set alpha=10 --set hidden=512,512; repeatable")
    tr.add_argument("--quiet", action="store_true", help="no progress bars")
    tr.set_defaults(func=cmd_train)

    ev = sub.add_parser("evaluate", help="evaluate a trained run on OGBench's five tasks")
    ev.add_argument("run_dir", help="a run directory made by gcrl train")
    ev.add_argument("--episodes", type=int, default=50, help="episodes per task (default 50)")
    ev.add_argument("--seed", type=int, default=0, help="evaluation seed (default 0)")
    ev.add_argument("--temperature", type=float, default=0.0, help="0 acts with the mode (default); > 0 samples")
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    ev.set_defaults(func=cmd_evaluate)

    be = sub.add_parser("bench", help="measure updates/s, compile time, FLOPs and memory per agent and preset, evaluation and generation speed")
    be.add_argument("--quick", action="store_true", help="about a minute: cpu preset, SAW and GCBC, short timings")
    be.add_argument("--agents", help="comma-separated agents (default all; --quick: saw,gcbc)")
    be.add_argument("--presets", help="comma-separated presets (default cpu,paper; --quick: cpu)")
    be.add_argument("--json", metavar="FILE", help="write the results as JSON (and a markdown table beside it)")
    be.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except GcrlError as err:
        err_console.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err_console.print("interrupted; nothing half-written was left behind.")
        return 130


if __name__ == "__main__":
    sys.exit(main())
