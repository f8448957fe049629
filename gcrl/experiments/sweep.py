"""`gcrl sweep`: a grid of agents x datasets x seeds x variants, run one after another, in a pool of
fresh processes, or on a Ray cluster.

Every run has a fixed directory, ROOT/DATASET/AGENT[-TAG]/seedS, so running the same sweep again
finds it: finished runs are skipped, interrupted ones (a checkpoint, no finished summary) resume, the
rest start. A failed run is recorded and the sweep goes on; ROOT/sweep.json holds the grid and each
run's status."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from statistics import fmean

from gcrl import agents, checkpoint, config, faults
from gcrl.config import TrainConfig
from gcrl.console import RunsReporter, console, err_console, plural
from gcrl.data import load, names
from gcrl.data.files import atomic_path
from gcrl.errors import GcrlError
from gcrl.experiments import sweep_worker
from gcrl.runlock import DirectoryLock
from gcrl.stopping import Terminated
from gcrl.tracking import WandbOptions, for_sweep_run

GRID_KEYS = ("agents", "datasets", "seeds", "overrides", "set", "steps", "eval_every", "eval_episodes", "batch_size", "preset", "root", "dataset_dir")
EXECUTION_KEYS = ("workers", "ray", "ray_cpus_per_run", "ray_gpus_per_run")
SWEEP_FILE = "sweep.json"


@dataclass(frozen=True)
class Grid:
    agents: tuple[str, ...]
    datasets: tuple[str, ...]
    seeds: tuple[int, ...] = (0,)
    variants: tuple[dict, ...] = ({},)  # each: setting -> value, plus an optional "tag"; {} is the defaults
    sets: dict = field(default_factory=dict)  # setting -> text, for every run (--set)
    steps: int | None = None
    eval_every: int | None = None
    eval_episodes: int | None = None
    batch_size: int | None = None
    preset: str | None = None
    root: str = "runs"
    dataset_dir: str | None = None


@dataclass
class Run:
    dataset: str
    agent: str
    tag: str
    seed: int
    run_dir: Path
    train_cfg: TrainConfig
    agent_cfg: object
    dataset_dir: str | None = None
    action: str = "start"  # start, resume or skip: what this sweep does with it
    status: str = "pending"  # pending, running, skipped, done, failed, diverged, interrupted
    error: str | None = None
    seconds: float | None = None
    step: int | None = None
    overall: float | None = None
    wandb: dict | None = None  # --wandb: this run's W&B options (gcrl.tracking.WandbOptions as JSON)

    @property
    def name(self) -> str:
        return f"{self.agent}-{self.tag}" if self.tag else self.agent

    def describe(self) -> str:
        return f"{self.name} seed {self.seed} on {self.dataset}"

    def job(self, progress: bool = False) -> dict:
        return {"config": config.to_json(self.train_cfg, self.agent_cfg), "run_dir": str(self.run_dir.resolve()), "dataset_dir": self.dataset_dir,
                "resume": self.action == "resume", "progress": progress, "wandb": self.wandb}  # fmt: skip

    def record(self) -> dict:
        keys = ("dataset", "agent", "tag", "seed", "action", "status", "error", "seconds", "step", "overall")
        return {"run_dir": str(self.run_dir), **{k: getattr(self, k) for k in keys}}


# ---- the grid: from a TOML file and the command line -----------------------------------------

def read_file(path) -> dict:
    """The keys of a sweep file (TOML): the grid keys and the execution keys; '-' and '_' alike."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise GcrlError("Sweep files need Python 3.11 or newer (tomllib); give the grid as options instead.") from None
    path = Path(path)
    if not path.is_file():
        raise GcrlError(f"{path}: no such sweep file.")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as err:
        raise GcrlError(f"{path} is not valid TOML: {err}.") from None
    values = {k.replace("-", "_"): v for k, v in raw.items()}
    unknown = sorted(set(values) - set(GRID_KEYS) - set(EXECUTION_KEYS))
    if unknown:
        raise GcrlError(f"{path}: unknown key(s) {', '.join(unknown)}. Valid keys: {', '.join(GRID_KEYS + EXECUTION_KEYS)}.")
    return values


