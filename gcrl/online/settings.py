"""Settings of an online run: the loop's (environment, replay, train ratio, schedule) beside the
model's (online/config.py), two presets, and --set parsing for both.

Presets (the loop's; the model takes the same-named preset of online/config.py):
  'cpu':   2 CPU cores, sized to learn the medium maze's training goals in about an hour: 16 x 16
           images, each action held for 4 OGBench steps, 125-step episodes towards the maze's
           training cells from random starts, 8 environments, batch 8 x length 32, train ratio 32,
           100K env steps (12K updates at ~4-5 updates/s on 2 cores). Measured: greedy success on
           the training goals 12% (random) at 20K env steps, 42% at 100K; the five tasks 54% there
           (sampled). DreamerV3's ratio, a tiny model and a 25x larger learning rate (online/config.py).
  'paper': DreamerV3 (`size12m` model, train ratio 32) with Director's batch 16 x 64, 64 x 64
           images, 16 environments, OGBench's 1000-step episodes and its own step (no action
           repeat), the five task goals, 1M env steps.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, fields
from pathlib import Path

from gcrl.errors import GcrlError
from gcrl.online import config as model_config

ENV_PREFIX = "pixel-maze-"


@dataclass(frozen=True)
class LoopConfig:
    agent: str = "dreamer"
    env: str = "pixel-maze-medium"
    preset: str = "cpu"
    seed: int = 0
    steps: int = 100_000  # environment steps (summed over the environments)
    size: int = 16  # image side
    point_px: float = 1.5  # the point is drawn at least this many pixels in radius (OGBench's 0.7 units is 0.7 px at 32 x 32 in medium)
    num_envs: int = 8
    max_episode_steps: int = 125  # agent steps
    action_repeat: int = 4  # OGBench physics steps per agent step (the action held); env steps count agent steps
    batch: int = 8
    length: int = 32
    train_ratio: float = 32.0  # replayed steps per env step: updates = env_steps * ratio / (batch * length)
    prefill: int = 2048  # env steps of random actions before the first update (again after a resume)
    capacity: int = 100_000  # replay steps, over all environments
    log_every: int = 5000  # env steps
    checkpoint_every: int = 20_000
    eval_every: int = 20_000  # 0: only at the end
    eval_episodes: int = 8  # per task
    # 'sample': the actor's samples, as DreamerV3 evaluates (its policy samples in every mode);
    # 'mode': greedy. (Runs before this setting existed evaluated greedily.)
    eval_policy: str = "sample"
    keep_checkpoints: int = 2
    openloop_context: int = 5  # frames observed before the open-loop prediction
    goal_set: str = "train"  # training goals: OGBench's five task goals, or the maze's 'train' / 'heldout' / 'all' cells (random starts)
    eval_goals: str = "tasks"  # what evaluation runs: the five tasks, or episodes towards a goal set's cells
    # Exploration while training: 'policy' samples the actor (DreamerV3); 'ezgreedy' is temporally
    # extended epsilon-greedy (Dabney et al. 2021): with probability explore_eps a uniform random
    # action is held for n ~ zeta(explore_zeta) steps (at most explore_max), the flat control for
    # the exploration a hierarchy brings.
    explore: str = "policy"
    explore_eps: float = 0.05
    explore_zeta: float = 2.0
    explore_max: int = 100
    init_from: str = ""  # a run directory whose newest checkpoint's parameters start this run (fine-tuning; the optimiser starts fresh)

    def __post_init__(self):
        layout(self.env)
        if self.size not in (16, 32, 64):
            raise GcrlError(f"online: size must be 16, 32 or 64, got {self.size}.")
        for name in ("steps", "num_envs", "max_episode_steps", "action_repeat", "batch", "length", "log_every", "checkpoint_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise GcrlError(f"online: {name} must be at least 1, got {getattr(self, name)}.")
        if self.train_ratio <= 0:
            raise GcrlError(f"online: train_ratio must be positive, got {self.train_ratio}.")
        if self.capacity // self.num_envs < max(self.length, self.prefill // self.num_envs):
            raise GcrlError(f"online: capacity {self.capacity} holds too few steps per environment for sequences of {self.length} and the prefill.")
        if self.prefill < self.length * self.num_envs:
            raise GcrlError(f"online: prefill ({self.prefill}) must give every environment at least one sequence: at least length x num_envs = {self.length * self.num_envs}.")
        from gcrl.envs.pixel_maze import GOAL_SETS

        for name in ("goal_set", "eval_goals"):
            if getattr(self, name) not in GOAL_SETS:
                raise GcrlError(f"online: {name} must be one of {', '.join(GOAL_SETS)}, got '{getattr(self, name)}'.")
        if self.eval_policy not in ("sample", "mode"):
            raise GcrlError(f"online: eval_policy must be 'sample' or 'mode', got '{self.eval_policy}'.")
        if self.explore not in ("policy", "ezgreedy"):
            raise GcrlError(f"online: explore must be 'policy' or 'ezgreedy', got '{self.explore}'.")
        if not 0.0 <= self.explore_eps <= 1.0 or self.explore_zeta <= 1.0 or self.explore_max < 1:
            raise GcrlError("online: ezgreedy needs 0 <= explore_eps <= 1, explore_zeta > 1 and explore_max >= 1.")
        if self.agent not in AGENTS:
            raise GcrlError(f"online: unknown agent '{self.agent}', expected one of {', '.join(AGENTS)}.")
        if not 1 <= self.openloop_context < self.length:
            raise GcrlError(f"online: openloop_context must be between 1 and length - 1, got {self.openloop_context}.")


AGENTS = ("dreamer", "director")

PRESETS = {
    "cpu": {},
    "paper": {"steps": 1_000_000, "size": 64, "num_envs": 16, "max_episode_steps": 1000, "action_repeat": 1, "batch": 16, "length": 64,
              "train_ratio": 32.0, "prefill": 5000, "capacity": 1_000_000, "log_every": 5000, "checkpoint_every": 25_000, "eval_every": 50_000,
              "eval_episodes": 20, "goal_set": "tasks"},
}
ENVS = tuple(f"{ENV_PREFIX}{name}" for name in ("medium", "medium-b", "medium-mirrored", "large", "giant", "arena", "corridor"))


def layout(env: str) -> str:
    """The PixelMaze layout an --env name means; one clear error for any other name."""
    from gcrl.envs.pixel_maze import LAYOUTS

    name = env.removeprefix(ENV_PREFIX)
    if not env.startswith(ENV_PREFIX) or name not in LAYOUTS:
        raise GcrlError(f"unknown --env '{env}'; choose one of {', '.join(ENV_PREFIX + n for n in LAYOUTS)}.")
    return name


def _convert(key: str, text: str, default):
    try:
        if isinstance(default, bool):
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return text.lower() in ("true", "1")
        if isinstance(default, tuple):
            return tuple(type(default[0])(x) for x in text.replace("(", "").replace(")", "").split(",") if x.strip())
        return type(default)(float(text)) if isinstance(default, int) and float(text).is_integer() else type(default)(text)
    except ValueError:
        raise GcrlError(f"--set {key}={text}: expected a {type(default).__name__}.") from None


def split_typed(sets: dict[str, str], *classes, reserved: dict[str, str], what: str) -> list[dict]:
    """--set texts as typed overrides, one dict per settings dataclass in `classes` (a key goes to
    the first that has it); a `reserved` key gets its message, an unknown one the list of valid keys."""
    defaults = [{f.name: f.default for f in fields(c)} for c in classes]
    out: list[dict] = [{} for _ in classes]
    for key, text in sets.items():
        if key in reserved:
            raise GcrlError(reserved[key])
        owner = next((i for i, d in enumerate(defaults) if key in d), None)
        if owner is None:
            valid = sorted(set().union(*defaults) - set(reserved))
            raise GcrlError(f"--set {key}: no such {what} setting. Valid keys: {', '.join(valid)}.")
        out[owner][key] = _convert(key, text, defaults[owner][key])
    return out


def split_sets(sets: dict[str, str]) -> tuple[dict, dict]:
    """--set texts as typed (loop, model) overrides."""
    reserved = {k: f"--set {k}: pass --{k} instead." for k in ("agent", "env", "preset")}
    loop, model = split_typed(sets, LoopConfig, model_config.Config, reserved=reserved, what="online")
    return loop, model


def resolve(env: str, preset: str = "cpu", sets: dict[str, str] | None = None, **loop_values) -> tuple[LoopConfig, model_config.Config]:
    """(loop settings, model settings) of a new run."""
    if preset not in PRESETS:
        raise GcrlError(f"online: unknown preset '{preset}', expected one of {', '.join(PRESETS)}.")
    loop_sets, model_sets = split_sets(sets or {})
    values = {**PRESETS[preset], **{k: v for k, v in loop_values.items() if v is not None}, **loop_sets}
    return LoopConfig(env=env, preset=preset, **values), model_config.preset(preset, **model_sets)


def to_json(loop: LoopConfig, model: model_config.Config) -> str:
    return json.dumps({"loop": dataclasses.asdict(loop), "model": dataclasses.asdict(model)}, indent=2)


def read(run_dir: Path) -> tuple[LoopConfig, model_config.Config]:
    path = Path(run_dir) / "config.json"
    try:
        raw = json.loads(path.read_text())
        model = {k: tuple(v) if isinstance(v, list) else v for k, v in raw["model"].items()}
        return LoopConfig(**raw["loop"]), model_config.Config(**model)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise GcrlError(f"{path} is not an online run's configuration ({type(err).__name__}: {err}).") from None


def override(loop: LoopConfig, model: model_config.Config, sets: dict[str, str]):
    loop_sets, model_sets = split_sets(sets)
    return dataclasses.replace(loop, **loop_sets), dataclasses.replace(model, **model_sets)
