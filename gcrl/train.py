"""The one training loop, generic over agents.

Updates run in jitted chunks of `log_every` updates (one `lax.scan`, batches sampled on the
device); between chunks the loop logs train and validation losses, evaluates every `eval_every`
updates, checkpoints, and updates the progress bar. Ctrl-C stops after the current chunk, saves,
and exits cleanly (a second Ctrl-C aborts; the last checkpoint stays).
"""

from __future__ import annotations

import json
import resource
import signal
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import jax

from gcrl import agents, checkpoint
from gcrl.agents.base import DataSpec
from gcrl.config import TrainConfig, from_json, to_json
from gcrl.console import Reporter, console
from gcrl.data import load, names, sampling
from gcrl.data.dataset import Dataset
from gcrl.errors import GcrlError
from gcrl.learner import init_state, make_loss_eval, make_train_chunk, seed_state, stack_states
from gcrl.logger import MetricsLogger
from gcrl.policy import Policy, save_spec


def default_run_dir(train_cfg: TrainConfig, root: str = "runs", stamp: str | None = None) -> Path:
    stamp = stamp or datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / _dataset_label(train_cfg.dataset) / f"{train_cfg.agent}-seed{train_cfg.seed}-{stamp}"


def latest_run_dir(train_cfg: TrainConfig, root: str = "runs") -> Path | None:
    parent = Path(root) / _dataset_label(train_cfg.dataset)
    candidates = sorted(parent.glob(f"{train_cfg.agent}-seed{train_cfg.seed}-*")) if parent.exists() else []
    return candidates[-1] if candidates else None


def _dataset_label(dataset: str) -> str:
    return Path(dataset).stem if load.is_path(dataset) else dataset


def data_spec(dataset: Dataset) -> DataSpec:
    discrete = dataset.discrete_actions
    action_dim = int(dataset.actions.max()) + 1 if discrete else int(dataset.actions.shape[-1])
    return DataSpec(tuple(dataset.observations.shape[1:]), dataset.pixels, action_dim, discrete)


def load_data(dataset: str, dataset_dir=None, progress: bool = True) -> tuple[Dataset, Dataset | None]:
    """Train and validation splits; a generatable pointmaze dataset that is missing is generated."""
    if not load.is_path(dataset) and names.parse(dataset).generatable:
        directory = load.dataset_dir(dataset_dir)
        if not all(p.exists() for p in load.split_paths(dataset, directory)):
            from gcrl.data.generate import generate

            console.print(f"{dataset} is not in {directory}: generating it locally (OGBench's protocol).")
            generate(dataset, directory, progress=progress)
    return load.load_splits(dataset, dataset_dir)


def env_name_for(dataset: str) -> str | None:
    """The evaluation environment of an OGBench dataset; None for a user's file."""
    return None if load.is_path(dataset) else names.parse(dataset).env_name


@dataclass
class Timings:
    load_s: float = 0.0
    compile_s: float = 0.0
    train_s: float = 0.0
    eval_s: float = 0.0
    updates: int = 0

    def as_dict(self) -> dict:
        rate = self.updates / self.train_s if self.train_s else 0.0
        return {"load_s": self.load_s, "compile_s": self.compile_s, "train_s": self.train_s, "eval_s": self.eval_s,
                "updates": self.updates, "updates_per_s": rate, "peak_rss_mb": peak_rss_mb()}  # fmt: skip


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


class _StopFlag:
    """First Ctrl-C: finish the chunk, save, exit. Second: abort at once."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        console.print("\n[yellow]Stopping after this chunk of updates and saving (Ctrl-C again to abort)...[/]")

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._previous)


def run_evaluation(policy: Policy, env_name: str, episodes: int, seed: int, run_dir: Path, step: int, progress: bool, envs=None):
    """Evaluate, save the result (JSON, and a maze picture for maze environments), print the table."""
    from gcrl.evaluate import evaluate, success_table

    result = evaluate(policy, env_name, episodes_per_task=episodes, seed=seed, progress=progress, envs=envs)
    out = Path(run_dir) / "eval"
    out.mkdir(exist_ok=True)
    record = {"step": step, **result.to_dict()}
    (out / f"step_{step:08d}.json").write_text(json.dumps(record, indent=2))
    if result.tasks and result.tasks[0].trajectories:
        from gcrl.plots import plot_maze

        plot_maze(result, out / f"maze_step_{step:08d}.png")
    console.print(success_table(result, title=f"{env_name}, {policy.agent.name}, step {step:,}"))
    return result


def train(train_cfg: TrainConfig, agent_cfg, run_dir: Path | None = None, dataset_dir=None, resume: bool = False, progress: bool = True) -> dict:
    """Train (or resume) one run; returns its summary (also written to summary.json)."""
    return train_seeds(train_cfg, agent_cfg, [train_cfg.seed], run_dir, dataset_dir, resume, progress)[0]


@dataclass
class _SeedRun:
    """One seed's share of a training job: its run directory, logs and last evaluation."""

    cfg: TrainConfig
    run_dir: Path
    logger: MetricsLogger | None = None
    eval_logger: MetricsLogger | None = None
    policy: Policy | None = None
    result: object = None

    def open_logs(self):
        self.logger, self.eval_logger = MetricsLogger(self.run_dir), MetricsLogger(self.run_dir, "eval.csv", tensorboard=False)

    def close(self):
        for log in (self.logger, self.eval_logger):
            if log is not None:
                log.close()


