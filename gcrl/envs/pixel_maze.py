"""A multi-task pixel maze that renders fast: OGBench's pointmaze physics seen from above.

Physics are OGBench's point maze (ogbench.locomaze, MuJoCo), unchanged: each step moves the point
by 0.2 a and lets five MuJoCo substeps push it out of the walls; the same maps (4 x 4 cells), the
same start noise and five evaluation tasks per maze, success within 1.0 of the goal. Layouts other
than OGBench's (for transfer) build the same physics around another map.

Pictures come from `MazeRenderer`, a NumPy renderer written for speed instead of MuJoCo's camera: the
maze is drawn once per layout (floor coloured by position, so a single frame tells where it is, as
OGBench's visual mazes do; walls dark), and each frame copies it and stamps two discs, the goal
(radius 1.0, the success distance) under the point (radius 0.7, its sphere). Many frames render as
one batch.

The task is given as a conditioning vector, the goal's xy scaled to [-1, 1] over the maze (values
outside that range stay possible, for the out-of-distribution questions), and optionally as a goal
image (the maze with the point at the goal). Goals come from a set: OGBench's five tasks, or the
maze's free cells split into a training set and a held-out set (every fourth cell, in row-major
order, is held out), or 'outside': conditioning values outside the training range. Every goal
cell's vector lies within the free cells' span (+-5/7 on the medium maze); an 'outside' episode's
goal is a free cell on the maze's outer ring, but the agent is shown the centre of the border cell
beyond it (its vector at +-1 on that axis), whose nearest free cell is the true goal; 'ring' is
the same goals shown as they are, the control that separates the conditioning values from the cells.
"""

from __future__ import annotations

import functools

import gymnasium
import numpy as np

MAZE_UNIT = 4.0  # OGBench: cell (i, j) is centred at (4 j - 4, 4 i - 4)
POINT_RADIUS = 0.7  # the point's sphere
GOAL_RADIUS = 1.0  # OGBench's success distance for the point
FLOOR_LOW, FLOOR_HIGH, WALL_SHADE = 40, 200, 30
POINT_COLOUR, GOAL_COLOUR = (255, 255, 255), (230, 40, 40)

# Layouts beyond OGBench's: for transfer, medium's size with its walls moved; and a tiny corridor.
# (start, goal) cells per task.
MEDIUM = np.array([
    [1, 1, 1, 1, 1, 1, 1, 1],
    [1, 0, 0, 1, 1, 0, 0, 1],
    [1, 0, 0, 1, 0, 0, 0, 1],
    [1, 1, 0, 0, 0, 1, 1, 1],
    [1, 0, 0, 1, 0, 0, 0, 1],
    [1, 0, 1, 0, 0, 1, 0, 1],
    [1, 0, 0, 0, 1, 0, 0, 1],
    [1, 1, 1, 1, 1, 1, 1, 1],
])  # fmt: skip
EXTRA_LAYOUTS = {
    "medium-mirrored": (MEDIUM[:, ::-1], [((1, 6), (6, 1)), ((6, 6), (1, 1)), ((5, 4), (4, 5)), ((6, 2), (6, 6)), ((2, 1), (1, 6))]),
    "medium-b": (
        np.array([
            [1, 1, 1, 1, 1, 1, 1, 1],
            [1, 0, 0, 0, 1, 0, 0, 1],
            [1, 0, 1, 0, 1, 0, 1, 1],
            [1, 0, 1, 0, 0, 0, 0, 1],
            [1, 0, 1, 1, 1, 1, 0, 1],
            [1, 0, 0, 0, 1, 0, 0, 1],
            [1, 1, 1, 0, 0, 0, 1, 1],
            [1, 1, 1, 1, 1, 1, 1, 1],
        ]),  # fmt: skip
        [((1, 1), (6, 5)), ((1, 6), (5, 1)), ((3, 3), (1, 5)), ((5, 5), (1, 1)), ((6, 3), (3, 6))],
    ),
    # A tiny corridor of three cells for tests and quick checks: every task's goal is the next cell.
    "corridor": (
        np.array([
            [1, 1, 1, 1, 1],
            [1, 0, 0, 0, 1],
            [1, 1, 1, 1, 1],
        ]),  # fmt: skip
        [((1, 1), (1, 2)), ((1, 2), (1, 3)), ((1, 3), (1, 2)), ((1, 2), (1, 1)), ((1, 1), (1, 2))],
    ),
}
OGBENCH_LAYOUTS = ("arena", "medium", "large", "giant")
LAYOUTS = OGBENCH_LAYOUTS + tuple(EXTRA_LAYOUTS)
GOAL_SETS = ("tasks", "train", "heldout", "all", "near", "ring", "outside")
NEAR_CELLS = 1  # goal set 'near': a goal at most this many cells (maze steps) from the start, the start's own cell included


