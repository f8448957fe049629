"""`gcrl report`: the papers' table and learning curves from run directories.

Each run is scored by the mean of its last K evaluations (eval.csv's `overall`). Runs are grouped by
dataset and agent label (the agent, plus a sweep variant's tag: SAW-beta0), and each cell is the mean
± std over seeds (numpy's std, ddof 0) in percent, beside the published number where there is one."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.markup import escape

from gcrl.console import console, err_console
from gcrl.data.files import atomic_path
from gcrl.errors import GcrlError
from gcrl.experiments import reference

REPORT = "report.md"


@dataclass
class RunScores:
    run_dir: Path
    dataset: str
    agent: str  # gcrl's name, e.g. saw
    label: str  # the table's column, e.g. SAW or SAW-beta0
    seed: int
    steps: np.ndarray  # evaluation steps, ascending
    success: np.ndarray  # overall success at those steps, 0..1
    score: float  # mean of the last K evaluations, 0..1
    train_cfg: object
    agent_cfg: object
    updates_per_s: float | None = None  # as the run's summary.json timed it (its last leg, if resumed)

    @property
    def updates(self) -> int:
        return int(self.steps[-1])


@dataclass
class Cell:
    mean: float  # percent
    std: float  # percent, over seeds
    runs: list[RunScores]

    @property
    def n(self) -> int:
        return len(self.runs)


def warn(text: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(text)}", highlight=False, soft_wrap=True)


def find_runs(paths) -> list[Path]:
    """Run directories (those holding config.json): the paths themselves, or found below them."""
    found: dict[Path, Path] = {}
    for path in map(Path, paths):
        if not path.exists():
            raise GcrlError(f"{path}: no such file or directory.")
        candidates = [path] if (path / "config.json").is_file() else sorted(p.parent for p in path.rglob("config.json"))
        for run_dir in candidates:
            found.setdefault(run_dir.resolve(), run_dir)
    return list(found.values())


def read_eval(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(steps, overall success) from eval.csv, by step; a resumed run may log a step twice: the last row wins."""
    rows: dict[int, float] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                rows[int(float(row["step"]))] = float(row["overall"])
            except (KeyError, TypeError, ValueError):
                continue
    steps = sorted(rows)
    return np.array(steps, dtype=np.int64), np.array([rows[s] for s in steps], dtype=np.float64)


def label_for(run_dir: Path, agent: str) -> str:
    """SAW for a sweep's .../saw/seed0 and for gcrl train's .../saw-seed0-TIME; SAW-beta0 for a sweep
    variant's .../saw-beta0/seed0."""
    if re.fullmatch(r"seed\d+", run_dir.name) and run_dir.parent.name.startswith(f"{agent}-"):
        return f"{agent.upper()}-{run_dir.parent.name[len(agent) + 1:]}"
    return agent.upper()


def is_finished(run_dir: Path) -> bool:
    """Whether the run trained all its updates: summary.json says so (written when a run ends)."""
    try:
        return bool(json.loads((run_dir / "summary.json").read_text()).get("finished"))
    except (OSError, ValueError, AttributeError):
        return False


def read_run(run_dir: Path, last: int) -> RunScores | None:
    """A run's scores, or None (with a warning) when it cannot be scored."""
    from gcrl.config import from_json
    from gcrl.data import load

    try:
        train_cfg, agent_cfg = from_json((run_dir / "config.json").read_text())
    except Exception as err:  # unreadable, or written by another version
        warn(f"{run_dir}: config.json cannot be read ({type(err).__name__}: {err}); skipped.")
        return None
    eval_path = run_dir / "eval.csv"
    if not eval_path.is_file():
        warn(f"{run_dir}: no eval.csv (evaluation was off, or the run has not been evaluated yet); skipped.")
        return None
    steps, success = read_eval(eval_path)
    if not len(steps):
        warn(f"{run_dir}: eval.csv holds no evaluations; skipped.")
        return None
    dataset = Path(train_cfg.dataset).stem if load.is_path(train_cfg.dataset) else train_cfg.dataset
    return RunScores(run_dir, dataset, train_cfg.agent, label_for(run_dir, train_cfg.agent), train_cfg.seed, steps, success,
                     float(success[-last:].mean()), train_cfg, agent_cfg, read_speed(run_dir))  # fmt: skip


