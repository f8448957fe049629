"""Does a value function know its maze? For every goal cell g and every other free cell s, step to
the neighbour n of s with the highest V(n, g), cell centres as observations; the step is right
when n lies on a shortest path to g. A value-weighted policy or a value-guided high level needs
exactly this ordering, so the share of right steps by distance to the goal says up to how far the
value can guide (benchmarks/value_vs_maze_distance.py prints it per run).

Without a maze (pixels, manipulation), held-out trajectories stand in for the oracle: of two frames
before a goal frame of the same trajectory, the later one is usually nearer, so a value that has
learned anything ranks it higher (`temporal_triples`, `temporal_order`; chance is 50%)."""

from __future__ import annotations

import functools

import jax
import numpy as np

from gcrl.envs.maze import MazeOracle, free_cells, free_neighbours


def greedy_steps(maze, value, params) -> np.ndarray:
    """One row per pair of free cells s != g: (shortest-path distance from s to g in cells, 1 if
    the neighbour with the highest V(neighbour, g) is on a shortest path else 0, the share of s's
    neighbours that are: a random step's chance). `maze` is an unwrapped OGBench maze (maze_map,
    ij_to_xy); `value(params, observations, goals)` returns V per row."""
    oracle = MazeOracle(maze)
    cells = free_cells(oracle.maze_map)
    centre = {c: np.asarray(maze.ij_to_xy(c), np.float32) for c in cells}
    pairs, observations, goals = [], [], []  # pairs: (s, g, first row in the batch, neighbours)
    for g in cells:
        for s in cells:
            neighbours = free_neighbours(oracle.maze_map, s)
            if s == g or not neighbours:
                continue
            pairs.append((s, g, len(observations), neighbours))
            observations += [centre[n] for n in neighbours]
            goals += [centre[g]] * len(neighbours)
    values = np.asarray(jax.jit(value)(params, np.stack(observations), np.stack(goals)))
    rows = np.empty((len(pairs), 3))
    for row, (s, g, start, neighbours) in enumerate(pairs):
        dist = oracle.distances_to(g)
        right = np.array([dist[n] == dist[s] - 1 for n in neighbours])
        rows[row] = dist[s], right[int(np.argmax(values[start : start + len(neighbours)]))], right.mean()
    return rows


def by_distance(rows: np.ndarray, edges) -> list[tuple[int, int, float, float] | None]:
    """(low, high, share right, chance) per distance bin [edges[i], edges[i + 1]) (the last bin is
    open), None for an empty bin."""
    out = []
    for low, high in zip(edges, [*edges[1:], 10**9]):
        pick = (rows[:, 0] >= low) & (rows[:, 0] < high)
        out.append((low, high, rows[pick, 1].mean(), rows[pick, 2].mean()) if pick.any() else None)
    return out


def task_distances(maze) -> list[int]:
    """Shortest-path distance in cells from start to goal of each of the maze's evaluation tasks."""
    oracle = MazeOracle(maze)
    return [int(oracle.distances_to(tuple(task["goal_ij"]))[tuple(task["init_ij"])]) for task in maze.task_infos]


def temporal_triples(lengths, edges, per_bin: int, seed: int = 0) -> list[np.ndarray]:
    """Per distance bin [edges[i], edges[i + 1]) (the last bin open), `per_bin` rows (far, near,
    goal) of frame indices into trajectories laid end to end with `lengths` frames each: far <
    near < goal in one trajectory, goal - far in the bin. Trajectory, distance, position and the
    near frame are each drawn uniformly; a bin no trajectory is long enough for is empty."""
    if edges[0] < 2:
        raise ValueError(f"distance bins start at 2 steps at the least (a near frame must fit between), got {edges[0]}.")
    lengths = np.asarray(lengths, np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    rng = np.random.default_rng(seed)
    out = []
    for low, high in zip(edges, [*edges[1:], 10**9]):
        eligible = np.nonzero(lengths - 1 >= low)[0]
        if not len(eligible):
            out.append(np.zeros((0, 3), np.int64))
            continue
        traj = rng.choice(eligible, per_bin)
        longest = np.minimum(high - 1, lengths[traj] - 1)
        distance = rng.integers(low, longest + 1)
        far = starts[traj] + rng.integers(0, lengths[traj] - distance)
        near = far + rng.integers(1, distance)
        out.append(np.stack([far, near, far + distance], axis=1))
    return out


@functools.lru_cache(maxsize=None)
def _jitted(value):
    """One compiled value per function: a pixel network compiles once for all bins and runs."""
    return jax.jit(value)


def temporal_order(value, params, observations, triples: np.ndarray, batch: int = 256) -> float:
    """The share of (far, near, goal) rows where V(near, goal) > V(far, goal) (ties count half).
    `value(params, observations, goals)` returns V per row; it runs jitted on `batch` rows at a time
    (the last batch padded), so a pixel value needs no more memory than training did."""
    if not len(triples):
        return float("nan")
    fn = _jitted(value)
    scores = []
    for start in range(0, len(triples), batch):
        rows = triples[start : start + batch]
        padded = np.concatenate([rows, np.repeat(rows[-1:], batch - len(rows), axis=0)])
        goals = observations[padded[:, 2]]
        both = np.asarray(fn(params, observations[np.concatenate([padded[:, 0], padded[:, 1]])], np.concatenate([goals, goals])))
        far, near = both[:batch][: len(rows)], both[batch:][: len(rows)]
        scores.append((near > far) + 0.5 * (near == far))
    return float(np.concatenate(scores).mean())
