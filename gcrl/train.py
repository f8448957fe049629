"""The one training loop, generic over agents. A job trains one run per seed in one program:

    open_runs   the run directories, new or resumed, each locked to this process
    load        the dataset, on the device
    build       the agent and its state: fresh, or each seed's newest verified checkpoint
    compile     a chunk of updates as one lax.scan (up to the next log, checkpoint or evaluation),
                and the validation loss
    per chunk   update -> check health -> log -> checkpoint -> evaluate
    finish      the last checkpoint, summary.json, the closing line

Health: every chunk reports on the device where its metrics first went non-finite and whether the
parameters still are; a diverged run stops with an error naming the loss and the update, and its
last finite checkpoint is never overwritten. Ctrl-C stops after the current chunk, saves and exits
(a second Ctrl-C aborts; the last checkpoint stays). SIGKILL at any moment loses at most the updates
since the last checkpoint: a chunk whose evaluation is due is checkpointed before evaluating, and a
resumed run first makes up an evaluation that was cut short.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import jax

from gcrl import agents, checkpoint, config, faults, tracking
from gcrl.agents.base import DataSpec
from gcrl.config import TrainConfig, to_json
from gcrl.console import Reporter, console, rate_text
from gcrl.data import load, names, sampling
from gcrl.data.dataset import Dataset
from gcrl.data.files import write_text
from gcrl.errors import DivergenceError, GcrlError
from gcrl.learner import HEALTH, HostLoopChunk, init_state, make_loss_eval, make_train_chunk, seed_state, stack_states
from gcrl.logger import MetricsLogger
from gcrl.policy import Policy, save_spec
from gcrl.runlock import DirectoryLock, remove_partials
from gcrl.tracking import Tracker, WandbOptions


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


def eval_env_name(train_cfg: TrainConfig) -> str | None:
    """Where a run is evaluated: its `env` setting, else its OGBench dataset's environment; None for a
    user's file without one."""
    if train_cfg.env:
        return names.env_name(train_cfg.env)
    return None if load.is_path(train_cfg.dataset) else names.parse(train_cfg.dataset).env_name


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
    """First Ctrl-C (or SIGTERM, a scheduler's stop): finish the chunk, save, exit. Second: abort at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self._previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        console.print("\n[yellow]Stopping after this chunk of updates and saving (Ctrl-C again to abort)...[/]")

    def __exit__(self, *exc):
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)


def maze_picture(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / "eval" / f"maze_step_{step:08d}.png"


def run_evaluation(policy: Policy, env_name: str, episodes: int, seed: int, run_dir: Path, step: int, progress: bool, envs=None):
    """Evaluate, save the result (JSON, and a maze picture for maze environments), print the table."""
    from gcrl.evaluate import evaluate, success_table

    result = evaluate(policy, env_name, episodes_per_task=episodes, seed=seed, progress=progress, envs=envs)
    out = Path(run_dir) / "eval"
    out.mkdir(exist_ok=True)
    record = {"step": step, **result.to_dict()}
    write_text(out / f"step_{step:08d}.json", json.dumps(record, indent=2))
    if result.tasks and result.tasks[0].trajectories:
        from gcrl.experiments.plots import plot_maze

        plot_maze(result, maze_picture(run_dir, step))
    console.print(success_table(result, title=f"{env_name}, {policy.agent.name}, step {step:,}"))
    return result


def train(train_cfg: TrainConfig, agent_cfg, run_dir: Path | None = None, dataset_dir=None, resume: bool = False, progress: bool = True,
          changes: dict[str, str] | None = None, wandb: WandbOptions | None = None) -> dict:  # fmt: skip
    """Train (or resume) one run; returns its summary (also written to summary.json)."""
    return train_seeds(train_cfg, agent_cfg, [train_cfg.seed], run_dir, dataset_dir, resume, progress, changes, wandb)[0]


# ---- the job's pieces ---------------------------------------------------------------------------

@dataclass
class SeedRun:
    """One seed's share of a training job: its run directory (locked), logs and last evaluation."""

    cfg: TrainConfig
    run_dir: Path
    lock: DirectoryLock
    created: Path | None = None  # the highest folder this job made for it (removed if the job fails before training)
    logger: MetricsLogger | None = None
    eval_logger: MetricsLogger | None = None
    policy: Policy | None = None
    result: object = None
    eval_pending: bool = False  # its checkpoint was saved for an evaluation that never finished
    wandb: WandbOptions | None = None  # --wandb: W&B mirrors the logs
    tracker: Tracker = field(default_factory=Tracker.off)

    def open_logs(self, start: int):
        """The logs, without rows after `start`: a resumed run does those updates again, and a run
        started afresh in a folder whose earlier attempt never saved a checkpoint starts at 0. With
        --wandb, the W&B run (config.json is written by now) gets the training metrics' rows."""
        if self.wandb is not None:
            self.tracker = Tracker.start(self.run_dir, self.wandb, resume=start > 0)
        self.logger = MetricsLogger(self.run_dir, mirror=self.tracker.scalars)
        self.eval_logger = MetricsLogger(self.run_dir, "eval.csv", tensorboard=False)
        self.logger.drop_after(start)
        self.eval_logger.drop_after(start)
        self.eval_pending = self.eval_pending and not self.eval_logger.has_step(start)

    def close(self):
        for log in (self.logger, self.eval_logger):
            if log is not None:
                log.close()
        self.logger = self.eval_logger = None
        self.tracker.finish()
        self.lock.release()


