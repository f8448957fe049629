"""Render OGBench's visual manipulation datasets (visual-cube-*, visual-scene-*, visual-puzzle-*;
play and noisy) locally, headless, on the CPU.

What they are. OGBench makes them with the script and loop of the state datasets, run in the visual
environment (commands.sh: `generate_manipspace.py --env_name=visual-cube-single-v0 ...`): the
observation is the environment's own 64 x 64 x 3 uint8 frame of its `front_pixels` camera, and every
other field is the state dataset's (actions, terminals, qpos, qvel, button_states for scene and
puzzle; the same dtypes; N // 10 validation episodes). The visual environment differs from the state
one only in colours (a purple gripper, a see-through arm) and in the observation, so its physics is
the same: gcrl runs gcrl.data.generate_manip's seeded loop in it, and `--seed S` gives exactly the
actions, qpos and qvel of the state dataset with the same seed and episode count.

How they are written. Episodes come from spawned worker processes (rendering is the cost) and are
written in episode order straight into the .npz's zip stream: each episode's frames are compressed
into `observations.npy` as soon as the episodes before it are written, so the frames are in memory
once, only while waiting for their turn (about one episode per worker, 12 MB each), never as a
whole array. The small fields (about 200 bytes a step) are kept and written after the frames. Both
files are written to temporary names and renamed at the end: a failure or Ctrl-C leaves nothing.

How fast. A frame costs about 170 ms on one idle core (207 ms on this busy 2-core machine) with
MuJoCo's EGL on Mesa's llvmpipe at OGBench's settings, and nearly all of it is GPU work done on the
CPU (measured with a renderer of the same model, median of 12 frames): shadows about 95 ms (the
robot's 185K mesh triangles drawn into the shadow map, and the 4096 x 4096 map's clear and depth fill:
about 70 ms of it shrinks with the map's texels, 12 ms is the clear alone), 4x multisampling about
45 ms, the lit image itself about 30 ms. The physics is 2 ms, setting up the scene 0.1 ms, and the
GL context is made once per model compilation, not per frame; the floor has no reflectance and only
one of the two lights casts shadows, so there is no reflection or second shadow pass to
save. benchmarks/visual_render_speed.py measures each setting and the pixels it changes. Only the
shadow map's size speeds rendering up while changing a few pixels: gcrl renders with a 2048 map by
default (RENDER_DEFAULT; about 1.3x faster, on one core and with 2 workers), within the tolerance
stated there; `--render ogbench` renders with
OGBench's settings, pixel for pixel. The settings used are recorded in NAME.render.json beside the
dataset, and RenderSettings.apply puts them on any OGBench environment (an evaluation one too).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import zipfile
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gcrl import faults
from gcrl.console import Reporter
from gcrl.data import generate_manip, names
from gcrl.data.files import atomic_path, write_text
from gcrl.errors import DatasetError

VISUAL_MANIPULATION = names.GENERATABLE_VISUAL_MANIPULATION
FRAME_SHAPE = (64, 64, 3)  # OGBench's visual_dict: width=64, height=64, rgb

# Default training episodes of a local visual dataset (1001 steps each, plus one for validation):
# what 2 cores render in well under an hour at the default settings. A frame costs 150 ms of CPU
# (measured over a whole 2,002-frame generation), so 2 idle cores make about 13 frames/s: 16,016
# frames in about 20 minutes. On this 2-core machine, shared with other jobs, 2 workers made 6.2 to
# 8.3 frames/s: 32 to 43 minutes. OGBench's own counts are generate_manip.EPISODES (1000 to 5000
# episodes): `--episodes 1000` renders the published size, 1.1M frames, about a day on 2 cores.
DEFAULT_EPISODES = 15
# Debian/Ubuntu packages headless MuJoCo loads (read from a rendering process's memory map): the EGL
# loader (which brings Mesa's EGL), the OpenGL loader PyOpenGL opens, and Mesa's llvmpipe.
EGL_PACKAGES = "libegl1 libopengl0 libgl1-mesa-dri"


@dataclass(frozen=True)
class RenderSettings:
    """MuJoCo's offscreen settings that decide a frame's cost (model.vis.quality), and the llvmpipe
    threads per worker. OGBench's: a 4096 x 4096 shadow map, 4 samples per pixel."""

    shadowsize: int = 4096  # side of the shadow map, in texels
    offsamples: int = 4  # multisampling of the offscreen buffer
    raster_threads: int = 1  # LP_NUM_THREADS: one per worker, the workers already fill the cores

    def prepare_process(self) -> None:
        """Choose headless EGL (unless the user chose a GL backend) and llvmpipe's threads; this
        must run before mujoco is imported in the process, which reads MUJOCO_GL then."""
        os.environ.setdefault("MUJOCO_GL", headless_backend())
        os.environ.setdefault("LP_NUM_THREADS", str(self.raster_threads))

    def apply(self, env) -> None:
        """Render OGBench's environment `env` (unwrapped) with these settings from its next frame on.
        OGBench builds its renderer from the compiled model at the first render and again after
        each recompilation, so the settings go onto the model just before each build (the names are
        OGBench 1.2.2's CustomMuJoCoEnv's; tests/test_generate_visual.py renders through them)."""
        build = type(env)._initialize_renderer

        def build_with_settings():
            env._model.vis.quality.shadowsize = self.shadowsize
            env._model.vis.quality.offsamples = self.offsamples
            build(env)

        env._initialize_renderer = build_with_settings
        if env._renderer is not None:  # built already: build it again, with the settings
            env._renderer.close()
            env._renderer = None

    def describe(self) -> dict:
        return {"shadowsize": self.shadowsize, "offsamples": self.offsamples, "same_as_ogbench": self.same_as_ogbench}

    @property
    def same_as_ogbench(self) -> bool:
        return (self.shadowsize, self.offsamples) == (RENDER_OGBENCH.shadowsize, RENDER_OGBENCH.offsamples)