def cell_xy(ij) -> np.ndarray:
    """Centre of maze cell (i, j) in OGBench's coordinates."""
    return np.array([ij[1] * MAZE_UNIT - MAZE_UNIT, ij[0] * MAZE_UNIT - MAZE_UNIT])


def free_cells(maze_map: np.ndarray) -> list[tuple[int, int]]:
    return [(int(i), int(j)) for i, j in zip(*np.nonzero(maze_map == 0))]


def cell_steps(maze_map: np.ndarray) -> dict[tuple[int, int], dict[tuple[int, int], int]]:
    """Shortest path lengths in maze cells between every two free cells (breadth-first search)."""
    cells, steps = set(free_cells(maze_map)), {}
    for source in cells:
        seen, frontier = {source: 0}, [source]
        while frontier:
            nxt = []
            for i, j in frontier:
                for cell in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
                    if cell in cells and cell not in seen:
                        seen[cell] = seen[(i, j)] + 1
                        nxt.append(cell)
            frontier = nxt
        steps[source] = seen
    return steps


def goal_cells(maze_map: np.ndarray, goal_set: str, task_goals) -> list[tuple[int, int]]:
    """The goal cells of a set: the tasks' goals, or the free cells split 3:1 into train and held-out."""
    if goal_set == "tasks":
        return list(task_goals)
    cells = free_cells(maze_map)
    if goal_set in ("all", "near"):  # 'near' picks among these per start (PixelMaze.reset)
        return cells
    if goal_set in ("ring", "outside"):  # the outer ring ('outside': shown as the border cell beyond, PixelMaze.reset)
        rows, cols = maze_map.shape
        return [(i, j) for i, j in cells if i in (1, rows - 2) or j in (1, cols - 2)]
    heldout = cells[3::4]
    return heldout if goal_set == "heldout" else [c for c in cells if c not in heldout]


