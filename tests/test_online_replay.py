"""Sequence replay: windows uniform over streams and starts, never across the ring's write position,
episode starts marked, and every window starting from the initial state."""

import numpy as np
import pytest

from gcrl.errors import GcrlError
from gcrl.online.replay import SequenceReplay

SPEC = {"t": ((), np.int64), "stream": ((), np.int64), "is_first": ((), bool), "image": ((2, 2, 1), np.uint8)}


def filled(steps, capacity=10, envs=2, episode=4, seed=0):
    """A replay whose step t of stream e stores t and e; episodes of `episode` steps."""
    replay = SequenceReplay(envs, capacity, SPEC, seed=seed)
    for t in range(steps):
        replay.add({"t": np.full(envs, t), "stream": np.arange(envs), "is_first": np.full(envs, t % episode == 0),
                    "image": np.full((envs, 2, 2, 1), t % 256, np.uint8)})  # fmt: skip
    return replay


def test_windows_are_consecutive_steps_of_one_stream():
    replay = filled(7)
    batch = replay.sample(64, 3)
    assert batch["t"].shape == (64, 3) and batch["image"].shape == (64, 3, 2, 2, 1)
    assert (np.diff(batch["t"], axis=1) == 1).all()
    assert (batch["stream"] == batch["stream"][:, :1]).all()
    assert (batch["image"][..., 0, 0, 0] == batch["t"]).all()


def test_before_the_ring_wraps_every_start_is_drawn_uniformly():
    replay = filled(7)
    starts = replay.sample(20_000, 3)["t"][:, 0]
    counts = np.bincount(starts, minlength=5)
    assert set(np.unique(starts)) == {0, 1, 2, 3, 4}  # 7 steps: windows of 3 start at 0..4
    assert np.allclose(counts / counts.sum(), 0.2, atol=0.015)


def test_after_the_ring_wraps_no_window_crosses_the_write_position():
    replay = filled(23, capacity=10)  # holds steps 13..22; the write position sits between 22 and 13
    batch = replay.sample(5_000, 4)
    assert (np.diff(batch["t"], axis=1) == 1).all()  # a window across the write position would jump from 22 to 13
    assert batch["t"].min() == 13 and batch["t"].max() == 22
    assert set(np.unique(batch["t"][:, 0])) == set(range(13, 20))


def test_episode_starts_are_marked_and_every_window_starts_from_the_initial_state():
    replay = filled(12, episode=4)
    batch = replay.sample(2_000, 5)
    assert batch["is_first"][:, 0].all()
    inner = batch["is_first"][:, 1:]
    assert (inner == (batch["t"][:, 1:] % 4 == 0)).all() and inner.any()  # windows cross episodes, marked where they do
    assert not replay.data["is_first"][:, 1:4].any()  # the marks of sampled windows are copies


def test_too_few_steps_is_a_clear_error():
    with pytest.raises(GcrlError, match="needs at least 5"):
        filled(3).sample(4, 5)
    with pytest.raises(GcrlError, match="is_first"):
        SequenceReplay(1, 4, {"t": ((), np.int64)})
