"""gcrl sweep: the grid from a file and options, run directories, skip / resume / start, failures,
the process pool and Ray."""

import dataclasses
import json
import signal
import subprocess
import sys
import time

import pytest

from gcrl import checkpoint
from gcrl.cli import main
from gcrl.errors import GcrlError
from gcrl.experiments import sweep
from gcrl.train import train

DATASET = "pointmaze-medium-stitch-v0"  # the tiny_maze fixture's
TINY = {"hidden": "8,8", "batch_size": "16", "log_every": "10", "checkpoint_every": "10"}
TINY_OPTIONS = [item for key, value in TINY.items() for item in ("--set", f"{key}={value}")]


def tiny_grid(root, dataset_dir, **values):
    return sweep.make_grid({"agents": "gcbc", "datasets": DATASET, "seeds": "0,1", "steps": 20, "eval_episodes": 0, "preset": "cpu",
                            "set": TINY, "root": str(root), "dataset_dir": str(dataset_dir), **values})  # fmt: skip


def statuses(root):
    return {(r["agent"], r["tag"], r["seed"]): r["status"] for r in json.loads((root / "sweep.json").read_text())["runs"]}


def test_the_grid_from_a_file_and_options_with_variants_tags_and_run_directories(tmp_path, capsys):
    path = tmp_path / "grid.toml"
    path.write_text(
        'agents = ["saw", "gcivl"]\ndatasets = "pointmaze-medium-navigate-v0,pointmaze-large-navigate-v0"\nseeds = [0, 1, 2]\n'
        "steps = 25000\neval-every = 5000\nset = {hidden = [8, 8], alpha = 3}\n"
        'overrides = [{}, {beta = 0}, {tag = "seq", schedule = "sequential"}]\n'
    )
    values = sweep.read_file(path)
    grid = sweep.make_grid({**values, "seeds": "4"})  # as the command line does: its values win
    assert grid.seeds == (4,) and grid.steps == 25000 and grid.sets == {"hidden": "8,8", "alpha": "3"}
    runs = sweep.plan(grid, "cpu")
    assert len(runs) == 2 * 4 and {r.run_dir.relative_to("runs").as_posix() for r in runs if "medium" in r.dataset} == {
        f"pointmaze-medium-navigate-v0/{name}/seed4" for name in ("gcivl", "saw", "saw-beta0", "saw-seq")}
    assert "left out for gcivl: it has no setting beta" in capsys.readouterr().out
    by_name = {r.run_dir.parent.name: r for r in runs if "medium" in r.dataset}
    assert by_name["saw-beta0"].agent_cfg.beta == 0.0 and by_name["saw"].agent_cfg.beta == 3.0
    assert by_name["saw-seq"].agent_cfg.schedule == "sequential" and by_name["saw-seq"].agent_cfg.hidden == (8, 8)
    assert by_name["gcivl"].agent_cfg.alpha == 3.0 and by_name["gcivl"].train_cfg.eval_every == 5000 and by_name["gcivl"].train_cfg.seed == 4
    assert {r.action for r in runs} == {"start"}

    assert main(["sweep", str(path), "--seeds", "7", "--agents", "saw", "--root", str(tmp_path / "r"), "--preset", "cpu", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Sweep of 6 runs" in out and "saw-beta0/seed7" in out and "gcivl" not in out


def test_bad_grids_are_clear_errors(tmp_path, capsys):
    with pytest.raises(GcrlError, match="No agents"):
        sweep.make_grid({"datasets": DATASET})
    with pytest.raises(GcrlError, match="Unknown agent 'sawx'"):
        sweep.make_grid({"agents": "sawx"})
    with pytest.raises(GcrlError, match="which no agent of this sweep"):
        sweep.plan(sweep.make_grid({"agents": "gcbc", "overrides": [{"betta": 0}]}), "cpu")
    with pytest.raises(GcrlError, match="same name"):
        sweep.plan(sweep.make_grid({"agents": "saw", "overrides": [{"beta": 0}, {"beta": 0.0, "tag": "beta0"}]}), "cpu")
    (tmp_path / "bad.toml").write_text('agents = "saw"\nseed = [1]\n')
    assert main(["sweep", str(tmp_path / "bad.toml")]) == 2
    assert "unknown key(s) seed" in capsys.readouterr().err
    assert main(["sweep", "--agents", "saw", "--datasets", "pointmaze-medium-navigat-v0", "--preset", "cpu", "--dry-run"]) == 2
    assert "Did you mean" in capsys.readouterr().err


def test_a_sweep_starts_new_runs_resumes_interrupted_ones_and_skips_finished_ones(tmp_path, tiny_maze):
    root = tmp_path / "runs"
    grid = tiny_grid(root, tiny_maze)
    first, second = sweep.plan(grid, "cpu")
    # Seed 1 was interrupted at update 10 of 20: a checkpoint, and a summary that is not finished.
    train(dataclasses.replace(second.train_cfg, steps=10), second.agent_cfg, run_dir=second.run_dir, dataset_dir=tiny_maze, progress=False)
    summary = json.loads((second.run_dir / "summary.json").read_text())
    (second.run_dir / "summary.json").write_text(json.dumps({**summary, "finished": False}))

    runs = sweep.run_sweep(grid, workers=0, progress=False)
    assert [(r.action, r.status) for r in runs] == [("start", "done"), ("resume", "done")]
    assert first.run_dir == root / DATASET / "gcbc" / "seed0"
    for run in runs:
        assert json.loads((run.run_dir / "summary.json").read_text())["step"] == 20
    assert [line.split(",")[0] for line in (second.run_dir / "metrics.csv").read_text().splitlines()[1:]] == ["10", "20"]
    assert statuses(root) == {("gcbc", "", 0): "done", ("gcbc", "", 1): "done"}

    stamps = [sorted((r.run_dir / "checkpoints").iterdir())[-1].stat().st_mtime_ns for r in runs]
    again = sweep.run_sweep(grid, workers=0, progress=False)
    assert [r.status for r in again] == ["skipped", "skipped"] and [r.step for r in again] == [20, 20]
    assert [sorted((r.run_dir / "checkpoints").iterdir())[-1].stat().st_mtime_ns for r in runs] == stamps
    assert statuses(root) == {("gcbc", "", 0): "skipped", ("gcbc", "", 1): "skipped"}


def test_a_failed_run_is_recorded_the_sweep_goes_on_and_exits_non_zero(tmp_path, tiny_maze, capsys):
    """Through the command line, in the process pool (one fresh process per run, one at a time)."""
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip file")
    root = tmp_path / "runs"
    argv = ["sweep", "--agents", "gcbc", "--datasets", f"{broken},{DATASET}", "--seeds", "0", "--steps", "20", "--eval-episodes", "0",
            "--preset", "cpu", "--root", str(root), "--dataset-dir", str(tiny_maze), "--workers", "1", "--quiet", *TINY_OPTIONS]  # fmt: skip
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "1 run(s) did not finish (1 failed)" in captured.err and "not a readable dataset" in captured.err and "Traceback" not in captured.err
    records = json.loads((root / "sweep.json").read_text())["runs"]
    assert [(r["dataset"], r["status"]) for r in records] == [(str(broken), "failed"), (DATASET, "done")]
    assert "not a readable dataset" in records[0]["error"]
    assert "Traceback" in (root / "broken" / "gcbc" / "seed0" / "train.log").read_text()
    done = root / DATASET / "gcbc" / "seed0"
    assert json.loads((done / "summary.json").read_text())["finished"] and "20 updates" in (done / "train.log").read_text()
    assert not (done / ".sweep-result.json").exists()


def test_sigterm_to_the_sweep_stops_its_workers_which_save_and_the_sweep_resumes(tmp_path, tiny_maze, capsys):
    """A scheduler's SIGTERM reaches the sweep's process only (not its workers, as a terminal's
    Ctrl-C does): the sweep forwards it, each run saves a checkpoint and stops, none is orphaned."""
    root = tmp_path / "runs"
    argv = ["sweep", "--agents", "gcbc", "--datasets", DATASET, "--seeds", "0,1", "--steps", "100000000", "--eval-episodes", "0",
            "--preset", "cpu", "--root", str(root), "--dataset-dir", str(tiny_maze), "--workers", "2", "--quiet", *TINY_OPTIONS]  # fmt: skip
    script = "import sys; from gcrl.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen([sys.executable, "-c", script, *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    runs = [root / DATASET / "gcbc" / f"seed{seed}" for seed in (0, 1)]
    deadline = time.time() + 180
    while not all((run / "metrics.csv").exists() for run in runs) and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=180)
    words = " ".join(out.split())  # rich wraps long lines
    assert proc.returncode == 143, out
    assert "Run the same command again to resume it" in words and "terminated; nothing half-written" in words and "Traceback" not in out
    assert set(statuses(root).values()) == {"interrupted"}
    for run in runs:
        assert checkpoint.latest_step(run) > 0, (run / "train.log").read_text()
        assert "Resume with" in (run / "train.log").read_text()  # the worker saved and stopped itself
        assert not lock_is_held(run)  # no worker left training
    assert main([*argv, "--dry-run"]) == 0
    assert "0 finished already (skipped), 2 to resume, 0 to start" in " ".join(capsys.readouterr().out.split())


def lock_is_held(run_dir) -> bool:
    from gcrl.runlock import DirectoryLock

    try:
        with DirectoryLock(run_dir):
            return False
    except GcrlError:
        return True


def test_the_eta_costs_each_run_left_as_its_agents_finished_runs_at_the_sweeps_pace():
    def run(agent, status, seconds=None):
        return sweep.Run(DATASET, agent, "", 0, None, None, None, status=status, seconds=seconds)

    runs = [run("gcbc", "skipped"), run("gcbc", "done", 60.0), run("saw", "done", 300.0),
            run("gcbc", "pending"), run("saw", "running"), run("saw", "pending"), run("hiql", "pending")]
    ledger = sweep._Ledger(None, runs, {})
    assert sweep._Ledger(None, runs[:1], {}).eta() is None  # nothing timed yet
    ledger.t0 = time.monotonic() - 180.0  # 360 s of runs in 180 s: two at a time
    # gcbc 60 + saw 300 + saw 300 + hiql (no run of its own yet: the mean of all, 180) = 840 s of runs, at 0.5
    assert ledger.eta() == pytest.approx(420.0, abs=1.0)


def test_ray_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(GcrlError, match=r"pip install 'gcrl\[ray\]'"):
        sweep.import_ray()


@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")  # Ray starts its processes with fork + exec
def test_a_run_on_a_local_ray_instance(tmp_path, tiny_maze):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=1, include_dashboard=False, logging_level="warning")
    try:
        address = ray.get_runtime_context().gcs_address
        root = tmp_path / "runs"
        argv = ["sweep", "--agents", "gcbc", "--datasets", DATASET, "--seeds", "0", "--steps", "20", "--eval-episodes", "0", "--preset", "cpu",
                "--root", str(root), "--dataset-dir", str(tiny_maze), "--ray", address, "--ray-cpus-per-run", "1", "--quiet", *TINY_OPTIONS]  # fmt: skip
        assert main(argv) == 0
    finally:
        ray.shutdown()
    run_dir = root / DATASET / "gcbc" / "seed0"
    assert json.loads((run_dir / "summary.json").read_text())["finished"]
    assert statuses(root) == {("gcbc", "", 0): "done"}
    assert "20 updates" in (run_dir / "train.log").read_text()
    assert json.loads((root / "sweep.json").read_text())["execution"]["ray"] == address
