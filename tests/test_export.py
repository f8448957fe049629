"""`gcrl export`: the exported file gives load_policy's actions, for every agent, from states and
from pixels, in a process that never imports gcrl; one file serves a batch of 1 and of 64; the
levels, sampled exports and the sidecar; bad input is one clear error.

The runs are built as gcrl train leaves them (config.json, spec.json, a verified checkpoint) from
freshly initialised parameters: what is exported is the checkpoint, whatever trained it, and the
compiled update a 1-step training would cost is not needed here (test_bad_input's run is trained)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

from gcrl import agents, checkpoint, config
from gcrl.agents.base import DataSpec
from gcrl.cli import main
from gcrl.data.files import write_text
from gcrl.export import ExportOptions, export_run, level_paths, sidecar_path
from gcrl.learner import init_state
from gcrl.policy import load_policy, load_run, save_spec

STATES = DataSpec((3,), False, 2, False)
PIXELS = DataSpec((8, 8, 3), True, 2, False)
DISCRETE = DataSpec((3,), False, 4, True)
PIXEL_AGENTS = sorted(set(agents.AGENTS) - {"hbc"})  # hbc's high level predicts observations: states only
HIGH_LEVEL_AGENTS = ("hiql", "hbc", "ris", "gcwae")


def make_run(path: Path, agent: str, spec: DataSpec, step: int = 7) -> Path:
    """A run directory as gcrl train leaves it, its checkpoint a fresh initialisation."""
    dataset = str(path.parent / ("visual-toy.npz" if spec.pixels else "toy.npz"))
    sets = {"hidden": "8,8"} | ({"use_subgoal_rep": "true"} if agent == "gcwae" and spec.pixels else {})  # gcwae's observation subgoals need states
    train_cfg, agent_cfg = config.resolve(agent, dataset, "cpu", {}, sets, pixels=spec.pixels)
    path.mkdir(parents=True)
    write_text(path / "config.json", config.to_json(train_cfg, agent_cfg))
    save_spec(path, spec)
    made = agents.get(agent).make(agent_cfg, spec)
    state = init_state(made, jax.random.PRNGKey(len(agent) + 10 * spec.pixels))
    checkpoint.save(path, state._replace(step=np.asarray(step, state.step.dtype)), step)
    return path


def inputs(spec: DataSpec, batch: int, seed: int):
    rng = np.random.default_rng(seed)
    if spec.pixels:
        return tuple(rng.integers(0, 256, (batch, *spec.observation_shape), dtype=np.uint8) for _ in range(2))
    return tuple(rng.normal(size=(batch, *spec.observation_shape)).astype(np.float32) * 3 for _ in range(2))


# The check that runs in a fresh interpreter: each case names a file, its arguments and the expected
# output in one .npz; it must not import gcrl (asserted at the end).
CHECKER = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    cases = json.load(open(sys.argv[1]))
    arrays = np.load(sys.argv[2])
    failures = []
    for case in cases:
        fn = jax.export.deserialize(open(case["file"], "rb").read())
        got = np.asarray(fn.call(*[arrays[a] for a in case["args"]]))
        want = arrays[case["expected"]]
        if got.shape != want.shape or got.dtype != want.dtype or not np.allclose(got, want, atol=1e-5):
            failures.append(f"{case['name']}: got {got.dtype}{got.shape} {got.ravel()[:4]}, want {want.dtype}{want.shape} {want.ravel()[:4]}")
    assert "gcrl" not in sys.modules, "the checker imported gcrl"
    print("\\n".join(failures) if failures else f"{len(cases)} cases agree")
    sys.exit(1 if failures else 0)
""")


