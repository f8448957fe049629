"""Turn a user's dict of arrays (or an OGBench file's) into a Dataset, or say exactly what is wrong."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from gcrl.data.dataset import INFO_KEYS, REQUIRED, Dataset, from_raw
from gcrl.errors import DatasetError

_FINITE_CHUNK = 1 << 20  # rows per chunk when scanning for NaN/inf, so the check costs little memory


def _fail(source: str, what: str) -> DatasetError:
    return DatasetError(f"{source}: {what}")


def _check_numeric(source: str, key: str, arr: np.ndarray) -> None:
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise _fail(source, f"'{key}' has dtype {arr.dtype}; it must be numeric (float, int, uint8 or bool).")


def _check_finite(source: str, key: str, arr: np.ndarray) -> None:
    if not np.issubdtype(arr.dtype, np.floating):
        return
    for start in range(0, len(arr), _FINITE_CHUNK):
        rows_ok = np.isfinite(arr[start : start + _FINITE_CHUNK].reshape(-1, int(np.prod(arr.shape[1:])))).all(axis=1)
        if not rows_ok.all():
            bad = start + int(np.argmin(rows_ok))
            raise _fail(source, f"'{key}' contains NaN or inf (first at index {bad}). Remove or repair those steps.")


def _check_binary(source: str, key: str, arr: np.ndarray) -> np.ndarray:
    if arr.ndim != 1:
        raise _fail(source, f"'{key}' must be one-dimensional [N], got shape {arr.shape}.")
    values = arr.astype(np.float32)
    if not np.isin(values, (0.0, 1.0)).all():
        raise _fail(source, f"'{key}' must contain only 0 and 1.")
    return values


def validate(arrays: Mapping[str, np.ndarray], source: str = "<arrays>") -> Dataset:
    """Check a dataset given as arrays and return it as a Dataset.

    Accepts OGBench's layouts: raw (observations, actions, terminals, as OGBench stores its files),
    standard (+ next_observations) and compact (+ valids).
    """
    data = _known_arrays(arrays, source)
    _check_lengths_and_shapes(data, source)
    terminals = _check_binary(source, "terminals", data["terminals"])
    if terminals[-1] != 1:
        raise _fail(
            source,
            "the last step is not terminal (terminals[-1] == 0): the final trajectory is cut off. "
            "Set terminals[-1] = 1 or drop the unfinished trajectory.",
        )
    return _as_dataset(data, terminals, source)


def _known_arrays(arrays: Mapping[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    """The arrays gcrl reads, after checking the keys of the layout and that each is numeric per step."""
    if not isinstance(arrays, Mapping):
        raise _fail(source, f"a dataset must be a dict of arrays, got {type(arrays).__name__}.")
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise _fail(
            source,
            f"missing key(s) {', '.join(missing)}. A dataset needs observations, actions and terminals "
            f"(optionally next_observations or valids); found: {', '.join(sorted(arrays)) or 'nothing'}.",
        )
    if "next_observations" in arrays and "valids" in arrays:
        raise _fail(source, "has both 'next_observations' and 'valids'; keep one (standard or compact layout).")

    data = {k: np.asarray(v) for k, v in arrays.items() if k in REQUIRED + ("next_observations", "valids") + INFO_KEYS}
    for key, arr in data.items():
        _check_numeric(source, key, arr)
        if arr.ndim == 0:
            raise _fail(source, f"'{key}' is a scalar; it must have one entry per step.")
    return data


def _check_lengths_and_shapes(data: dict[str, np.ndarray], source: str) -> None:
    n = len(data["observations"])
    if n == 0:
        raise _fail(source, "the dataset is empty (0 steps).")
    wrong = {k: len(v) for k, v in data.items() if len(v) != n}
    if wrong:
        detail = ", ".join(f"{k} has {m}" for k, m in wrong.items())
        raise _fail(source, f"arrays have different lengths: observations has {n}, {detail}.")

    obs, actions = data["observations"], data["actions"]
    if "next_observations" in data and data["next_observations"].shape != obs.shape:
        raise _fail(source, f"next_observations has shape {data['next_observations'].shape}, observations {obs.shape}.")
    if actions.ndim > 2 or (actions.ndim == 1 and not np.issubdtype(actions.dtype, np.integer)):
        raise _fail(
            source,
            f"actions must be [N, action_dim] floats (continuous) or [N] integers (discrete), got {actions.dtype} {actions.shape}.",
        )
    for key in ("observations", "next_observations", "actions") + INFO_KEYS:
        if key in data:
            _check_finite(source, key, data[key])


def _as_dataset(data: dict[str, np.ndarray], terminals: np.ndarray, source: str) -> Dataset:
    """The Dataset of the layout `data` is in; float32 states and continuous actions, uint8 pixels kept."""
    obs, actions = data["observations"], data["actions"]
    if obs.dtype != np.uint8:
        obs = obs.astype(np.float32, copy=False)
    if not np.issubdtype(actions.dtype, np.integer):
        actions = actions.astype(np.float32, copy=False)
    info = {k: data[k] for k in INFO_KEYS if k in data}

    if "valids" in data:
        valids = _check_binary(source, "valids", data["valids"])
        if valids[-1] != 0:
            raise _fail(source, "compact layout: the last step must have valids == 0 (a final state has no successor).")
        if not (terminals[valids == 0] == 1).all():
            raise _fail(source, "compact layout: every step with valids == 0 must be terminal.")
        return Dataset(obs, actions, terminals, valids=valids, info=info, source=source)
    if "next_observations" in data:
        next_obs = data["next_observations"]
        next_obs = next_obs if next_obs.dtype == np.uint8 else next_obs.astype(np.float32, copy=False)
        return Dataset(obs, actions, terminals, next_observations=next_obs, info=info, source=source)
    if len(obs) < 2 or (np.diff(np.concatenate([[-1], np.nonzero(terminals)[0]])) < 2).any():
        raise _fail(source, "every trajectory needs at least two steps (a state and its successor).")
    return from_raw(obs, actions, terminals, info=info, source=source)
