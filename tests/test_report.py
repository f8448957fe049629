"""gcrl report: finding runs, last-K scores, mean/std over seeds, bold best, published numbers, curves."""

import json

import numpy as np
import pytest

from gcrl import config
from gcrl.cli import main
from gcrl.errors import GcrlError
from gcrl.experiments import reference
from gcrl.experiments.report import aggregate, cell_text, find_runs, read_run, report, table_rows

MEDIUM, LARGE = "pointmaze-medium-navigate-v0", "pointmaze-large-navigate-v0"


def fake_run(run_dir, agent, dataset, seed, overall, steps=None, sets=None, episodes=50, finished=True, updates_per_s=None):
    """A run directory as train.py leaves it: config.json, eval.csv (overall, task1..5 per step) and,
    once it has ended, summary.json."""
    train_cfg, agent_cfg = config.resolve(agent, dataset, "cpu", {"seed": seed, "steps": 500, "eval_episodes": episodes}, sets or {})
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(config.to_json(train_cfg, agent_cfg))
    steps = steps or [100 * (i + 1) for i in range(len(overall))]
    lines = ["step,overall,task1,task2,task3,task4,task5"] + [f"{s},{o},{o},{o},{o},{o},{o}" for s, o in zip(steps, overall)]
    (run_dir / "eval.csv").write_text("\n".join(lines) + "\n")
    if finished is not None:
        timings = {"timings": {"updates_per_s": updates_per_s}} if updates_per_s else {}
        (run_dir / "summary.json").write_text(json.dumps({"finished": finished, "step": steps[-1], **timings}))
    return run_dir


@pytest.fixture
def sweep_root(tmp_path):
    """A sweep's layout: SAW, HIQL (3 seeds each) and SAW-beta0 (1 seed) on medium; SAW (3 seeds) on large."""
    root = tmp_path / "runs"
    saw = [[0.1, 0.5, 0.6, 0.7, 0.8], [0.2, 0.9, 0.8, 0.7, 0.6], [0.0, 0.5, 0.5, 0.5, 0.5]]  # last 3: 0.7, 0.7, 0.5
    for seed, overall in enumerate(saw):
        fake_run(root / MEDIUM / "saw" / f"seed{seed}", "saw", MEDIUM, seed, overall)
    for seed, overall in enumerate([[0.3, 0.4, 0.6, 0.8], [0.2, 0.9, 0.9, 0.9], [0.6, 0.6, 0.6, 0.6]]):  # last 3: 0.6, 0.9, 0.6
        fake_run(root / MEDIUM / "hiql" / f"seed{seed}", "hiql", MEDIUM, seed, overall)
    fake_run(root / MEDIUM / "saw-beta0" / "seed0", "saw", MEDIUM, 0, [0.4, 0.4, 0.4, 0.4, 0.4], sets={"beta": "0"})
    for seed in range(3):
        fake_run(root / LARGE / "saw" / f"seed{seed}", "saw", LARGE, seed, [0.1, 0.2, 0.3])
    return root


def test_each_run_scores_the_mean_of_its_last_evaluations_and_cells_aggregate_over_seeds(sweep_root):
    runs = [read_run(d, last=3) for d in find_runs([sweep_root])]
    assert len(runs) == 10
    cells = aggregate(runs)
    saw = cells[(MEDIUM, "SAW")]
    assert saw.n == 3 and [r.seed for r in saw.runs] == [0, 1, 2]
    np.testing.assert_allclose([r.score for r in saw.runs], [0.7, 0.7, 0.5])
    np.testing.assert_allclose(saw.mean, 100 * np.mean([0.7, 0.7, 0.5]))
    np.testing.assert_allclose(saw.std, 100 * np.std([0.7, 0.7, 0.5]))  # ddof 0, as numpy and the papers' code
    hiql = cells[(MEDIUM, "HIQL")]
    np.testing.assert_allclose((hiql.mean, hiql.std), (70.0, 100 * np.std([0.6, 0.9, 0.6])))
    assert cells[(MEDIUM, "SAW-beta0")].mean == pytest.approx(40.0)
    one = read_run(sweep_root / MEDIUM / "saw" / "seed0", last=1)
    assert one.score == pytest.approx(0.8)


