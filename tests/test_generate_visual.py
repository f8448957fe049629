"""Local rendering of OGBench's visual manipulation datasets: names and protocol, the streamed .npz
writer (episodes in order, nothing left on failure), OGBench's file layout and loaders, the same
episodes as the state dataset, and frames equal to OGBench's visual environment. The tests that
render skip where headless EGL is missing, and render a handful of frames."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import ogbench
import pytest

from gcrl.data import generate as G
from gcrl.data import generate_manip as M
from gcrl.data import generate_visual as V
from gcrl.data import names
from gcrl.data.load import load_file, split_paths
from gcrl.errors import DatasetError

NAME = "visual-cube-single-play-v0"
STEPS = 4  # steps per episode where these tests render (OGBench: 1001)


@pytest.fixture(scope="module")
def egl():
    """The OpenGL renderer headless MuJoCo gets here; the rendering tests skip without one."""
    try:
        return V.probe_rendering()
    except DatasetError as err:
        pytest.skip(f"no headless rendering here: {err}")


def shortened(steps: int):
    protocol = V.protocol
    return lambda name, render=V.RENDER_DEFAULT: dataclasses.replace(protocol(name, render), max_episode_steps=steps)


# ---- names and protocol (no rendering) ----------------------------------------------------------------

def test_every_manipulation_dataset_has_a_visual_twin_with_the_state_protocol():
    assert len(names.GENERATABLE_VISUAL_MANIPULATION) == 18
    for state in names.GENERATABLE_MANIPULATION:
        name = f"visual-{state}"
        assert names.parse(name).generatable and names.parse(name).pixels and name in names.PUBLISHED
        proto, state_proto = G.protocol(name), M.protocol(state)
        assert proto.env_name == f"visual-{state_proto.env_name}" and proto.family == state_proto.family
        assert proto.episodes == V.DEFAULT_EPISODES and proto.render == V.RENDER_DEFAULT
        assert dataclasses.replace(proto, env_name=state_proto.env_name, episodes=state_proto.episodes, render=None) == state_proto
    assert V.RENDER_OGBENCH.same_as_ogbench and not V.RENDER_DEFAULT.same_as_ogbench


def test_names_gcrl_cannot_render_get_one_error_that_lists_those_it_can():
    with pytest.raises(DatasetError, match=r"cannot render 'visual-antmaze-medium-navigate-v0'\. OGBench publishes it.*visual-cube-single-play-v0, "):
        G.protocol("visual-antmaze-medium-navigate-v0")
    with pytest.raises(DatasetError, match=r"cannot render 'visual-cube-octuple-play-v0'\. gcrl renders: visual-cube-single-play-v0"):
        G.protocol("visual-cube-octuple-play-v0")
    with pytest.raises(DatasetError, match="--render must be one of default, ogbench"):
        V.render_settings("fast")
    with pytest.raises(DatasetError, match="never held as arrays"):
        G.generate_arrays(NAME)


def test_missing_headless_rendering_says_what_to_install(monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "no-such-backend")
    with pytest.raises(DatasetError, match=r"MUJOCO_GL=no-such-backend.*apt-get install libegl1 libopengl0 libgl1-mesa-dri"):
        V.probe_rendering()


# ---- the streamed writer (no rendering) ---------------------------------------------------------------

def test_npz_stream_writes_what_savez_compressed_writes(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (7, 64, 64, 3), dtype=np.uint8)
    fields = {"actions": np.ones((7, 5), np.float32), "terminals": np.arange(7) == 6}
    stream = V.NpzStream(tmp_path / "streamed.npz")
    stream.begin_rows("observations", 7, (64, 64, 3), np.uint8)
    for block in (frames[:3], frames[3:]):
        stream.write_rows(block)
    stream.end_rows()
    for key, value in fields.items():
        stream.write_array(key, value)
    stream.close()
    np.savez_compressed(tmp_path / "whole.npz", observations=frames, **fields)
    with np.load(tmp_path / "streamed.npz") as ours, np.load(tmp_path / "whole.npz") as theirs:
        assert ours.files == theirs.files == ["observations", "actions", "terminals"]
        for key in ours.files:
            assert ours[key].dtype == theirs[key].dtype
            np.testing.assert_array_equal(ours[key], theirs[key])


def fake_episode(index: int, steps: int) -> M.Episode:
    """An episode whose every frame and action is its index."""
    arrays = {"observations": np.full((steps, 64, 64, 3), index, np.uint8), "actions": np.full((steps, 5), index, np.float32),
              "terminals": np.arange(steps) == steps - 1, "qpos": np.zeros((steps, 3), np.float32), "qvel": np.zeros((steps, 2), np.float32)}  # fmt: skip
    return M.Episode(arrays, 0, 0)


def test_episodes_are_written_in_order_whatever_order_they_finish(tmp_path, monkeypatch):
    finishing = [2, 0, 4, 5, 1, 3, 6, 9, 8, 7, 10]  # 10 training episodes and 1 validation one

    def source(proto, seed, total, workers, renderer=None, spawn=False, on_rows=None):
        assert spawn and total == 11
        for index in finishing:
            yield index, fake_episode(index, proto.max_episode_steps)

    monkeypatch.setattr(M, "episodes_in_finishing_order", source)
    proto = dataclasses.replace(V.protocol(NAME), max_episode_steps=3)
    V.render_dataset(proto, tmp_path / "t.npz", tmp_path / "v.npz", 10, workers=2, progress=False)
    with np.load(tmp_path / "t.npz") as train, np.load(tmp_path / "v.npz") as val:
        assert train["observations"].shape == (30, 64, 64, 3) and val["observations"].shape == (3, 64, 64, 3)
        np.testing.assert_array_equal(train["observations"][:, 0, 0, 0], np.repeat(np.arange(10), 3))
        np.testing.assert_array_equal(train["actions"][:, 0], np.repeat(np.arange(10), 3))
        assert (val["observations"] == 10).all() and (val["actions"] == 10).all()
        assert train.files == ["observations", "actions", "terminals", "qpos", "qvel"]


def test_a_failure_midway_leaves_no_dataset_and_no_temporary_file(tmp_path, monkeypatch):
    def source(proto, seed, total, workers, renderer=None, spawn=False, on_rows=None):
        yield 0, fake_episode(0, proto.max_episode_steps)
        raise KeyboardInterrupt  # Ctrl-C

    monkeypatch.setattr(M, "episodes_in_finishing_order", source)
    monkeypatch.setattr(V, "probe_rendering", lambda: "fake GL")
    monkeypatch.setattr(V, "protocol", shortened(3))
    with pytest.raises(KeyboardInterrupt):
        G.generate(NAME, tmp_path, episodes=3, progress=False)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


# ---- rendered in OGBench's visual environment ----------------------------------------------------------

@pytest.fixture(scope="module")
def rendered(egl, tmp_path_factory):
    """visual-cube-single-play-v0 with 2 + 1 episodes of 4 steps, gcrl's default settings, 2 workers."""
    directory = tmp_path_factory.mktemp("visual")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(V, "protocol", shortened(STEPS))
        G.generate(NAME, directory, episodes=2, seed=3, progress=False, workers=2)
    return directory


