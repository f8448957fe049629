"""Generate OGBench datasets locally: `generate` is the single entry point. The manipulation datasets
(cube, scene, puzzle) are gcrl.data.generate_manip's, their visual-* twins gcrl.data.generate_visual's;
this module holds the pointmaze generator, which follows OGBench's published protocol
(data_gen_scripts/generate_locomaze.py and commands.sh):

- the action is the unit direction from the point to the maze's oracle subgoal (the next cell on a
  shortest path to the goal), plus Gaussian noise, clipped to [-1, 1];
- navigate: start anywhere, goals drawn from the maze's junction cells, a new goal on every success;
- stitch: short episodes towards a goal 4 cells away;
- explore: a random unit direction every 10 steps (OGBench publishes explore for antmaze only;
  gcrl applies the same rule to the point, with antmaze-explore's settings);
- N training episodes plus N // 10 validation episodes, stored in OGBench's raw layout with the
  same field names and dtypes (observations, actions, terminals, qpos, qvel).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gcrl import faults
from gcrl.data import generate_manip, generate_visual, names
from gcrl.console import Reporter
from gcrl.data.files import atomic_path
from gcrl.errors import DatasetError


@dataclass(frozen=True)
class Protocol:
    episodes: int
    max_episode_steps: int
    noise: float


def protocol(name: str):
    """OGBench's settings for a dataset gcrl generates (commands.sh): a Protocol for pointmaze, a
    generate_manip.ManipProtocol for the manipulation datasets (visual-* ones included)."""
    if name.startswith("visual-") and not generate_visual.is_visual(name):
        published = " OGBench publishes it: download it instead (its episodes come from an expert policy)." if name in names.PUBLISHED else ""
        raise DatasetError(f"gcrl cannot render '{name}'.{published} gcrl renders: {', '.join(generate_visual.VISUAL_MANIPULATION)}.")
    parsed = names.parse(name)
    if not parsed.generatable:
        needs = "OGBench's powderworld generator, which gcrl does not port" if name.startswith("powderworld") else "its expert policy"
        raise DatasetError(
            "gcrl can generate only the pointmaze and manipulation datasets (pointmaze-*, gcrl's own pixel-pointmaze-*, and the "
            "cube-*, scene-* and puzzle-* play and noisy ones, in states and visual-*; `gcrl datasets list` marks them); "
            f"'{name}' needs {needs}, so download it from OGBench instead."
        )
    if generate_manip.is_manipulation(name):
        return generate_manip.protocol(name)
    if generate_visual.is_visual(name):
        return generate_visual.protocol(name)
    if parsed.kind == "navigate":
        giant = "-giant-" in name
        return Protocol(episodes=500 if giant else 1000, max_episode_steps=2001 if giant else 1001, noise=0.5)
    if parsed.kind == "stitch":
        return Protocol(episodes=5000, max_episode_steps=201, noise=0.5)
    return Protocol(episodes=10000, max_episode_steps=501, noise=1.0)  # explore


def _episode_task(kind: str, maze_map, all_cells, goal_cells, rng) -> tuple[tuple[int, int], tuple[int, int]]:
    from gcrl.envs.maze import cells_at_distance

    init_ij = all_cells[rng.randint(len(all_cells))]
    if kind == "stitch":
        near = cells_at_distance(maze_map, init_ij, 4)
        return init_ij, (near[rng.randint(len(near))] if near else init_ij)
    return init_ij, goal_cells[rng.randint(len(goal_cells))]


def generate_arrays(name: str, episodes: int | None = None, seed: int = 0, progress: bool = True, workers: int | None = None) -> tuple[dict, dict]:
    """Roll out the noisy oracle and return (train, val) dicts of arrays in OGBench's raw layout.

    Deterministic given the seed. The environment draws from NumPy's global generator, so it is
    seeded here and restored afterwards. `workers` (manipulation only; default one per core) splits
    the episodes over processes without changing the arrays; pointmaze runs in this process."""
    if generate_visual.is_visual(name):
        raise DatasetError(f"{name}: visual datasets are rendered straight to disk (gcrl.data.generate.generate), never held as arrays.")
    if generate_manip.is_manipulation(name):
        return generate_manip.generate_arrays(name, episodes=episodes, seed=seed, progress=progress, workers=workers)
    if name in names.GENERATABLE_PIXEL_POINTMAZE:
        states = name.removeprefix("pixel-")
        return tuple(with_frames(split, names.parse(name).env_name, progress) for split in generate_arrays(states, episodes, seed, progress))
    return _pointmaze_arrays(name, episodes, seed, progress)


def _pointmaze_arrays(name: str, episodes: int | None, seed: int, progress: bool) -> tuple[dict, dict]:
    """OGBench's pointmaze protocol: `navigate` follows the maze oracle towards a goal cell (a new
    one on arrival), `stitch` likewise over short episodes, `explore` holds a random direction for 10
    steps; Gaussian noise on every action."""
    import gymnasium

    import ogbench.locomaze  # noqa: F401  (registers the environments)
    from gcrl.envs.maze import MazeOracle, free_cells, vertex_cells

    parsed, proto = names.parse(name), protocol(name)
    train_episodes = proto.episodes if episodes is None else episodes
    total_episodes, steps = names.episodes_with_validation(train_episodes), proto.max_episode_steps
    env = gymnasium.make(parsed.env_name, terminate_at_goal=False, max_episode_steps=steps).unwrapped
    oracle = MazeOracle(env)
    cells = free_cells(oracle.maze_map), vertex_cells(oracle.maze_map)  # (start cells, goal cells)
    arrays = _empty_arrays(env, total_episodes, steps)

    saved_state = np.random.get_state()
    np.random.seed(seed)  # OGBench's protocol (and its environment) draw from the global generator
    env.action_space.seed(seed)
    bar = Reporter(f"generate {name}", total_episodes * steps, "steps", enabled=progress)
    try:
        for episode in range(total_episodes):
            rows = slice(episode * steps, (episode + 1) * steps)
            _record_episode(env, oracle, cells, parsed.kind, proto.noise, seed if episode == 0 else None, arrays, rows)
            bar.advance(steps)
            faults.point("dataset-generation")  # tests kill here, episodes in memory, nothing on disk
    finally:
        bar.close()
        np.random.set_state(saved_state)
        env.close()

    cut = train_episodes * steps
    return {k: v[:cut] for k, v in arrays.items()}, {k: v[cut:] for k, v in arrays.items()}


def _empty_arrays(env, episodes: int, steps: int) -> dict[str, np.ndarray]:
    """OGBench's fields and dtypes for `episodes` episodes of `steps` steps, terminals already set."""
    rows = episodes * steps
    terminals = np.zeros(rows, bool)
    terminals[steps - 1 :: steps] = True
    return dict(
        observations=np.empty((rows, env.observation_space.shape[0]), np.float32),
        actions=np.empty((rows, 2), np.float32),
        terminals=terminals,
        qpos=np.empty((rows, env.model.nq), np.float32),
        qvel=np.empty((rows, env.model.nv), np.float32),
    )