RENDER_OGBENCH = RenderSettings(4096, 4)
# gcrl's default: half the shadow map's side, a quarter of its texels. The tolerance, measured on
# 3 x 100 frames of oracle episodes (cube-single, scene, puzzle-3x3; benchmarks/visual_render_speed.py):
# 0.05% of the pixels differ from OGBench's settings on average (2 of a frame's 4096), at most 0.15%
# in a frame (6 pixels), all on the edges of shadows, where a pixel falls on the other side of the
# edge (up to 72 of 255 in a channel). A 1024 map changes 6x more pixels; no multisampling 22%.
RENDER_DEFAULT = RenderSettings(2048, 4)
RENDER_CHOICES = {"default": RENDER_DEFAULT, "ogbench": RENDER_OGBENCH}


def is_visual(name: str) -> bool:
    """Whether `name` is a visual manipulation dataset this module renders."""
    return name in VISUAL_MANIPULATION


def render_settings(choice: str) -> RenderSettings:
    """The settings named on the command line: 'default' (fast, within the stated tolerance) or 'ogbench'."""
    if choice not in RENDER_CHOICES:
        raise DatasetError(f"--render must be one of {', '.join(RENDER_CHOICES)}, got '{choice}'.")
    return RENDER_CHOICES[choice]


def protocol(name: str, render: RenderSettings = RENDER_DEFAULT) -> generate_manip.ManipProtocol:
    """The state dataset's protocol, run in OGBench's visual environment with `render` settings and
    gcrl's default episode count for pixels (DEFAULT_EPISODES)."""
    if not is_visual(name):
        raise DatasetError(f"'{name}' is not a visual dataset gcrl can render. It can render: {', '.join(VISUAL_MANIPULATION)}.")
    state = generate_manip.protocol(name.removeprefix("visual-"))
    return dataclasses.replace(state, env_name=f"visual-{state.env_name}", episodes=DEFAULT_EPISODES, render=render)


def metadata_path(name: str, directory: Path) -> Path:
    """Where a rendered dataset's metadata (render settings, versions, seed) is written."""
    return Path(directory) / f"{name}.render.json"


# ---- headless rendering -----------------------------------------------------------------------------

def headless_backend() -> str:
    """MuJoCo's GL backend for rendering without a screen: the user's MUJOCO_GL, else EGL on Linux
    (MuJoCo's default there, GLFW, needs a display); elsewhere MuJoCo's own default."""
    return os.environ.get("MUJOCO_GL", "egl" if sys.platform.startswith("linux") else "")


