"""Weights & Biases logging (`--wandb` on gcrl train, gcrl sweep and gcrl online train).

A run's W&B run mirrors what its directory holds: the resolved config (config.json), every metric
that goes to TensorBoard at the same step, the evaluations (overall and per task as scalars, and a
per-task table), and the pictures (the maze's evaluated trajectories, the online agent's open-loop
predictions and Director's goals). Its name is the run directory's name (below a sweep's root: the
path from it, as seeds' folders are all called seedS); a sweep groups its runs.

The x axis is the run's own step (updates offline, env steps online), logged as the `step` metric
that every other metric is plotted against, as W&B's define_metric allows: a resumed run logs again
the steps after its checkpoint, and W&B's own monotonic `_step` would drop them. The W&B run id is
kept in RUN_DIR/wandb.json, so `--resume` continues the same W&B run.

W&B never stops training: if it cannot start or a call fails (no network, no API key, its service
gone), that is reported once and the run goes on with CSV and TensorBoard, which always get
everything. WANDB_MODE=offline needs no network: the run lands under WANDB_DIR (default ./wandb),
for `wandb sync` later. Project, entity, group and tags come from the options, else W&B's usual
environment variables (WANDB_PROJECT, WANDB_ENTITY, WANDB_RUN_GROUP, WANDB_TAGS), else project
'gcrl'."""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from gcrl.console import console, warn
from gcrl.data.files import write_text
from gcrl.errors import GcrlError

ID_FILE = "wandb.json"
DEFAULT_PROJECT = "gcrl"


@dataclass(frozen=True)
class WandbOptions:
    project: str | None = None
    entity: str | None = None
    group: str | None = None
    tags: tuple[str, ...] = ()
    name: str | None = None  # default: the run directory's name (see run_name)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict | None) -> "WandbOptions | None":
        return None if raw is None else cls(**{**raw, "tags": tuple(raw.get("tags") or ())})


def require():
    """The wandb module, or one error that says how to install it."""
    try:
        import wandb
    except ImportError:
        raise GcrlError("--wandb needs the wandb package, which is not installed: pip install 'gcrl[wandb]' (or pip install wandb).") from None
    return wandb


def options_from_args(args) -> WandbOptions | None:
    """The --wandb* options of a command (None without --wandb); checks wandb is installed."""
    if not getattr(args, "wandb", False):
        return None
    require()
    tags = tuple(t.strip() for t in (args.wandb_tags or "").split(",") if t.strip())
    return WandbOptions(project=args.wandb_project, entity=args.wandb_entity, group=args.wandb_group, tags=tags)


def run_name(run_dir: Path, root: Path | None = None) -> str:
    """The run directory's name; below a sweep root, its path from there; a seedS folder of
    `gcrl train --seeds --run-dir DIR` as DIR/seedS."""
    run_dir = Path(run_dir)
    if root is not None:
        try:
            return run_dir.resolve().relative_to(Path(root).resolve()).as_posix()
        except ValueError:
            pass
    if re.fullmatch(r"seed\d+", run_dir.name):
        return f"{run_dir.parent.name}/{run_dir.name}"
    return run_dir.name


