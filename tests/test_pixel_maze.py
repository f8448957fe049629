"""The pixel maze: OGBench's point physics unchanged, the renderer's pixels, goal sets and task vectors,
sparse reward, determinism, the vectorised form, and the layouts for transfer."""

import json
from collections import deque

import numpy as np
import pytest

from gcrl.envs.pixel_maze import (
    EXTRA_LAYOUTS,
    GOAL_COLOUR,
    MEDIUM,
    POINT_COLOUR,
    WALL_SHADE,
    MazeRenderer,
    PixelMaze,
    PixelMazeVector,
    cell_xy,
    free_cells,
    goal_cells,
)


@pytest.fixture(scope="module")
def env():
    maze = PixelMaze("medium", goal_image=True)
    yield maze
    maze.close()


def connected(maze_map) -> bool:
    cells = free_cells(maze_map)
    seen, todo = {cells[0]}, deque([cells[0]])
    while todo:
        i, j = todo.popleft()
        for n in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
            if maze_map[n] == 0 and n not in seen:
                seen.add(n), todo.append(n)
    return len(seen) == len(cells)


def test_the_medium_map_and_tasks_are_ogbenchs_and_the_transfer_layouts_are_mazes(env):
    import gymnasium
    import ogbench  # noqa: F401

    reference = gymnasium.make("pointmaze-medium-v0").unwrapped
    assert (reference.maze_map == MEDIUM).all() and (env.maze.maze_map == MEDIUM).all()
    assert [t["goal_ij"] for t in env.maze.task_infos] == [t["goal_ij"] for t in reference.task_infos]
    for name, (maze_map, tasks) in EXTRA_LAYOUTS.items():
        assert name == "corridor" or (maze_map.shape == MEDIUM.shape and not (maze_map == MEDIUM).all()), name
        assert connected(maze_map), name
        assert all(maze_map[start] == 0 and maze_map[goal] == 0 for start, goal in tasks), name
        built = PixelMaze(name)
        assert (built.maze.maze_map == maze_map).all() and [t["init_ij"] for t in built.maze.task_infos] == [s for s, _ in tasks]
        built.close()


def test_the_physics_are_ogbenchs_point(env):
    import gymnasium

    reference = gymnasium.make("pointmaze-medium-v0").unwrapped
    reference.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (60, 2))
    for maze in (reference, env.maze):
        maze.set_xy(cell_xy((1, 1)))
    for action in actions:  # into walls and along them
        reference.step(action)
        env.advance(action)
        np.testing.assert_array_equal(env.maze.get_xy(), reference.get_xy())


def test_the_renderer_draws_walls_floor_goal_and_point_where_they_are():
    renderer = MazeRenderer(MEDIUM, 64)  # 8 x 8 cells of 8 x 8 pixels
    assert renderer.scale == 2.0
    background = renderer.background
    assert (background[:8, :8] == WALL_SHADE).all()  # cell (0, 0), a wall
    floor = background[8:16, 8:16]  # cell (1, 1), free: coloured by position
    assert (floor != WALL_SHADE).any(axis=-1).all() and floor[0, 0, 0] < floor[0, -1, 0] and floor[0, 0, 1] < floor[-1, 0, 1]
    frame = renderer.render(cell_xy((1, 1)), cell_xy((6, 6)))[0]
    assert (frame[11:13, 11:13] == POINT_COLOUR).all()  # the point at the centre of cell (1, 1)
    assert (frame[51:53, 51:53] == GOAL_COLOUR).all()  # the goal at cell (6, 6)
    assert (frame == POINT_COLOUR).all(-1).sum() < (frame == GOAL_COLOUR).all(-1).sum()  # radius 0.7 against 1.0
    on_goal = renderer.render(cell_xy((6, 6)), cell_xy((6, 6)))[0]  # the point drawn over the goal
    assert (on_goal[51:53, 51:53] == POINT_COLOUR).all() and (on_goal == GOAL_COLOUR).all(-1).any()
    batch = renderer.render(np.stack([cell_xy((1, 1)), cell_xy((2, 2))]), np.stack([cell_xy((6, 6))] * 2))
    np.testing.assert_array_equal(batch[0], frame)


def test_goal_sets_split_the_free_cells_and_task_vectors_name_goals(env):
    train, heldout = goal_cells(MEDIUM, "train", []), goal_cells(MEDIUM, "heldout", [])
    assert not set(train) & set(heldout) and sorted(train + heldout) == sorted(free_cells(MEDIUM)) and len(heldout) == len(free_cells(MEDIUM)) // 4
    corner = env.task_vector(cell_xy((1, 1)))
    np.testing.assert_allclose(env.goal_from_vector(corner), cell_xy((1, 1)), atol=1e-5)
    assert (np.abs(env.task_vector(cell_xy((6, 6)))) < 1).all() and (corner < 0).all()
    obs, info = env.reset(seed=3, options={"task": np.array([1.5, -0.2])})  # outside the training range: still a goal
    np.testing.assert_allclose(info["goal_xy"], env.goal_from_vector([1.5, -0.2]))
    np.testing.assert_allclose(obs["task"], [1.5, -0.2], rtol=1e-6)


