"""Run configuration: presets, the papers' per-dataset settings, and --set overrides.

Resolution order: agent defaults -> preset -> per-dataset settings -> --set key=value."""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_type_hints

from gcrl import agents
from gcrl.errors import GcrlError
from gcrl.learner import YNN_FUSION_MODES


@dataclass(frozen=True)
class TrainConfig:
    agent: str = "saw"
    dataset: str = "pointmaze-medium-navigate-v0"
    preset: str = "cpu"
    steps: int = 50_000
    batch_size: int = 256
    seed: int = 0
    log_every: int = 1_000  # updates per jitted chunk; train/val losses are logged at this interval
    eval_every: int = 0  # 0: evaluate once at the end
    eval_from: int = 0  # no evaluation before this update but the last (a score over the last few needs only those)
    eval_episodes: int = 50  # per task
    eval_temperature: float = 0.0
    # Where to evaluate: '' is the dataset's own environment (a file dataset has none); else an OGBench
    # environment or dataset name, e.g. antmaze-large-v0, for a dataset of your own.
    env: str = ""
    checkpoint_every: int = 10_000
    keep_checkpoints: int = 2  # the newest N are kept; a damaged newest falls back to the one before
    # On a CPU: XLA's YNNPACK fusions for the update; 'auto' turns them off from batch 512 on
    # (gcrl.learner.compiler_options says why). No effect on a GPU.
    xla_cpu_ynn_fusion: str = "auto"

    def __post_init__(self):
        if self.xla_cpu_ynn_fusion not in YNN_FUSION_MODES:
            raise GcrlError(f"xla_cpu_ynn_fusion must be one of {', '.join(YNN_FUSION_MODES)}, got '{self.xla_cpu_ynn_fusion}'.")


PRESETS: dict[str, dict[str, Any]] = {
    # The published configuration: 3 x 512 networks, batch 1024, 1M updates.
    "paper": dict(batch_size=1024, hidden=(512, 512, 512), steps=1_000_000, eval_every=100_000, log_every=5_000, checkpoint_every=100_000),
    # Sized for a 2-core CPU: 2 x 256 networks, batch 256.
    "cpu": dict(batch_size=256, hidden=(256, 256), steps=50_000, eval_every=0, log_every=1_000, checkpoint_every=10_000),
}
# Pixel datasets, as OGBench's and SAW's command lines run them: the IMPALA encoder and batch 256
# (plus 500K updates in the paper preset); random crops only on the manipulation tasks.
PIXEL_PRESET = dict(encoder="impala_small", batch_size=256)
AUGMENTED_PIXELS = (("visual-cube-*", "visual-scene-*", "visual-puzzle-*"), {"p_aug": 0.5})
# Every agent's published powderworld runs evaluate with sampled actions (--eval_temperature=0.3).
SAMPLED_EVALUATION = (("powderworld-*",), {"eval_temperature": 0.3})


def matching_settings(table, dataset: str) -> dict[str, Any]:
    """The settings of every row of a per-dataset table whose patterns match `dataset`, in order."""
    name = Path(dataset).name
    out: dict[str, Any] = {}
    for patterns, settings in table:
        if any(fnmatch.fnmatchcase(name, p) for p in patterns):
            out.update(settings)
    return out


def dataset_settings(agent: str, dataset: str) -> dict[str, Any]:
    """The published per-dataset settings: the agent module's DATASET_SETTINGS rows that match."""
    return matching_settings(agents.get(agent).DATASET_SETTINGS, dataset)


def _at_least(low):
    return lambda v: v >= low, f"at least {low}"


def _within(low, high, open_low=False, open_high=False):
    test = lambda v: (v > low if open_low else v >= low) and (v < high if open_high else v <= high)  # noqa: E731
    return test, f"in {'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"


_POSITIVE = (lambda v: v > 0, "greater than 0")
_TEMPERATURE = (lambda v: v >= 0, "0 or more")
_PROBABILITY = _within(0, 1)

