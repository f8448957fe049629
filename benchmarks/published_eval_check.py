"""gcrl's evaluation side by side with the published code's: does one trained policy score the
same under both?

`published_update_check.py` and `published_sampler_check.py` cover training; this covers the
number a run reports. One gcrl run's policy (its last checkpoint, deterministic actions) is
evaluated twice on every task: by `gcrl.evaluate` (gcrl's environments, seeded resets, episodes in
lockstep) and by the published `utils/evaluation.py`'s `evaluate`, unchanged, in the environment
the published main.py makes (`ogbench.make_env_and_datasets(DATASET)`), the policy handed to it as
an agent whose `sample_actions` calls gcrl's. Per task, the two success rates and the z score of
their difference (two proportions; |z| > 2 about one time in twenty by chance alone).

    python benchmarks/published_eval_check.py RUN_DIR --published SNAPSHOT/impls [--episodes 100]

Runs under gcrl's interpreter (the published evaluation needs only numpy, jax, tqdm and ogbench).
It writes results/side_by_side/eval_check.md.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from gcrl.evaluate import evaluate
from gcrl.policy import load_policy, load_run
from gcrl.train import eval_env_name

OUT = Path("results/side_by_side/eval_check.md")
TASKS = (1, 2, 3, 4, 5)


class PublishedAgent:
    """What the published evaluate() calls: sample_actions(observations, goals, temperature, seed)."""

    def __init__(self, policy):
        self.policy = policy

    def sample_actions(self, observations, goals, temperature, seed):
        return self.policy(observations, goals)  # deterministic: gcrl's policy at temperature 0


def published_success(impls: Path, policy, dataset: str, episodes: int, seed: int) -> list[float]:
    sys.path.insert(0, str(impls.resolve()))
    import ogbench
    from utils.evaluation import evaluate as published_evaluate

    np.random.seed(seed)  # as main.py: the published evaluate draws its action key from numpy's stream
    env = ogbench.make_env_and_datasets(dataset, env_only=True)
    env.reset(seed=seed)  # main.py's env is seeded by its dataset helper's first reset; here explicitly
    agent = PublishedAgent(policy)
    return [float(published_evaluate(agent, env, task_id=t, config={"discrete": False}, num_eval_episodes=episodes)[0]["success"])
            for t in TASKS]  # fmt: skip


def z_score(p1: float, p2: float, n: int) -> float:
    pooled = (p1 + p2) / 2
    spread = math.sqrt(max(pooled * (1 - pooled) * 2 / n, 1e-12))
    return (p1 - p2) / spread


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, help="a gcrl run directory with a checkpoint")
    parser.add_argument("--published", type=Path, required=True, help="the published impls/ directory")
    parser.add_argument("--episodes", type=int, default=100, help="episodes per task on each side")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    train_cfg = load_run(args.run_dir)[0]
    env_name = eval_env_name(train_cfg)
    start = time.perf_counter()
    ours = evaluate(load_policy(args.run_dir), env_name, args.episodes, TASKS, seed=args.seed).per_task
    gcrl_s = time.perf_counter() - start
    start = time.perf_counter()
    theirs = published_success(args.published, load_policy(args.run_dir), train_cfg.dataset, args.episodes, args.seed)
    published_s = time.perf_counter() - start
    rows = [(t, a, b, z_score(a, b, args.episodes)) for t, a, b in zip(TASKS, ours, theirs)]
    for t, a, b, z in rows:
        print(f"task {t}: gcrl {100 * a:.0f}%, published {100 * b:.0f}%, z {z:+.2f}")
    write_table(args, train_cfg, rows, gcrl_s, published_s)


def write_table(args, train_cfg, rows, gcrl_s: float, published_s: float) -> None:
    mean = lambda i: 100 * float(np.mean([r[i] for r in rows]))  # noqa: E731
    overall_z = z_score(mean(1) / 100, mean(2) / 100, args.episodes * len(rows))
    lines = [
        "# One trained policy, evaluated by gcrl and by the published evaluate()",
        "",
        f"`python benchmarks/published_eval_check.py RUN --published SNAPSHOT/impls --episodes {args.episodes}`: the run's",
        f"{train_cfg.agent.upper()} policy ({train_cfg.dataset}, seed {train_cfg.seed}, {train_cfg.steps:,} updates), deterministic actions,",
        f"{args.episodes} episodes per task on each side; z: the difference in standard errors of two proportions.",
        f"gcrl's evaluation took {gcrl_s:.0f} s (episodes in lockstep), the published one {published_s:.0f} s (one episode at a time).",
        "",
        "| task | gcrl evaluate (%) | published evaluate (%) | z |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {t} | {100 * a:.0f} | {100 * b:.0f} | {z:+.2f} |" for t, a, b, z in rows]
    lines.append(f"| overall | {mean(1):.1f} | {mean(2):.1f} | {overall_z:+.2f} |")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    sys.exit(main())