def _as_text(value) -> str:
    """A file's value as the text --set would give (config.resolve parses it by the field's type)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def _as_list(value, key: str, kind=str) -> tuple:
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, (list, tuple)) else [value]
    try:
        out = tuple(kind(str(v).strip()) for v in items if str(v).strip())
    except ValueError:
        raise GcrlError(f"{key}: cannot read {value!r} as a list of {kind.__name__}s.") from None
    if not out:
        raise GcrlError(f"{key}: the list is empty.")
    return out


def make_grid(values: dict) -> Grid:
    """A Grid from merged file and command-line values (None: not given)."""
    values = {k: v for k, v in values.items() if v is not None}
    if "agents" not in values:
        raise GcrlError("No agents: pass --agents (e.g. --agents saw,hiql) or give `agents` in the sweep file.")
    agent_names = tuple(a.lower() for a in _as_list(values["agents"], "agents"))
    for name in agent_names:
        agents.get(name)  # an unknown name fails here, with the list
    variants = values.get("overrides", [{}])
    if isinstance(variants, dict):
        variants = [variants]
    if not isinstance(variants, list) or not all(isinstance(v, dict) for v in variants):
        raise GcrlError("overrides: expected a list of tables, e.g. overrides = [{}, {beta = 0}].")
    sets = values.get("set", {})
    if not isinstance(sets, dict):
        raise GcrlError("set: expected a table of settings, e.g. set = {hidden = [256, 256]}.")
    try:
        ints = {k: int(values[k]) for k in ("steps", "eval_every", "eval_episodes", "batch_size") if k in values}
    except (TypeError, ValueError):
        raise GcrlError("steps, eval_every, eval_episodes and batch_size must be whole numbers.") from None
    datasets = _as_list(values.get("datasets", "pointmaze-medium-navigate-v0"), "datasets")
    if not all(load.is_path(d) for d in datasets):
        load.dataset_dir(values.get("dataset_dir"))  # a file named as the folder fails here, before the sweep starts
    return Grid(
        agents=agent_names,
        datasets=datasets,
        seeds=_as_list(values.get("seeds", [0]), "seeds", int),
        variants=tuple(variants),
        sets={k: _as_text(v) for k, v in sets.items()},
        preset=values.get("preset"),
        root=str(values.get("root", "runs")),
        dataset_dir=str(values["dataset_dir"]) if "dataset_dir" in values else None,
        **ints,
    )


def variant_tag(variant: dict) -> str:
    """A readable directory-safe name for a variant: {beta = 0} -> 'beta0'; an explicit `tag` wins."""
    if "tag" in variant:
        text = str(variant["tag"])
    else:
        text = "-".join(f"{k}{_as_text(v)}" for k, v in variant.items())
    return re.sub(r"[^A-Za-z0-9._,+]", "_", text)


def setting_names(agent: str) -> set[str]:
    return {f.name for f in fields(TrainConfig)} | {f.name for f in fields(agents.get(agent).Config)}


def dataset_label(dataset: str) -> str:
    return Path(dataset).stem if load.is_path(dataset) else dataset


def run_state(run_dir: Path, steps: int) -> tuple[str, dict]:
    """(skip, its summary) when it finished at least `steps` updates, else (resume, {}) when it has a
    checkpoint, else (start, {})."""
    summary = Path(run_dir) / "summary.json"
    if summary.exists():
        try:
            done = json.loads(summary.read_text())
        except (OSError, ValueError):
            done = {}
        if done.get("finished") and done.get("step", 0) >= steps:
            return "skip", done
    return ("resume" if checkpoint.exists(run_dir) else "start"), {}


def plan(grid: Grid, preset: str) -> list[Run]:
    """Every run of the grid with its resolved configs and what to do with it. Bad settings fail
    here, before anything trains. A variant that sets something an agent does not have is left out
    for that agent (beta=0 applies to SAW, not HIQL), but must apply to some agent."""
    tags = [variant_tag(v) for v in grid.variants]
    if len(set(tags)) != len(tags):
        raise GcrlError(f"overrides: two variants have the same name ({', '.join(tags)}); give them distinct `tag`s.")
    for variant, tag in zip(grid.variants, tags):
        keys = set(variant) - {"tag"}
        if keys and not any(keys <= setting_names(a) for a in grid.agents):
            raise GcrlError(f"overrides: variant {tag} sets {', '.join(sorted(keys))}, which no agent of this sweep ({', '.join(grid.agents)}) has.")
    runs = []
    for dataset in grid.datasets:
        pixels = not load.is_path(dataset) and names.parse(dataset).pixels
        for agent in grid.agents:
            for variant, tag in zip(grid.variants, tags):
                extra = {k: _as_text(v) for k, v in variant.items() if k != "tag"}
                missing = sorted(set(extra) - setting_names(agent))
                if missing:
                    if dataset == grid.datasets[0]:
                        console.print(f"Variant {tag} is left out for {agent}: it has no setting {', '.join(missing)}.", highlight=False)
                    continue
                for seed in grid.seeds:
                    train = dict(steps=grid.steps, seed=seed, eval_every=grid.eval_every, eval_episodes=grid.eval_episodes, batch_size=grid.batch_size)
                    train_cfg, agent_cfg = config.resolve(agent, dataset, preset, train, {**grid.sets, **extra}, pixels=pixels)
                    run_dir = Path(grid.root) / dataset_label(dataset) / (f"{agent}-{tag}" if tag else agent) / f"seed{seed}"
                    action, summary = run_state(run_dir, train_cfg.steps)
                    if action == "resume":
                        _note_saved_steps(run_dir, train_cfg.steps)
                    overall = (summary.get("eval") or {}).get("overall")
                    runs.append(Run(dataset, agent, tag, seed, run_dir, train_cfg, agent_cfg, grid.dataset_dir, action, step=summary.get("step"), overall=overall))
    return runs


def _note_saved_steps(run_dir: Path, steps: int) -> None:
    """Resuming keeps the larger of the saved and the requested update counts (as gcrl train --resume): say so."""
    try:
        saved = json.loads((run_dir / "config.json").read_text())["train"]["steps"]
    except (OSError, ValueError, KeyError):
        return
    if saved > steps:
        console.print(f"{run_dir} resumes to its saved {saved:,} updates (more than the {steps:,} asked for).", highlight=False)


# ---- running it --------------------------------------------------------------------------------

def import_ray():
    try:
        import ray
    except ImportError:
        raise GcrlError("--ray needs Ray: pip install 'gcrl[ray]'") from None
    return ray


def default_workers(n_runs: int) -> int:
    """0 (one after another in this process) on a machine with <= 2 cores, else half the cores."""
    cores = os.cpu_count() or 1
    return 0 if cores <= 2 else max(1, min(cores // 2, n_runs))


class _Ledger:
    """The sweep's runs, their counts and ETA, and ROOT/sweep.json (rewritten atomically on each change)."""

    def __init__(self, grid: Grid, runs: list[Run], execution: dict):
        self.grid, self.runs, self.execution = grid, runs, execution
        self.started, self.t0 = datetime.now().isoformat(timespec="seconds"), time.monotonic()

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.runs)

    def counts(self) -> str:
        parts = [f"{self.count('done')} done", f"{self.count('skipped')} skipped", f"{self.count('failed')} failed"]
        for status in ("diverged", "interrupted"):
            if self.count(status):
                parts.append(f"{self.count(status)} {status}")
        return ", ".join(parts)

    def finished(self) -> int:
        return sum(r.status not in ("pending", "running") for r in self.runs)

    def eta(self) -> float | None:
        """Seconds left. A run still to finish costs what this sweep's finished runs of the same agent
        (and variant) took, or the mean of all finished runs before one has (agents differ up to
        sixfold: a flat count of runs misled); the sum is scaled by the sweep's pace, wall time per
        second of run (about 1 / workers)."""
        timed = [r for r in self.runs if r.seconds]
        if not timed:
            return None
        by_name: dict[str, list[float]] = {}
        for r in timed:
            by_name.setdefault(r.name, []).append(r.seconds)
        cost_of = {name: fmean(seconds) for name, seconds in by_name.items()}
        total = sum(r.seconds for r in timed)
        unseen = total / len(timed)
        cost = sum(cost_of.get(r.name, unseen) for r in self.runs if r.status in ("pending", "running"))
        return cost * (time.monotonic() - self.t0) / total

    def write(self) -> None:
        payload = {
            "grid": {**asdict(self.grid), "variants": [dict(v) for v in self.grid.variants]},
            "execution": self.execution,
            "started": self.started,
            "updated": datetime.now().isoformat(timespec="seconds"),
            "counts": {s: self.count(s) for s in ("pending", "running", "skipped", "done", "failed", "diverged", "interrupted")},
            "runs": [r.record() for r in self.runs],
        }
        with atomic_path(Path(self.grid.root) / SWEEP_FILE) as tmp:
            tmp.write_text(json.dumps(payload, indent=2))

    def start(self, run: Run) -> None:
        run.status = "running"
        self.write()

    def finish(self, run: Run, outcome: dict, reporter: RunsReporter) -> None:
        run.status, run.error = outcome["status"], outcome.get("error")
        run.seconds, run.step, run.overall = outcome.get("seconds"), outcome.get("step"), outcome.get("overall")
        self.write()
        minutes = f"{(run.seconds or 0) / 60:.1f} min"
        if run.status == "done":
            score = f", success {100 * run.overall:.1f}%" if run.overall is not None else ""
            how = "resumed, " if run.action == "resume" else ""
            console.print(f"[green]done[/] {run.describe()} ({how}{minutes}{score})", highlight=False)
        elif run.status in ("failed", "diverged"):
            console.print(f"[red]{run.status}[/] {run.describe()}: {run.error}  (log: {run.run_dir / sweep_worker.LOG})", highlight=False)
        else:
            console.print(f"[yellow]interrupted[/] {run.describe()}" + (f" at update {run.step:,}" if run.step else ""), highlight=False)
        reporter.update(self.finished(), self.counts(), self.eta())