class Tracker:
    """One run's W&B run. Every call is safe: after the first failure (reported once) the rest do
    nothing. Tracker.off() is the tracker of a run without --wandb."""

    def __init__(self, run=None, wandb=None):
        self._run, self._wandb = run, wandb

    @classmethod
    def off(cls) -> "Tracker":
        return cls()

    @classmethod
    def start(cls, run_dir: Path, options: WandbOptions, resume: bool) -> "Tracker":
        """The W&B run of `run_dir` (the same one again on --resume), its config from config.json."""
        wandb = require()
        run_dir = Path(run_dir)
        run_id = (_saved_id(run_dir) if resume else None) or secrets.token_hex(4)
        tags = options.tags or tuple(t for t in (env("WANDB_TAGS") or "").split(",") if t)
        try:
            # W&B's variables are read here, not left to wandb: it caches its settings for the process.
            run = wandb.init(
                project=options.project or env("WANDB_PROJECT") or DEFAULT_PROJECT, entity=options.entity or env("WANDB_ENTITY"),
                group=options.group or env("WANDB_RUN_GROUP"), tags=list(tags) or None, name=options.name or run_name(run_dir),
                dir=env("WANDB_DIR"), mode=env("WANDB_MODE"), id=run_id, resume="allow", config=json.loads((run_dir / "config.json").read_text()),
                settings=wandb.Settings(console="off", quiet=True), reinit="create_new",  # several seeds: several runs at once
            )  # fmt: skip
            run.define_metric("step")
            run.define_metric("*", step_metric="step")
        except Exception as err:  # no network, no API key, a service that would not start
            _report(err, "could not start")
            return cls.off()
        offline = run.settings.mode == "offline"
        write_text(run_dir / ID_FILE, json.dumps({"id": run.id, "project": run.project, "name": run.name, "offline": offline}))
        console.print(f"  W&B: run {run.name} ({f'offline, in {Path(run.dir).parent}' if offline else run.url or run.project})", highlight=False)
        return cls(run, wandb)

    def _log(self, what: str, step: int, values) -> None:
        """run.log({'step': step, **values()}); values is called inside the guard (W&B's media
        objects can fail as well)."""
        if self._run is None:
            return
        try:
            self._run.log({"step": int(step), **values()})
        except Exception as err:
            _report(err, f"failed to {what}")
            self._run = None

    def scalars(self, step: int, metrics: dict) -> None:
        self._log("log metrics", step, lambda: {k: float(v) for k, v in metrics.items()})

    def _images(self, pictures: dict[str, Path] | None) -> dict:
        """Pictures as images eval/NAME (those not drawn are skipped)."""
        return {f"eval/{name}": self._wandb.Image(str(path)) for name, path in (pictures or {}).items() if Path(path).is_file()}

    def pictures(self, step: int, pictures: dict[str, Path]) -> None:
        if any(Path(p).is_file() for p in pictures.values()):
            self._log("log a picture", step, lambda: self._images(pictures))

    def evaluation(self, step: int, overall: float, per_task, label: str = "task", pictures: dict[str, Path] | None = None) -> None:
        """An evaluation as one row: overall and per-task success as scalars, the per-task table
        (eval/tasks), and its pictures (eval/NAME; those not drawn are skipped)."""

        def values():
            row = {"eval/overall": float(overall), **{f"eval/{label}{j + 1}": float(s) for j, s in enumerate(per_task)}}
            row["eval/tasks"] = self._wandb.Table(columns=[label, "success"], data=[[j + 1, float(s)] for j, s in enumerate(per_task)])
            return row | self._images(pictures)

        self._log("log an evaluation", step, values)

    def finish(self) -> None:
        run, self._run = self._run, None
        if run is not None:
            try:
                run.finish()
            except Exception as err:
                _report(err, "failed to finish")


def env(name: str) -> str | None:
    return os.environ.get(name) or None


def _saved_id(run_dir: Path) -> str | None:
    try:
        return str(json.loads((run_dir / ID_FILE).read_text())["id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _report(err: Exception, what: str) -> None:
    """W&B failed (a tracker reports once: it is off afterwards); the run goes on."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    warn(f"W&B {what} ({type(err).__name__}: {text}); the run goes on without it (metrics.csv and TensorBoard have everything).")


def for_sweep_run(options: WandbOptions | None, run_dir: Path, root: Path) -> WandbOptions | None:
    """A sweep run's options: named by its path below the sweep root, grouped by the sweep."""
    if options is None:
        return None
    group = options.group or env("WANDB_RUN_GROUP") or f"sweep-{Path(root).resolve().name}"
    return replace(options, name=run_name(run_dir, root), group=group)


def for_seeds(options: WandbOptions | None, run_dirs: list[Path]) -> WandbOptions | None:
    """Several seeds of one `gcrl train --seeds`: grouped (unless a group was given) by their common
    name, seedS replaced by 'seeds' (DIR/seeds, or saw-seeds-TIME)."""
    if options is None or len(run_dirs) < 2 or options.group or env("WANDB_RUN_GROUP"):
        return options
    return replace(options, group=re.sub(r"seed\d+", "seeds", run_name(run_dirs[0])))
