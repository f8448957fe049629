"""Run configuration: presets, the papers' per-dataset settings, and --set overrides.

Resolution order: agent defaults -> preset -> per-dataset settings -> --set key=value."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, fields
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
    eval_episodes: int = 50  # per task
    eval_temperature: float = 0.0
    checkpoint_every: int = 10_000
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
PIXEL_PRESET = dict(encoder="impala_small", p_aug=0.5, batch_size=256)  # plus 500K updates in the paper preset


def dataset_settings(agent: str, dataset: str) -> dict[str, Any]:
    """The papers' per-dataset hyperparameters (DESIGN.md section 4; OGBench for the baselines)."""
    name = dataset.removeprefix("visual-")
    out: dict[str, Any] = {}
    long_horizon = "giant" in name or name.startswith("humanoidmaze")
    if agent in ("gcivl", "hiql", "saw") and long_horizon:
        out["discount"] = 0.995
    if agent in ("hiql", "saw"):  # hbc keeps its own short k (gcrl/agents/hbc.py says why)
        if name.startswith("humanoidmaze"):
            out["subgoal_steps"] = 100
        elif any(name.startswith(p) for p in ("cube", "scene", "puzzle")):
            out["subgoal_steps"] = 10
        if name.startswith("cube-single"):
            out["expectile"] = 0.9
    if agent == "saw":
        if dataset.startswith("visual-"):
            out["share_goal_rep"] = True  # the published pixel runs: the policy reads the value's phi
        if name.startswith("cube-single") and not dataset.startswith("visual-"):
            out["beta"] = 0.3
        elif any(name.startswith(p) for p in ("cube-double", "cube-triple", "scene")) and not dataset.startswith("visual-"):
            out["beta"] = 1.0
    if agent == "gcivl" and "maze" in name:
        out["alpha"] = 10.0
    return out


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
    module = agents.get(agent)
    if preset not in PRESETS:
        raise GcrlError(f"Unknown preset '{preset}'. Choose one of: {', '.join(PRESETS)}.")
    layered: dict[str, Any] = dict(PRESETS[preset])
    if pixels:
        layered.update(PIXEL_PRESET)
        if preset == "paper":
            layered["steps"] = 500_000
    layered.update(dataset_settings(agent, dataset))
    layered.update({k: v for k, v in (train or {}).items() if v is not None})

    train_hints, agent_hints = get_type_hints(TrainConfig), get_type_hints(module.Config)
    for key, text in (sets or {}).items():
        hint = train_hints.get(key) or agent_hints.get(key)
        if hint is None:
            valid = sorted(set(train_hints) | set(agent_hints))
            raise GcrlError(f"--set {key}: no such setting for {agent}. Valid keys: {', '.join(valid)}.")
        layered[key] = _convert(text, hint, key)

    train_keys = {f.name for f in fields(TrainConfig)}
    agent_keys = {f.name for f in fields(module.Config)}
    train_cfg = TrainConfig(agent=agent, dataset=dataset, preset=preset, **{k: v for k, v in layered.items() if k in train_keys - {"agent", "dataset", "preset"}})
    agent_cfg = module.Config(**{k: v for k, v in layered.items() if k in agent_keys})
    return train_cfg, agent_cfg


def to_json(train_cfg: TrainConfig, agent_cfg) -> str:
    return json.dumps({"train": dataclasses.asdict(train_cfg), "agent": dataclasses.asdict(agent_cfg)}, indent=2)


def from_json(text: str):
    raw = json.loads(text)
    train_cfg = TrainConfig(**raw["train"])
    module = agents.get(train_cfg.agent)
    hints = get_type_hints(module.Config)
    agent_raw = {k: tuple(v) if "tuple" in str(hints.get(k)) and v is not None else v for k, v in raw["agent"].items()}
    return train_cfg, module.Config(**agent_raw)