@dataclass
class Job:
    """What one compilation serves: the seeds' runs, the data, the agent, the stacked state."""

    train_cfg: TrainConfig
    agent_cfg: object
    runs: list[SeedRun]
    resume: bool
    progress: bool
    timings: Timings = field(default_factory=Timings)
    data: object = None
    val_data: object = None
    spec: DataSpec | None = None
    agent: object = None
    state: object = None
    step: int = 0
    saved_step: int = -1
    envs: object = None
    metric_names: list[str] = field(default_factory=list)  # the agent's metrics, as the health watch orders them

    @property
    def many(self) -> bool:
        return len(self.runs) > 1

    def of_seed(self, tree, i: int):
        return seed_state(tree, i) if self.many else tree


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


def _with_seed(train_cfg, seed: int):
    return dataclasses.replace(train_cfg, seed=seed)


def _resumed_configs(directory: Path, train_cfg: TrainConfig, changes: dict[str, str] | None):
    """A resumed run's saved settings, with the larger update count and the --set changes applied."""
    if not checkpoint.exists(directory):
        raise GcrlError(f"--resume: no checkpoint found in {directory}.")
    saved_train, saved_agent = config.read_run_config(directory)
    saved_train = TrainConfig(**{**saved_train.__dict__, "steps": max(train_cfg.steps, saved_train.steps)})
    new_train, new_agent = config.override(saved_train, saved_agent, changes or {})
    for key, (old, new) in config.differences((saved_train, saved_agent), (new_train, new_agent)).items():
        console.print(f"  resuming {directory} with {key} = {new} (was {old})", highlight=False)
    return new_train, new_agent


def open_runs(train_cfg, agent_cfg, seeds, run_dir, resume: bool, changes, resumed=None) -> tuple[list[SeedRun], object]:
    """Lock each seed's run directory; a resumed run takes its saved settings (plus `changes`).
    `resumed(directory, train_cfg, changes) -> (train_cfg, agent_cfg)` reads them (default: an
    offline run's config.json; the online loop passes its own)."""
    resumed = resumed or _resumed_configs
    if len(set(seeds)) != len(seeds) or not seeds:
        raise GcrlError(f"--seeds must be distinct integers, got {seeds}.")
    runs: list[SeedRun] = []
    try:
        for seed, directory in zip(seeds, _seed_run_dirs(train_cfg, seeds, run_dir, resume)):
            created = next((p for p in [*reversed(directory.parents), directory] if not p.exists()), None)
            run = SeedRun(_with_seed(train_cfg, seed), directory, DirectoryLock(directory).acquire(), created)
            runs.append(run)
            if resume:
                run.cfg, agent_cfg = resumed(directory, train_cfg, changes)
            elif checkpoint.exists(directory):
                raise GcrlError(f"{directory} already holds a run. Pass --resume to continue it, or choose another --run-dir.")
            remove_partials(directory)
    except BaseException:
        _abandon(runs)
        raise
    return runs, agent_cfg