def test_tasks_reward_on_reaching_the_goal_and_episodes_are_deterministic(env):
    obs, info = env.reset(seed=0, options={"task_id": 1})
    assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
    assert (np.abs(info["goal_xy"] - cell_xy((6, 6))) <= 1.0).all()  # OGBench's task 1 goal, with its noise (a quarter cell)
    assert (obs["goal_image"] == POINT_COLOUR).all(-1).any() and not (obs["goal_image"] == GOAL_COLOUR).all(-1).any()
    _, reward, terminated, _, _ = env.step([0.0, 0.0])
    assert reward == 0.0 and not terminated
    env.maze.set_xy(info["goal_xy"] + [0.3, 0.0])
    _, reward, terminated, _, step_info = env.step([0.0, 0.0])
    assert reward == 1.0 and terminated and step_info["success"] == 1.0

    def rollout(seed):
        frames = [env.reset(seed=seed, options=None)[0]["image"]]
        for action in np.random.default_rng(1).uniform(-1, 1, (20, 2)):
            frames.append(env.step(action)[0]["image"])
        return np.stack(frames)

    np.testing.assert_array_equal(rollout(5), rollout(5))
    assert (rollout(5) != rollout(6)).any()


def test_the_vector_steps_together_and_restarts_ended_episodes():
    vec = PixelMazeVector(3, seed=0, layout="medium", goal_set="heldout", max_episode_steps=5)
    obs = vec.reset()
    assert obs["image"].shape == (3, 64, 64, 3) and obs["task"].shape == (3, 2)
    heldout = {tuple(cell_xy(c)) for c in goal_cells(MEDIUM, "heldout", [])}
    assert all(tuple(env.goal_xy) in heldout for env in vec.envs)
    for step in range(5):
        obs, rewards, terminated, truncated, info = vec.step(np.zeros((3, 2)))
    assert truncated.all() and info["final_image"].shape == (3, 64, 64, 3) and all(env.steps == 0 for env in vec.envs)
    vec.close()


def test_a_pixel_pointmaze_dataset_is_ogbenchs_pointmaze_rendered_and_trains_and_evaluates_by_name(tmp_path, monkeypatch):
    from gcrl.cli import main
    from gcrl.data import load
    from gcrl.envs import group

    name = "pixel-pointmaze-medium-navigate-v0"
    assert main(["datasets", "generate", name, "--episodes", "1", "--quiet", "--dataset-dir", str(tmp_path)]) == 0
    raw = np.load(tmp_path / f"{name}.npz")
    states = np.load(tmp_path / f"{name}.npz")["qpos"]
    assert raw["observations"].shape == (1001, 64, 64, 3) and raw["observations"].dtype == np.uint8
    renderer = MazeRenderer(MEDIUM, 64)
    np.testing.assert_array_equal(raw["observations"][[0, 500, 1000]], renderer.render(states[[0, 500, 1000]]))
    assert load.load(name, tmp_path).pixels

    make = group.make_envs  # short evaluation episodes, in this process
    monkeypatch.setenv("GCRL_EVAL_WORKERS", "1")
    monkeypatch.setattr(group, "make_envs", lambda env_name, count, **kw: make(env_name, count, **{"max_episode_steps": 20, **kw}))
    run = tmp_path / "run"
    assert main(["train", "--agent", "gcbc", "--dataset", name, "--dataset-dir", str(tmp_path), "--steps", "2", "--batch-size", "4",
                 "--eval-episodes", "1", "--set", "hidden=8,8", "--run-dir", str(run), "--quiet"]) == 0  # fmt: skip
    result = json.loads((run / "eval" / "step_00000002.json").read_text())
    assert result["env_name"] == "pixel-pointmaze-medium-v0" and len(result["per_task"]) == 5
    assert (run / "eval" / "maze_step_00000002.png").stat().st_size > 0  # the maze picture, from the env's geometry


def test_near_goals_lie_at_most_one_maze_step_from_the_start():
    from gcrl.envs.pixel_maze import NEAR_CELLS, cell_steps

    corridor = EXTRA_LAYOUTS["corridor"][0]
    assert cell_steps(corridor)[(1, 1)] == {(1, 1): 0, (1, 2): 1, (1, 3): 2}
    assert cell_steps(MEDIUM)[(1, 1)][(1, 6)] == 9  # around the walls (straight across would be 5)
    env = PixelMaze("medium", size=16, goal_set="near")
    seen = []
    for seed in range(200):
        _, info = env.reset(seed=seed)
        start, goal = (tuple(env.maze.xy_to_ij(info[k])) for k in ("xy", "goal_xy"))
        seen.append(cell_steps(MEDIUM)[start][goal])
    env.close()
    assert max(seen) == NEAR_CELLS == 1 and 0.2 < np.mean(np.array(seen) == 0) < 0.5  # its own cell, or a neighbour