def _run_here(todo: list[Run], ledger: _Ledger, reporter: RunsReporter, progress: bool) -> None:
    """One after another in this process; each run draws its own progress bars."""
    for run in todo:
        console.rule(f"{run.describe()}: {'resuming' if run.action == 'resume' else 'starting'}", style="dim")
        ledger.start(run)
        faults.point("sweep-run")  # tests kill the sweep here, its ledger saying 'running'
        ledger.finish(run, sweep_worker.run_one(run.job(progress)), reporter)
        if run.status == "interrupted":  # Ctrl-C inside the run: it saved; stop the sweep
            raise KeyboardInterrupt


def _run_pool(todo: list[Run], workers: int, ledger: _Ledger, reporter: RunsReporter) -> None:
    """Up to `workers` runs at a time, each in a fresh Python process (so JAX starts anew in each),
    its output in RUN_DIR/train.log. Ctrl-C: the running runs save and stop (they get the signal
    too); a second Ctrl-C kills them."""
    pending, active, stopping = list(todo), {}, None  # stopping: the interrupt that stopped the sweep
    while pending or active:
        try:
            while pending and len(active) < workers and not stopping:
                run = pending.pop(0)
                run.run_dir.mkdir(parents=True, exist_ok=True)
                result_path = run.run_dir / ".sweep-result.json"
                result_path.unlink(missing_ok=True)
                job = {**run.job(), "result_path": str(result_path.resolve())}
                with open(run.run_dir / sweep_worker.LOG, "a") as log:
                    log.write(f"\n--- {datetime.now():%Y-%m-%d %H:%M:%S} {'resuming' if run.action == 'resume' else 'starting'} {run.describe()}\n")
                    log.flush()
                    proc = subprocess.Popen([sys.executable, "-m", "gcrl.experiments.sweep_worker", json.dumps(job)], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
                active[proc] = (run, result_path)
                ledger.start(run)
            time.sleep(0.2)
            for proc in [p for p in active if p.poll() is not None]:
                run, result_path = active.pop(proc)
                if result_path.exists():
                    outcome = json.loads(result_path.read_text())
                    result_path.unlink()
                elif stopping:  # Ctrl-C reached it before it could save anything
                    outcome = sweep_worker.result("interrupted", error="stopped before training began")
                else:
                    outcome = sweep_worker.result("failed", error=f"its process exited with code {proc.returncode} and no result (killed, or out of memory?)")
                ledger.finish(run, outcome, reporter)
        except KeyboardInterrupt as stop:
            if stopping:
                for proc, (run, _) in active.items():
                    proc.kill()
                    proc.wait()
                    run.status = "interrupted"
                ledger.write()
                raise
            stopping, pending = type(stop), []
            if isinstance(stop, Terminated):  # Ctrl-C reaches the workers from the terminal; a SIGTERM to this process does not
                for proc in active:
                    proc.terminate()
            err_console.print("[yellow]Stopping: the running runs save a checkpoint and stop (Ctrl-C again to kill them).[/]")
    if stopping:
        raise stopping()


def _run_ray(todo: list[Run], ray, cpus: float, gpus: float, ledger: _Ledger, reporter: RunsReporter) -> None:
    """One Ray task per run, each in a fresh worker process (max_calls=1); output in RUN_DIR/train.log.
    The sweep root and the datasets must be on a filesystem that every node sees."""
    options = dict(num_cpus=cpus, num_gpus=gpus, max_calls=1)
    if 0 < gpus < 1:  # runs share a GPU: each must not take 75% of its memory up front
        options["runtime_env"] = {"env_vars": {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}}
    remote = ray.remote(**options)(sweep_worker.run_one)
    refs = {remote.remote(run.job(), capture=True): run for run in todo}
    try:
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1, timeout=1.0)
            for ref in done:
                run = refs.pop(ref)
                try:
                    outcome = ray.get(ref)
                except Exception as err:  # the worker died, or Ray lost the task
                    outcome = sweep_worker.result("failed", error=f"Ray: {sweep_worker.describe(err)}")
                ledger.finish(run, outcome, reporter)
    except KeyboardInterrupt:
        for ref, run in refs.items():
            ray.cancel(ref)
            run.status = "interrupted"
        ledger.write()
        raise


