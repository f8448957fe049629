"""Local pointmaze generation: OGBench's protocol, determinism, file format, atomic writes."""

import gymnasium
import numpy as np
import ogbench
import pytest

from gcrl.data import generate as G
from gcrl.data.load import load, split_paths
from gcrl.envs.maze import MazeOracle, cells_at_distance, free_cells, vertex_cells
from gcrl.errors import DatasetError


def test_protocol_matches_ogbench_commands():
    assert G.protocol("pointmaze-medium-navigate-v0") == G.Protocol(1000, 1001, 0.5)
    assert G.protocol("pointmaze-giant-navigate-v0") == G.Protocol(500, 2001, 0.5)
    assert G.protocol("pointmaze-teleport-stitch-v0") == G.Protocol(5000, 201, 0.5)
    assert G.protocol("pointmaze-large-explore-v0") == G.Protocol(10000, 501, 1.0)
    with pytest.raises(DatasetError, match="expert policy"):
        G.protocol("antmaze-medium-navigate-v0")


def test_every_generator_splits_a_tenth_for_validation_but_at_least_one():
    from gcrl.data.names import episodes_with_validation

    assert [episodes_with_validation(n) for n in (1, 9, 10, 19, 20, 1000)] == [2, 10, 11, 20, 22, 1100]
    with pytest.raises(DatasetError, match="--episodes must be at least 1, got 0"):
        episodes_with_validation(0)
    with pytest.raises(DatasetError, match="--episodes must be at least 1"):
        G.generate_arrays("pointmaze-medium-stitch-v0", episodes=-2, progress=False)


def test_same_seed_same_arrays_other_seed_other_arrays():
    a, _ = G.generate_arrays("pointmaze-medium-stitch-v0", episodes=2, seed=3, progress=False)
    b, _ = G.generate_arrays("pointmaze-medium-stitch-v0", episodes=2, seed=3, progress=False)
    c, _ = G.generate_arrays("pointmaze-medium-stitch-v0", episodes=2, seed=4, progress=False)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["observations"], c["observations"])


def test_fields_dtypes_and_episode_layout(tiny_maze):
    train = dict(np.load(tiny_maze / "pointmaze-medium-stitch-v0.npz"))
    val = dict(np.load(tiny_maze / "pointmaze-medium-stitch-v0-val.npz"))
    assert set(train) == {"observations", "actions", "terminals", "qpos", "qvel"}
    assert train["observations"].dtype == np.float32 and train["terminals"].dtype == bool
    assert len(train["observations"]) == 2 * 201 and len(val["observations"]) == 201  # 10% split, at least one
    assert np.nonzero(train["terminals"])[0].tolist() == [200, 401]
    assert np.abs(train["actions"]).max() <= 1.0
    np.testing.assert_allclose(train["qpos"], train["observations"])  # the point's observation is its position


def test_output_loads_through_gcrl_and_ogbench(tiny_maze):
    ours = load("pointmaze-medium-stitch-v0", tiny_maze)
    theirs = ogbench.load_dataset(str(tiny_maze / "pointmaze-medium-stitch-v0.npz"), compact_dataset=True)
    for key in ("observations", "actions", "terminals", "valids"):
        np.testing.assert_array_equal(getattr(ours, key), theirs[key])
    standard = ogbench.load_dataset(str(tiny_maze / "pointmaze-medium-stitch-v0.npz"))
    mine = ours.to_standard()
    for key in ("observations", "next_observations", "actions", "terminals"):
        np.testing.assert_array_equal(getattr(mine, key), standard[key])


def test_actions_are_unit_oracle_directions_plus_clipped_gaussian_noise(monkeypatch):
    name = "pointmaze-large-navigate-v0"
    noiseless = G.Protocol(1, 1001, 0.0)
    monkeypatch.setattr(G, "protocol", lambda _: noiseless)
    clean, _ = G.generate_arrays(name, episodes=1, seed=0, progress=False)
    norms = np.linalg.norm(clean["actions"], axis=1)
    # the direction to the oracle subgoal, normalised with a 1e-6 guard (visible only within 1e-2 of it)
    np.testing.assert_allclose(norms, 1.0, atol=1e-3)
    monkeypatch.setattr(G, "protocol", lambda _: G.Protocol(1, 1001, 0.5))
    noisy, _ = G.generate_arrays(name, episodes=1, seed=0, progress=False)
    assert np.abs(noisy["actions"]).max() <= 1.0 and (np.abs(noisy["actions"]) == 1.0).mean() > 0.05
    # The point moves 0.2 * action per step when not touching a wall.
    moves = np.diff(noisy["observations"], axis=0)[:-1]
    free = np.linalg.norm(moves - 0.2 * noisy["actions"][:-2], axis=1) < 1e-3
    assert free.mean() > 0.5


def test_oracle_matches_ogbench_and_respects_the_maze():
    env = gymnasium.make("pointmaze-giant-v0").unwrapped
    oracle = MazeOracle(env)
    rng = np.random.default_rng(0)
    cells = free_cells(oracle.maze_map)
    for _ in range(60):
        start = cells[rng.integers(len(cells))]
        goal = cells[rng.integers(len(cells))]
        start_xy = np.array(env.ij_to_xy(start)) + rng.uniform(-1, 1, 2)
        goal_xy = np.array(env.ij_to_xy(goal))
        expected, _ = env.get_oracle_subgoal(start_xy, goal_xy)
        np.testing.assert_array_equal(oracle.subgoal_xy(start_xy, goal_xy), expected)
    assert set(vertex_cells(oracle.maze_map)) < set(cells)
    for cell in cells_at_distance(oracle.maze_map, cells[0], 4):
        assert abs(cell[0] - cells[0][0]) + abs(cell[1] - cells[0][1]) <= 4
    env.close()


def test_an_interrupted_write_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    name = "pointmaze-medium-stitch-v0"
    train_path, val_path = split_paths(name, tmp_path)
    train_path.write_bytes(b"previous")

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", crash)
    with pytest.raises(KeyboardInterrupt):
        G.generate(name, tmp_path, episodes=1, seed=0, progress=False)
    assert train_path.read_bytes() == b"previous"
    assert not val_path.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [train_path.name]  # no .partial left