class MazeRenderer:
    """Top-down frames of one maze layout, `size` x `size` RGB, the whole map fitted and centred.
    `min_point_px` draws the point at least that many pixels in radius (at 32 x 32 the medium maze's
    0.7-unit point is 0.7 px: about one pixel, too little for a world model to see)."""

    def __init__(self, maze_map: np.ndarray, size: int = 64, min_point_px: float = 0.0):
        rows, cols = maze_map.shape
        self.size = size
        self.scale = size / (MAZE_UNIT * max(rows, cols))  # pixels per world unit
        # world xy of the image's top-left corner: the map's outer edge, centred in the square
        self.x0 = -MAZE_UNIT - MAZE_UNIT / 2 - (size / self.scale - MAZE_UNIT * cols) / 2
        self.y0 = -MAZE_UNIT - MAZE_UNIT / 2 - (size / self.scale - MAZE_UNIT * rows) / 2
        centres = (np.arange(size) + 0.5) / self.scale
        x, y = np.meshgrid(self.x0 + centres, self.y0 + centres)  # [row, col]: y down the image
        j = np.floor((x + MAZE_UNIT + MAZE_UNIT / 2) / MAZE_UNIT).astype(int)
        i = np.floor((y + MAZE_UNIT + MAZE_UNIT / 2) / MAZE_UNIT).astype(int)
        inside = (i >= 0) & (i < rows) & (j >= 0) & (j < cols)
        wall = ~inside | (maze_map[np.clip(i, 0, rows - 1), np.clip(j, 0, cols - 1)] == 1)
        u = (x - x.min()) / max(np.ptp(x), 1e-9)
        v = (y - y.min()) / max(np.ptp(y), 1e-9)
        floor = np.stack([FLOOR_LOW + (FLOOR_HIGH - FLOOR_LOW) * u, FLOOR_LOW + (FLOOR_HIGH - FLOOR_LOW) * v, np.full_like(u, 128)], -1)
        self.background = np.where(wall[..., None], WALL_SHADE, floor).astype(np.uint8)
        self._stamps = {POINT_RADIUS: self._stamp(max(POINT_RADIUS * self.scale, min_point_px)), GOAL_RADIUS: self._stamp(GOAL_RADIUS * self.scale)}

    def _stamp(self, r_px: float):
        """Pixel offsets around a centre pixel covering a disc of `r_px` pixels, and the radius."""
        reach = int(np.ceil(r_px)) + 1
        d = np.arange(-reach, reach + 1)
        di, dj = (a.ravel() for a in np.meshgrid(d, d, indexing="ij"))
        return di, dj, r_px

    def pixel(self, xy: np.ndarray) -> np.ndarray:
        """[N, 2] world xy -> [N, 2] continuous (row, col) image coordinates."""
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        return np.stack([(xy[:, 1] - self.y0) * self.scale, (xy[:, 0] - self.x0) * self.scale], -1)

    def _draw(self, frames: np.ndarray, xy: np.ndarray, radius: float, colour) -> None:
        di, dj, r_px = self._stamps[radius]
        pos = self.pixel(xy)
        rows = np.floor(pos[:, :1]).astype(int) + di  # [N, K]
        cols = np.floor(pos[:, 1:]).astype(int) + dj
        inside = (rows - pos[:, :1] + 0.5) ** 2 + (cols - pos[:, 1:] + 0.5) ** 2 <= r_px**2  # pixel centres in the disc
        inside &= (rows >= 0) & (rows < self.size) & (cols >= 0) & (cols < self.size)
        n = np.broadcast_to(np.arange(len(frames))[:, None], rows.shape)
        frames[n[inside], rows[inside], cols[inside]] = colour

    def render(self, xy, goal_xy=None) -> np.ndarray:
        """Frames [N, size, size, 3] uint8 of the point at xy [N, 2] (and the goal at goal_xy [N, 2])."""
        xy = np.asarray(xy, np.float64).reshape(-1, 2)
        frames = np.repeat(self.background[None], len(xy), axis=0)
        if goal_xy is not None:
            self._draw(frames, np.asarray(goal_xy).reshape(-1, 2), GOAL_RADIUS, GOAL_COLOUR)
        self._draw(frames, xy, POINT_RADIUS, POINT_COLOUR)
        return frames


@functools.cache
def _layout_maze_class():
    """OGBench's point-maze class, extended to build its walls and tasks from any map."""
    from ogbench.locomaze.maze import make_maze_env

    probe = make_maze_env("point", "maze", maze_type="arena")
    base = type(probe)
    probe.close()

    class LayoutPointMaze(base):
        def __init__(self, layout_map=None, tasks=None, **kwargs):
            self._layout_map, self._layout_tasks = layout_map, tasks
            super().__init__(**kwargs)

        def update_tree(self, tree):
            if self._layout_map is not None:
                self.maze_map = np.asarray(self._layout_map)
            super().update_tree(tree)

        def set_tasks(self):
            super().set_tasks()
            if self._layout_tasks is not None:
                self.task_infos = [dict(task_name=f"task{k + 1}", init_ij=start, init_xy=self.ij_to_xy(start), goal_ij=goal,
                                        goal_xy=self.ij_to_xy(goal)) for k, (start, goal) in enumerate(self._layout_tasks)]  # fmt: skip

    return LayoutPointMaze


def make_point_maze(layout: str):
    """OGBench's point maze (states) on `layout`, unwrapped (no time limit: PixelMaze keeps its own)."""
    if layout not in LAYOUTS:
        from gcrl.errors import GcrlError

        raise GcrlError(f"Unknown maze layout '{layout}'; choose one of {', '.join(LAYOUTS)}.")
    cls = _layout_maze_class()
    if layout in EXTRA_LAYOUTS:
        layout_map, tasks = EXTRA_LAYOUTS[layout]
        return cls(layout_map=layout_map, tasks=tasks, maze_type="medium", terminate_at_goal=False)
    return cls(maze_type=layout, terminate_at_goal=False)