_PROBE = """
import mujoco
from OpenGL import GL
context = mujoco.GLContext(8, 8)
context.make_current()
print(GL.glGetString(GL.GL_RENDERER).decode(), "|", GL.glGetString(GL.GL_VERSION).decode())
context.free()
"""


def probe_rendering(timeout: float = 60.0) -> str:
    """The OpenGL renderer that headless MuJoCo gets here (e.g. 'llvmpipe (LLVM 15.0.6, 256 bits) |
    4.5 (Compatibility Profile) Mesa 22.3.6'), tried in a fresh process; a DatasetError that says
    what to install when there is none."""
    env = {**os.environ, "MUJOCO_GL": headless_backend()}
    try:
        probe = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        probe = None
    if probe is None or probe.returncode != 0:
        why = "it timed out" if probe is None else (probe.stderr.strip().splitlines() or ["no output"])[-1]
        raise DatasetError(
            f"Headless rendering (MUJOCO_GL={env['MUJOCO_GL']}) does not work on this machine: {why}. The visual datasets need "
            f"OpenGL through EGL; on Debian or Ubuntu install it with:  apt-get install {EGL_PACKAGES}"
        )
    return probe.stdout.strip()


# ---- writing an .npz as a stream ---------------------------------------------------------------------

class NpzStream:
    """An .npz (a zip of .npy files, deflated as np.savez_compressed does) written entry by entry:
    one array can be streamed in blocks of rows of a size known up front, the others written whole."""

    def __init__(self, path: Path):
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
        self._entry = None
        self._row_shape: tuple = ()
        self._dtype = None
        self._rows_left = 0

    def begin_rows(self, key: str, rows: int, row_shape: tuple, dtype) -> None:
        """Open entry `key` for `rows` rows of `row_shape` and `dtype`, to be given by `write_rows`."""
        assert self._entry is None, "one streamed entry at a time"
        self._entry = self.zip.open(f"{key}.npy", "w", force_zip64=True)
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": (rows, *row_shape)}
        np.lib.format.write_array_header_1_0(self._entry, header)
        self._row_shape, self._dtype, self._rows_left = tuple(row_shape), np.dtype(dtype), rows

    def write_rows(self, block: np.ndarray) -> None:
        assert block.shape[1:] == self._row_shape and block.dtype == self._dtype, (block.shape, block.dtype)
        assert len(block) <= self._rows_left, "more rows than the header says"
        self._entry.write(np.ascontiguousarray(block).data)
        self._rows_left -= len(block)

    def end_rows(self) -> None:
        assert self._rows_left == 0, f"{self._rows_left} rows missing"
        self._entry.close()
        self._entry = None

    def write_array(self, key: str, array: np.ndarray) -> None:
        with self.zip.open(f"{key}.npy", "w", force_zip64=True) as entry:
            np.lib.format.write_array(entry, np.asarray(array), allow_pickle=False)

    def close(self) -> None:
        """Close the file (again: nothing); after a failure, with whatever it holds."""
        if self._entry is not None:
            self._entry.close()
            self._entry = None
        self.zip.close()


class SplitWriter:
    """One split (train or val) of a visual dataset: its episodes' frames streamed into the file's
    `observations`, the other fields kept (small) and written when its last episode is in."""

    def __init__(self, path: Path, episodes: int, steps: int):
        self.stream = NpzStream(path)
        self.episodes, self.steps, self.written = episodes, steps, 0
        self.fields: dict[str, np.ndarray] = {}
        self.stream.begin_rows("observations", episodes * steps, FRAME_SHAPE, np.uint8)

    @property
    def full(self) -> bool:
        return self.written == self.episodes

    def add(self, episode: generate_manip.Episode) -> None:
        """Write the split's next episode: its frames to the file now, its other fields to memory."""
        arrays = dict(episode.arrays)
        frames = arrays.pop("observations")
        if frames.shape[1:] != FRAME_SHAPE or frames.dtype != np.uint8:
            raise DatasetError(f"expected {FRAME_SHAPE} uint8 frames from the visual environment, got {frames.shape[1:]} {frames.dtype}.")
        self.stream.write_rows(frames)
        generate_manip.place_episode(self.fields, self.written, arrays, self.episodes, self.steps)
        self.written += 1
        if self.full:
            self.finish()

    def finish(self) -> None:
        """The frames are all in: close their entry and write the other fields, in OGBench's order."""
        self.stream.end_rows()
        for key in ("actions", "terminals", "qpos", "qvel", "button_states"):
            if key in self.fields:
                self.stream.write_array(key, self.fields.pop(key))
        self.stream.close()