def test_cells_show_ours_bold_on_the_best_and_the_published_number(sweep_root):
    report([sweep_root])
    text = (sweep_root / "report.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| dataset |"))
    assert header == "| dataset | HIQL | SAW | SAW-beta0 |"
    medium = next(line for line in text.splitlines() if line.startswith(f"| {MEDIUM} |"))
    assert medium == f"| {MEDIUM} | **70.0 ± 14.1** (79 ± 5) | 63.3 ± 9.4 (97 ± 2) | 40.0 ± 0.0 [n=1] |"  # a variant: no published number
    large = next(line for line in text.splitlines() if line.startswith(f"| {LARGE} |"))
    assert large == f"| {LARGE} | - | **20.0 ± 0.0** (85 ± 10) | - |"
    assert "Budget: 300 / 400 / 500 updates, cpu preset (batch 256, networks 256x256), 50 episodes per task, 3 seeds per cell" in text
    assert f"{MEDIUM}: its runs differ in update count (400, 500)" in text
    assert (sweep_root / f"curves-{MEDIUM}.png").stat().st_size > 0 and (sweep_root / f"curves-{LARGE}.png").exists()
    assert f"![{MEDIUM}](curves-{MEDIUM}.png)" in text and "expectile" not in text
    assert f"| {MEDIUM} | SAW | 2 | 500 | 50.0 | 50.0 | - | {MEDIUM}/saw/seed2 |" in text
    final = text[text.index("At the last evaluation only:"):]  # the same table on each run's last evaluation alone
    assert f"| {MEDIUM} | **76.7 ± 12.5** (79 ± 5) | 63.3 ± 12.5 (97 ± 2) | 40.0 ± 0.0 [n=1] |" in final


def test_published_numbers_match_reference_md_and_ties_are_all_bold():
    assert reference.published(MEDIUM, "saw") == (97, 2) and reference.published("antmaze-large-navigate-v0", "GCIVL") == (16, 5)
    assert reference.published_text("cube-single-play-v0", "hiql") == "44* ± 9"
    assert reference.published("puzzle-3x3-play-v0", "RIS") is None and reference.published(MEDIUM, "nonesuch") is None
    assert set(reference.PUBLISHED[reference.key(MEDIUM)]) == set(reference.AGENTS)
    cell = aggregate([read_run_like(0.716), read_run_like(0.736)])[(MEDIUM, "SAW")]
    assert cell_text(cell, MEDIUM, "SAW", bold=True) == "**72.6 ± 1.0** (97 ± 2)"
    assert table_rows({(MEDIUM, "SAW"): cell})[1][0][1] == "**72.6 ± 1.0** (97 ± 2)"
    failed = aggregate([read_run_like(0.0), read_run_like(0.0, seed=1)])
    assert table_rows(failed)[1][0][1] == "0.0 ± 0.0 (97 ± 2)"  # a row of zeros has no best


def read_run_like(score, seed=0):
    from gcrl.experiments.report import RunScores

    return RunScores(None, MEDIUM, "saw", "SAW", seed, np.array([1]), np.array([score]), score, None, None)


def test_repeated_steps_keep_the_last_row_and_runs_without_evaluations_are_skipped_with_a_warning(tmp_path, capsys):
    run = fake_run(tmp_path / "a", "gcivl", MEDIUM, 0, [0.1, 0.2, 0.9, 0.3], steps=[100, 200, 300, 300])  # resumed: 300 logged twice
    scores = read_run(run, last=3)
    assert list(scores.steps) == [100, 200, 300] and scores.score == pytest.approx(0.2)
    (fake_run(tmp_path / "b", "gcivl", MEDIUM, 1, [0.5]) / "eval.csv").unlink()
    report([tmp_path], out=tmp_path / "out")
    captured = capsys.readouterr()
    assert "no eval.csv" in captured.err and "skipped" in captured.err and "Traceback" not in captured.err
    assert "GCIVL" in captured.out and (tmp_path / "out" / "report.md").exists()


