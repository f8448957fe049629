"""Validation of user data: every malformed input gets a clear DatasetError."""

import numpy as np
import pytest

from conftest import raw_arrays
from gcrl.data.files import read_npz
from gcrl.data.validate import validate
from gcrl.errors import DatasetError


def good():
    return raw_arrays([3, 4])


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.pop("actions"), "missing key"),
        (lambda d: d.update(actions=d["actions"][:-1]), "different lengths"),
        (lambda d: d["observations"].__setitem__((2, 0), np.nan), r"NaN or inf \(first at index 2\)"),
        (lambda d: d["actions"].__setitem__((4, 1), np.inf), r"NaN or inf \(first at index 4\)"),
        (lambda d: d["terminals"].__setitem__(-1, False), "last step is not terminal"),
        (lambda d: d.update(observations=np.array(["a"] * 9)), "must be numeric"),
        (lambda d: d.update(terminals=np.full(9, 2)), "only 0 and 1"),
        (lambda d: d.update(valids=np.ones(9), next_observations=d["observations"]), "keep one"),
        (lambda d: d.update(valids=np.ones(9)), "last step must have valids == 0"),
        (lambda d: d.update(next_observations=np.zeros((9, 3), np.float32)), "next_observations has shape"),
        (lambda d: d.update(actions=np.zeros(9, np.float32)), "actions must be"),
    ],
)
def test_malformed_datasets_are_rejected_with_a_reason(mutate, message):
    arrays = good()
    mutate(arrays)
    with pytest.raises(DatasetError, match=message):
        validate(arrays, source="mine.npz")


def test_empty_and_non_mapping():
    with pytest.raises(DatasetError, match="empty"):
        validate(dict(observations=np.zeros((0, 2)), actions=np.zeros((0, 2)), terminals=np.zeros(0)))
    with pytest.raises(DatasetError, match="dict of arrays"):
        validate([1, 2, 3])


def test_single_state_trajectory_is_rejected():
    arrays = raw_arrays([3])
    arrays["terminals"][0] = True  # a trajectory of one state: no transition
    with pytest.raises(DatasetError, match="at least two steps"):
        validate(arrays)


def test_raw_layout_becomes_compact_without_copying():
    arrays = raw_arrays([3, 4])
    ds = validate(arrays)
    assert ds.layout == "compact" and ds.num_transitions() == 7
    assert np.shares_memory(ds.observations, arrays["observations"])
    np.testing.assert_array_equal(ds.valids, [1, 1, 1, 0, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(ds.terminals, [0, 0, 1, 1, 0, 0, 0, 1, 1])
    np.testing.assert_array_equal(ds.trajectory_lengths(), [3, 4])


def test_standard_layout_and_conversion_agree():
    compact = validate(raw_arrays([3, 4]))
    standard = compact.to_standard()
    assert standard.layout == "standard" and standard.num_transitions() == 7
    idxs = compact.transition_idxs()
    np.testing.assert_array_equal(standard.next_observations, compact.observations[idxs + 1])
    np.testing.assert_array_equal(standard.terminals, [0, 0, 1, 0, 0, 0, 1])
    again = validate(standard.as_dict())
    np.testing.assert_array_equal(again.final_idxs(), [2, 2, 2, 6, 6, 6, 6])
    np.testing.assert_array_equal(compact.final_idxs()[idxs], idxs[[2, 2, 2, 6, 6, 6, 6]])


def test_pixel_observations_stay_uint8():
    ds = validate(raw_arrays([3, 4], pixels=True))
    assert ds.observations.dtype == np.uint8 and ds.pixels


def test_discrete_actions_are_accepted():
    arrays = raw_arrays([3, 4])
    arrays["actions"] = np.arange(9, dtype=np.int32) % 3
    assert validate(arrays).discrete_actions


def test_files_that_are_not_datasets(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(DatasetError, match="not a readable dataset"):
        read_npz(text)
    whole = tmp_path / "whole.npz"
    np.savez_compressed(whole, **raw_arrays([500, 500], obs_dim=64))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(DatasetError, match="truncated|damaged"):
        read_npz(truncated)
    with pytest.raises(DatasetError, match="no such file"):
        read_npz(tmp_path / "absent.npz")