def _seed_run_dirs(train_cfg: TrainConfig, seeds: list[int], run_dir, resume: bool) -> list[Path]:
    """One directory per seed: run_dir itself for one seed, run_dir/seedS for several."""
    cfgs = [_with_seed(train_cfg, s) for s in seeds]
    if run_dir is not None:
        return [Path(run_dir)] if len(seeds) == 1 else [Path(run_dir) / f"seed{s}" for s in seeds]
    if resume:
        found = [latest_run_dir(c) for c in cfgs]
        missing = [s for s, d in zip(seeds, found) if d is None]
        if missing:
            raise GcrlError(f"--resume: no run found for seed(s) {', '.join(map(str, missing))}; pass --run-dir.")
        return found
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return [default_run_dir(c, stamp=stamp) for c in cfgs]


def _with_seed(train_cfg: TrainConfig, seed: int) -> TrainConfig:
    return TrainConfig(**{**train_cfg.__dict__, "seed": seed})


def train_seeds(
    train_cfg: TrainConfig, agent_cfg, seeds: list[int], run_dir: Path | None = None, dataset_dir=None, resume: bool = False, progress: bool = True
) -> list[dict]:
    """Train (or resume) one run per seed in one program: with several seeds the agent state is
    stacked and each chunk of updates runs every seed (vmapped on a GPU, see learner.over_seeds),
    each seed getting the numbers it would get alone; one dataset load and one compilation serve
    them all. Returns the summaries, one per seed."""
    if len(set(seeds)) != len(seeds) or not seeds:
        raise GcrlError(f"--seeds must be distinct integers, got {seeds}.")
    timings = Timings()
    many = len(seeds) > 1
    dirs = _seed_run_dirs(train_cfg, seeds, run_dir, resume)
    runs = []
    for seed, directory in zip(seeds, dirs):
        cfg = _with_seed(train_cfg, seed)
        if resume:
            if not checkpoint.exists(directory):
                raise GcrlError(f"--resume: no checkpoint found in {directory}.")
            saved_train, agent_cfg = from_json((directory / "config.json").read_text())
            cfg = TrainConfig(**{**saved_train.__dict__, "steps": max(train_cfg.steps, saved_train.steps)})
        elif checkpoint.exists(directory):
            raise GcrlError(f"{directory} already holds a run. Pass --resume to continue it, or choose another --run-dir.")
        directory.mkdir(parents=True, exist_ok=True)
        runs.append(_SeedRun(cfg, directory))
    train_cfg = runs[0].cfg

    start = time.perf_counter()
    train_set, val_set = load_data(train_cfg.dataset, dataset_dir, progress)
    data, val_data = sampling.to_device(train_set), (sampling.to_device(val_set) if val_set is not None else None)
    timings.load_s = time.perf_counter() - start
    spec = data_spec(train_set)
    agent = agents.get(train_cfg.agent).make(agent_cfg, spec)

    states = []
    for run in runs:
        (run.run_dir / "config.json").write_text(to_json(run.cfg, agent_cfg))
        save_spec(run.run_dir, spec)
        state = init_state(agent, jax.random.PRNGKey(run.cfg.seed))
        states.append(checkpoint.restore(run.run_dir, state) if resume else state)
    steps = {int(s.step) for s in states}
    if len(steps) > 1:
        raise GcrlError(f"--resume: the seeds stopped at different updates ({sorted(steps)}); resume them one at a time.")
    step = steps.pop()
    state = stack_states(states) if many else states[0]
    del states
    seed_text = f"seeds {', '.join(map(str, seeds))} together" if many else f"seed {seeds[0]}"
    console.print(
        f"[bold]{agent.name}[/] on [bold]{train_cfg.dataset}[/] ({train_set.num_transitions():,} transitions), "
        f"preset {train_cfg.preset}, batch {train_cfg.batch_size}, hidden {agent_cfg.hidden}, {train_cfg.steps:,} updates, "
        f"{seed_text}, on {jax.default_backend()}{f', resuming at {step:,}' if step else ''}\n"
        + "\n".join(f"  run directory: {run.run_dir}" for run in runs)
    )

    chunk_size = max(1, min(train_cfg.log_every, train_cfg.steps))
    start = time.perf_counter()
    chunk = make_train_chunk(agent, train_cfg.batch_size, chunk_size, seeds=many, ynn_fusion=train_cfg.xla_cpu_ynn_fusion).lower(state, data).compile()
    timings.compile_s = time.perf_counter() - start
    tail_chunks: dict[int, object] = {}
    val_loss = make_loss_eval(agent, train_cfg.batch_size, seeds=many, ynn_fusion=train_cfg.xla_cpu_ynn_fusion)
    val_key = jax.random.PRNGKey(train_cfg.seed + 1)

    env_name = env_name_for(train_cfg.dataset)
    if env_name is None and train_cfg.eval_episodes > 0:
        console.print("  (a dataset from a file has no OGBench environment: no evaluation; losses only)")
    envs = None
    for run in runs:
        run.open_logs()
        if resume:  # the updates after the checkpoint are done again: so are their rows
            run.logger.drop_after(step)
            run.eval_logger.drop_after(step)
    reporter = Reporter("train", train_cfg.steps, "updates", enabled=progress, start=step)

    def of_seed(tree, i):
        return seed_state(tree, i) if many else tree

    try:
        with _StopFlag() as stop:
            while step < train_cfg.steps and not stop.requested:
                n = min(chunk_size, train_cfg.steps - step)
                if n != chunk_size and n not in tail_chunks:  # a shorter last chunk compiles once more
                    tail_chunks[n] = make_train_chunk(agent, train_cfg.batch_size, n, seeds=many, ynn_fusion=train_cfg.xla_cpu_ynn_fusion)
                fn = chunk if n == chunk_size else tail_chunks[n]
                t0 = time.perf_counter()
                state, metrics = fn(state, data)
                metrics = jax.device_get(metrics)
                timings.train_s += time.perf_counter() - t0
                timings.updates += n
                previous, step = step, step + n
                val_metrics = None
                if val_data is not None:
                    val_key, key = jax.random.split(val_key)
                    keys = jax.random.split(key, len(runs)) if many else key
                    val_metrics = jax.device_get(val_loss(state, val_data, keys))
                for i, run in enumerate(runs):
                    row = {f"train/{k}": v for k, v in of_seed(metrics, i).items()}
                    if val_metrics is not None:
                        row.update({f"val/{k}": v for k, v in of_seed(val_metrics, i).items()})
                    row["updates_per_s"] = timings.updates / timings.train_s
                    run.logger.log(step, row)
                reporter.advance(n)
                if step % train_cfg.checkpoint_every < n or step == train_cfg.steps:
                    for i, run in enumerate(runs):
                        checkpoint.save(run.run_dir, of_seed(state, i), step)
                due = train_cfg.eval_every and previous // train_cfg.eval_every != step // train_cfg.eval_every
                if env_name and (due or step == train_cfg.steps) and train_cfg.eval_episodes > 0:
                    reporter.close()
                    t0 = time.perf_counter()
                    if envs is None:  # made once, reused by every evaluation (as the compiled policy)
                        from gcrl.envs.group import make_env_group

                        envs = make_env_group(env_name, train_cfg.eval_episodes)
                    for i, run in enumerate(runs):
                        params = of_seed(state.params, i)
                        if run.policy is None:
                            run.policy = Policy(agent, params, spec, train_cfg.eval_temperature, seed=run.cfg.seed)
                        run.policy.params = params
                        run.result = run_evaluation(run.policy, env_name, train_cfg.eval_episodes, run.cfg.seed, run.run_dir, step, progress, envs)
                        run.eval_logger.log(step, {"overall": run.result.overall, **{f"task{j + 1}": s for j, s in enumerate(run.result.per_task)}})
                    timings.eval_s += time.perf_counter() - t0
                    if step < train_cfg.steps:
                        reporter = Reporter("train", train_cfg.steps, "updates", enabled=progress, start=step)
    finally:
        reporter.close()
        for run in runs:
            run.close()
        if envs is not None:
            envs.close()
    summaries = []
    for i, run in enumerate(runs):
        checkpoint.save(run.run_dir, of_seed(state, i), step)
        summary = {
            "run_dir": str(run.run_dir),
            "agent": agent.name,
            "dataset": train_cfg.dataset,
            "seed": run.cfg.seed,
            "seeds_in_parallel": len(runs),
            "step": step,
            "finished": step >= train_cfg.steps,
            "timings": timings.as_dict(),
            "eval": run.result.to_dict() if run.result is not None else None,
        }
        (run.run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        summaries.append(summary)
    where = " ".join(str(run.run_dir) for run in runs)
    if step < train_cfg.steps:
        console.print(f"Saved at update {step:,}. Resume with:  gcrl train --resume --run-dir {runs[0].run_dir if not many else runs[0].run_dir.parent} {'--seeds ' + ','.join(map(str, seeds)) if many else ''}".rstrip())
    else:
        t = timings.as_dict()
        per_seed = f"{t['updates_per_s']:.0f} updates/s{' per seed' if many else ''}"
        console.print(
            f"Done: {step:,} updates at {per_seed} (load {t['load_s']:.1f} s, compile "
            f"{t['compile_s']:.1f} s, updates {t['train_s']:.1f} s, evaluation {t['eval_s']:.1f} s; peak memory {t['peak_rss_mb']:.0f} MB).\n  run director{'ies' if many else 'y'}: {where}"
        )
    return summaries