class PixelMaze(gymnasium.Env):
    """One pixel maze episode at a time (Gymnasium API). Observations are dicts: 'image' [size, size,
    3] uint8, 'task' [2] float32 (the goal's xy scaled to [-1, 1]), and with `goal_image` the goal's
    picture. Reward 1 on the step that reaches the goal (then the episode ends, unless
    `terminate_at_goal` is off); 0 otherwise.

    reset(options=dict(task_id=k)) runs OGBench's task k (1-5) of this layout; without it the goal is
    a cell of `goal_set` ('tasks', 'train', 'heldout', 'all', 'ring' or 'outside') and the start a free cell, both drawn
    from the seed ('near': a start, then a goal at most NEAR_CELLS cells from it, its own cell included:
    an easy task distribution whose rewards random exploration meets); options=dict(goal_ij=(i, j)) or dict(task=vector) chooses the goal (a vector is
    decoded to the nearest point of the maze, for conditioning values outside the training range).

    With `decoy`, each episode shows the agent another goal (drawn after everything else, so the
    starts and goals are those of the same seed without it): another cell of the goal set, or
    another of the five tasks, in the picture, the task vector and the goal image alike, while the
    reward and success still count the true goal. An agent that reads its goal does worse so; one
    that ignores it does the same: the control for whether goal-conditioned success is more than
    wandering through the goal's cell."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, layout: str = "medium", size: int = 64, goal_set: str = "tasks", goal_image: bool = False,
                 terminate_at_goal: bool = True, max_episode_steps: int = 1000, show_goal: bool = True, min_point_px: float = 0.0,
                 action_repeat: int = 1, decoy: bool = False):  # fmt: skip
        from gcrl.errors import GcrlError

        if goal_set not in GOAL_SETS:
            raise GcrlError(f"goal_set must be one of {', '.join(GOAL_SETS)}, got '{goal_set}'.")
        if action_repeat < 1:
            raise GcrlError(f"action_repeat must be at least 1, got {action_repeat}.")
        self.maze = make_point_maze(layout)
        self.layout, self.goal_set, self.goal_image = layout, goal_set, goal_image
        self.terminate_at_goal, self.max_episode_steps, self.show_goal = terminate_at_goal, max_episode_steps, show_goal
        self.action_repeat, self.decoy = action_repeat, decoy
        self.renderer = MazeRenderer(self.maze.maze_map, size, min_point_px)
        self.task_goals = [info["goal_ij"] for info in self.maze.task_infos]
        self.goals = goal_cells(self.maze.maze_map, goal_set, self.task_goals)
        self._steps = cell_steps(self.maze.maze_map) if goal_set == "near" else None
        self.starts = free_cells(self.maze.maze_map)
        rows, cols = self.maze.maze_map.shape
        self._centre = (cell_xy((0, 0)) + cell_xy((rows - 1, cols - 1))) / 2
        self._half = (cell_xy((rows - 1, cols - 1)) - cell_xy((0, 0))) / 2
        spaces = {"image": gymnasium.spaces.Box(0, 255, (size, size, 3), np.uint8), "task": gymnasium.spaces.Box(-np.inf, np.inf, (2,), np.float32)}
        if goal_image:
            spaces["goal_image"] = gymnasium.spaces.Box(0, 255, (size, size, 3), np.uint8)
        self.observation_space = gymnasium.spaces.Dict(spaces)
        self.action_space = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.goal_xy, self.shown_xy, self.steps = np.zeros(2), np.zeros(2), 0

    def task_vector(self, goal_xy) -> np.ndarray:
        return ((np.asarray(goal_xy) - self._centre) / self._half).astype(np.float32)

    def goal_from_vector(self, task) -> np.ndarray:
        return self._centre + np.asarray(task, np.float64) * self._half

    def _observation(self) -> dict:
        xy = self.maze.get_xy()
        obs = {"image": self.renderer.render(xy, self.shown_xy if self.show_goal else None)[0], "task": self.task_vector(self.shown_xy)}
        if self.goal_image:
            obs["goal_image"] = self._goal_frame
        return obs

    def _seed_maze(self) -> None:
        """OGBench's reset draws its start noise from NumPy's global generator and its settling steps
        from the action space: both follow this environment's seed."""
        np.random.seed(int(self.np_random.integers(2**31)))
        self.maze.action_space.seed(int(self.np_random.integers(2**31)))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        options = options or {}
        if "task_id" in options:
            self._seed_maze()
            self.maze.reset(seed=int(self.np_random.integers(2**31)), options={"task_id": options["task_id"]})
            self.goal_xy = np.array(self.maze.cur_goal_xy, np.float64)
        else:
            if "goal_ij" in options:
                goal_xy = cell_xy(options["goal_ij"])
            elif "task" in options:
                goal_xy = self.goal_from_vector(options["task"])
            elif self._steps is None:
                goal_xy = cell_xy(self.goals[self.np_random.integers(len(self.goals))])
            start = self.starts[self.np_random.integers(len(self.starts))]
            if self._steps is not None and "goal_ij" not in options and "task" not in options:  # 'near': drawn around the start
                near = sorted(cell for cell, steps in self._steps[start].items() if steps <= NEAR_CELLS)
                goal_xy = cell_xy(near[self.np_random.integers(len(near))])
            task_info = dict(init_ij=start, goal_ij=self.maze.xy_to_ij(goal_xy))
            self._seed_maze()
            self.maze.reset(seed=int(self.np_random.integers(2**31)), options={"task_info": task_info})
            self.maze.set_goal(goal_xy=goal_xy)
            self.goal_xy = np.asarray(goal_xy, np.float64)
        self.shown_xy = self._decoy(options.get("task_id")) if self.decoy else self.goal_xy
        if self.goal_set == "outside" and "task_id" not in options:
            self.shown_xy = self._beyond(self.shown_xy)
        self._goal_frame = self.renderer.render(self.shown_xy)[0] if self.goal_image else None
        self.steps = 0
        return self._observation(), {"goal_xy": self.goal_xy.copy(), "xy": self.maze.get_xy()}

    def _beyond(self, xy) -> np.ndarray:
        """The centre of the border cell beyond an outer-ring cell (diagonally beyond a corner cell):
        a task vector at +-1, outside every goal cell's, whose nearest free cell is this one."""
        rows, cols = self.maze.maze_map.shape
        i, j = self.maze.xy_to_ij(xy)
        di = -1 if i == 1 else 1 if i == rows - 2 else 0
        dj = -1 if j == 1 else 1 if j == cols - 2 else 0
        return cell_xy((i + di, j + dj))

    def _decoy(self, task_id: int | None) -> np.ndarray:
        """The centre of a goal cell other than the true goal's: of another task, or of the goal set."""
        goal_ij = self.maze.xy_to_ij(self.goal_xy)
        cells = [tuple(g) for g in (self.task_goals if task_id is not None else self.goals) if tuple(g) != tuple(goal_ij)]
        if not cells:
            from gcrl.errors import GcrlError

            raise GcrlError(f"decoy goals need a goal set of two cells or more; '{self.goal_set}' of {self.layout} has one.")
        return cell_xy(cells[self.np_random.integers(len(cells))])

    def advance(self, action) -> tuple[float, bool, bool, dict]:
        """The physics of one step, without the picture: (reward, terminated, truncated, info). With
        action_repeat k the action holds for up to k OGBench steps, stopping early at the goal (the
        reward is still 1 and counted once); `steps` and max_episode_steps count agent steps."""
        action = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
        for _ in range(self.action_repeat):
            self.maze.step(action)
            xy = self.maze.get_xy()
            success = bool(np.linalg.norm(xy - self.goal_xy) <= GOAL_RADIUS)
            if success:
                break
        self.steps += 1
        terminated = success and self.terminate_at_goal
        truncated = self.steps >= self.max_episode_steps and not terminated
        return float(success), terminated, truncated, {"success": float(success), "xy": xy}

    def step(self, action):
        reward, terminated, truncated, info = self.advance(action)
        return self._observation(), reward, terminated, truncated, info

    def render(self):
        return self.renderer.render(self.maze.get_xy(), self.goal_xy)[0]

    def close(self):
        self.maze.close()


