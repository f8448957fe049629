"""Settings of an expert run: the loop's (main_sac.py's flags) beside SAC's (sac.Config), each
expert's published command line on top of the defaults (envs.EXPERTS), and --set for both."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from gcrl.errors import GcrlError
from gcrl.experts import envs
from gcrl.experts.sac import Config as SacConfig
from gcrl.online.settings import split_typed


@dataclass(frozen=True)
class ExpertConfig:
    """main_sac.py's flags (defaults), with gcrl's run conventions."""

    expert: str = "ant"
    seed: int = 0
    steps: int = 1_000_000  # environment steps (train_steps)
    seed_steps: int = 10_000  # random actions before the first update
    train_interval: int = 1  # one update every this many env steps
    log_every: int = 5_000
    eval_every: int = 100_000
    eval_episodes: int = 50
    checkpoint_every: int = 50_000
    keep_checkpoints: int = 2
    terminate_at_end: bool = False  # a time-limit end counts as terminal (mask 0), as --terminate_at_end=1
    capacity: int = 1_000_000  # replay transitions

    def __post_init__(self):
        envs.spec(self.expert)
        for name in ("steps", "train_interval", "log_every", "checkpoint_every", "keep_checkpoints", "capacity"):
            if getattr(self, name) < 1:
                raise GcrlError(f"experts: {name} must be at least 1, got {getattr(self, name)}.")
        if self.seed_steps < 1 or self.eval_every < 0 or self.eval_episodes < 0:
            raise GcrlError("experts: seed_steps must be at least 1, eval_every and eval_episodes at least 0.")


def _typed(sets: dict[str, str]) -> tuple[dict, dict]:
    reserved = {"expert": "--set expert: name the expert instead, e.g. gcrl experts train ant."}
    loop, agent = split_typed(sets, ExpertConfig, SacConfig, reserved=reserved, what="expert")
    return loop, agent


def resolve(expert: str, sets: dict[str, str] | None = None, **loop_values) -> tuple[ExpertConfig, SacConfig]:
    """(loop, SAC) settings of a new run: defaults, then the expert's published flags, then the
    command line's (loop_values: --seed, --steps) and --set."""
    s = envs.spec(expert)
    loop_sets, agent_sets = _typed(sets or {})
    loop = ExpertConfig(expert=expert, **{**s.loop, **{k: v for k, v in loop_values.items() if v is not None}, **loop_sets})
    try:
        agent = SacConfig(**{**s.agent, **agent_sets})
    except TypeError as err:
        raise GcrlError(f"experts: {err}") from None
    return loop, agent


def to_json(loop: ExpertConfig, agent: SacConfig) -> str:
    return json.dumps({"expert": dataclasses.asdict(loop), "agent": dataclasses.asdict(agent)}, indent=2)


def read(run_dir: Path) -> tuple[ExpertConfig, SacConfig]:
    path = Path(run_dir) / "config.json"
    try:
        raw = json.loads(path.read_text())
        agent = {k: tuple(v) if isinstance(v, list) else v for k, v in raw["agent"].items()}
        return ExpertConfig(**raw["expert"]), SacConfig(**agent)
    except FileNotFoundError:
        raise GcrlError(f"{run_dir} is not an expert run directory (no config.json).") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise GcrlError(f"{path} is not an expert run's configuration ({type(err).__name__}: {err}).") from None


def override(loop: ExpertConfig, agent: SacConfig, sets: dict[str, str]):
    loop_sets, agent_sets = _typed(sets)
    return dataclasses.replace(loop, **loop_sets), dataclasses.replace(agent, **agent_sets)