class Checks:
    """Cases for the checker: the arrays it feeds and what each exported call must return."""

    def __init__(self):
        self.cases, self.arrays = [], {}

    def add(self, name: str, file: Path, args: tuple, expected):
        keys = []
        for i, value in enumerate(args):
            keys.append(f"{name}/arg{i}")
            self.arrays[keys[-1]] = np.asarray(value)
        self.arrays[f"{name}/expected"] = np.asarray(expected)
        self.cases.append({"name": name, "file": str(file), "args": keys, "expected": f"{name}/expected"})

    def run(self, folder: Path):
        cases, arrays = folder / "cases.json", folder / "arrays.npz"
        cases.write_text(json.dumps(self.cases))
        np.savez(arrays, **self.arrays)
        done = subprocess.run([sys.executable, "-c", CHECKER, str(cases), str(arrays)], capture_output=True, text=True, cwd=folder, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("export_runs")
    made = {(name, "states"): make_run(base / f"{name}-states", name, STATES) for name in agents.AGENTS}
    made |= {(name, "pixels"): make_run(base / f"{name}-pixels", name, PIXELS) for name in PIXEL_AGENTS}
    made[("gcbc", "discrete")] = make_run(base / "gcbc-discrete", "gcbc", DISCRETE)
    return made


def test_every_agents_exported_policy_acts_as_load_policy_in_a_process_without_gcrl(runs, tmp_path):
    checks = Checks()
    for (name, kind), run in runs.items():
        spec = {"states": STATES, "pixels": PIXELS, "discrete": DISCRETE}[kind]
        out = tmp_path / f"{name}-{kind}.jax"
        export_run(run, out)
        policy = load_policy(run)
        for batch in (1, 64):  # one file, any batch size
            obs, goal = inputs(spec, batch, seed=batch)
            checks.add(f"{name}-{kind}-b{batch}", out, (obs, goal), policy(obs, goal))
    print(checks.run(tmp_path))


def test_the_levels_compose_into_the_flat_policy_and_each_acts_as_gcrls(runs, tmp_path):
    checks = Checks()
    for name in HIGH_LEVEL_AGENTS:
        out = tmp_path / f"{name}.jax"
        sidecar = export_run(runs[(name, "states")], out, ExportOptions(levels=True))
        _, spec, agent, state = load_run(runs[(name, "states")])
        obs, goal = inputs(spec, 16, seed=3)
        key, parts = jax.random.PRNGKey(0), agent.parts
        subgoal = jax.jit(parts["subgoal"])(state.params, obs, goal, key, 0.0)
        low = parts["reach_rep"] if parts.get("subgoal_space") == "representation" else parts.get("reach", agent.act)
        action = jax.jit(low)(state.params, obs, subgoal, key, 0.0)
        paths = level_paths(out)
        assert paths["high"].name == f"{name}.high.jax" and sidecar["functions"]["high"]["file"] == paths["high"].name
        assert sidecar["functions"]["low"]["inputs"]["subgoal"]["shape"] == ["batch", subgoal.shape[-1]]
        assert "replan" in sidecar["levels"]["replanning"]
        checks.add(f"{name}-high", paths["high"], (obs, goal), subgoal)
        checks.add(f"{name}-low", paths["low"], (obs, subgoal), action)
        if name in ("hiql", "hbc"):  # they act through their levels, a new subgoal every step
            checks.add(f"{name}-flat-is-low-of-high", out, (obs, goal), action)
    # HIQL from pixels: z subgoals work from images too
    out = tmp_path / "hiql-pixels.jax"
    export_run(runs[("hiql", "pixels")], out, ExportOptions(levels=True))
    _, spec, agent, state = load_run(runs[("hiql", "pixels")])
    obs, goal = inputs(spec, 4, seed=4)
    z = jax.jit(agent.parts["subgoal"])(state.params, obs, goal, jax.random.PRNGKey(0), 0.0)
    checks.add("hiql-pixels-high", level_paths(out)["high"], (obs, goal), z)
    print(checks.run(tmp_path))


def test_sampled_unbatched_and_gpu_exports(runs, tmp_path):
    checks = Checks()
    key = np.asarray(jax.random.PRNGKey(5))
    for name in ("saw", "hiql"):
        run = runs[(name, "states")]
        _, spec, agent, state = load_run(run)
        obs, goal = inputs(spec, 32, seed=5)
        out = tmp_path / f"{name}-sampled.jax"
        sidecar = export_run(run, out, ExportOptions(sample=True, temperature=0.5))
        assert sidecar["sampled"] and sidecar["temperature"] == 0.5 and list(sidecar["functions"]["policy"]["inputs"]) == ["observation", "goal", "key"]
        want = jax.jit(agent.act)(state.params, obs, goal, key, 0.5)
        mode = jax.jit(agent.act)(state.params, obs, goal, key, 0.0)
        assert not np.allclose(want, mode), "a sample at temperature 0.5 should differ from the mode"
        checks.add(f"{name}-sampled", out, (obs, goal, key), want)
    run = runs[("crl", "pixels")]
    out = tmp_path / "crl-one.jax"
    sidecar = export_run(run, out, ExportOptions(batch=False, platforms=("cpu", "cuda")))
    assert sidecar["observation"] == {"shape": [8, 8, 3], "dtype": "uint8"} and sidecar["platforms"] == ["cpu", "cuda"]
    assert jax.export.deserialize(out.read_bytes()).platforms == ("cpu", "cuda")
    obs, goal = inputs(PIXELS, 1, seed=6)
    checks.add("crl-pixels-unbatched", out, (obs[0], goal[0]), load_policy(run)(obs[0], goal[0]))
    print(checks.run(tmp_path))


def test_the_sidecar_describes_the_run_shapes_and_bounds(runs, tmp_path):
    out = tmp_path / "deploy" / "gcbc.jax"  # a missing folder is made
    sidecar = export_run(runs[("gcbc", "discrete")], out)
    assert json.loads(sidecar_path(out).read_text()) == sidecar
    assert sidecar["agent"] == "gcbc" and sidecar["dataset"].endswith("toy.npz") and sidecar["step"] == 7
    assert sidecar["run_dir"] == str(runs[("gcbc", "discrete")].resolve())
    assert sidecar["observation"] == {"shape": ["batch", 3], "dtype": "float32"}
    assert sidecar["action"] == {"shape": ["batch"], "dtype": "int32", "discrete": True, "num_actions": 4}
    assert sidecar["gcrl_version"] and sidecar["jax_version"] == jax.__version__
    states = export_run(runs[("saw", "states")], tmp_path / "saw.jax")
    assert states["action"] == {"shape": ["batch", 2], "dtype": "float32", "discrete": False, "low": -1.0, "high": 1.0}


def test_the_command_line_exports_and_refuses_bad_input_without_writing(runs, tmp_path, capsys):
    out = tmp_path / "cli" / "policy.jax"
    assert main(["export", str(runs[("hiql", "states")]), "--out", str(out), "--levels", "--sample", "--platforms", "cpu,cuda"]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["policy.high.jax", "policy.jax", "policy.jax.json", "policy.low.jax"]
    no_checkpoint = tmp_path / "no-ckpt"
    make_run(no_checkpoint, "gcbc", STATES)
    for path in (no_checkpoint / "checkpoints").iterdir():
        path.unlink()
    cases = [
        ([str(no_checkpoint), "--out", str(tmp_path / "a.jax")], "No checkpoint in"),
        ([str(runs[("gcbc", "states")]), "--out", str(runs[("gcbc", "states")] / "config.json" / "a.jax")], "is a file, not a directory"),
        ([str(runs[("gcbc", "states")]), "--out", str(tmp_path)], "is a directory; name a file"),
        ([str(runs[("saw", "states")]), "--out", str(tmp_path / "b.jax"), "--levels"], "this saw run has no high level"),
        ([str(runs[("gcwae", "pixels")]), "--out", str(tmp_path / "d.jax"), "--levels"], "this gcwae run has no high level"),
        ([str(runs[("gcbc", "states")]), "--out", str(tmp_path / "c.jax"), "--platforms", "gpu"], "--platforms: expected"),
    ]
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    for args, message in cases:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            raise SystemExit(main(["export", *args]))
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and err.startswith("error:") and "Traceback" not in err, err
        assert message in " ".join(err.split()), err
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before, "a refused export wrote files"
