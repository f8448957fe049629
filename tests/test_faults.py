"""A run never loses a good model: checkpoints with checksums and fallback, divergence caught and
resumed with other settings, SIGKILL at each dangerous moment followed by a resume, one writer per
run directory, and sweeps that record dead and diverged runs and go on."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gcrl
from gcrl import checkpoint, learner
from gcrl.agents import gcbc
from gcrl.agents.base import DataSpec
from gcrl.cli import main
from gcrl.errors import GcrlError
from gcrl.learner import init_state
from gcrl.runlock import DirectoryInUse, DirectoryLock

TINY = ["--set", "hidden=8,8", "--batch-size", "8", "--quiet"]


@pytest.fixture(scope="module")
def npz(toy_npz):
    return toy_npz


def gcrl_process(*args, kill_at: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m gcrl ARGS` in a fresh process, SIGKILLed at a named point (gcrl.faults) if given."""
    env = {k: v for k, v in os.environ.items() if k != "GCRL_KILL_AT"}
    if kill_at:
        env["GCRL_KILL_AT"] = kill_at
    return subprocess.run([sys.executable, "-m", "gcrl", *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def metric_steps(run_dir, name="metrics.csv") -> list[int]:
    with open(run_dir / name, newline="") as f:
        return [int(float(row["step"])) for row in csv.DictReader(f)]


def train_args(npz, run_dir, steps=60, agent="gcbc"):
    args = ["train", "--agent", agent, "--dataset", npz, "--run-dir", run_dir, "--steps", steps, "--set", "log_every=10", "--set", "checkpoint_every=20", *TINY]
    return [str(a) for a in args]


def same_policy(a, b):
    obs = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    np.testing.assert_allclose(gcrl.load_policy(a)(obs, obs), gcrl.load_policy(b)(obs, obs), rtol=1e-5, atol=1e-6)


# ---- checkpoints ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def state():
    agent = gcbc.make(gcbc.Config(hidden=(8,)), DataSpec((2,), False, 2, False))
    return init_state(agent, jax.random.PRNGKey(0))


def at_step(state, step):
    return state._replace(step=jnp.asarray(step, jnp.int32))


def test_the_newest_n_checkpoints_are_kept(state, tmp_path):
    for step in (10, 20, 30):
        checkpoint.save(tmp_path, at_step(state, step), step, keep=2)
    assert [s for s, _ in checkpoint.candidates(tmp_path)] == [30, 20]
    assert int(checkpoint.restore(tmp_path, state).step) == 30


@pytest.mark.parametrize("damage", ["truncate", "flip a byte", "empty"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(state, tmp_path, damage, capsys):
    for step in (10, 20):
        checkpoint.save(tmp_path, at_step(state, step), step)
    newest = checkpoint.candidates(tmp_path)[0][1]
    blob = newest.read_bytes()
    newest.write_bytes({"truncate": blob[:-7], "flip a byte": blob[:-5] + bytes([blob[-5] ^ 1]) + blob[-4:], "empty": b""}[damage])
    restored, _ = checkpoint.restore_latest(tmp_path, state)  # a reader: warns, leaves the file alone
    assert int(restored.step) == 10 and newest.exists()
    assert "is damaged" in capsys.readouterr().err
    restored, _ = checkpoint.restore_latest(tmp_path, state, quarantine=True)  # the writer sets it aside
    assert int(restored.step) == 10 and not newest.exists() and newest.with_name(newest.name + ".damaged").exists()
    checkpoint.save(tmp_path, at_step(state, 30), 30, keep=2)  # and then prunes only good ones
    assert [s for s, _ in checkpoint.candidates(tmp_path)] == [30, 10]


def test_no_verified_checkpoint_is_an_error(state, tmp_path):
    checkpoint.save(tmp_path, at_step(state, 10), 10)
    path = checkpoint.candidates(tmp_path)[0][1]
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(GcrlError, match="No usable checkpoint"):
        checkpoint.restore(tmp_path, state)


def test_a_non_finite_state_is_never_saved(state, tmp_path):
    checkpoint.save(tmp_path, at_step(state, 10), 10)
    before = {p.name: p.read_bytes() for p in (tmp_path / "checkpoints").iterdir()}
    poisoned = state._replace(params=jax.tree_util.tree_map(lambda x: x * jnp.nan, state.params))
    with pytest.raises(checkpoint.NonFiniteState, match="non-finite parameters"):
        checkpoint.save(tmp_path, at_step(poisoned, 20), 20)
    assert {p.name: p.read_bytes() for p in (tmp_path / "checkpoints").iterdir()} == before


def test_a_checkpoint_of_other_network_sizes_is_refused(state, tmp_path):
    checkpoint.save(tmp_path, at_step(state, 10), 10)
    wider = init_state(gcbc.make(gcbc.Config(hidden=(16,)), DataSpec((2,), False, 2, False)), jax.random.PRNGKey(0))
    with pytest.raises(GcrlError, match="network sizes"):
        checkpoint.restore(tmp_path, wider)


def test_a_run_saved_before_checksums_still_loads(state, tmp_path):
    from flax import serialization

    (tmp_path / "checkpoint.msgpack").write_bytes(serialization.to_bytes(jax.device_get(at_step(state, 7))))
    (tmp_path / "checkpoint.json").write_text(json.dumps({"step": 7}))
    assert checkpoint.latest_step(tmp_path) == 7 and int(checkpoint.restore(tmp_path, state).step) == 7


# ---- divergence -------------------------------------------------------------------------------

def poison_after(monkeypatch, update: int, when=lambda agent: True):
    """Make every parameter NaN right after update `update` (inside the compiled chunk), for the
    agents `when` picks: the next update's losses are then NaN."""
    real = learner.apply_update

    def poisoned(agent, state, batch, key):
        new, metrics = real(agent, state, batch, key)
        if not when(agent):
            return new, metrics
        params = jax.tree_util.tree_map(lambda x: jnp.where(new.step == update, jnp.nan, x), new.params)
        return new._replace(params=params), metrics

    monkeypatch.setattr(learner, "apply_update", poisoned)


def test_divergence_stops_the_run_names_loss_and_update_keeps_the_last_finite_checkpoint_and_resumes(npz, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    poison_after(monkeypatch, 25)
    assert main(train_args(npz, run, agent="gcivl") + ["--set", "checkpoint_every=10"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "training diverged" in err and "value/loss became non-finite at update 26" in err, err
    assert "last finite checkpoint (update 20) is kept" in err and "--set lr=" in err
    assert checkpoint.latest_step(run) == 20
    assert not checkpoint.nonfinite_leaves(checkpoint.restore(run, init_state(*_agent_of(run))).params)

    monkeypatch.undo()
    assert main(train_args(npz, run, agent="gcivl") + ["--resume", "--set", "lr=1e-4"]) == 0
    assert "lr = 0.0001 (was 0.0003)" in " ".join(capsys.readouterr().out.split())
    assert json.loads((run / "config.json").read_text())["agent"]["lr"] == 1e-4
    assert metric_steps(run) == [10, 20, 30, 40, 50, 60]  # the diverged chunk's row was dropped and redone
    assert json.loads((run / "summary.json").read_text())["finished"]


def _agent_of(run):
    from gcrl.policy import load_run

    _, _, agent, _ = load_run(run)
    return agent, jax.random.PRNGKey(0)


def test_a_diverged_sweep_run_is_recorded_and_the_sweep_goes_on(npz, tmp_path, monkeypatch, capsys):
    poison_after(monkeypatch, 5, when=lambda agent: agent.config.lr >= 1.0)
    grid = tmp_path / "grid.toml"
    grid.write_text(f'agents = ["gcbc"]\ndatasets = ["{npz}"]\nsteps = 20\nset = {{hidden = [8], log_every = 10}}\n'
                    f'overrides = [{{}}, {{tag = "hot", lr = 1.0}}]\nroot = "{tmp_path / "runs"}"\nworkers = 0\nbatch_size = 8\n')  # fmt: skip
    assert main(["sweep", str(grid), "--quiet"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "1 run(s) did not finish (1 diverged)" in err and "training diverged" in err
    status = {r["tag"]: r["status"] for r in json.loads((tmp_path / "runs" / "sweep.json").read_text())["runs"]}
    assert status == {"": "done", "hot": "diverged"}


# ---- SIGKILL at each dangerous moment, then resume ------------------------------------------------

def test_killed_during_an_update_chunk_resumes_to_the_uninterrupted_result(npz, tmp_path):
    killed = gcrl_process(*train_args(npz, tmp_path / "killed"), kill_at="update-chunk:3")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert checkpoint.latest_step(tmp_path / "killed") == 20  # updates 21-30 were lost, nothing more
    assert main(train_args(npz, tmp_path / "killed") + ["--resume"]) == 0
    assert main(train_args(npz, tmp_path / "whole")) == 0
    same_policy(tmp_path / "killed", tmp_path / "whole")
    assert metric_steps(tmp_path / "killed") == [10, 20, 30, 40, 50, 60]


def test_killed_while_writing_a_checkpoint_keeps_the_previous_one(npz, tmp_path):
    run = tmp_path / "run"
    killed = gcrl_process(*train_args(npz, run), kill_at="checkpoint-write:2")
    assert killed.returncode == -signal.SIGKILL
    assert [s for s, _ in checkpoint.candidates(run)] == [20]
    assert list((run / "checkpoints").glob(".*.partial"))  # half a file, under its temporary name
    assert main(train_args(npz, run) + ["--resume"]) == 0
    assert not list(run.rglob(".*.partial")) and [s for s, _ in checkpoint.candidates(run)] == [60, 40]


def test_killed_during_an_evaluation_resumes_by_making_it_up(tiny_maze, tmp_path, capsys):
    args = ["train", "--agent", "gcbc", "--dataset", "pointmaze-medium-stitch-v0", "--dataset-dir", tiny_maze, "--run-dir", tmp_path / "run",
            "--steps", 20, "--eval-episodes", 1, "--set", "log_every=10", *TINY]  # fmt: skip
    killed = gcrl_process(*args, kill_at="evaluation:5")
    assert killed.returncode == -signal.SIGKILL
    assert checkpoint.latest_step(tmp_path / "run") == 20  # checkpointed before evaluating
    assert main([*map(str, args), "--resume"]) == 0
    assert "was cut short" in capsys.readouterr().out
    assert metric_steps(tmp_path / "run", "eval.csv") == [20]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["eval"]["episodes"] == 5


def test_killed_during_dataset_generation_leaves_nothing_and_reruns_identically(tiny_maze, tmp_path):
    args = ["datasets", "generate", "pointmaze-medium-stitch-v0", "--episodes", 2, "--dataset-dir", tmp_path, "--quiet"]
    killed = gcrl_process(*args, kill_at="dataset-generation")
    assert killed.returncode == -signal.SIGKILL
    assert not list(tmp_path.glob("*.npz"))
    assert main([*map(str, args)]) == 0
    for name in ("pointmaze-medium-stitch-v0.npz", "pointmaze-medium-stitch-v0-val.npz"):
        with np.load(tmp_path / name) as ours, np.load(tiny_maze / name) as reference:
            assert sorted(ours.files) == sorted(reference.files)
            for key in ours.files:
                np.testing.assert_array_equal(ours[key], reference[key])


def test_a_killed_sweep_resumes_where_it_stopped(npz, tmp_path):
    args = ["sweep", "--agents", "gcbc", "--datasets", npz, "--seeds", "0,1", "--steps", 40, "--eval-episodes", 0, "--preset", "cpu",
            "--root", tmp_path, "--workers", 0, "--set", "log_every=10", "--set", "checkpoint_every=20", "--set", "hidden=8,8", "--batch-size", 8, "--quiet"]  # fmt: skip
    killed = gcrl_process(*args, kill_at="update-chunk:3")
    assert killed.returncode == -signal.SIGKILL
    ledger = json.loads((tmp_path / "sweep.json").read_text())
    assert [r["status"] for r in ledger["runs"]] == ["running", "pending"]
    assert main([*map(str, args)]) == 0
    ledger = json.loads((tmp_path / "sweep.json").read_text())
    assert [(r["action"], r["status"], r["step"]) for r in ledger["runs"]] == [("resume", "done", 40), ("start", "done", 40)]


def test_a_sweep_whose_workers_die_records_them_goes_on_and_resumes_them(npz, tmp_path, monkeypatch, capsys):
    args = ["sweep", "--agents", "gcbc", "--datasets", str(npz), "--seeds", "0,1", "--steps", "40", "--eval-episodes", "0", "--preset", "cpu",
            "--root", str(tmp_path), "--set", "log_every=10", "--set", "checkpoint_every=20", "--set", "hidden=8,8", "--batch-size", "8", "--quiet"]  # fmt: skip
    monkeypatch.setenv("GCRL_KILL_AT", "update-chunk:3")  # reaches the workers, not this process
    assert main([*args, "--workers", "1"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "2 run(s) did not finish (2 failed)" in err and "exited with code -9" in err
    monkeypatch.delenv("GCRL_KILL_AT")
    assert main([*args, "--workers", "0"]) == 0
    ledger = json.loads((tmp_path / "sweep.json").read_text())
    assert [(r["action"], r["status"]) for r in ledger["runs"]] == [("resume", "done"), ("resume", "done")]


# ---- one writer -------------------------------------------------------------------------------

def test_a_second_writer_is_refused_and_told_who_holds_the_directory(tmp_path):
    with DirectoryLock(tmp_path):
        with pytest.raises(DirectoryInUse, match=f"in use by another gcrl process \\(pid {os.getpid()}"):
            DirectoryLock(tmp_path).acquire()
    DirectoryLock(tmp_path).acquire().release()  # free again once released


def test_a_killed_holder_leaves_no_stuck_lock(tmp_path):
    script = "import os, signal, sys; from gcrl.runlock import DirectoryLock; DirectoryLock(sys.argv[1]).acquire(); os.kill(os.getpid(), signal.SIGKILL)"
    holder = subprocess.run([sys.executable, "-c", script, str(tmp_path)], timeout=60)
    assert holder.returncode == -signal.SIGKILL and (tmp_path / ".gcrl.lock").exists()
    DirectoryLock(tmp_path).acquire().release()
