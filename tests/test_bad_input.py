"""Every bad input is refused before anything is written: one `error:` line that says what is wrong
and how to fix it, exit code 2. One test per row of the README's table ("Bad input"), which this
file checks stays in step with CASES.

Commands use placeholders for what each case needs, made fresh in a temporary folder:
RUN (a trained gcivl run), RUN_BAD_CONFIG, RUN_NO_SPEC, RUN_BAD_CKPT, RUN_BAD_SETTING, RUN_BUSY,
EMPTY (an empty folder), DAGGER_BAD (a DAgger output whose dagger.json is damaged), TOY.npz (a valid
dataset), BROKEN.npz, NAN.npz, NOKEY.npz, RAGGED.npz, and BAD_TOML.toml, UNKNOWN_KEY.toml,
BAD_STEPS.toml, BAD_OVERRIDES.toml."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import raw_arrays
from gcrl import config
from gcrl.cli import main
from gcrl.runlock import DirectoryLock
from gcrl.train import train

README = Path(__file__).resolve().parents[1] / "README.md"

# (command, what the error line must say)
CASES = [
    # the command line
    ("gcrl train --steps -5", "--steps: must be at least 1"),
    ("gcrl train --batch-size 0", "--batch-size: must be at least 1"),
    ("gcrl train --eval-episodes -1", "--eval-episodes: must be at least 0"),
    ("gcrl train --eval-every -10", "--eval-every: must be at least 0"),
    ("gcrl train --seed -1", "--seed: must be at least 0"),
    ("gcrl train --steps many", "expected a whole number"),
    ("gcrl train --agent sac", "invalid choice: 'sac'"),
    ("gcrl train --seeds 1,1", "distinct integers"),
    ("gcrl train --seed 0 --seeds 0,1", "Pass --seed or --seeds, not both"),
    ("gcrl evaluate RUN --episodes -3", "--episodes: must be at least 1"),
    ("gcrl evaluate RUN --temperature -1", "--temperature: must be a finite number at least 0"),
    ("gcrl evaluate RUN --subgoal-timeout 0", "--subgoal-timeout: must be at least 1"),
    ("gcrl evaluate RUN --replan sometimes", "replan"),
    ("gcrl bench --agents nope", "Unknown agent 'nope'"),
    ("gcrl bench --presets fast", "unknown preset(s) fast"),
    ("gcrl bench --seeds -2", "--seeds: must be at least 0"),
    ("gcrl bench --seeds 8 --seed-modes pmap", "--seed-modes: expected vmap, map or vmap,map"),
    ("gcrl sweep --agents saw --workers -1", "--workers: must be at least 0"),
    ("gcrl sweep --agents saw --steps 0", "--steps: must be at least 1"),
    ("gcrl sweep --agents saw --ray-cpus-per-run 0", "greater than 0"),
    ("gcrl report RUN --last 0", "--last: must be at least 1"),
    ("gcrl dagger RUN --mix-data 2", "at most 1"),
    ("gcrl dagger RUN --lr 0", "--lr: must be a finite number greater than 0"),
    ("gcrl dagger RUN --rounds 0", "--rounds: must be at least 1"),
    ("gcrl datasets generate pointmaze-medium-navigate-v0 --episodes 0", "--episodes: must be at least 1"),
    ("gcrl datasets generate antmaze-large-navigate-v0", "gcrl can generate only the pointmaze and manipulation datasets"),
    # settings (--set, and the same checks on a sweep's settings)
    ("gcrl train --set alpah=3", "no such setting"),
    ("gcrl train --set lr=0", "lr = 0.0: it must be a finite number greater than 0"),
    ("gcrl train --set lr=fast", "cannot read 'fast'"),
    ("gcrl train --set lr=nan", "lr = nan"),
    ("gcrl train --set discount=1.5", "discount = 1.5: it must be a finite number in (0, 1]"),
    ("gcrl train --set expectile=1", "expectile = 1.0"),
    ("gcrl train --set hidden=0", "hidden = (0,)"),
    ("gcrl train --set keep_checkpoints=0", "keep_checkpoints = 0"),
    ("gcrl train --set log_every=0", "log_every = 0"),
    ("gcrl train --set value_p_cur=0.5", "must sum to 1"),
    ("gcrl train --set beta=-1", "beta = -1.0: it must be a finite number 0 or more"),
    ("gcrl sweep --agents saw --set lr=-1", "lr = -1.0"),
    # datasets
    ("gcrl train --dataset missing.npz", "no such file"),
    ("gcrl train --dataset BROKEN.npz", "not a readable dataset"),
    ("gcrl train --dataset NAN.npz", "contains NaN or inf"),
    ("gcrl train --dataset NOKEY.npz", "missing key(s) terminals"),
    ("gcrl train --dataset RAGGED.npz", "arrays have different lengths"),
    ("gcrl train --dataset pointmaze-tiny-navigate-v0", "pointmaze-tiny-navigate-v0"),
    ("gcrl datasets info BROKEN.npz", "not a readable dataset"),
    ("gcrl train --dataset-dir TOY.npz", "is a file, not a directory"),
    ("gcrl datasets generate pointmaze-medium-navigate-v0 --dataset-dir TOY.npz", "is a file, not a directory"),
    ("gcrl sweep --agents gcbc --steps 1 --dataset-dir TOY.npz", "is a file, not a directory"),
    ("gcrl train --dataset TOY.npz --env antmaze-larg-v0", "Unknown OGBench environment 'antmaze-larg-v0'. Did you mean: antmaze-large-v0"),
    ("gcrl train --dataset TOY.npz --env antmaze-medium-v0", "antmaze-medium-v0 gives observations of shape (29,), but"),
    ("gcrl evaluate RUN --env antmaze-medium-v0", "antmaze-medium-v0 gives observations of shape (29,), but"),
    # run directories
    ("gcrl evaluate EMPTY/nothing-here", "no such run directory"),
    ("gcrl evaluate EMPTY", "not a gcrl run directory (no config.json)"),
    ("gcrl evaluate RUN_BAD_CONFIG", "config.json is damaged"),
    ("gcrl evaluate RUN_BAD_SETTING", "lr = -1.0"),
    ("gcrl evaluate RUN_NO_SPEC", "has no spec.json"),
    ("gcrl evaluate RUN_BAD_CKPT", "No usable checkpoint"),
    ("gcrl evaluate DAGGER_BAD", "dagger.json is damaged"),
    ("gcrl train --dataset TOY.npz --run-dir RUN", "already holds a run. Pass --resume"),
    ("gcrl train --dataset TOY.npz --resume --run-dir EMPTY", "no checkpoint found in"),
    ("gcrl train --dataset TOY.npz --resume --run-dir RUN --set hidden=16,16", "cannot be read as a checkpoint of this run"),
    ("gcrl train --dataset TOY.npz --run-dir RUN_BUSY --resume", "is in use by another gcrl process"),
    ("gcrl train --dataset TOY.npz --resume --run-dir RUN --set lr=-1", "lr = -1.0"),
    # sweep files
    ("gcrl sweep BAD_TOML.toml", "is not valid TOML"),
    ("gcrl sweep UNKNOWN_KEY.toml", "unknown key(s) agent"),
    ("gcrl sweep BAD_STEPS.toml", "must be whole numbers"),
    ("gcrl sweep BAD_OVERRIDES.toml", "overrides: expected a list of tables"),
    ("gcrl sweep missing.toml", "no such sweep file"),
]


def _write_npz(path: Path, **arrays) -> None:
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, toy_npz):
    """A finished tiny gcivl run on a toy file dataset (trained once for the module)."""
    base = tmp_path_factory.mktemp("bad_input")
    for name in ("toy.npz", "toy-val.npz"):
        shutil.copy(toy_npz.with_name(name), base / name)
    train_cfg, agent_cfg = config.resolve("gcivl", str(base / "toy.npz"), "cpu", {"steps": 4, "log_every": 2, "batch_size": 8}, {"hidden": "8,8"})
    train(train_cfg, agent_cfg, run_dir=base / "run", progress=False)
    return base


def _make(placeholder: str, tmp: Path, trained: Path, holders: list) -> Path:
    """The thing a placeholder names, made in `tmp`."""
    target = tmp / placeholder
    if placeholder.startswith("RUN"):
        shutil.copytree(trained / "run", target)
        if placeholder == "RUN_BAD_CONFIG":
            (target / "config.json").write_text('{"train": {"agent": "gcivl", "steps": 4')
        elif placeholder == "RUN_BAD_SETTING":
            raw = json.loads((target / "config.json").read_text())
            raw["agent"]["lr"] = -1.0
            (target / "config.json").write_text(json.dumps(raw))
        elif placeholder == "RUN_NO_SPEC":
            (target / "spec.json").unlink()
        elif placeholder == "RUN_BAD_CKPT":
            for path in (target / "checkpoints").iterdir():
                path.write_bytes(path.read_bytes()[:-10])
        elif placeholder == "RUN_BUSY":
            holders.append(DirectoryLock(target).acquire())
    elif placeholder == "EMPTY":
        target.mkdir()
    elif placeholder == "DAGGER_BAD":
        target.mkdir()
        (target / "dagger.json").write_text("{not json")
    elif placeholder == "TOY.npz":
        shutil.copy(trained / "toy.npz", target)
        shutil.copy(trained / "toy-val.npz", tmp / "TOY-val.npz")
    elif placeholder == "BROKEN.npz":
        target.write_bytes(b"not a zip file")
    elif placeholder == "NAN.npz":
        arrays = raw_arrays([10, 10], obs_dim=2)
        arrays["observations"][5, 1] = np.nan
        _write_npz(target, **arrays)
    elif placeholder == "NOKEY.npz":
        arrays = raw_arrays([10, 10], obs_dim=2)
        del arrays["terminals"]
        _write_npz(target, **arrays)
    elif placeholder == "RAGGED.npz":
        arrays = raw_arrays([10, 10], obs_dim=2)
        arrays["actions"] = arrays["actions"][:-3]
        _write_npz(target, **arrays)
    elif placeholder.endswith(".toml"):
        target.write_text({
            "BAD_TOML.toml": "agents = [saw\n",
            "UNKNOWN_KEY.toml": 'agent = "saw"\n',
            "BAD_STEPS.toml": 'agents = ["saw"]\nsteps = "many"\n',
            "BAD_OVERRIDES.toml": 'agents = ["saw"]\noverrides = 3\n',
        }[placeholder])  # fmt: skip
    return target


PLACEHOLDERS = ("RUN_BAD_CONFIG", "RUN_BAD_SETTING", "RUN_NO_SPEC", "RUN_BAD_CKPT", "RUN_BUSY", "RUN", "EMPTY", "DAGGER_BAD", "TOY.npz",
                "BROKEN.npz", "NAN.npz", "NOKEY.npz", "RAGGED.npz", "BAD_TOML.toml", "UNKNOWN_KEY.toml", "BAD_STEPS.toml", "BAD_OVERRIDES.toml")  # fmt: skip


def _snapshot(root: Path) -> dict:
    """Every file under root with its size and modification time (lock files aside: taking a lock
    records its holder)."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else "folder"
            for p in root.rglob("*") if p.name != ".gcrl.lock"}  # fmt: skip


