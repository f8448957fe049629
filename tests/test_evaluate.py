import json

import numpy as np
import pytest

from gcrl.evaluate import EvalResult, evaluate, make_envs, success_table
from gcrl.experiments.plots import plot_maze

ENV = "pointmaze-medium-v0"


class OraclePolicy:
    """Scripted pointmaze expert: the unit direction to the maze oracle's next cell (straight at the
    goal once in its cell). For pointmaze the observation is the xy position and the goal
    observation is the goal xy. Counts its calls and the batch shapes it saw."""

    def __init__(self, env):
        from gcrl.envs.maze import MazeOracle

        self.maze = env.unwrapped
        self.oracle = MazeOracle(self.maze)
        self.shapes = []

    def __call__(self, obs, goals):
        self.shapes.append((obs.shape, goals.shape))
        actions = np.zeros((len(obs), 2), np.float32)
        for e, (xy, goal) in enumerate(zip(obs, goals)):
            same_cell = self.maze.xy_to_ij(xy) == self.maze.xy_to_ij(goal)
            target = goal if same_cell else self.oracle.subgoal_xy(xy, goal)
            direction = target - xy
            actions[e] = direction / (np.linalg.norm(direction) + 1e-6)
        return actions


@pytest.fixture(scope="module")
def envs():
    envs = make_envs(ENV, 2)
    yield envs
    for env in envs:
        env.close()


@pytest.fixture(scope="module")
def oracle_result(envs):
    policy = OraclePolicy(envs[0])
    result = evaluate(policy, ENV, episodes_per_task=2, seed=0, progress=False, envs=envs)
    return result, policy


def test_oracle_succeeds(oracle_result):
    result, _ = oracle_result
    assert [t.task_id for t in result.tasks] == [1, 2, 3, 4, 5]
    assert result.per_task == [1.0] * 5
    assert result.overall == 1.0
    for task in result.tasks:
        assert task.lengths.max() < 1000  # terminated at the goal, not by the time limit
        assert len(task.trajectories) == 2 and task.starts.shape == (2, 2) and task.goals_xy.shape == (2, 2)
        for traj, length, goal in zip(task.trajectories, task.lengths, task.goals_xy):
            assert traj.shape == (length + 1, 2)
            assert np.linalg.norm(traj[-1] - goal) <= 1.0  # OGBench's goal tolerance
    assert result.env_steps == sum(t.lengths.sum() for t in result.tasks)


def test_one_policy_call_per_step_with_fixed_batch(oracle_result):
    result, policy = oracle_result
    # Lockstep: each task takes as many calls as its longest episode, all of batch size E = 2.
    assert len(policy.shapes) == sum(t.lengths.max() for t in result.tasks)
    assert set(policy.shapes) == {((2, 2), (2, 2))}


def test_zero_policy_fails_and_is_truncated(envs):
    result = evaluate(lambda o, g: np.zeros((len(o), 2)), ENV, episodes_per_task=2, tasks=(1,), progress=False, envs=envs)
    assert result.overall == 0.0
    assert result.tasks[0].lengths.tolist() == [1000, 1000]  # the registered TimeLimit
    assert result.env_steps == 2000


def test_deterministic(envs, oracle_result):
    first, _ = oracle_result
    again = evaluate(OraclePolicy(envs[0]), ENV, episodes_per_task=2, seed=0, progress=False, envs=envs)
    for a, b in zip(first.tasks, again.tasks):
        np.testing.assert_array_equal(a.lengths, b.lengths)
        np.testing.assert_array_equal(a.starts, b.starts)
        for ta, tb in zip(a.trajectories, b.trajectories):
            np.testing.assert_array_equal(ta, tb)
    other = evaluate(OraclePolicy(envs[0]), ENV, episodes_per_task=2, tasks=(1,), seed=1, progress=False, envs=envs)
    assert not np.array_equal(other.tasks[0].starts, first.tasks[0].starts)


def test_global_random_state_restored(envs):
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    evaluate(lambda o, g: np.zeros((len(o), 2)), ENV, episodes_per_task=1, tasks=(2,), progress=False, envs=envs)
    assert np.random.rand() == expected


def test_to_dict_is_json(oracle_result):
    result, _ = oracle_result
    d = json.loads(json.dumps(result.to_dict()))
    assert d["overall"] == 1.0 and d["episodes"] == 10 and d["per_task"]["3"] == 1.0
    assert "trajectories" not in d and d["env_steps"] == result.env_steps


def test_success_table(oracle_result):
    from rich.console import Console

    console = Console(record=True, width=100)
    console.print(success_table(oracle_result[0], title="oracle"))
    text = console.export_text()
    assert "overall" in text and "task 5" in text and "100.0%" in text


def test_too_few_envs(envs):
    with pytest.raises(ValueError, match="needs 3 environments"):
        evaluate(lambda o, g: np.zeros((len(o), 2)), ENV, episodes_per_task=3, progress=False, envs=envs)


def test_plot_maze(tmp_path, envs, oracle_result):
    result, _ = oracle_result
    subgoals = [result.tasks[0].trajectories[0][::50]]
    path = plot_maze(result, tmp_path / "maze.png", env=envs[0], subgoals=subgoals)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["maze.png"]  # no temp file left behind