class PixelMazeVector:
    """`num_envs` pixel mazes stepped together, their frames rendered as one batch. Observations are
    the PixelMaze dicts stacked on a leading axis. An episode that ends starts again at once (a new
    goal of the goal set, or the same task id); its last observation is in info['final_image'].

    autoreset='next-step' (gymnasium 1.0's mode, DreamerV3's convention) returns an ended episode's
    last observation itself; the next step() ignores that environment's action, starts its new
    episode and returns the first observation (reward 0, not terminated, info['first'] marks it)."""

    def __init__(self, num_envs: int, seed: int = 0, task_id: int | None = None, autoreset: str = "same-step", **kwargs):
        if autoreset not in ("same-step", "next-step"):
            from gcrl.errors import GcrlError

            raise GcrlError(f"autoreset must be 'same-step' or 'next-step', got '{autoreset}'.")
        self.envs = [PixelMaze(**kwargs) for _ in range(num_envs)]
        self.renderer, self.task_id, self.seed = self.envs[0].renderer, task_id, seed
        self.autoreset, self._pending = autoreset, np.zeros(num_envs, bool)
        self.single_observation_space, self.action_space = self.envs[0].observation_space, self.envs[0].action_space

    def __len__(self) -> int:
        return len(self.envs)

    def _options(self):
        return {"task_id": self.task_id} if self.task_id is not None else None

    def _observations(self) -> dict:
        xy = np.stack([env.maze.get_xy() for env in self.envs])
        goals = np.stack([env.shown_xy for env in self.envs])
        obs = {"image": self.renderer.render(xy, goals if self.envs[0].show_goal else None), "task": np.stack([env.task_vector(g) for env, g in zip(self.envs, goals)])}
        if self.envs[0].goal_image:
            obs["goal_image"] = np.stack([env._goal_frame for env in self.envs])
        return obs

    def reset(self) -> dict:
        for k, env in enumerate(self.envs):
            env.reset(seed=self.seed * 10_000 + k, options=self._options())
        self._pending[:] = False
        return self._observations()

    def step(self, actions):
        rewards, terminated, truncated = (np.zeros(len(self.envs), dtype) for dtype in (np.float32, bool, bool))
        ended, first = [], self._pending.copy()
        for k, (env, action) in enumerate(zip(self.envs, np.asarray(actions))):
            if first[k]:
                env.reset(options=self._options())
                continue
            rewards[k], terminated[k], truncated[k], _ = env.advance(action)
            if terminated[k] or truncated[k]:
                ended.append(k)
        if self.autoreset == "next-step":
            self._pending[:] = False
            self._pending[ended] = True
            return self._observations(), rewards, terminated, truncated, {"ended": np.array(ended, int), "first": first}
        final = self._observations()["image"][ended] if ended else None
        for k in ended:
            self.envs[k].reset(options=self._options())
        return self._observations(), rewards, terminated, truncated, {"final_image": final, "ended": np.array(ended, int)}

    def close(self) -> None:
        for env in self.envs:
            env.close()


