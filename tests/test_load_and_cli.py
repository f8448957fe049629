"""Loading by name and path, the dataset directory, and what the command line prints."""

import urllib.error

import numpy as np
import pytest

from conftest import raw_arrays
from gcrl.cli import main
from gcrl.data import load as L
from gcrl.data.names import parse
from gcrl.errors import DatasetError


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    def refuse(*args, **kwargs):
        raise urllib.error.URLError("offline (test)")

    monkeypatch.setattr(L.urllib.request, "urlopen", refuse)


def test_dataset_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("GCRL_DATASET_DIR", raising=False)
    assert str(L.dataset_dir()).endswith(".ogbench/data")
    monkeypatch.setenv("GCRL_DATASET_DIR", str(tmp_path / "env"))
    assert L.dataset_dir() == tmp_path / "env"
    assert L.dataset_dir(tmp_path / "flag") == tmp_path / "flag"


def test_names_parse_into_environments():
    p = parse("visual-cube-single-play-v0")
    assert p.env_name == "visual-cube-single-v0" and p.pixels and p.kind == "play"
    q = parse("pointmaze-medium-navigate-v0")
    assert q.env_name == "pointmaze-medium-v0" and q.generatable and q.is_maze
    with pytest.raises(DatasetError, match="Did you mean: pointmaze-medium-navigate-v0"):
        parse("pointmaze-medum-navigate-v0")


def test_missing_dataset_offline_names_the_generate_command(tmp_path):
    with pytest.raises(DatasetError, match="gcrl datasets generate pointmaze-large-navigate-v0"):
        L.load("pointmaze-large-navigate-v0", tmp_path)
    with pytest.raises(DatasetError, match="download antmaze-large-navigate-v0.npz"):
        L.load("antmaze-large-navigate-v0", tmp_path)
    assert list(tmp_path.iterdir()) == []  # no partial download left behind


def test_load_by_name_from_the_environment_directory(tiny_maze, monkeypatch):
    monkeypatch.setenv("GCRL_DATASET_DIR", str(tiny_maze))
    train, val = L.load_splits("pointmaze-medium-stitch-v0")
    assert train.num_transitions() == 400 and val.num_transitions() == 200


def test_bring_your_own_npz(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, **raw_arrays([4, 6]))
    train, val = L.load_splits(str(path))
    assert train.num_transitions() == 10 and val is None
    np.savez(tmp_path / "mine-val.npz", **raw_arrays([3]))
    assert L.load_splits(str(path))[1].num_transitions() == 3


def test_a_damaged_validation_file_is_reported_not_ignored(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, **raw_arrays([4, 6]))
    (tmp_path / "mine-val.npz").write_text("garbage")
    with pytest.raises(DatasetError, match="mine-val.npz"):
        L.load_splits(str(path))


def test_cli_info_prints_a_summary(tiny_maze, capsys):
    assert main(["datasets", "info", "pointmaze-medium-stitch-v0", "--dataset-dir", str(tiny_maze)]) == 0
    out = capsys.readouterr().out
    assert "transitions" in out and "400" in out and "trajectories" in out


def test_cli_errors_are_one_clear_line_without_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    arrays = raw_arrays([3, 3])
    arrays["terminals"][-1] = False
    np.savez(bad, **arrays)
    assert main(["datasets", "info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "last step is not terminal" in err and "Traceback" not in err
    assert main(["datasets", "generate", "antmaze-large-navigate-v0", "--dataset-dir", str(tmp_path)]) == 2
    assert "expert policy" in capsys.readouterr().err


def test_cli_generate_then_skip_existing(tmp_path, capsys):
    args = ["datasets", "generate", "pointmaze-medium-stitch-v0", "--episodes", "1", "--quiet", "--dataset-dir", str(tmp_path)]
    assert main(args) == 0
    assert "Wrote" in capsys.readouterr().out
    assert main(args) == 0
    assert "already exists" in capsys.readouterr().out


def test_errors_print_one_line_and_exit_2(capsys):
    from gcrl.console import run_command

    assert main(["report", "/nope"]) == 2
    assert "error: /nope: no such file or directory." in capsys.readouterr().err

    def interrupted():
        raise KeyboardInterrupt

    assert run_command(interrupted) == 130 and "interrupted" in capsys.readouterr().err
    assert run_command(lambda x: None, 1) == 0