def test_plot_maze_rejects_non_maze(tmp_path):
    result = EvalResult("cube-single-v0", [], seconds=0.0, env_steps=0)

    class NotAMaze:
        unwrapped = object()

    with pytest.raises(ValueError, match="maze environments only"):
        plot_maze(result, tmp_path / "x.png", env=NotAMaze())


def test_worker_processes_give_the_same_episodes_as_one_process(envs, oracle_result):
    """Environments stepped by two worker processes (the default for larger evaluations) reset
    from the same seeds and so give the episodes of the in-process lockstep, step for step."""
    from gcrl.envs.group import make_env_group

    group = make_env_group(ENV, 2, workers=2)
    try:
        assert len(group.slices) == 2 and group.maze
        result = evaluate(OraclePolicy(envs[0]), ENV, episodes_per_task=2, tasks=(2, 4), seed=0, progress=False, envs=group)
    finally:
        group.close()
    local, _ = oracle_result
    for task in result.tasks:
        same = local.tasks[task.task_id - 1]
        np.testing.assert_array_equal(task.lengths, same.lengths)
        np.testing.assert_array_equal(task.successes, same.successes)
        for a, b in zip(task.trajectories, same.trajectories):
            np.testing.assert_array_equal(a, b)


def test_a_failing_or_dead_worker_process_gives_a_clear_error(monkeypatch):
    from gcrl.envs.group import ProcessEnvGroup, default_workers
    from gcrl.errors import GcrlError

    with pytest.raises(GcrlError, match="environments 0-0 failed:(.|\n)*no-such-env"):
        ProcessEnvGroup("no-such-env-v0", 2, workers=2)  # the worker's own traceback comes back
    group = ProcessEnvGroup(ENV, 2, workers=2)
    try:
        group.procs[1].kill()
        group.procs[1].join()
        with pytest.raises(GcrlError, match="environments 1-1 died .*GCRL_EVAL_WORKERS=1"):
            group.reset(task_id=1, seed=0, count=2)
    finally:
        group.close()
    monkeypatch.setenv("GCRL_EVAL_WORKERS", "1")
    assert default_workers(100) == 1
    monkeypatch.setenv("GCRL_EVAL_WORKERS", "two")
    with pytest.raises(GcrlError, match="GCRL_EVAL_WORKERS must be"):
        default_workers(100)


def test_visual_environments_get_a_worker_per_episode_and_state_ones_eight_episodes_each(monkeypatch):
    import gcrl.envs.group as group_module

    monkeypatch.delenv("GCRL_EVAL_WORKERS", raising=False)
    monkeypatch.setattr(group_module.os, "cpu_count", lambda: 4)
    assert group_module.default_workers(2, "visual-cube-single-v0") == 2  # rendering dominates: split even two episodes
    assert group_module.default_workers(10, "visual-cube-single-v0") == 4
    assert group_module.default_workers(2, ENV) == 1 and group_module.default_workers(16, ENV) == 2


def test_a_slow_evaluation_says_its_expected_time_up_front_once(monkeypatch):
    import gcrl.evaluate as evaluate_module
    from gcrl.evaluate import expected_time_text

    assert expected_time_text(0.5, 200, 5, 10, 2) == (
        "  evaluating 5 tasks x 10 episodes in lockstep on 2 worker processes: 0.50 s per step here, "
        "up to 200 steps per task: at most about 8 min (less where episodes succeed early)"
    )
    said = []
    monkeypatch.setattr(evaluate_module, "SLOW_EVALUATION_S", 0.0)  # announce even this quick one
    monkeypatch.setattr(evaluate_module.console, "print", lambda text, **kwargs: said.append(text))
    envs = make_envs(ENV, 2)
    try:
        evaluate(lambda obs, goals: np.ones((len(obs), 2), np.float32), ENV, 2, tasks=(1, 2), seed=0, progress=True, envs=envs)
    finally:
        for env in envs:
            env.close()
    assert len(said) == 1 and "2 tasks x 2 episodes in lockstep in one process" in said[0] and "up to 1000 steps per task" in said[0], said


def test_the_expected_time_leaves_out_the_first_step_which_compiles(monkeypatch):
    import time

    import gcrl.evaluate as evaluate_module

    said, calls = [], []
    monkeypatch.setattr(evaluate_module, "SLOW_EVALUATION_S", 0.0)
    monkeypatch.setattr(evaluate_module.console, "print", lambda text, **kwargs: said.append(text))

    def policy(obs, goals):  # a first call as slow as a compilation, then fast
        calls.append(1)
        if len(calls) == 1:
            time.sleep(1.0)
        return np.ones((len(obs), 2), np.float32)

    envs = make_envs(ENV, 1)
    try:
        evaluate(policy, ENV, 1, tasks=(1,), seed=0, progress=True, envs=envs)
    finally:
        envs[0].close()
    seconds = float(said[0].split(": ")[1].split(" s per step")[0])
    assert seconds < 0.5, said


def test_making_and_stepping_a_manipulation_env_prints_no_warnings():
    """OGBench's two harmless warnings (glfw without a screen, the action Box cast to float32) would
    otherwise fill every evaluation worker's part of train.log."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = make_envs("cube-single-v0", 1)[0]
        env.reset(seed=0)
        env.step(env.action_space.sample())
        env.close()
    assert [str(w.message) for w in caught] == []
