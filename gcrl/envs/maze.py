"""Maze geometry for OGBench's locomaze environments: free cells, BFS distances, oracle subgoals.

The oracle subgoal follows the rule of OGBench's MazeEnv.get_oracle_subgoal exactly (same
neighbour order and tie-breaking), with the BFS map cached per goal cell: data generation asks
for it every step and the goal changes rarely.
"""

from __future__ import annotations

from collections import deque

import numpy as np

_NEIGHBOURS = ((-1, 0), (0, -1), (1, 0), (0, 1))


def free_cells(maze_map: np.ndarray) -> list[tuple[int, int]]:
    return [(i, j) for i in range(maze_map.shape[0]) for j in range(maze_map.shape[1]) if maze_map[i, j] == 0]


def vertex_cells(maze_map: np.ndarray) -> list[tuple[int, int]]:
    """Free cells that are not straight corridor pieces (OGBench samples navigate goals from these)."""
    out = []
    for i, j in free_cells(maze_map):
        vertical = maze_map[i - 1, j] == 0 and maze_map[i + 1, j] == 0 and maze_map[i, j - 1] == 1 and maze_map[i, j + 1] == 1
        horizontal = maze_map[i, j - 1] == 0 and maze_map[i, j + 1] == 0 and maze_map[i - 1, j] == 1 and maze_map[i + 1, j] == 1
        if not (vertical or horizontal):
            out.append((i, j))
    return out


def free_neighbours(maze_map: np.ndarray, cell: tuple[int, int]) -> list[tuple[int, int]]:
    """The free cells next to `cell`, in OGBench's neighbour order (its tie-breaking depends on it)."""
    out = []
    for di, dj in _NEIGHBOURS:
        ni, nj = cell[0] + di, cell[1] + dj
        if 0 <= ni < maze_map.shape[0] and 0 <= nj < maze_map.shape[1] and maze_map[ni, nj] == 0:
            out.append((ni, nj))
    return out


def _bfs(maze_map: np.ndarray, source: tuple[int, int]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Cell-step distances from `source` over free cells (-1 where unreachable or a wall), and the
    cells in the order BFS discovers them."""
    dist = np.full(maze_map.shape, -1, dtype=np.int64)
    dist[source] = 0
    order, queue = [], deque([source])
    while queue:
        cell = queue.popleft()
        for near in free_neighbours(maze_map, cell):
            if dist[near] == -1:
                dist[near] = dist[cell] + 1
                queue.append(near)
                order.append(near)
    return dist, order


def bfs_distances(maze_map: np.ndarray, source: tuple[int, int]) -> np.ndarray:
    return _bfs(maze_map, source)[0]


def cells_at_distance(maze_map: np.ndarray, source: tuple[int, int], steps: int) -> list[tuple[int, int]]:
    """Free cells exactly `steps` BFS steps from `source`, in discovery order (as OGBench's stitch
    protocol lists them)."""
    dist, order = _bfs(maze_map, source)
    return [cell for cell in order if dist[cell] == steps]


class MazeOracle:
    """Oracle subgoals (the next cell on a shortest path) for one maze, with cached BFS maps."""

    def __init__(self, maze_env):
        self.env = maze_env  # an unwrapped OGBench MazeEnv
        self.maze_map = np.asarray(maze_env.maze_map)
        self._bfs: dict[tuple[int, int], np.ndarray] = {}

    def distances_to(self, goal_ij: tuple[int, int]) -> np.ndarray:
        if goal_ij not in self._bfs:
            self._bfs[goal_ij] = bfs_distances(self.maze_map, goal_ij)
        return self._bfs[goal_ij]

    def subgoal_ij(self, start_ij: tuple[int, int], goal_ij: tuple[int, int]) -> tuple[int, int]:
        dist = self.distances_to(goal_ij)
        best = start_ij
        for near in free_neighbours(self.maze_map, start_ij):
            if dist[near] < dist[best]:
                best = near
        return best

    def subgoal_xy(self, start_xy, goal_xy) -> np.ndarray:
        start_ij, goal_ij = self.env.xy_to_ij(start_xy), self.env.xy_to_ij(goal_xy)
        return np.array(self.env.ij_to_xy(self.subgoal_ij(start_ij, goal_ij)))