# ---- the whole dataset ------------------------------------------------------------------------------

def render_dataset(proto: generate_manip.ManipProtocol, train_path: Path, val_path: Path, train_episodes: int, seed: int = 0,
                   workers: int | None = None, progress: bool = True, description: str = "render") -> None:  # fmt: skip
    """Roll out and render `train_episodes` + a tenth (at least one) validation episodes into the
    two .npz files, in episode order whatever order the workers finish them in."""
    total = names.episodes_with_validation(train_episodes)
    steps = proto.max_episode_steps
    workers = min(generate_manip.default_workers() if workers is None else max(1, workers), total)
    train, val = SplitWriter(train_path, train_episodes, steps), None
    waiting: dict[int, generate_manip.Episode] = {}  # finished ahead of an earlier episode still rendering
    next_index = 0
    bar = Reporter(description, total * steps, "frames", enabled=progress)
    try:
        results = generate_manip.episodes_in_finishing_order(proto, seed, total, workers, spawn=True, on_rows=bar.advance)
        with closing(results):
            for index, episode in results:
                waiting[index] = episode
                while next_index in waiting:  # write every episode whose turn has come
                    if next_index < train_episodes:
                        train.add(waiting.pop(next_index))
                    else:
                        val = val or SplitWriter(val_path, total - train_episodes, steps)  # the training file is complete
                        val.add(waiting.pop(next_index))
                    next_index += 1
                faults.point("dataset-generation")  # tests kill here: temporary files only, removed by the next run
    finally:
        bar.close()
        for split in (train, val):  # closed already, unless something failed: then atomic_path removes the file
            if split is not None:
                split.stream.close()

def generate(name: str, directory: Path, episodes: int | None = None, seed: int = 0, progress: bool = True,
             workers: int | None = None, render: RenderSettings = RENDER_DEFAULT) -> tuple[Path, Path]:  # fmt: skip
    """Render both splits of the visual dataset `name` into `directory`, atomically, with its
    metadata (NAME.render.json); returns the two paths."""
    from gcrl.data.load import split_paths
    from gcrl.runlock import DirectoryLock

    proto = protocol(name, render)
    gl = probe_rendering()
    train_episodes = proto.episodes if episodes is None else episodes
    directory = Path(directory).expanduser()
    train_path, val_path = split_paths(name, directory)
    with DirectoryLock(directory, what="--dataset-dir", lock_name=f".{name}.lock"):
        for path in (train_path, val_path):
            for stale in directory.glob(f".{path.name}.*.partial"):  # what a killed run left
                stale.unlink(missing_ok=True)
        with atomic_path(train_path) as train_tmp, atomic_path(val_path) as val_tmp:
            render_dataset(proto, train_tmp, val_tmp, train_episodes, seed, workers, progress, description=f"render {name}")
        write_text(metadata_path(name, directory), json.dumps(metadata(proto, train_episodes, seed, gl), indent=2) + "\n")
    return train_path, val_path


def metadata(proto: generate_manip.ManipProtocol, train_episodes: int, seed: int, gl: str) -> dict:
    """What made the frames: the environment, its render settings and the software that drew them."""
    from importlib.metadata import version

    return {
        "generator": "gcrl datasets generate",
        "env_name": proto.env_name,
        "kind": proto.kind,
        "seed": seed,
        "train_episodes": train_episodes,
        "val_episodes": max(1, train_episodes // 10),
        "max_episode_steps": proto.max_episode_steps,
        "render": proto.render.describe(),
        "opengl": gl,
        "mujoco_gl": headless_backend(),
        "versions": {pkg: version(pkg) for pkg in ("ogbench", "mujoco")},
    }
