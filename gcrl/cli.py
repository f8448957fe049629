"""The `gcrl` command line."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from gcrl import tracking
from gcrl.console import console, run_command
from gcrl.errors import GcrlError
from gcrl.parser import DEFAULT_DATASET, build_parser  # noqa: F401  (DEFAULT_DATASET: re-exported)

# ---- gcrl datasets ... -----------------------------------------------------------------------

def cmd_datasets_generate(args) -> int:
    from gcrl.data import generate, generate_visual, load

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
    if generate_visual.is_visual(args.name):
        console.print(f"Rendering {(episodes + max(1, episodes // 10)) * proto.max_episode_steps:,} frames headless (MUJOCO_GL={generate_visual.headless_backend()}), "
                      f"render settings '{args.render}'; the bar shows frames/s and the time left")  # fmt: skip
    start = time.perf_counter()
    generate.generate(args.name, directory, episodes=args.episodes, seed=args.seed, progress=not args.quiet, workers=args.workers, render=args.render)
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
    from gcrl.train import train_seeds

    preset = args.preset
    if preset is None:
        preset = "cpu" if jax.default_backend() == "cpu" else "paper"
        if preset == "cpu":
            console.print("No GPU found: using the [bold]cpu[/] preset (2 x 256 networks, batch 256). Pass --preset paper for the published configuration.")
    pixels = not load.is_path(args.dataset) and names.parse(args.dataset).pixels
    if not load.is_path(args.dataset):
        load.dataset_dir(args.dataset_dir)  # a file given as the folder fails here, before a run directory is made
    if args.env:
        names.env_name(args.env)  # an unknown name fails here, before anything loads
    train_overrides = dict(steps=args.steps, seed=args.seed, eval_episodes=args.eval_episodes, eval_every=args.eval_every, batch_size=args.batch_size, env=args.env)
    sets = config.parse_sets(args.set)
    train_cfg, agent_cfg = config.resolve(args.agent, args.dataset, preset, train_overrides, sets, pixels=pixels)
    # A resumed run keeps its saved settings but for these, given again on the command line.
    changes = {k: str(v) for k, v in train_overrides.items() if v is not None and k not in ("steps", "seed")} | sets if args.resume else None
    if args.resume and args.steps is None:  # keep the saved budget (a resumed run trains to the larger of the two)
        train_cfg = dataclasses.replace(train_cfg, steps=1)
    if args.seeds and args.seed is not None:
        raise GcrlError("Pass --seed or --seeds, not both.")
    seeds = config.parse_seeds(args.seeds) if args.seeds else [train_cfg.seed]
    wandb = tracking.options_from_args(args)
    train_seeds(train_cfg, agent_cfg, seeds, run_dir=args.run_dir, dataset_dir=args.dataset_dir, resume=args.resume, progress=not args.quiet, changes=changes, wandb=wandb)
    return 0


def cmd_evaluate(args) -> int:
    from gcrl.policy import Policy, load_run
    from gcrl.train import eval_env_name, run_evaluation

    hierarchical = args.high or args.replan or args.reach_test
    if (Path(args.run_dir) / "dagger.json").is_file():  # a DAgger output: its run with the fine-tuned high level
        return _evaluate_hierarchical(args, args.run_dir)
    train_cfg, spec, agent, state = load_run(args.run_dir)
    if args.env:  # evaluate elsewhere than the run's own environment, if the shapes match
        from gcrl.envs.group import check_matches

        train_cfg = dataclasses.replace(train_cfg, env=args.env)
        check_matches(eval_env_name(train_cfg), spec, train_cfg.dataset)
    # hbc and hiql act through their hierarchy (with its statistics); ris and gcwae have a high level
    # too but act with their flat actor, as in training-time evaluation, unless asked for the hierarchy.
    if hierarchical or ("subgoal" in agent.parts and not agent.parts.get("acts_flat")):
        from gcrl.hierarchy.levels import Run

        return _evaluate_hierarchical(args, Run(Path(args.run_dir), train_cfg, spec, agent, state.params, int(state.step)))
    env_name = eval_env_name(train_cfg)
    if env_name is None:
        raise GcrlError(f"{args.run_dir} was trained on a file ({train_cfg.dataset}); there is no OGBench environment to evaluate in: name one with --env ENV.")
    policy = Policy(agent, state.params, spec, args.temperature, seed=args.seed)
    run_evaluation(policy, env_name, args.episodes, args.seed, args.run_dir, int(state.step), progress=not args.quiet)
    console.print(f"Results in {args.run_dir}/eval/")
    return 0


def _evaluate_hierarchical(args, run) -> int:
    from gcrl.hierarchy.evaluate import evaluate_hierarchical

    try:
        dims = [int(d) for d in args.subgoal_dims.split(",")] if args.subgoal_dims else None
    except ValueError:
        raise GcrlError(f"--subgoal-dims expects comma-separated integers like 0,1, got '{args.subgoal_dims}'.") from None
    _, _, json_path = evaluate_hierarchical(run, args.episodes, args.seed, args.temperature, args.high, args.replan, args.subgoal_timeout, dims,
                                            args.reach_test, progress=not args.quiet, dataset_dir=args.dataset_dir, candidates=args.decode_candidates)  # fmt: skip
    console.print(f"Results in {json_path}")
    return 0


def cmd_export(args) -> int:
    from gcrl import export

    options = export.ExportOptions(sample=args.sample, temperature=args.temperature, batch=not args.no_batch,
                                   platforms=export.parse_platforms(args.platforms), levels=args.levels)  # fmt: skip
    sidecar = export.export_run(args.run_dir, args.out, options)
    files = [f["file"] for f in sidecar["functions"].values()]
    shapes = ", ".join(f"{name} {tuple(sidecar[name]['shape'])} {sidecar[name]['dtype']}" for name in ("observation", "goal", "action"))
    console.print(f"Exported {sidecar['agent']} (update {sidecar['step']:,}, {'sampled' if sidecar['sampled'] else 'mode'}, {','.join(sidecar['platforms'])}): "
                  f"{', '.join(files)} and {Path(args.out).name}.json in {Path(args.out).expanduser().parent}\n  {shapes}", highlight=False)  # fmt: skip
    return 0


def cmd_bench(args) -> int:
    from gcrl import agents, bench, config

    presets = args.presets.split(",") if args.presets else (["cpu"] if args.quick else ["cpu", "paper"])
    agent_names = args.agents.split(",") if args.agents else (["saw", "gcbc"] if args.quick else list(agents.AGENTS))
    for name in agent_names:
        agents.get(name)  # before any measuring process starts: an unknown name is one error line
    unknown = [p for p in presets if p not in config.PRESETS]
    if unknown:
        raise GcrlError(f"--presets: unknown preset(s) {', '.join(unknown)}. Choose from: {', '.join(config.PRESETS)}.")
    from gcrl.learner import SEED_MODES

    modes = tuple(args.seed_modes.split(","))
    if not set(modes) <= set(SEED_MODES):
        raise GcrlError(f"--seed-modes: expected vmap, map or vmap,map, got '{args.seed_modes}'.")
    bench.run(agent_names, presets, quick=args.quick, json_path=args.json, seeds=args.seeds, pixels=args.pixels, seed_modes=modes)
    return 0


def cmd_sweep(args) -> int:
    from gcrl import config
    from gcrl.experiments import sweep

    values = sweep.read_file(args.file) if args.file else {}
    cli = dict(agents=args.agents, datasets=args.datasets, seeds=args.seeds, steps=args.steps, eval_every=args.eval_every, eval_episodes=args.eval_episodes,
               batch_size=args.batch_size, preset=args.preset, root=args.root, dataset_dir=args.dataset_dir, workers=args.workers, ray=args.ray,
               ray_cpus_per_run=args.ray_cpus_per_run, ray_gpus_per_run=args.ray_gpus_per_run)  # fmt: skip
    values.update({k: v for k, v in cli.items() if v is not None})  # the command line wins over the file
    file_sets = values.get("set", {})
    values["set"] = {**file_sets, **config.parse_sets(args.set)} if isinstance(file_sets, dict) else file_sets  # a bad table fails in make_grid
    grid = sweep.make_grid({k: v for k, v in values.items() if k in sweep.GRID_KEYS})
    runs = sweep.run_sweep(grid, workers=values.get("workers"), ray_address=values.get("ray"), ray_cpus_per_run=float(values.get("ray_cpus_per_run", 1)),
                           ray_gpus_per_run=values.get("ray_gpus_per_run"), progress=not args.quiet, dry_run=args.dry_run, wandb=tracking.options_from_args(args))  # fmt: skip
    return 1 if any(r.status in ("failed", "diverged") for r in runs) else 0


def cmd_report(args) -> int:
    from gcrl.experiments import report

    report.report(args.paths, out=args.out, last=args.last, name=args.name, intro=args.intro, include=args.include or (),
                  unfinished=args.unfinished, maze_agent=args.maze_agent)  # fmt: skip
    return 0


def cmd_dagger(args) -> int:
    from gcrl.hierarchy import dagger, policy

    try:
        tasks = tuple(int(t) for t in args.tasks.split(",")) if args.tasks else (1, 2, 3, 4, 5)
    except ValueError:
        raise GcrlError(f"--tasks expects comma-separated task numbers like 1,3, got '{args.tasks}'.") from None
    policy.parse_rule(args.replan, args.subgoal_timeout)  # a bad rule fails before anything loads
    cfg = dagger.DaggerConfig(rounds=args.rounds, episodes=args.episodes, eval_episodes=args.eval_episodes or args.episodes, updates=args.updates,
                              batch_size=args.batch_size, threshold=args.threshold, mix_data=args.mix_data, lr=args.lr, replan=args.replan,
                              timeout=args.subgoal_timeout, seed=args.seed, tasks=tasks)  # fmt: skip
    dagger.dagger(args.run_dir, cfg, low=args.low, out=args.out, dataset_dir=args.dataset_dir, progress=not args.quiet)
    return 0


def cmd_online_train(args) -> int:
    from gcrl.config import parse_sets
    from gcrl.online import loop, settings

    cfg, model_cfg = settings.resolve(args.env, args.preset, parse_sets(args.set), agent=args.agent, seed=args.seed, steps=args.steps or (1 if args.resume else None))  # bad names and values fail here, before any file is written
    loop.train(cfg, model_cfg, args.run_dir, resume=args.resume, progress=not args.quiet, changes=parse_sets(args.set) if args.resume else None,
               wandb=tracking.options_from_args(args))  # fmt: skip
    return 0


def cmd_online_evaluate(args) -> int:
    from gcrl.online import loop

    loop.evaluate_run(Path(args.run_dir), args.episodes, goals=args.goals, out=Path(args.out) if args.out else None, policy=args.policy, decoy=args.decoy)
    return 0


def cmd_experts_train(args) -> int:
    from gcrl.config import parse_sets
    from gcrl.experts import loop, settings

    sets = parse_sets(args.set)
    cfg, agent_cfg = settings.resolve(args.expert, sets, seed=args.seed, steps=args.steps or (1 if args.resume else None))  # bad values fail here
    loop.train(cfg, agent_cfg, args.run_dir, resume=args.resume, progress=not args.quiet, changes=sets if args.resume else None, wandb=tracking.options_from_args(args))
    return 0


def cmd_experts_evaluate(args) -> int:
    from gcrl.experts import loop

    loop.evaluate_run(Path(args.run_dir), args.episodes, args.seed)
    return 0


COMMANDS = {
    "datasets_generate": cmd_datasets_generate, "datasets_info": cmd_datasets_info, "datasets_list": cmd_datasets_list,
    "train": cmd_train, "evaluate": cmd_evaluate, "export": cmd_export, "bench": cmd_bench, "sweep": cmd_sweep, "report": cmd_report, "dagger": cmd_dagger,
    "online_train": cmd_online_train, "online_evaluate": cmd_online_evaluate, "experts_train": cmd_experts_train, "experts_evaluate": cmd_experts_evaluate,
}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return run_command(COMMANDS[args.func], args)


if __name__ == "__main__":
    sys.exit(main())
