"""Checkpoints that survive faults: the last N kept, each verified on load, never a non-finite one.

A run directory keeps its newest `keep` checkpoints in RUN_DIR/checkpoints/step_UPDATES.ckpt. Each
file is one header line of JSON (format, step, length and SHA-256 of the payload) followed by the
payload: the state as msgpack (flax.serialization), plain arrays, nothing that can execute code on
load. A file is written under a temporary name and renamed, so a crash or SIGKILL at any moment
leaves every earlier checkpoint intact; the oldest are deleted only after the new one is in place.

On load the newest file that verifies is used; a damaged one (truncated copy, disk fault, bit flip)
is renamed to *.damaged, kept for inspection, and the previous checkpoint is used with a warning.
Runs saved before this format (one RUN_DIR/checkpoint.msgpack without checksum) still load."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jax
import numpy as np
from flax import serialization

from gcrl import faults
from gcrl.data.files import atomic_path
from gcrl.errors import GcrlError

FOLDER = "checkpoints"
SUFFIX = ".ckpt"
FORMAT = "gcrl-checkpoint/1"
LEGACY = "checkpoint.msgpack"  # gcrl 0.1's single, unchecked checkpoint


class NonFiniteState(GcrlError):
    """A state with NaN or inf parameters: saving it would replace a good checkpoint with a bad one."""


def _path(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / FOLDER / f"step_{int(step):09d}{SUFFIX}"


def nonfinite_leaves(tree) -> list[str]:
    """Paths of the array leaves of `tree` that hold a NaN or inf (on the host)."""
    bad = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        arr = np.asarray(leaf)
        if np.issubdtype(arr.dtype, np.inexact) and not np.isfinite(arr).all():
            bad.append(jax.tree_util.keystr(path))
    return bad


def save(run_dir: Path, state, step: int, keep: int = 2, meta: dict | None = None) -> Path:
    """Write the state as the checkpoint of update `step`, then delete all but the newest `keep`.
    `meta`: extra JSON-able facts stored in the header (the training loop marks a pending
    evaluation there). Refuses a state with non-finite parameters (NonFiniteState)."""
    host = jax.device_get(state)
    bad = nonfinite_leaves(getattr(host, "params", host))
    if bad:
        raise NonFiniteState(f"not saving update {step:,} to {run_dir}: non-finite parameters in {', '.join(bad[:3])}; the earlier checkpoints are kept.")
    payload = serialization.to_bytes(host)
    header = {"format": FORMAT, "step": int(step), "bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest(), **(meta or {})}
    path = _path(run_dir, step)
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        out.write(json.dumps(header).encode() + b"\n")
        out.write(payload[: len(payload) // 2])
        faults.point("checkpoint-write")  # tests kill here: half a file, under its temporary name
        out.write(payload[len(payload) // 2 :])
    _prune(run_dir, keep)
    return path


def _prune(run_dir: Path, keep: int) -> None:
    for _, path in candidates(run_dir)[keep:]:
        path.unlink(missing_ok=True)
        if path.name == LEGACY:
            path.with_suffix(".json").unlink(missing_ok=True)


def candidates(run_dir: Path) -> list[tuple[int, Path]]:
    """(step, path) of every checkpoint file in the run directory, newest first (unverified)."""
    found = []
    for path in (Path(run_dir) / FOLDER).glob(f"step_*{SUFFIX}"):
        try:
            found.append((int(path.stem.removeprefix("step_")), path))
        except ValueError:
            continue
    legacy = Path(run_dir) / LEGACY
    if legacy.is_file():
        try:
            step = int(json.loads(legacy.with_suffix(".json").read_text())["step"])
        except (OSError, ValueError, KeyError, TypeError):
            step = -1
        found.append((step, legacy))
    return sorted(found, key=lambda item: item[0], reverse=True)


def exists(run_dir: Path) -> bool:
    return bool(candidates(run_dir))


def latest_step(run_dir: Path) -> int | None:
    found = candidates(run_dir)
    return found[0][0] if found else None


def latest_header(run_dir: Path) -> dict:
    """The header of the newest checkpoint (unverified; {} if there is none or it cannot be read):
    what a loop stored in `meta` to shape its template, e.g. a replay's capacity."""
    found = [path for _, path in candidates(run_dir) if path.name != LEGACY]
    try:
        with open(found[0], "rb") as f:
            return json.loads(f.readline())
    except (IndexError, OSError, ValueError):
        return {}


def read(path: Path, template) -> tuple[object, dict]:
    """(state shaped like `template`, header) of one checkpoint file; GcrlError if it does not verify."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as err:
        raise GcrlError(f"{path}: cannot be read ({err.strerror}).") from None
    if path.name == LEGACY:
        header, payload = {"step": None}, blob
    else:
        first, _, payload = blob.partition(b"\n")
        try:
            header = json.loads(first)
            ok = header.get("format") == FORMAT and len(payload) == header["bytes"] and hashlib.sha256(payload).hexdigest() == header["sha256"]
        except (ValueError, KeyError, TypeError, AttributeError):
            ok = False
        if not ok:
            raise GcrlError(f"{path} is damaged (its length or checksum does not match its header).")
    try:
        state = serialization.from_bytes(template, payload)
    except Exception as err:  # a foreign file, or a checkpoint of another agent
        raise GcrlError(f"{path} cannot be read as a checkpoint of this run ({type(err).__name__}: {err}).") from None
    mismatch = _shape_mismatch(template, state)
    if mismatch:  # msgpack restores whatever shapes it holds: other network sizes would fail much later
        raise GcrlError(f"{path} cannot be read as a checkpoint of this run: {mismatch} (were the network sizes changed?).")
    return state, header


def _shape_mismatch(template, state) -> str | None:
    for (path, want), got in zip(jax.tree_util.tree_flatten_with_path(template)[0], jax.tree_util.tree_leaves(state)):
        if np.shape(want) != np.shape(got):
            return f"{jax.tree_util.keystr(path)} has shape {np.shape(got)}, this run's network needs {np.shape(want)}"
    return None


def restore_latest(run_dir: Path, template, warn=None, quarantine: bool = False) -> tuple[object, dict]:
    """(state, header) of the newest checkpoint that verifies; a damaged newer one is reported through
    `warn(message)` and, with `quarantine` (the run's writer, which would otherwise prune good
    checkpoints before it), renamed to *.damaged. GcrlError if none verifies."""
    found = candidates(run_dir)
    if not found:
        raise GcrlError(f"No checkpoint in {run_dir}: nothing to resume or load.")
    if warn is None:
        from gcrl.console import warn
    problems = []
    for step, path in found:
        try:
            state, header = read(path, template)
        except GcrlError as err:
            problems.append(str(err))
            if quarantine and "damaged" in str(err):
                path.rename(path.with_name(path.name + ".damaged"))
            continue
        if problems:
            kept = " (kept as *.damaged)" if quarantine else ""
            warn(f"{' '.join(problems)} Using the newest checkpoint that verifies instead: update {int(np.asarray(state.step)):,}{kept}.")
        return state, header
    raise GcrlError(f"No usable checkpoint in {run_dir}: {' '.join(problems)}")


def restore(run_dir: Path, template, warn=None):
    """The newest verified state of the run, shaped like `template` (a freshly initialised state)."""
    return restore_latest(run_dir, template, warn)[0]