def read_speed(run_dir: Path) -> float | None:
    """The run's updates/s from summary.json, or None where it has none."""
    try:
        speed = json.loads((run_dir / "summary.json").read_text())["timings"]["updates_per_s"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return float(speed) if speed else None


def speed_table(cells: dict[tuple[str, str], Cell]) -> list[str]:
    """Markdown lines: per column, the median updates/s of its runs (all datasets), or nothing if no run was timed."""
    speeds: dict[str, list[float]] = {}
    for (_, label), cell in cells.items():
        speeds.setdefault(label, []).extend(r.updates_per_s for r in cell.runs if r.updates_per_s)
    labels = [lab for lab in sorted(speeds, key=_column_key) if speeds[lab]]
    if not labels:
        return []
    return ["Training speed: updates/s, the median of each agent's runs (timed by each run, so runs that shared the machine "
            "with other work read low; `gcrl bench` compares agents side by side).", "",
            "| " + " | ".join(labels) + " |", "|" + " --- |" * len(labels),
            "| " + " | ".join(f"{np.median(speeds[lab]):,.0f}" for lab in labels) + " |"]  # fmt: skip


def aggregate(runs: list[RunScores], final: bool = False) -> dict[tuple[str, str], Cell]:
    """(dataset, label) -> mean and std over seeds of the runs' scores (or, with `final`, of their
    last evaluation), in percent."""
    groups: dict[tuple[str, str], list[RunScores]] = {}
    for run in runs:
        groups.setdefault((run.dataset, run.label), []).append(run)
    cells = {}
    for key, members in groups.items():
        scores = 100 * np.array([r.success[-1] if final else r.score for r in members])
        cells[key] = Cell(float(scores.mean()), float(scores.std()), sorted(members, key=lambda r: r.seed))
    return cells


def _row_key(dataset: str):
    order = list(reference.PUBLISHED)
    k = reference.key(dataset)
    return (order.index(k) if k in order else len(order), dataset)


def _column_key(label: str):
    agent, _, tag = label.partition("-")
    return (reference.AGENTS.index(agent) if agent in reference.AGENTS else len(reference.AGENTS), agent, tag)


def cell_text(cell: Cell, dataset: str, label: str, bold: bool = False, style: str = "markdown", usual_n: int | None = None) -> str:
    """'71.6 ± 2.0 (97 ± 2)': ours, then the published number for this agent (none for a variant)."""
    text = f"{cell.mean:.1f} ± {cell.std:.1f}"
    if bold:
        text = f"**{text}**" if style == "markdown" else f"[bold]{text}[/]"
    if usual_n is not None and cell.n != usual_n:
        text += f" [n={cell.n}]" if style == "markdown" else f" \\[n={cell.n}]"
    published = None if "-" in label else reference.published_text(dataset, label)
    if not published:
        return text
    return f"{text} ({published})" if style == "markdown" else f"{text}\n[dim]({published})[/]"


def table_rows(cells: dict[tuple[str, str], Cell], style: str = "markdown") -> tuple[list[str], list[list[str]]]:
    """Column labels, and per dataset its row of cell texts; the best mean of each row in bold (none
    where the best is 0: a row of failures has no winner)."""
    labels = sorted({label for _, label in cells}, key=_column_key)
    usual_n = Counter(c.n for c in cells.values()).most_common(1)[0][0]
    rows = []
    for dataset in sorted({d for d, _ in cells}, key=_row_key):
        means = [round(cells[(dataset, l)].mean, 1) for l in labels if (dataset, l) in cells]
        best = max(means)
        row = [dataset]
        for label in labels:
            cell = cells.get((dataset, label))
            row.append("-" if cell is None else cell_text(cell, dataset, label, best > 0 and round(cell.mean, 1) == best, style, usual_n))
        rows.append(row)
    return labels, rows


def _values(items) -> str:
    return " / ".join(str(v) for v in sorted(set(items)))


def budget_text(runs: list[RunScores], cells: dict, last: int) -> str:
    updates = " / ".join(f"{u:,}" for u in sorted({r.updates for r in runs}))
    hidden = _values("x".join(map(str, getattr(r.agent_cfg, "hidden", ()))) for r in runs)
    seeds = Counter(c.n for c in cells.values())
    usual = seeds.most_common(1)[0][0]
    seed_text = f"{usual} seed{'s' if usual != 1 else ''} per cell" + (" (cells marked [n=K] have K)" if len(seeds) > 1 else "")
    return (
        f"Budget: {updates} updates, {_values(r.train_cfg.preset for r in runs)} preset (batch {_values(r.train_cfg.batch_size for r in runs)}, "
        f"networks {hidden}), {_values(r.train_cfg.eval_episodes for r in runs)} episodes per task, {seed_text}. "
        f"Each run scores the mean of its last {last} evaluations; a cell is the mean ± std over seeds, in percent."
    )


def consistency_warnings(cells: dict[tuple[str, str], Cell]) -> list[str]:
    out = []
    for dataset in sorted({d for d, _ in cells}, key=_row_key):
        row = [r for (d, _), c in cells.items() if d == dataset for r in c.runs]
        updates = sorted({r.updates for r in row})
        if len(updates) > 1:
            out.append(f"{dataset}: its runs differ in update count ({', '.join(f'{u:,}' for u in updates)}); the row compares unequal budgets.")
    for (dataset, label), cell in sorted(cells.items()):
        repeated = [s for s, k in Counter(r.seed for r in cell.runs).items() if k > 1]
        if repeated:
            out.append(f"{dataset}, {label}: several runs with seed {', '.join(map(str, repeated))}; each counts as a sample.")
    return out


def curves(cells: dict[tuple[str, str], Cell], dataset: str) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, int]]:
    """Per label of a dataset: steps, mean and std (percent) over the seeds evaluated at each step."""
    out = []
    for (d, label), cell in sorted(cells.items(), key=lambda kv: _column_key(kv[0][1])):
        if d != dataset:
            continue
        steps = np.array(sorted({int(s) for r in cell.runs for s in r.steps}))
        at = [[100 * r.success[r.steps == s][0] for r in cell.runs if s in r.steps] for s in steps]
        out.append((label, steps, np.array([np.mean(v) for v in at]), np.array([np.std(v) for v in at]), cell.n))
    return out