def open_single(cfg, other_cfg, run_dir: Path, resume: bool, changes, settings, wandb: WandbOptions | None = None) -> tuple[SeedRun, object]:
    """One run of a loop with its own settings module (online, experts): its directory locked, its
    saved settings on --resume (the larger step budget, then --set `changes`), W&B if asked.
    `settings` provides read(run_dir) -> (cfg, other) and override(cfg, other, changes)."""

    def resumed(directory: Path, cfg, changes):
        if not checkpoint.exists(directory):
            raise GcrlError(f"--resume: no checkpoint found in {directory}.")
        saved, other = settings.read(directory)
        return settings.override(dataclasses.replace(saved, steps=max(cfg.steps, saved.steps)), other, changes or {})

    runs, other_cfg = open_runs(cfg, other_cfg, [cfg.seed], run_dir, resume, changes, resumed=resumed)
    runs[0].wandb = wandb
    return runs[0], other_cfg


def _abandon(runs: list[SeedRun]) -> None:
    """Close runs of a job that failed before training; remove directories it made that stayed empty."""
    for run in runs:
        run.close()
        if run.created is not None and all(p.name == ".gcrl.lock" for p in run.run_dir.iterdir()):
            (run.run_dir / ".gcrl.lock").unlink(missing_ok=True)
            folder = run.run_dir
            while True:  # up to the highest folder the job made, each as long as it is empty
                if any(folder.iterdir()):
                    break
                folder.rmdir()
                if folder == run.created:
                    break
                folder = folder.parent


class RunGuard:
    """Around a job's life: on leaving, `cleanup` runs (environments) and the runs are closed (locks
    released); if the job failed before `started` was set, the folders it made are removed as well."""

    def __init__(self, runs: list[SeedRun], cleanup=None):
        self.runs, self.cleanup, self.started = runs, cleanup, False

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.cleanup is not None:
                self.cleanup()
        finally:
            if exc_type is not None and not self.started:
                _abandon(self.runs)
            for run in self.runs:
                run.close()
        return False


def load_phase(job: Job, dataset_dir) -> Dataset:
    start = time.perf_counter()
    train_set, val_set = load_data(job.train_cfg.dataset, dataset_dir, job.progress)
    job.data = sampling.to_device(train_set)
    job.val_data = sampling.to_device(val_set) if val_set is not None else None
    job.timings.load_s = time.perf_counter() - start
    job.spec = data_spec(train_set)
    if job.train_cfg.env or (job.spec.discrete and eval_env_name(job.train_cfg)):
        # a dataset of one's own evaluated in an OGBench environment: the shapes must match; and a
        # discrete action head gets every action the environment has, used in the data or not
        from gcrl.envs.group import check_matches

        job.spec = check_matches(eval_env_name(job.train_cfg), job.spec, job.train_cfg.dataset)
    return train_set


def build_phase(job: Job) -> None:
    """The agent and the stacked state of every seed, fresh or from its newest verified checkpoint."""
    job.agent = agents.get(job.train_cfg.agent).make(job.agent_cfg, job.spec)
    states = []
    for run in job.runs:
        state = init_state(job.agent, jax.random.PRNGKey(run.cfg.seed))
        if job.resume:
            state, header = checkpoint.restore_latest(run.run_dir, state, quarantine=True)
            run.eval_pending = bool(header.get("eval_pending"))
        states.append(state)
    steps = {int(s.step) for s in states}
    if len(steps) > 1:
        raise GcrlError(f"--resume: the seeds stopped at different updates ({sorted(steps)}); resume them one at a time.")
    job.step = job.saved_step = steps.pop() if job.resume else 0
    for run in job.runs:  # written only now: a failed resume leaves the saved settings as they were
        write_text(run.run_dir / "config.json", to_json(run.cfg, job.agent_cfg))
        save_spec(run.run_dir, job.spec)
        run.open_logs(job.step)
    job.state = stack_states(states) if job.many else states[0]