class PixelPointMazeEnv(PixelMaze):
    """The pixel maze as OGBench's environments look to gcrl's offline evaluation: the observation is
    the frame alone (no goal drawn, as OGBench's visual mazes), reset's info['goal'] the frame with
    the point at the goal, info['success'] on each step, episodes of OGBench's length that do not end
    at the goal (OGBench's evaluation stops at success itself), and the maze's geometry for pictures
    and the oracle. Registered as pixel-pointmaze-{medium,large,giant}-v0; datasets of the same
    names (pixel-pointmaze-medium-navigate-v0, ...) are OGBench's pointmaze datasets rendered by it."""

    def __init__(self, layout: str = "medium", size: int = 64):
        super().__init__(layout, size, goal_set="tasks", terminate_at_goal=True, max_episode_steps=10**9, show_goal=False)
        self.observation_space = gymnasium.spaces.Box(0, 255, (size, size, 3), np.uint8)
        self.maze_map, self.task_infos, self._maze_unit = self.maze.maze_map, self.maze.task_infos, MAZE_UNIT

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        return obs["image"], {**info, "goal": self.renderer.render(self.goal_xy)[0]}

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        return obs["image"], reward, terminated, truncated, info

    # the maze's geometry, as OGBench's maze environments expose it (maze pictures, the oracle)
    def get_xy(self):
        return self.maze.get_xy()

    def xy_to_ij(self, xy):
        return self.maze.xy_to_ij(xy)

    def ij_to_xy(self, ij):
        return self.maze.ij_to_xy(ij)

    @property
    def cur_goal_xy(self):
        return self.goal_xy


def register_environments() -> None:
    """pixel-pointmaze-{medium,large,giant}-v0 in gymnasium's registry (once), 1000-step episodes as
    OGBench's pointmaze (giant 1000 too)."""
    for layout in ("medium", "large", "giant"):
        env_id = f"pixel-pointmaze-{layout}-v0"
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point="gcrl.envs.pixel_maze:PixelPointMazeEnv", max_episode_steps=1000, kwargs={"layout": layout})


register_environments()