# The valid range of every numeric setting, by name, for whichever agent has it.
RULES: dict[str, tuple] = {
    "steps": _at_least(1), "batch_size": _at_least(1), "log_every": _at_least(1), "checkpoint_every": _at_least(1),
    "keep_checkpoints": _at_least(1), "eval_every": _at_least(0), "eval_from": _at_least(0), "eval_episodes": _at_least(0), "eval_temperature": _TEMPERATURE,
    "seed": _at_least(0), "lr": _POSITIVE, "discount": _within(0, 1, open_low=True), "expectile": _within(0, 1, True, True),
    "alpha": _TEMPERATURE, "beta": _TEMPERATURE, "kl_alpha": _TEMPERATURE, "alpha_sub": _TEMPERATURE, "high_alpha": _TEMPERATURE, "low_alpha": _TEMPERATURE,
    "subgoal_steps": _at_least(1), "rep_dim": _at_least(1), "frame_stack": _at_least(1), "p_aug": _PROBABILITY,
    "value_p_cur": _PROBABILITY, "value_p_traj": _PROBABILITY, "value_p_random": _PROBABILITY,
    "actor_p_cur": _PROBABILITY, "actor_p_traj": _PROBABILITY, "actor_p_random": _PROBABILITY,
}  # fmt: skip
OPTIONS = {"steps": "--steps", "batch_size": "--batch-size", "eval_episodes": "--eval-episodes", "eval_every": "--eval-every", "seed": "--seed"}


def _setting_error(key: str, value, what: str) -> GcrlError:
    how = f"{OPTIONS[key]} or --set {key}=..." if key in OPTIONS else f"--set {key}=..."
    return GcrlError(f"{key} = {value!r}: it must be {what} (set it with {how}).")


def check(train_cfg: TrainConfig, agent_cfg) -> None:
    """Every setting in its range, else one GcrlError that names it and how to set it."""
    values = {**dataclasses.asdict(train_cfg), **dataclasses.asdict(agent_cfg)}
    for key, value in values.items():
        if key == "hidden":
            if not value or any(not isinstance(v, int) or v < 1 for v in value):
                raise _setting_error(key, value, "one or more layer widths of at least 1, e.g. 256,256")
            continue
        rule = RULES.get(key)
        if rule is None or value is None:
            continue
        test, what = rule
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not test(value):
            raise _setting_error(key, value, f"a finite number {what}" if isinstance(value, float) else f"a whole number {what}")
    for goals in ("value", "actor"):
        keys = [f"{goals}_p_{source}" for source in ("cur", "traj", "random")]
        mix = [values[k] for k in keys if k in values]
        if mix and abs(sum(mix) - 1.0) > 1e-6:
            raise GcrlError(f"{' + '.join(keys)} = {sum(mix):g}: they must sum to 1 (set them with --set).")


def _convert(text: str, annotation, key: str):
    """Parse a --set value by the type of the field it sets."""
    kind = str(annotation)
    try:
        if "tuple" in kind:
            return tuple(int(x) for x in text.replace("(", "").replace(")", "").split(",") if x.strip())
        if "bool" in kind:
            if text.lower() in ("1", "true", "yes"):
                return True
            if text.lower() in ("0", "false", "no"):
                return False
            raise ValueError
        if "int" in kind and "float" not in kind:
            return int(float(text)) if float(text).is_integer() else int(text)
        if "float" in kind:
            return float(text)
        if text.lower() == "none":
            return None
        return text
    except ValueError:
        raise GcrlError(f"--set {key}={text}: cannot read '{text}' as {kind}.") from None


def parse_seeds(text: str) -> list[int]:
    """'0,1,2' or '0-3' -> [0, 1, 2] or [0, 1, 2, 3]."""
    try:
        if "-" in text.strip("-") and "," not in text:
            low, high = (int(x) for x in text.split("-"))
            seeds = list(range(low, high + 1))
        else:
            seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise GcrlError(f"--seeds expects integers like 0,1,2 or 0-3, got '{text}'.") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise GcrlError(f"--seeds expects distinct integers like 0,1,2 or 0-3, got '{text}'.")
    return seeds