def announce(job: Job, train_set: Dataset) -> None:
    cfg, seeds = job.train_cfg, [run.cfg.seed for run in job.runs]
    seed_text = f"seeds {', '.join(map(str, seeds))} together" if job.many else f"seed {seeds[0]}"
    console.print(
        f"[bold]{job.agent.name}[/] on [bold]{cfg.dataset}[/] ({train_set.num_transitions():,} transitions), "
        f"preset {cfg.preset}, batch {cfg.batch_size}, hidden {job.agent_cfg.hidden}, {cfg.steps:,} updates, "
        f"{seed_text}, on {jax.default_backend()}{f', resuming at {job.step:,}' if job.step else ''}\n"
        + "\n".join(f"  run directory: {run.run_dir}" for run in job.runs)
    )
    if eval_env_name(cfg) is None and cfg.eval_episodes > 0:
        console.print("  (a dataset from a file has no OGBench environment: no evaluation, losses only; --env ENV evaluates it in one)")
    elif cfg.env:
        console.print(f"  evaluated in {eval_env_name(cfg)}")


class Program:
    """The compiled update chunks (one per chunk length: the last may be shorter) and validation loss."""

    def __init__(self, job: Job):
        cfg = job.train_cfg
        self.job, self.size = job, chunk_length(0, cfg)  # the usual length; a shorter one compiles when needed
        self._chunks: dict[int, object] = {}
        start = time.perf_counter()
        self._chunks[self.size] = self._make(self.size).lower(job.state, job.data).compile()
        job.timings.compile_s = time.perf_counter() - start
        self.val_loss = make_loss_eval(job.agent, cfg.batch_size, seeds=job.many, ynn_fusion=cfg.xla_cpu_ynn_fusion)
        self.val_key = jax.random.PRNGKey(cfg.seed + 1)

    def _make(self, n: int):
        return make_train_chunk(self.job.agent, self.job.train_cfg.batch_size, n, seeds=self.job.many, ynn_fusion=self.job.train_cfg.xla_cpu_ynn_fusion)

    def chunk(self, n: int):
        if n not in self._chunks:
            self._chunks[n] = self._make(n)
        return self._chunks[n]

    def validation(self, state):
        if self.job.val_data is None:
            return None
        self.val_key, key = jax.random.split(self.val_key)
        keys = jax.random.split(key, len(self.job.runs)) if self.job.many else key
        return jax.device_get(self.val_loss(state, self.job.val_data, keys))


def chunk_length(step: int, cfg: TrainConfig) -> int:
    """Updates in the chunk after update `step`: up to the next multiple of log_every,
    checkpoint_every or eval_every (or the end), so that each happens at the update asked for
    (a checkpoint every 100 updates in chunks of 1,000 would otherwise come every 1,000)."""
    intervals = [cfg.log_every, cfg.checkpoint_every] + ([cfg.eval_every] if cfg.eval_every else [])
    return min([cfg.steps - step] + [k - step % k for k in intervals])


def evaluation_due(previous: int, step: int, cfg: TrainConfig) -> bool:
    """Whether the chunk of updates from `previous` to `step` ends with an evaluation: at the end of
    training, and where it reaches a multiple of eval_every from eval_from on."""
    crossed = bool(cfg.eval_every) and previous // cfg.eval_every != step // cfg.eval_every
    return step == cfg.steps or (crossed and step >= cfg.eval_from)


# ---- one chunk's phases ---------------------------------------------------------------------------

def update_phase(job: Job, program: Program, progress: Callable[[int], None] = lambda n: None) -> tuple[int, dict]:
    """Run the next chunk of updates; returns (its length, its metrics on the host). `progress` hears
    of the updates done: update by update where the chunk is the host's loop, else once at its end."""
    n = chunk_length(job.step, job.train_cfg)
    t0 = time.perf_counter()
    chunk = program.chunk(n)
    if isinstance(chunk, HostLoopChunk):
        job.state, metrics = chunk(job.state, job.data, on_update=lambda: progress(1))
    else:
        job.state, metrics = chunk(job.state, job.data)
    faults.point("update-chunk")  # tests kill here, with the chunk in flight
    metrics = jax.device_get(metrics)
    if not isinstance(chunk, HostLoopChunk):
        progress(n)
    job.timings.train_s += time.perf_counter() - t0
    job.timings.updates += n
    job.step += n
    return n, metrics


