"""gcrl.experiments.value_check on a hand-built maze: an exact value steps right everywhere, its negation
wrong wherever a wrong neighbour exists, and the chance column counts neighbours."""

import jax.numpy as jnp
import numpy as np
import pytest

from gcrl.envs.maze import bfs_distances, free_cells
from gcrl.experiments.value_check import by_distance, greedy_steps, task_distances, temporal_order, temporal_triples

# 0 free, 1 wall: a corridor with a dead-end branch at (1, 2).
MAZE = np.array([
    [1, 1, 1, 1, 1, 1],
    [1, 0, 0, 0, 0, 1],
    [1, 1, 0, 1, 0, 1],
    [1, 1, 1, 1, 0, 1],
    [1, 1, 1, 1, 1, 1],
])  # fmt: skip


class Maze:
    maze_map = MAZE
    task_infos = [{"init_ij": (1, 1), "goal_ij": (3, 4)}, {"init_ij": (2, 2), "goal_ij": (1, 1)}]

    @staticmethod
    def ij_to_xy(ij):
        return (2.0 * ij[1], 2.0 * ij[0])  # any one-to-one map does


def distance_value(sign: float):
    """V(s, g) = sign * -(cells from s to g), looked up from cell-centre observations."""
    table = np.zeros(MAZE.shape * 2)
    for g in free_cells(MAZE):
        table[:, :, g[0], g[1]] = bfs_distances(MAZE, g)

    def value(params, observations, goals):
        s, g = jnp.round(observations / 2).astype(int), jnp.round(goals / 2).astype(int)
        return -sign * params[s[:, 1], s[:, 0], g[:, 1], g[:, 0]]

    return value, jnp.asarray(table)


def test_exact_value_steps_right_and_its_negation_wrong():
    value, params = distance_value(1.0)
    rows = greedy_steps(Maze, value, params)
    cells = len(free_cells(MAZE))
    assert rows.shape == (cells * (cells - 1), 3)
    assert rows[:, 1].all()
    anti, _ = distance_value(-1.0)
    rows = greedy_steps(Maze, anti, params)
    # The negated value steps away from g: wrong unless every neighbour of s is on a shortest path.
    assert np.array_equal(rows[:, 1] == 1, rows[:, 2] == 1)
    # From (1, 2) towards (3, 4) (4 cells away): neighbours (1, 1), (1, 3), (2, 2); only (1, 3) is right.
    s_to_g = [r for r in rows if r[0] == 4 and r[2] == pytest.approx(1 / 3)]
    assert s_to_g and all(r[1] == 0 for r in s_to_g)


def test_bins():
    rows = np.array([[1, 1, 0.5], [2, 0, 0.5], [7, 1, 1.0]])
    (low, high, right, chance), middle, last = by_distance(rows, [1, 3, 6])
    assert (low, high, right, chance) == (1, 3, 0.5, 0.5)
    assert middle is None and last[2:] == (1.0, 1.0)


def test_task_distances():
    assert task_distances(Maze) == [5, 2]


# ---- the temporal-order check on held-out trajectories ----


def test_temporal_triples_stay_inside_one_trajectory_and_their_bin():
    lengths, edges = [30, 5, 120], [2, 10, 50]
    starts, ends = np.array([0, 30, 35]), np.array([30, 35, 155])
    bins = temporal_triples(lengths, edges, per_bin=400, seed=3)
    for (low, high), rows in zip([(2, 10), (10, 50), (50, 10**9)], bins):
        far, near, goal = rows.T
        assert len(rows) == 400 and (far < near).all() and (near < goal).all()
        assert ((goal - far >= low) & (goal - far < high)).all()
        traj = np.searchsorted(ends, far, side="right")
        assert (goal < ends[traj]).all() and (far >= starts[traj]).all()
    # only the 120-frame trajectory reaches 50 steps; the 5-frame one only the first bin
    assert (bins[2][:, 0] >= 35).all() and not (np.isin(bins[1][:, 0], range(30, 35))).any()
    assert (bins[2][:, 2] - bins[2][:, 0]).max() <= 119


def test_temporal_triples_empty_bin_and_bad_edges():
    assert temporal_triples([10], [2, 20], per_bin=5)[1].shape == (0, 3)
    with pytest.raises(ValueError, match="start at 2"):
        temporal_triples([10], [1, 5], per_bin=5)


def test_temporal_order_of_an_exact_value_its_negation_and_a_constant():
    # Observations are their own time index in one long trajectory: V = -(g - s) is exact.
    observations = np.arange(300, dtype=np.float32)[:, None]
    rows = temporal_triples([300], [2, 40], per_bin=300, seed=1)
    triples = np.concatenate(rows)

    def value(sign):
        return lambda params, s, g: sign * params * -(g[:, 0] - s[:, 0])

    assert temporal_order(value(1.0), jnp.float32(1.0), observations, triples, batch=64) == 1.0
    assert temporal_order(value(-1.0), jnp.float32(1.0), observations, triples, batch=64) == 0.0
    assert temporal_order(value(1.0), jnp.float32(0.0), observations, triples, batch=64) == 0.5  # ties count half
    assert np.isnan(temporal_order(value(1.0), jnp.float32(1.0), observations, np.zeros((0, 3), np.int64)))