def run_sweep(grid: Grid, workers: int | None = None, ray_address: str | None = None, ray_cpus_per_run: float = 1.0, ray_gpus_per_run: float | None = None,
              progress: bool = True, dry_run: bool = False, wandb: WandbOptions | None = None) -> list[Run]:  # fmt: skip
    """Run (or continue) a sweep; returns its runs with their statuses. Raises KeyboardInterrupt after
    writing sweep.json when stopped with Ctrl-C. `wandb`: every run also logs to W&B, in one group."""
    ray = None
    if ray_address:
        ray = import_ray()
        if not ray.is_initialized():  # a driver that already joined a cluster (a test, a notebook) keeps it
            ray.init(address=ray_address, logging_level="warning")
    elif (workers if workers is not None else default_workers(sys.maxsize)) > 1:
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # runs share the GPU; also keeps this process's probe small
    preset = grid.preset or _default_preset(ray)
    if grid.dataset_dir:  # the runs' processes may start elsewhere (Ray)
        grid = replace(grid, dataset_dir=str(Path(grid.dataset_dir).resolve()))
    runs = plan(grid, preset)
    for run in runs:
        options = for_sweep_run(wandb, run.run_dir, Path(grid.root))
        run.wandb = options.to_json() if options is not None else None
    todo = [r for r in runs if r.action != "skip"]
    for run in runs:
        run.status = "skipped" if run.action == "skip" else "pending"
    if ray is not None:
        resources = ray.cluster_resources()
        gpus = ray_gpus_per_run if ray_gpus_per_run is not None else (1.0 if resources.get("GPU", 0) else 0.0)
        if ray_cpus_per_run > resources.get("CPU", 0) or gpus > resources.get("GPU", 0):
            err_console.print(f"[yellow]warning:[/] the cluster has {resources.get('CPU', 0):g} CPUs and {resources.get('GPU', 0):g} GPUs now; "
                              f"a run asks for {ray_cpus_per_run:g} and {gpus:g}, and waits until the cluster has them.")  # fmt: skip
        mode, execution = f"on Ray at {ray_address}, {ray_cpus_per_run:g} CPU and {gpus:g} GPU per run", {"ray": ray_address, "cpus_per_run": ray_cpus_per_run, "gpus_per_run": gpus}
    else:
        workers = default_workers(len(todo)) if workers is None else max(0, min(workers, len(todo)))
        mode = "one after another in this process" if workers == 0 else f"{workers} at a time, each in its own process"
        execution = {"workers": workers}

    shape = " x ".join(plural(n, what) for n, what in ((len(grid.agents), "agent"), (len(grid.datasets), "dataset"), (len(grid.seeds), "seed"), (len(grid.variants), "variant")) if what != "variant" or n > 1)
    resume = sum(r.action == "resume" for r in todo)
    console.print(
        f"[bold]Sweep[/] of {plural(len(runs), 'run')} ({shape}), preset {preset}, in {grid.root}: {len(runs) - len(todo)} finished already (skipped), "
        f"{resume} to resume, {len(todo) - resume} to start; {mode if todo else 'nothing to run'}.",
        highlight=False,
    )
    if dry_run:
        for run in runs:
            console.print(f"  {run.action:6} {run.run_dir}  ({run.train_cfg.steps:,} updates)", highlight=False, soft_wrap=True)
        return runs

    with DirectoryLock(Path(grid.root), what="--root"):
        return _run_locked(grid, runs, todo, {**execution, "preset": preset}, ray, workers, ray_cpus_per_run, gpus if ray is not None else 0.0, progress)