def check_health(job: Job, health: dict, n: int) -> None:
    """Raise DivergenceError if any seed's chunk went non-finite: which losses, at which update."""
    for i, run in enumerate(job.runs):
        seed = job.of_seed(health, i)
        first = int(seed["first_nonfinite_update"])
        if first < 0 and bool(seed["params_finite"]):
            continue
        keys = sorted(job.metric_names)
        bad = [k for k, flag in zip(keys, seed["nonfinite_metrics"]) if flag] if first >= 0 else []
        losses = [k for k in bad if k.endswith("loss") and not k.startswith("loss/")] or [k for k in bad if "loss" in k] or bad  # components first
        what = f"{', '.join(losses[:4])} became non-finite at update {first:,}" if first >= 0 else f"the parameters became non-finite by update {job.step:,}"
        last, lower_lr = checkpoint.latest_step(run.run_dir), f"--set lr={job.agent_cfg.lr / 3:.2g}"
        if last is not None:
            then = f"its last finite checkpoint (update {last:,}) is kept. Resume from it with other settings, e.g.:  gcrl train --resume --run-dir {run.run_dir} {lower_lr}"
        else:
            then = f"it has no checkpoint yet. Start it again with other settings, e.g. {lower_lr}"
        raise DivergenceError(f"training diverged: {what} (chunk of updates {job.step - n + 1:,}-{job.step:,}, seed {run.cfg.seed}); {then}")


def log_phase(job: Job, metrics: dict, val_metrics: dict | None) -> None:
    for i, run in enumerate(job.runs):
        row = {f"train/{k}": v for k, v in job.of_seed(metrics, i).items()}
        if val_metrics is not None:
            row.update({f"val/{k}": v for k, v in job.of_seed(val_metrics, i).items()})
        row["updates_per_s"] = job.timings.updates / job.timings.train_s
        run.logger.log(job.step, row)


def save_phase(job: Job, eval_pending: bool = False) -> None:
    for i, run in enumerate(job.runs):
        checkpoint.save(run.run_dir, job.of_seed(job.state, i), job.step, keep=run.cfg.keep_checkpoints, meta={"eval_pending": eval_pending})
    job.saved_step = job.step


def evaluate_phase(job: Job) -> None:
    """Evaluate every seed at the current update (environments made once, reused)."""
    env_name, cfg = eval_env_name(job.train_cfg), job.train_cfg
    t0 = time.perf_counter()
    if job.envs is None:
        from gcrl.envs.group import make_env_group

        job.envs = make_env_group(env_name, cfg.eval_episodes)
    for i, run in enumerate(job.runs):
        params = job.of_seed(job.state.params, i)
        if run.policy is None:
            run.policy = Policy(job.agent, params, job.spec, cfg.eval_temperature, seed=run.cfg.seed)
        run.policy.params = params
        run.result = run_evaluation(run.policy, env_name, cfg.eval_episodes, run.cfg.seed, run.run_dir, job.step, job.progress, job.envs)
        run.eval_logger.log(job.step, {"overall": run.result.overall, **{f"task{j + 1}": s for j, s in enumerate(run.result.per_task)}})
        run.tracker.evaluation(job.step, run.result.overall, run.result.per_task, pictures={"maze": maze_picture(run.run_dir, job.step)})
        run.eval_pending = False
    job.timings.eval_s += time.perf_counter() - t0


def _can_evaluate(job: Job) -> bool:
    return eval_env_name(job.train_cfg) is not None and job.train_cfg.eval_episodes > 0