def markdown(cells, runs, last: int, warnings: list[str], pictures: dict[str, str], out: Path, intro: str = "",
             mazes: dict[str, tuple[str, str]] | None = None, sections: list[str] = ()) -> str:  # fmt: skip
    labels, rows = table_rows(cells)
    speed = speed_table(cells)
    starred = any((reference.key(d), label.upper()) in reference.EXPECTILE_09 for d, label in cells)
    lines = [
        "# Results",
        "",
        *([intro.strip(), ""] if intro.strip() else []),
        "Success rate (%): ours as mean ± std over seeds, in parentheses the published number where there is one. "
        "**Bold**: the best of the row (ours).",
        "",
        "| dataset | " + " | ".join(labels) + " |",
        "| --- |" + " --- |" * len(labels),
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        budget_text(runs, cells, last),
        "",
        *([*speed, ""] if speed else []),
        f"In parentheses: {reference.SOURCE}." + (" `*`: value learning with expectile 0.9." if starred else ""),
    ]
    if warnings:
        lines += ["", "Warnings:", "", *(f"- {w}" for w in warnings)]
    if last > 1:  # where curves still rise at the end of a short budget, the last evaluation alone tells more
        final_labels, final_rows = table_rows(aggregate(runs, final=True))
        lines += ["", "At the last evaluation only:", "", "| dataset | " + " | ".join(final_labels) + " |", "| --- |" + " --- |" * len(final_labels),
                  *("| " + " | ".join(row) + " |" for row in final_rows)]  # fmt: skip
    lines += ["", "## Runs", "", f"| dataset | agent | seed | updates | mean of the last {last} evaluations (%) | last evaluation (%) | updates/s | run |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for (dataset, label), cell in sorted(cells.items(), key=lambda kv: (_row_key(kv[0][0]), _column_key(kv[0][1]))):
        for r in cell.runs:
            speed = f"{r.updates_per_s:,.0f}" if r.updates_per_s else "-"
            lines.append(f"| {dataset} | {label} | {r.seed} | {r.updates:,} | {100 * r.score:.1f} | {100 * r.success[-1]:.1f} | {speed} | {os.path.relpath(r.run_dir, out)} |")
    for section in sections:
        lines += ["", section.strip()]
    if pictures:
        lines += ["", "## Learning curves", ""]
        for dataset, name in pictures.items():
            lines += [f"![{dataset}]({name})", ""]
    if mazes:
        lines += ["", "## Mazes", ""]
        for dataset, (name, caption) in mazes.items():
            lines += [f"**{dataset}**: {caption}", "", f"![{dataset}]({name})", ""]
    return "\n".join(lines).rstrip() + "\n"


def copy_mazes(cells: dict[tuple[str, str], Cell], out: Path, label: str | None = None) -> dict[str, tuple[str, str]]:
    """Per dataset, the maze picture of one run's last evaluation, copied into `out`: the run of
    `label` (default: the best of the row) with the lowest seed. Datasets without one are left out."""
    mazes = {}
    for dataset in sorted({d for d, _ in cells}, key=_row_key):
        row = {lab: cell for (d, lab), cell in cells.items() if d == dataset}
        chosen = label.upper() if label and label.upper() in row else max(row, key=lambda lab: row[lab].mean)
        run = row[chosen].runs[0]
        picture = run.run_dir / "eval" / f"maze_step_{run.updates:08d}.png"
        if not picture.is_file():
            continue
        name = f"maze-{dataset}.png"
        with atomic_path(out / name) as tmp:
            shutil.copyfile(picture, tmp)
        caption = (f"{chosen}, seed {run.seed}, at {run.updates:,} updates: the first episodes of each task "
                   "(one colour per task; circles are starts, stars goals, dashed lines failed episodes).")  # fmt: skip
        mazes[dataset] = (name, caption)
    return mazes


def report(paths, out=None, last: int = 3, name: str = REPORT, intro=None, include=(), unfinished: bool = False,
           maze_agent: str | None = None) -> Path:  # fmt: skip
    """Write OUT/NAME (report.md), one learning-curve PNG per dataset and a maze picture per dataset,
    print the table; returns the page's path. `intro` and `include` are markdown files placed
    after the title and after the table; unfinished runs are left out unless `unfinished`."""
    from gcrl.experiments.plots import plot_curves

    if last < 1:
        raise GcrlError(f"--last must be at least 1, got {last}.")
    run_dirs = find_runs(paths)
    if not run_dirs:
        raise GcrlError(f"No runs found in {', '.join(map(str, paths))}: a run directory holds config.json (made by gcrl train or gcrl sweep).")
    texts = _read_texts([p for p in (intro, *include) if p])
    if not unfinished:
        running = [d for d in run_dirs if not is_finished(d)]
        if running:
            warn(f"{len(running)} unfinished run(s) left out (training, interrupted or failed; no finished summary.json), "
                 f"e.g. {running[0]}; pass --unfinished to include them.")  # fmt: skip
        run_dirs = [d for d in run_dirs if d not in running]
    runs = [r for r in (read_run(d, last) for d in run_dirs) if r is not None]
    if not runs:
        raise GcrlError(f"None of the {len(run_dirs)} run(s) found has evaluations to report (eval.csv); evaluate them with gcrl evaluate, or train with --eval-episodes > 0.")
    cells = aggregate(runs)
    warnings = consistency_warnings(cells)
    short = [r for r in runs if len(r.steps) < last]
    if short:
        counts = ", ".join(map(str, sorted({len(r.steps) for r in short})))
        warnings.append(f"{len(short)} run(s) have fewer than {last} evaluations ({counts}), e.g. {short[0].run_dir}; each is scored on the evaluations it has.")
    for text in warnings:
        warn(text)

    out = Path(out if out is not None else paths[0])
    pictures = {}
    for dataset in sorted({d for d, _ in cells}, key=_row_key):
        picture = f"curves-{dataset}.png"
        plot_curves(f"{dataset}: success over training (mean ± std over seeds)", curves(cells, dataset), out / picture)
        pictures[dataset] = picture
    mazes = copy_mazes(cells, out, maze_agent)
    path = out / name
    with atomic_path(path) as tmp:
        page = markdown(cells, runs, last, warnings, pictures, out, texts.get(intro, ""), mazes, [texts[p] for p in include])
        tmp.write_text(page)

    _print_table(cells)
    console.print(budget_text(runs, cells, last), highlight=False, markup=False)
    console.print(f"Wrote {path}, {len(pictures)} learning-curve and {len(mazes)} maze picture(s) in {out}", highlight=False, markup=False)
    return path


def _read_texts(paths) -> dict:
    """Each markdown file's text, or one error naming the file that cannot be read."""
    texts = {}
    for path in paths:
        try:
            texts[path] = Path(path).read_text()
        except OSError as err:
            raise GcrlError(f"{path}: cannot be read ({err.strerror or err}); --intro and --include take markdown files.") from None
    return texts


def _print_table(cells) -> None:
    from rich.table import Table

    labels, rows = table_rows(cells, style="rich")
    table = Table(title="Success (%), mean ± std over seeds (published)")
    table.add_column("dataset", no_wrap=True)
    for column in labels:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