def parse_sets(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise GcrlError(f"--set expects key=value, got '{item}'.")
        key, text = item.split("=", 1)
        out[key.strip()] = text.strip()
    return out


def resolve(agent: str, dataset: str, preset: str = "cpu", train: dict | None = None, sets: dict[str, str] | None = None, pixels: bool = False):
    """(TrainConfig, agent Config) for a run."""
    agents.get(agent)  # an unknown name fails here, with the list
    if preset not in PRESETS:
        raise GcrlError(f"Unknown preset '{preset}'. Choose one of: {', '.join(PRESETS)}.")
    layered: dict[str, Any] = dict(PRESETS[preset])
    if pixels:
        layered.update(PIXEL_PRESET, **matching_settings([AUGMENTED_PIXELS], dataset))
        if preset == "paper":
            layered["steps"] = 500_000
    layered.update(matching_settings([SAMPLED_EVALUATION], dataset), **dataset_settings(agent, dataset))
    layered.update({k: v for k, v in (train or {}).items() if v is not None})

    layered.update(_parse_sets(agent, sets or {}))
    return _build(agent, dataset, preset, layered)


def _parse_sets(agent: str, sets: dict[str, str]) -> dict[str, Any]:
    """--set texts as typed values; an unknown key is an error that lists the valid ones."""
    train_hints, agent_hints = get_type_hints(TrainConfig), get_type_hints(agents.get(agent).Config)
    out = {}
    for key, text in sets.items():
        hint = train_hints.get(key) or agent_hints.get(key)
        if hint is None or key in ("agent", "dataset", "preset"):
            valid = sorted((set(train_hints) - {"agent", "dataset", "preset"}) | set(agent_hints))
            raise GcrlError(f"--set {key}: no such setting for {agent}. Valid keys: {', '.join(valid)}.")
        out[key] = _convert(text, hint, key)
    return out


def _build(agent: str, dataset: str, preset: str, values: dict[str, Any]):
    module = agents.get(agent)
    train_keys = {f.name for f in fields(TrainConfig)} - {"agent", "dataset", "preset"}
    agent_keys = {f.name for f in fields(module.Config)}
    try:
        train_cfg = TrainConfig(agent=agent, dataset=dataset, preset=preset, **{k: v for k, v in values.items() if k in train_keys})
        agent_cfg = module.Config(**{k: v for k, v in values.items() if k in agent_keys})
    except TypeError as err:  # a value of the wrong kind that a dataclass could not take
        raise GcrlError(f"settings of {agent}: {err}.") from None
    check(train_cfg, agent_cfg)
    return train_cfg, agent_cfg


def override(train_cfg: TrainConfig, agent_cfg, sets: dict[str, str]):
    """The configs with --set texts applied (a resumed run's changed settings), checked again."""
    values = {**dataclasses.asdict(train_cfg), **dataclasses.asdict(agent_cfg), **_parse_sets(train_cfg.agent, sets)}
    return _build(train_cfg.agent, train_cfg.dataset, train_cfg.preset, values)


def differences(before: tuple, after: tuple) -> dict[str, tuple]:
    """setting -> (old, new) for every setting that differs between two (train, agent) config pairs."""
    old = {k: v for cfg in before for k, v in dataclasses.asdict(cfg).items()}
    new = {k: v for cfg in after for k, v in dataclasses.asdict(cfg).items()}
    return {k: (old.get(k), v) for k, v in new.items() if old.get(k) != v}


def to_json(train_cfg: TrainConfig, agent_cfg) -> str:
    return json.dumps({"train": dataclasses.asdict(train_cfg), "agent": dataclasses.asdict(agent_cfg)}, indent=2)


def from_json(text: str, source: str = "the configuration"):
    """(TrainConfig, agent Config) from to_json's text; GcrlError naming `source` if it is damaged."""
    try:
        raw = json.loads(text)
        train_raw, agent_raw = dict(raw["train"]), dict(raw["agent"])
        hints = get_type_hints(agents.get(train_raw["agent"]).Config)
        agent_raw = {k: tuple(v) if "tuple" in str(hints.get(k)) and v is not None else v for k, v in agent_raw.items()}
        train_cfg, agent_cfg = TrainConfig(**train_raw), agents.get(train_raw["agent"]).Config(**agent_raw)
    except GcrlError as err:
        raise GcrlError(f"{source} is not a valid gcrl configuration: {err}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise GcrlError(f"{source} is damaged or not a gcrl configuration ({type(err).__name__}: {err}). "
                        "Restore it from a copy, or start a new run.") from None  # fmt: skip
    check(train_cfg, agent_cfg)
    return train_cfg, agent_cfg


def read_run_config(run_dir) -> tuple[TrainConfig, Any]:
    """A run directory's config.json, checked; GcrlError when missing or damaged."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise GcrlError(f"{run_dir} is not a gcrl run directory (no config.json).")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise GcrlError(f"{path} cannot be read ({err}).") from None
    return from_json(text, source=str(path))
