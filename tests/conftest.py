import atexit
import os
import shutil
import tempfile

# The suite compiles the same programs again and again (every `gcrl train` a test runs, in-process or
# in a subprocess, builds its own jitted update, and many are alike): JAX's persistent compilation
# cache, in a directory of this session's that goes with it, compiles each once. Set before JAX is
# imported, and in the environment, so subprocesses share it. (test_train.py and test_faults.py on
# one core: 219 s without, 126 s with.)
_XLA_CACHE = tempfile.mkdtemp(prefix="gcrl-tests-xla-cache-")
atexit.register(shutil.rmtree, _XLA_CACHE, ignore_errors=True)
os.environ["JAX_COMPILATION_CACHE_DIR"] = _XLA_CACHE
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0.5"

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from gcrl.data.validate import validate  # noqa: E402

jax.config.update("jax_compilation_cache_dir", _XLA_CACHE)  # in case a plugin imported JAX first
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def raw_arrays(lengths, obs_dim=1, pixels=False):
    """A raw-layout (OGBench file) dataset whose observation value is its row index, so tests can
    read indices back from sampled observations. A trajectory of L transitions has L + 1 rows."""
    rows = sum(l + 1 for l in lengths)
    terminals = np.zeros(rows, bool)
    terminals[np.cumsum([l + 1 for l in lengths]) - 1] = True
    if pixels:
        obs = (np.arange(rows)[:, None, None, None] % 251 * np.ones((1, 8, 8, 3))).astype(np.uint8)
    else:
        obs = np.repeat(np.arange(rows, dtype=np.float32)[:, None], obs_dim, axis=1)
    actions = np.random.default_rng(0).uniform(-1, 1, (rows, 2)).astype(np.float32)
    return dict(observations=obs, actions=actions, terminals=terminals)


@pytest.fixture(scope="session")
def toy_lengths():
    return [5, 1, 30, 2, 60, 12]


@pytest.fixture(scope="session")
def toy_dataset(toy_lengths):
    return validate(raw_arrays(toy_lengths), source="toy")


@pytest.fixture(scope="session")
def tiny_maze(tmp_path_factory):
    """Two-episode pointmaze-medium-stitch dataset, generated once per session (about a second)."""
    from gcrl.data.generate import generate

    directory = tmp_path_factory.mktemp("datasets")
    generate("pointmaze-medium-stitch-v0", directory, episodes=2, seed=0, progress=False)
    return directory


@pytest.fixture(scope="session")
def toy_npz(tmp_path_factory):
    """A small dataset file with its validation split beside it (toy.npz, toy-val.npz), 2-d states."""
    path = tmp_path_factory.mktemp("toy_npz") / "toy.npz"
    np.savez(path, **raw_arrays([30, 50, 20], obs_dim=2))
    np.savez(path.with_name("toy-val.npz"), **raw_arrays([25, 15], obs_dim=2))
    return path


@pytest.fixture(scope="session")
def short_maze_envs():
    """Two pointmaze-medium environments with 30-step episodes, for barely trained hierarchies."""
    from gcrl.evaluate import make_envs

    envs = make_envs("pointmaze-medium-v0", 2, max_episode_steps=30)
    yield envs
    for env in envs:
        env.close()