def test_file_layout_is_ogbenchs_and_loads_through_gcrl_and_ogbench(rendered):
    train_path, val_path = split_paths(NAME, rendered)
    with np.load(train_path) as train, np.load(val_path) as val:
        assert train.files == ["observations", "actions", "terminals", "qpos", "qvel"]  # savez_compressed's order in the script
        assert {k: train[k].dtype for k in train.files} == {
            "observations": np.uint8, "actions": np.float32, "terminals": np.bool_, "qpos": np.float32, "qvel": np.float32}  # fmt: skip
        assert train["observations"].shape == (2 * STEPS, 64, 64, 3) and val["observations"].shape == (STEPS, 64, 64, 3)
        assert train["qpos"].shape == (2 * STEPS, 21) and np.nonzero(train["terminals"])[0].tolist() == [STEPS - 1, 2 * STEPS - 1]
        assert train["observations"].std() > 10  # a picture, not a blank
    ours = load_file(train_path)
    theirs = ogbench.load_dataset(str(train_path), ob_dtype=np.uint8, compact_dataset=True, add_info=True)
    assert ours.observations.dtype == np.uint8
    for key in ("observations", "actions", "terminals", "valids"):
        np.testing.assert_array_equal(getattr(ours, key), theirs[key])


def test_same_episodes_as_the_state_dataset_with_the_same_seed(rendered):
    state = M.collect("cube-single-play-v0", episodes=2, seed=3, progress=False, workers=1, max_episode_steps=STEPS)
    for split, path in zip((state.train, state.val), split_paths(NAME, rendered)):
        with np.load(path) as visual:
            for key in ("actions", "terminals", "qpos", "qvel"):
                np.testing.assert_array_equal(visual[key], split[key])


