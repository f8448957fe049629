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