def test_action_repeat_holds_the_action_for_k_ogbench_steps_and_stops_at_the_goal():
    single, repeated = PixelMaze("medium", size=16), PixelMaze("medium", size=16, action_repeat=3, max_episode_steps=2)
    for maze in (single, repeated):
        maze.reset(seed=0, options={"goal_ij": (6, 6)})
        maze.maze.set_xy(cell_xy((1, 1)))
    for action in np.random.default_rng(0).uniform(-1, 1, (2, 2)):
        for _ in range(3):
            single.advance(action)
        reward, terminated, truncated, _ = repeated.advance(action)
        np.testing.assert_array_equal(repeated.maze.get_xy(), single.maze.get_xy())
    assert reward == 0.0 and not terminated and truncated and repeated.steps == 2  # the episode's length counts agent steps
    repeated.reset(seed=0, options={"goal_ij": (1, 1)})
    repeated.maze.set_xy(cell_xy((1, 1)) + [0.0, 1.1])  # 0.1 outside the goal; one step towards it reaches it
    before = repeated.maze.get_xy().copy()
    reward, terminated, _, _ = repeated.advance([0.0, -1.0])
    assert reward == 1.0 and terminated
    assert before[1] - repeated.maze.get_xy()[1] < 0.25  # stopped after the first step (each moves the point up to 0.2)
    with pytest.raises(Exception, match="action_repeat"):
        PixelMaze("medium", size=16, action_repeat=0)


def test_decoy_goals_show_another_goal_of_the_set_while_success_counts_the_true_one():
    plain, decoy = (PixelMazeVector(6, seed=4, layout="medium", size=16, goal_set="heldout", decoy=d) for d in (False, True))
    obs, shown = plain.reset(), decoy.reset()
    heldout = {tuple(cell_xy(c)) for c in goal_cells(MEDIUM, "heldout", [])}
    for a, b in zip(plain.envs, decoy.envs):  # the same starts and goals as without decoys
        np.testing.assert_array_equal(a.goal_xy, b.goal_xy)
        np.testing.assert_array_equal(a.maze.get_xy(), b.maze.get_xy())
        assert tuple(b.shown_xy) in heldout and tuple(b.shown_xy) != tuple(cell_xy(b.maze.xy_to_ij(b.goal_xy)))
    np.testing.assert_array_equal(obs["task"], [env.task_vector(env.goal_xy) for env in plain.envs])
    np.testing.assert_array_equal(shown["task"], [env.task_vector(env.shown_xy) for env in decoy.envs])  # picture and vector: the decoy
    np.testing.assert_array_equal(shown["image"], decoy.renderer.render(np.stack([e.maze.get_xy() for e in decoy.envs]), np.stack([e.shown_xy for e in decoy.envs])))
    env = decoy.envs[0]
    env.maze.set_xy(env.shown_xy)
    assert env.advance([0.0, 0.0])[0] == 0.0  # standing on the decoy earns nothing
    env.maze.set_xy(env.goal_xy)
    assert env.advance([0.0, 0.0])[0] == 1.0  # the true goal still counts
    task = PixelMaze("medium", size=16, decoy=True)
    task.reset(seed=0, options={"task_id": 2})
    others = {tuple(cell_xy(g)) for k, g in enumerate(task.task_goals) if k != 1}
    assert tuple(task.shown_xy) in others  # another of the five tasks
    for vec in (plain, decoy, task):
        vec.close()


def test_outside_goals_show_a_task_vector_beyond_every_goal_cells_and_count_the_nearest_free_cell():
    env = PixelMaze("medium", size=16, goal_set="outside")
    free = free_cells(MEDIUM)
    span = np.abs([env.task_vector(cell_xy(c)) for c in free]).max()  # every goal a run can be trained on lies within it
    assert span == pytest.approx(5 / 7)
    ring = goal_cells(MEDIUM, "outside", [])
    assert set(ring) == {c for c in free if 1 in c or 6 in c} and (1, 1) in ring
    seen = set()
    for seed in range(60):
        obs, info = env.reset(seed=seed)
        goal = tuple(env.maze.xy_to_ij(info["goal_xy"]))
        seen.add(goal)
        assert goal in ring and np.abs(obs["task"]).max() == 1.0  # outside the span, on the axis (or both) facing the border
        shown = env.goal_from_vector(obs["task"])
        assert MEDIUM[tuple(env.maze.xy_to_ij(shown))] == 1  # the border cell beyond
        nearest = min(free, key=lambda c: np.linalg.norm(cell_xy(c) - shown))
        assert nearest == goal  # whose nearest free cell is the true goal
        env.maze.set_xy(env.goal_xy)
        assert env.advance([0.0, 0.0])[0] == 1.0  # success counts the true goal
    assert len(seen) > len(ring) // 2
    env.reset(seed=0, options={"task_id": 1})  # the five tasks are shown as they are
    np.testing.assert_array_equal(env.shown_xy, env.goal_xy)
    control = PixelMaze("medium", size=16, goal_set="ring")  # the same goals, shown as they are
    for seed in range(5):
        obs, info = control.reset(seed=seed)
        _, outside_info = env.reset(seed=seed)
        np.testing.assert_array_equal(info["goal_xy"], outside_info["goal_xy"])
        np.testing.assert_array_equal(obs["task"], control.task_vector(info["goal_xy"]))