@pytest.mark.parametrize("command, message", CASES, ids=[c for c, _ in CASES])
def test_bad_input_is_one_error_line_and_writes_nothing(command, message, trained, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GCRL_DATASET_DIR", str(tmp_path / "datasets"))
    holders: list = []
    words = []
    for word in shlex.split(command)[1:]:
        for placeholder in PLACEHOLDERS:
            if word == placeholder or word.startswith(placeholder + "/"):
                made = tmp_path / placeholder
                if not made.exists():
                    _make(placeholder, tmp_path, trained, holders)
                word = str(tmp_path / word)
                break
        words.append(word)
    before = _snapshot(tmp_path)
    try:
        with pytest.raises(SystemExit) as exit_info:
            raise SystemExit(main(words))
    finally:
        for lock in holders:
            lock.release()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines and lines[0].startswith("error:"), err
    assert "Traceback" not in err
    assert message in " ".join(line.strip() for line in err.splitlines()), err
    assert _snapshot(tmp_path) == before, "a refused command wrote or changed files"


def test_the_readme_table_lists_every_case():
    text = README.read_text()
    section = text[text.index("### Bad input") :]
    missing = [command for command, _ in CASES if f"`{command}`" not in section]
    assert not missing, f"add these rows to the README's bad-input table: {missing}"
    assert len(CASES) >= 30