def _run_locked(grid: Grid, runs: list[Run], todo: list[Run], execution: dict, ray, workers, ray_cpus_per_run, gpus, progress) -> list[Run]:
    """The sweep proper, with its root locked against a second sweep."""
    ledger = _Ledger(grid, runs, execution)
    ledger.write()
    if not todo:
        console.print(f"Report: gcrl report {grid.root}")
        return runs
    if ray is None and workers > 0:
        _prepare_datasets(grid)
    reporter = RunsReporter(len(runs), finished=len(runs) - len(todo), live=ray is not None or workers > 0, enabled=progress)
    try:
        if ray is not None:
            _run_ray(todo, ray, ray_cpus_per_run, gpus, ledger, reporter)
        elif workers == 0:
            _run_here(todo, ledger, reporter, progress)
        else:
            _run_pool(todo, workers, ledger, reporter)
    except KeyboardInterrupt:
        reporter.close()
        ledger.write()
        console.print(f"Sweep stopped ({ledger.counts()}). Run the same command again to resume it.")
        raise
    reporter.close()
    _print_summary(ledger)
    return runs


def _default_preset(ray) -> str:
    """As gcrl train: paper with a GPU, cpu without (on Ray: whether the cluster has GPUs)."""
    if ray is not None:
        has_gpu = bool(ray.cluster_resources().get("GPU", 0))
    else:
        import jax

        has_gpu = jax.default_backend() != "cpu"
    if not has_gpu:
        console.print("No GPU found: using the [bold]cpu[/] preset (2 x 256 networks, batch 256). Pass --preset paper for the published configuration.")
    return "paper" if has_gpu else "cpu"