def loop(job: Job, program: Program) -> None:
    """Chunks of updates until the budget is spent or Ctrl-C: update, check, log, save, evaluate."""
    cfg = job.train_cfg
    if job.resume and _can_evaluate(job) and any(run.eval_pending for run in job.runs):
        console.print(f"  the evaluation at update {job.step:,} was cut short: making it up first")
        evaluate_phase(job)
    reporter = Reporter("train", cfg.steps, "updates", enabled=job.progress, start=job.step)
    try:
        with _StopFlag() as stop:
            while job.step < cfg.steps and not stop.requested:
                previous = job.step
                n, metrics = update_phase(job, program, progress=lambda k: reporter.advance(k))
                health = metrics.pop(HEALTH)
                job.metric_names = list(metrics)
                log_phase(job, metrics, program.validation(job.state))
                check_health(job, health, n)
                evaluate_now = _can_evaluate(job) and evaluation_due(previous, job.step, cfg)
                if evaluate_now or job.step % cfg.checkpoint_every < n or job.step == cfg.steps:
                    save_phase(job, eval_pending=bool(evaluate_now))
                if evaluate_now:
                    reporter.close()
                    evaluate_phase(job)
                    if job.step < cfg.steps:
                        reporter = Reporter("train", cfg.steps, "updates", enabled=job.progress, start=job.step)
    finally:
        reporter.close()


def finish(job: Job) -> list[dict]:
    """Save (if the last chunk was not), write each seed's summary.json, print the closing line."""
    if job.saved_step != job.step:
        save_phase(job)
    summaries = []
    for run in job.runs:
        summary = {
            "run_dir": str(run.run_dir), "agent": job.agent.name, "dataset": job.train_cfg.dataset, "seed": run.cfg.seed,
            "seeds_in_parallel": len(job.runs), "step": job.step, "finished": job.step >= job.train_cfg.steps,
            "timings": job.timings.as_dict(), "eval": run.result.to_dict() if run.result is not None else None,
        }  # fmt: skip
        write_text(run.run_dir / "summary.json", json.dumps(summary, indent=2))
        summaries.append(summary)
    _closing_line(job)
    return summaries


def _closing_line(job: Job) -> None:
    runs, many = job.runs, job.many
    if job.step < job.train_cfg.steps:
        where = runs[0].run_dir.parent if many else runs[0].run_dir
        seeds = f" --seeds {','.join(str(r.cfg.seed) for r in runs)}" if many else ""
        console.print(f"Saved at update {job.step:,}. Resume with:  gcrl train --resume --run-dir {where}{seeds}")
        return
    t = job.timings.as_dict()
    per_seed = f"{rate_text(t['updates_per_s'])} updates/s{' per seed' if many else ''}"
    console.print(
        f"Done: {job.step:,} updates at {per_seed} (load {t['load_s']:.1f} s, compile {t['compile_s']:.1f} s, updates "
        f"{t['train_s']:.1f} s, evaluation {t['eval_s']:.1f} s; peak memory {t['peak_rss_mb']:.0f} MB).\n"
        f"  run director{'ies' if many else 'y'}: {' '.join(str(run.run_dir) for run in runs)}"
    )


def train_seeds(train_cfg: TrainConfig, agent_cfg, seeds: list[int], run_dir: Path | None = None, dataset_dir=None, resume: bool = False,
                progress: bool = True, changes: dict[str, str] | None = None, wandb: WandbOptions | None = None) -> list[dict]:  # fmt: skip
    """Train (or resume) one run per seed in one program: with several seeds the agent state is
    stacked and each chunk of updates runs every seed (vmapped on a GPU, see learner.over_seeds),
    each seed getting the numbers it would get alone; one dataset load and one compilation serve
    them all. `changes` (--set text) apply on top of a resumed run's saved settings. Returns the
    summaries, one per seed. `wandb`: each seed's run also logs to W&B (one group for the seeds)."""
    runs, agent_cfg = open_runs(train_cfg, agent_cfg, seeds, run_dir, resume, changes)
    wandb = tracking.for_seeds(wandb, [run.run_dir for run in runs])
    for run in runs:
        run.wandb = wandb
    job = Job(runs[0].cfg, agent_cfg, runs, resume, progress)
    with RunGuard(runs, cleanup=lambda: job.envs is not None and job.envs.close()) as guard:
        train_set = load_phase(job, dataset_dir)
        build_phase(job)
        guard.started = True
        announce(job, train_set)
        program = Program(job)
        loop(job, program)
        return finish(job)