def _record_episode(env, oracle, cells, kind: str, noise: float, reset_seed: int | None, arrays: dict, rows: slice) -> None:
    """One episode from a fresh task into `arrays[rows]`: the noiseless direction plus Gaussian
    noise, clipped; a navigate episode gets a new goal cell each time it reaches one."""
    rng = np.random
    all_cells, goal_cells = cells
    init_ij, goal_ij = _episode_task(kind, oracle.maze_map, all_cells, goal_cells, rng)
    ob, _ = env.reset(seed=reset_seed, options=dict(task_info=dict(init_ij=init_ij, goal_ij=goal_ij)))
    direction = None
    for step, row in enumerate(range(rows.start, rows.stop)):
        direction = _direction(kind, step, direction, env, oracle, rng)
        action = np.clip(direction + rng.normal(0, noise, 2), -1, 1)
        next_ob, _, _, _, info = env.step(action)
        if info["success"] and kind == "navigate":
            env.set_goal(goal_cells[rng.randint(len(goal_cells))])
        arrays["observations"][row], arrays["actions"][row] = ob, action
        arrays["qpos"][row], arrays["qvel"][row] = info["prev_qpos"], info["prev_qvel"]
        ob = next_ob


def _direction(kind: str, step: int, previous, env, oracle, rng) -> np.ndarray:
    """The unit direction the noiseless policy moves in: the oracle's towards the current goal, or
    for `explore` a random one drawn every 10 steps."""
    if kind == "explore" and step % 10:
        return previous
    if kind == "explore":
        direction = rng.randn(2)
    else:
        xy = env.get_xy()
        direction = oracle.subgoal_xy(xy, env.cur_goal_xy) - xy
    return direction / (np.linalg.norm(direction) + 1e-6)


def with_frames(arrays: dict, env_name: str, progress: bool = True, chunk: int = 65_536) -> dict:
    """A pointmaze split with its observations replaced by the pixel maze's 64 x 64 frames of the
    point at each step's xy (qpos), rendered in batches into one uint8 array; the xy stays in qpos."""
    from gcrl.envs.pixel_maze import MazeRenderer, make_point_maze

    layout = env_name.removeprefix("pixel-pointmaze-").removesuffix("-v0")
    maze = make_point_maze(layout)
    renderer = MazeRenderer(maze.maze_map, 64)
    maze.close()
    xy = arrays["qpos"]
    frames = np.empty((len(xy), 64, 64, 3), np.uint8)
    bar = Reporter(f"render {env_name}", len(xy), "frames", enabled=progress)
    try:
        for start in range(0, len(xy), chunk):
            frames[start : start + chunk] = renderer.render(xy[start : start + chunk])
            bar.advance(min(chunk, len(xy) - start))
    finally:
        bar.close()
    return {**arrays, "observations": frames}


def generate(name: str, directory: Path, episodes: int | None = None, seed: int = 0, progress: bool = True, workers: int | None = None,
             render: str = "default") -> tuple[Path, Path]:  # fmt: skip
    """Generate both splits of `name` into `directory`, written atomically; returns their paths.
    `render` (visual-* only): 'default' (gcrl's fast settings) or 'ogbench' (OGBench's exactly)."""
    if generate_visual.is_visual(name):
        settings = generate_visual.render_settings(render)
        return generate_visual.generate(name, directory, episodes=episodes, seed=seed, progress=progress, workers=workers, render=settings)
    from gcrl.data.load import split_paths
    from gcrl.runlock import DirectoryLock

    directory = Path(directory).expanduser()
    train_path, val_path = split_paths(name, directory)
    # One generator per dataset at a time; under its lock, what a killed one left half-written goes.
    with DirectoryLock(directory, what="--dataset-dir", lock_name=f".{name}.lock"):
        for path in (train_path, val_path):
            for stale in directory.glob(f".{path.name}.*.partial"):
                stale.unlink(missing_ok=True)
        train, val = generate_arrays(name, episodes=episodes, seed=seed, progress=progress, workers=workers)
        with atomic_path(train_path) as train_tmp, atomic_path(val_path) as val_tmp:
            for tmp, arrays in ((train_tmp, train), (val_tmp, val)):
                with open(tmp, "wb") as f:
                    np.savez_compressed(f, **arrays)
    return train_path, val_path