def _prepare_datasets(grid: Grid) -> None:
    """Generate missing pointmaze datasets once, here, rather than in several workers at once."""
    from gcrl.data.generate import generate

    directory = load.dataset_dir(grid.dataset_dir)
    for dataset in grid.datasets:
        if not load.is_path(dataset) and names.parse(dataset).generatable:
            if not all(p.exists() for p in load.split_paths(dataset, directory)):
                console.print(f"{dataset} is not in {directory}: generating it locally (OGBench's protocol).")
                generate(dataset, directory)


def _print_summary(ledger: _Ledger) -> None:
    elapsed = time.monotonic() - ledger.t0
    console.print(f"[bold]Sweep finished[/] in {elapsed / 60:.1f} min: {ledger.counts()}. Status of every run: {Path(ledger.grid.root) / SWEEP_FILE}", highlight=False)
    failed = [r for r in ledger.runs if r.status in ("failed", "diverged")]
    if failed:
        kinds = ", ".join(f"{sum(r.status == k for r in failed)} {k}" for k in ("failed", "diverged") if any(r.status == k for r in failed))
        err_console.print(f"[bold red]{len(failed)} run(s) did not finish ({kinds}):[/] fix the cause and run the sweep again to retry them "
                          "(a diverged run resumes from its last finite checkpoint; change its settings with --set first)")  # fmt: skip
        for run in failed:
            err_console.print(f"  {run.status}: {run.describe()}: {run.error}\n    log: {run.run_dir / sweep_worker.LOG}", highlight=False, soft_wrap=True)
    else:
        console.print(f"Report: gcrl report {ledger.grid.root}")
