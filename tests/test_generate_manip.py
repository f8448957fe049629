"""Local generation of OGBench's manipulation datasets: the protocol of commands.sh, OGBench's file
format, determinism whatever the number of workers, the noisy protocol, scene's health check, and
atomic writes. Episodes are shortened (a patched protocol) so that each test takes seconds."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import ogbench
import pytest

from gcrl.data import generate as G
from gcrl.data import generate_manip as M
from gcrl.data import names
from gcrl.data.load import load_file, split_paths
from gcrl.errors import DatasetError

STEPS = 40  # steps per episode in these tests (OGBench: 1001)


def short(name: str, steps: int = STEPS) -> M.ManipProtocol:
    return dataclasses.replace(M.protocol(name), max_episode_steps=steps)


def patch_short(monkeypatch, steps: int = STEPS, episodes: int | None = None) -> None:
    """Every manipulation protocol with `steps`-step episodes (and `episodes` of them by default),
    through every entry point."""
    protocol = M.protocol

    def shortened(name):
        proto = dataclasses.replace(protocol(name), max_episode_steps=steps)
        return proto if episodes is None else dataclasses.replace(proto, episodes=episodes)

    monkeypatch.setattr(M, "protocol", shortened)


@pytest.fixture(scope="module")
def cube_files(tmp_path_factory):
    """cube-single-play-v0 with 3 + 1 episodes of 40 steps, written by gcrl.data.generate.generate."""
    directory = tmp_path_factory.mktemp("manip")
    with pytest.MonkeyPatch.context() as mp:
        patch_short(mp)
        G.generate("cube-single-play-v0", directory, episodes=3, seed=0, progress=False, workers=1)
    return split_paths("cube-single-play-v0", directory)


# ---- protocol ------------------------------------------------------------------------------------

def test_protocol_matches_commands_sh():
    episodes = {"cube-single": 1000, "cube-double": 1000, "cube-triple": 3000, "cube-quadruple": 5000, "scene": 1000,
                "puzzle-3x3": 1000, "puzzle-4x4": 1000, "puzzle-4x5": 3000, "puzzle-4x6": 5000}  # fmt: skip
    for env, count in episodes.items():
        play, noisy = M.protocol(f"{env}-play-v0"), M.protocol(f"{env}-noisy-v0")
        assert play == M.ManipProtocol(f"{env}-v0", "play", count, 1001, 0.1, 0.5, 0.4, 0.0)
        p_random = 0.2 if env.startswith("puzzle") else 0.1
        assert noisy == M.ManipProtocol(f"{env}-v0", "noisy", count, 1001, 0.1, 0.5, 0.4, p_random)
        for kind in ("play", "noisy"):
            assert names.parse(f"{env}-{kind}-v0").generatable and G.protocol(f"{env}-{kind}-v0").episodes == count
            assert names.parse(f"visual-{env}-{kind}-v0").generatable  # rendered: tests/test_generate_visual.py
    assert len(names.GENERATABLE_MANIPULATION) == 18
    with pytest.raises(DatasetError, match="cannot render 'visual-antmaze-large-navigate-v0'. OGBench publishes it"):
        G.protocol("visual-antmaze-large-navigate-v0")
    with pytest.raises(DatasetError, match="pointmaze and manipulation datasets.*expert policy"):
        G.protocol("antmaze-large-navigate-v0")


def test_stacking_probability_per_episode():
    np.random.seed(0)
    assert M.stacking_probability("cube-single-v0") == 0.0 and M.stacking_probability("scene-v0") == 0.5
    for env, (low, high) in {"cube-double-v0": (0, 0.25), "cube-triple-v0": (0.05, 0.35), "cube-quadruple-v0": (0.1, 0.5)}.items():
        draws = [M.stacking_probability(env) for _ in range(200)]
        assert low <= min(draws) < low + 0.02 and high - 0.02 < max(draws) <= high


# ---- file format ---------------------------------------------------------------------------------

def test_fields_dtypes_and_shapes_are_ogbenchs(cube_files):
    train_path, val_path = cube_files
    with np.load(train_path) as train, np.load(val_path) as val:
        assert sorted(train.files) == ["actions", "observations", "qpos", "qvel", "terminals"]
        assert {k: train[k].dtype for k in train.files} == {
            "observations": np.float32, "actions": np.float32, "terminals": np.bool_, "qpos": np.float32, "qvel": np.float32}  # fmt: skip
        assert train["observations"].shape == (3 * STEPS, 28) and train["actions"].shape == (3 * STEPS, 5)
        assert train["qpos"].shape == (3 * STEPS, 21) and train["qvel"].shape == (3 * STEPS, 20)
        assert np.nonzero(train["terminals"])[0].tolist() == [STEPS - 1, 2 * STEPS - 1, 3 * STEPS - 1]
        assert len(val["observations"]) == STEPS  # N // 10, at least one
        assert np.abs(train["actions"]).max() <= 1.0


@pytest.mark.parametrize("name, ob_dim, buttons", [("scene-play-v0", 40, 2), ("puzzle-3x3-noisy-v0", 55, 9)])
def test_button_states_are_stored_as_int64_where_the_env_has_buttons(name, ob_dim, buttons):
    result = M.collect(name, episodes=1, seed=0, progress=False, workers=1, max_episode_steps=20)
    arrays = result.train
    assert sorted(arrays) == ["actions", "button_states", "observations", "qpos", "qvel", "terminals"]
    assert arrays["observations"].shape == (20, ob_dim) and arrays["observations"].dtype == np.float32
    assert arrays["button_states"].shape == (20, buttons) and arrays["button_states"].dtype == np.int64
    assert set(np.unique(arrays["button_states"])) <= {0, 1}


def test_output_loads_through_gcrl_and_ogbench(cube_files):
    train_path, _ = cube_files
    ours = load_file(train_path)
    theirs = ogbench.load_dataset(str(train_path), compact_dataset=True, add_info=True)
    for key in ("observations", "actions", "terminals", "valids"):
        np.testing.assert_array_equal(getattr(ours, key), theirs[key])
    for key in ("qpos", "qvel"):
        np.testing.assert_array_equal(ours.info[key], theirs[key])
    standard = ogbench.load_dataset(str(train_path))
    mine = ours.to_standard()
    for key in ("observations", "next_observations", "actions", "terminals"):
        np.testing.assert_array_equal(getattr(mine, key), standard[key])


# ---- determinism ---------------------------------------------------------------------------------

def test_same_seed_same_arrays_whatever_the_number_of_workers():
    state = np.random.get_state()
    one = M.collect("cube-double-noisy-v0", episodes=2, seed=5, progress=False, workers=1, max_episode_steps=30)
    assert np.array_equal(np.random.get_state()[1], state[1])  # the global generator is given back
    two = M.collect("cube-double-noisy-v0", episodes=2, seed=5, progress=False, workers=2, max_episode_steps=30)
    other = M.collect("cube-double-noisy-v0", episodes=2, seed=6, progress=False, workers=1, max_episode_steps=30)
    for split in ("train", "val"):
        a, b = getattr(one, split), getattr(two, split)
        assert sorted(a) == sorted(b)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_array_equal(one.subtasks, two.subtasks)
    assert not np.array_equal(one.train["observations"], other.train["observations"])


def test_fewer_episodes_are_a_prefix_of_more():
    few = M.collect("puzzle-3x3-play-v0", episodes=2, seed=1, progress=False, workers=1, max_episode_steps=20).train
    more = M.collect("puzzle-3x3-play-v0", episodes=3, seed=1, progress=False, workers=1, max_episode_steps=20).train
    for key in few:
        np.testing.assert_array_equal(few[key], more[key][: 2 * 20])


def test_train_and_validation_episode_counts():
    result = M.collect("cube-single-play-v0", episodes=20, seed=0, progress=False, workers=1, max_episode_steps=4)
    assert len(result.train["observations"]) == 20 * 4 and len(result.val["observations"]) == 2 * 4
    assert result.train["terminals"].sum() == 20 and result.val["terminals"].sum() == 2
    assert len(result.subtasks) == len(result.retries) == 22 and not result.retries.any()
    with pytest.raises(DatasetError, match="at least 1"):
        M.collect("cube-single-play-v0", episodes=0, progress=False, workers=1)


# ---- the noisy protocol --------------------------------------------------------------------------

class ZeroOracle:
    """Always asks for the zero action and never finishes; records the steps it was asked at."""

    def __init__(self, env):
        self.dt = env.unwrapped._control_timestep
        self.asked: list[list[int]] = []
        self.done = False

    def reset(self, ob, info):
        self.t0 = info["time"][0]
        self.asked.append([])

    def select_action(self, ob, info):
        self.asked[-1].append(round((info["time"][0] - self.t0) / self.dt))
        return np.zeros(5)


def test_noisy_random_actions_and_per_episode_gaussian_noise(monkeypatch):
    oracles = []
    monkeypatch.setattr(M, "make_oracles", lambda env, proto: {"cube": oracles.append(ZeroOracle(env)) or oracles[-1]})
    steps, episodes = 200, 10
    result = M.collect("cube-single-noisy-v0", episodes=episodes - 1, seed=3, progress=False, workers=1, max_episode_steps=steps)
    actions = np.concatenate([result.train["actions"], result.val["actions"]]).reshape(episodes, steps, 5)
    asked = oracles[0].asked
    assert len(asked) == episodes
    random_steps = 0
    estimated_xi = []
    for episode, action in enumerate(actions):
        from_oracle = np.zeros(steps, bool)
        from_oracle[asked[episode]] = True
        random_steps += (~from_oracle).sum()
        # a random action: uniform over [-1, 1]^5
        uniform = action[~from_oracle]
        assert np.abs(uniform).max() <= 1.0 and np.abs(uniform).mean() > 0.3
        # the oracle's (zero) action plus N(0, [xi, xi, xi, 3 xi, 10 xi])
        noisy = action[from_oracle]
        std = noisy.std(axis=0)
        xi = std[:3].mean()
        estimated_xi.append(xi)
        assert 0 < xi < 0.1 * 1.2
        np.testing.assert_allclose(std[:3], xi, rtol=0.35)
        np.testing.assert_allclose(std[3], 3 * xi, rtol=0.35)
        if xi < 0.04:  # 10 xi is clipped to [-1, 1] above that
            np.testing.assert_allclose(std[4], 10 * xi, rtol=0.35)
    p = random_steps / (episodes * steps)
    assert abs(p - 0.1) < 5 * np.sqrt(0.1 * 0.9 / (episodes * steps)), p  # p_random_action = 0.1
    assert np.ptp(estimated_xi) > 0.02  # xi is drawn per episode


# ---- scene's health check ------------------------------------------------------------------------

def scene_qpos(*xyzs) -> np.ndarray:
    qpos = np.zeros((len(xyzs), 25))
    qpos[:, 14:17] = xyzs
    return qpos


def test_scene_health_check():
    assert M.scene_is_healthy(scene_qpos([0.4, 0.0, 0.02], [0.5, 0.28, 0.02], [0.4, -0.29, 0.02]))
    assert M.scene_is_healthy(scene_qpos([0.4, -0.31, 0.07], [0.4, -0.35, 0.06], [0.4, -0.35, 0.08]))  # in the drawer
    assert not M.scene_is_healthy(scene_qpos([0.4, 0.0, 0.02], [0.4, 0.29, 0.02]))  # too far right
    assert not M.scene_is_healthy(scene_qpos([0.4, -0.3, 0.02]))  # too far left, on the table
    assert not M.scene_is_healthy(scene_qpos([0.4, -0.32, 0.09]))  # too far left, above the drawer


def test_an_unhealthy_scene_episode_is_collected_again_from_the_next_seed(monkeypatch):
    verdicts = iter([False, False, True])
    checked = []
    monkeypatch.setattr(M, "scene_is_healthy", lambda qpos: checked.append(qpos) or next(verdicts))
    collector = M.Collector(short("scene-play-v0", 20))
    kept = collector.episode(seed=4, episode=7)
    assert kept.retries == 2 and len(checked) == 3
    again = collector.rollout(seed=4, episode=7, retry=2)
    np.testing.assert_array_equal(kept.arrays["observations"], again.arrays["observations"].astype(np.float32))
    np.testing.assert_array_equal(checked[2], again.arrays["qpos"])  # checked on the float64 qpos, as the script
    assert not np.array_equal(checked[0], checked[2])

    monkeypatch.setattr(M, "scene_is_healthy", lambda qpos: False)
    monkeypatch.setattr(M, "MAX_RETRIES", 2)
    with pytest.raises(DatasetError, match="health check 2 times"):
        collector.episode(seed=4, episode=8)
    collector.close()
    cube = M.Collector(short("cube-single-play-v0", 5))  # only scene is checked
    assert cube.episode(seed=0, episode=0).retries == 0
    cube.close()


def test_progress_is_reported_within_episodes_and_a_thrown_away_try_is_taken_back(monkeypatch):
    verdicts = iter([False, True])
    monkeypatch.setattr(M, "scene_is_healthy", lambda qpos: next(verdicts))
    monkeypatch.setattr(M, "PROGRESS_EVERY", 8)
    collector = M.Collector(short("scene-play-v0", 20))
    reports: list[int] = []
    collector.on_rows = reports.append
    collector.episode(seed=0, episode=0)
    collector.close()
    assert reports == [8, 8, 4, -20, 8, 8, 4] and sum(reports) == 20


# ---- atomic writes and the command line -----------------------------------------------------------

KILLED_SCRIPT = """
import dataclasses, sys
from gcrl.data import generate, generate_manip as M
protocol = M.protocol
M.protocol = lambda name: dataclasses.replace(protocol(name), max_episode_steps=10)
generate.generate("cube-single-play-v0", sys.argv[1], episodes=4, seed=2, progress=False, workers=2)
"""


def test_killed_mid_generation_leaves_nothing_and_its_workers_stop(tmp_path, monkeypatch):
    """SIGKILL of the parent at its 2nd episode (gcrl.faults): no dataset file, and the orphaned
    workers end on their own (else their inherited stdout keeps this run() waiting); a rerun then
    writes the whole dataset."""
    env = {**os.environ, "GCRL_KILL_AT": "dataset-generation:2"}
    script = textwrap.dedent(KILLED_SCRIPT)
    killed = subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=False, capture_output=True, text=True, timeout=60, env=env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not list(tmp_path.glob("*.npz")) and not list(tmp_path.glob(".*.partial"))
    patch_short(monkeypatch, 10)
    G.generate("cube-single-play-v0", tmp_path, episodes=4, seed=2, progress=False, workers=1)
    reference = M.collect("cube-single-play-v0", episodes=4, seed=2, progress=False, workers=1, max_episode_steps=10)
    for path, arrays in zip(split_paths("cube-single-play-v0", tmp_path), (reference.train, reference.val)):
        with np.load(path) as written:
            assert sorted(written.files) == sorted(arrays)
            for key in arrays:
                np.testing.assert_array_equal(written[key], arrays[key])


def test_cli_generates_and_train_generates_a_missing_dataset(tmp_path, monkeypatch, capsys):
    from gcrl.cli import main
    from gcrl.train import load_data

    patch_short(monkeypatch, 6, episodes=3)
    monkeypatch.setattr(M, "default_workers", lambda: 1)  # in this process: no spawn, quicker
    args = ["datasets", "generate", "cube-single-play-v0", "--episodes", "2", "--dataset-dir", str(tmp_path), "--quiet"]
    assert main(args) == 0
    assert "Wrote" in capsys.readouterr().out
    assert all(p.exists() for p in split_paths("cube-single-play-v0", tmp_path))
    assert load_file(split_paths("cube-single-play-v0", tmp_path)[0]).num_transitions() == 2 * 5
    train, val = load_data("puzzle-3x3-noisy-v0", tmp_path, progress=False)  # missing: generated, with the default count
    assert train.observations.shape == (3 * 6, 55) and train.num_transitions() == 3 * 5 and val.num_transitions() == 5
    assert "puzzle-3x3-noisy-v0 is not in" in capsys.readouterr().out


def failing_renderer(env):
    raise DatasetError("the renderer broke")


def test_a_failing_worker_stops_the_generation_with_its_error():
    with pytest.raises(DatasetError, match="the renderer broke"):
        M.collect("cube-single-play-v0", episodes=3, seed=0, progress=False, workers=2, max_episode_steps=5, renderer=failing_renderer)