def test_clear_errors_and_the_command_line(tmp_path, sweep_root, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(GcrlError, match="No runs found"):
        report([tmp_path / "empty"])
    with pytest.raises(GcrlError, match="--last"):
        report([sweep_root], last=0)
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["report", str(sweep_root), "--out", str(tmp_path / "out"), "--last", "2"]) == 0
    out = capsys.readouterr().out
    assert "SAW-beta0" in out and "(97 ± 2)" in out and "Traceback" not in out
    assert (tmp_path / "out" / "report.md").exists()


def test_unfinished_runs_are_left_out_unless_asked_for(tmp_path, capsys):
    fake_run(tmp_path / "runs" / "done", "gcivl", MEDIUM, 0, [0.5, 0.5, 0.5])
    fake_run(tmp_path / "runs" / "training", "gcivl", MEDIUM, 1, [0.1], finished=None)  # no summary.json yet
    fake_run(tmp_path / "runs" / "interrupted", "gcivl", MEDIUM, 2, [0.1, 0.2], finished=False)
    report([tmp_path / "runs"], out=tmp_path / "a")
    assert "2 unfinished run(s) left out" in capsys.readouterr().err
    assert "| GCIVL | 0 | 500 |" not in (tmp_path / "a" / "report.md").read_text()
    assert "50.0 ± 0.0 [n=1]" in (tmp_path / "a" / "report.md").read_text() or "**50.0 ± 0.0**" in (tmp_path / "a" / "report.md").read_text()
    report([tmp_path / "runs"], out=tmp_path / "b", unfinished=True)
    assert len([line for line in (tmp_path / "b" / "report.md").read_text().splitlines() if line.startswith(f"| {MEDIUM} | GCIVL |")]) == 3


def test_a_results_page_with_intro_sections_and_a_maze_picture_per_dataset(tmp_path, sweep_root):
    for seed in range(3):  # the final maze pictures train.py leaves: stand-ins, copied byte for byte
        (sweep_root / MEDIUM / "hiql" / f"seed{seed}" / "eval").mkdir()
        (sweep_root / MEDIUM / "hiql" / f"seed{seed}" / "eval" / "maze_step_00000400.png").write_bytes(b"hiql%d" % seed)
    (tmp_path / "intro.md").write_text("Rerun: `make results`.\n")
    (tmp_path / "extra.md").write_text("## Flat against hierarchical\n\n| a | b |\n")
    assert main(["report", str(sweep_root), "--out", str(tmp_path / "page"), "--name", "README.md", "--intro", str(tmp_path / "intro.md"),
                 "--include", str(tmp_path / "extra.md")]) == 0  # fmt: skip
    page = (tmp_path / "page" / "README.md").read_text()
    assert page.index("Rerun: `make results`.") < page.index("| dataset |") < page.index("## Flat against hierarchical")
    # HIQL is medium's best (70 against SAW's 63.3); large has no pictures, so no maze for it
    assert (tmp_path / "page" / f"maze-{MEDIUM}.png").read_bytes() == b"hiql0"
    assert f"![{MEDIUM}](maze-{MEDIUM}.png)" in page and f"maze-{LARGE}.png" not in page
    assert "HIQL, seed 0, at 400 updates" in page
    assert main(["report", str(sweep_root), "--out", str(tmp_path / "x"), "--include", str(tmp_path / "nope.md")]) == 2


def test_the_page_gives_each_agent_its_median_updates_per_second_and_each_run_its_own(tmp_path):
    root = tmp_path / "runs"
    for seed, speed in enumerate([80.0, 90.0, 200.0]):
        fake_run(root / MEDIUM / "saw" / f"seed{seed}", "saw", MEDIUM, seed, [0.5], updates_per_s=speed)
    fake_run(root / MEDIUM / "gcbc" / "seed0", "gcbc", MEDIUM, 0, [0.1])  # an untimed run (older summary): no figure, no error
    page = report([root], out=tmp_path / "page").read_text()
    speed_header = page.index("| SAW |", page.index("Training speed"))
    assert page[speed_header:].splitlines()[2] == "| 90 |"  # the median, and GCBC has no column
    assert "| pointmaze-medium-navigate-v0 | SAW | 2 | 100 | 50.0 | 50.0 | 200 |" in page
    assert "| pointmaze-medium-navigate-v0 | GCBC | 0 | 100 | 10.0 | 10.0 | - |" in page