REPLAY = """
import dataclasses, os, sys
os.environ["MUJOCO_GL"] = "egl"
import numpy as np
from gcrl.data import generate_manip as M, generate_visual as V

name, seed, steps, out, labels = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5].split(",")
frames = {}
for label, settings in (("ogbench", None), ("gcrl", V.RENDER_DEFAULT)):
    if label not in labels:
        continue
    proto = dataclasses.replace(V.protocol(name), max_episode_steps=steps, render=settings)
    collector = M.Collector(proto)
    frames[label] = collector.rollout(seed, episode=0).arrays["observations"]
    collector.close()
np.savez(out, **frames)
"""


def replay(seed: int, steps: int, tmp_path, labels: str = "ogbench,gcrl") -> dict:
    """Episode 0 again, in a process of its own (for EGL) and a fresh OGBench visual environment: its
    frames as the environment renders them untouched ('ogbench'), and with gcrl's default applied."""
    out = tmp_path / "replay.npz"
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(REPLAY), NAME, str(seed), str(steps), str(out), labels],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    with np.load(out) as frames:
        return {k: frames[k] for k in frames.files}


def test_frames_are_ogbenchs_visual_environment_within_the_stated_tolerance(rendered, tmp_path):
    train_path, _ = split_paths(NAME, rendered)
    with np.load(train_path) as train:
        ours = train["observations"][:STEPS]
    reference = replay(3, STEPS, tmp_path)
    np.testing.assert_array_equal(ours, reference["gcrl"])  # the settings, applied to any OGBench environment
    differ = (ours != reference["ogbench"]).any(axis=-1).mean(axis=(1, 2))
    assert differ.max() <= 0.002  # the stated tolerance: at most 0.2% of a frame's pixels (shadow edges)
    meta = json.loads(V.metadata_path(NAME, rendered).read_text())
    assert meta["render"] == {"shadowsize": 2048, "offsamples": 4, "same_as_ogbench": False}
    assert meta["env_name"] == "visual-cube-single-v0" and meta["seed"] == 3 and meta["train_episodes"] == 2 and meta["opengl"]


def test_cli_renders_with_ogbenchs_settings_pixel_equal(egl, tmp_path, monkeypatch, capsys):
    from gcrl.cli import main

    monkeypatch.setattr(V, "protocol", shortened(3))
    args = ["datasets", "generate", NAME, "--episodes", "1", "--seed", "5", "--workers", "1", "--render", "ogbench", "--dataset-dir", str(tmp_path), "--quiet"]
    assert main(args) == 0
    assert "Rendering 6 frames headless" in capsys.readouterr().out
    train_path, val_path = split_paths(NAME, tmp_path)
    assert val_path.exists() and json.loads(V.metadata_path(NAME, tmp_path).read_text())["render"]["same_as_ogbench"]
    with np.load(train_path) as train:
        np.testing.assert_array_equal(train["observations"], replay(5, 3, tmp_path, "ogbench")["ogbench"])


def test_visual_evaluation_environments_render_headless_without_mujoco_gl_set(egl):
    """gcrl's evaluation makes OGBench's visual environments itself (gcrl/envs/group.py): in a fresh
    process with no MUJOCO_GL, MuJoCo would pick GLFW, which needs a display, and fail at the first
    frame; make_envs chooses the headless backend first."""
    script = "from gcrl.envs.group import make_envs\nobs, _ = make_envs('visual-cube-single-v0', 1)[0].reset(seed=0)\nprint(obs.shape, obs.dtype)"
    env = {k: v for k, v in os.environ.items() if k != "MUJOCO_GL"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "(64, 64, 3) uint8" in out.stdout
