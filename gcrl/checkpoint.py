"""Checkpoints as msgpack (flax.serialization): plain arrays, nothing that can execute code on load.
Written atomically, so a crash leaves the previous checkpoint intact."""

from __future__ import annotations

import json
from pathlib import Path

import jax
from flax import serialization

from gcrl.data.files import atomic_path
from gcrl.errors import GcrlError

CHECKPOINT = "checkpoint.msgpack"


def save(run_dir: Path, state, step: int) -> Path:
    path = Path(run_dir) / CHECKPOINT
    payload = serialization.to_bytes(jax.device_get(state))
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)
    with atomic_path(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps({"step": int(step)}))
    return path


def exists(run_dir: Path) -> bool:
    return (Path(run_dir) / CHECKPOINT).exists()


def restore(run_dir: Path, template):
    """The saved state, shaped like `template` (a freshly initialised state of the same agent)."""
    path = Path(run_dir) / CHECKPOINT
    if not path.exists():
        raise GcrlError(f"No checkpoint in {run_dir}: nothing to resume or load.")
    try:
        return serialization.from_bytes(template, path.read_bytes())
    except Exception as err:  # a damaged or foreign file
        raise GcrlError(f"{path} cannot be read as a checkpoint of this run ({type(err).__name__}: {err}).") from None
