"""gcrl's batch sampler side by side with the published code's: do both draw the same states,
goals, subgoals and waypoints, in the same proportions?

`published_update_check.py` shows that gcrl's updates equal the published ones on the same batches;
this check covers what feeds them. Both samplers read one copy of the real dataset in which every
row's observation is its own row index, so a sampled observation names the row it came from. For
each agent, gcrl (its resolved pointmaze configuration and its jitted sampler) and the published
code (its get_config, the same flags as side_by_side.py, its GCDataset or HGCDataset, under the
published interpreter) each draw 1,000 batches of 1,024. Every sampled row is then put in one
category by where it lies against the transition's state s_t, computed here from the raw
terminals (not from gcrl's dataset code):

- goals, subgoals, waypoints and next states: s_t itself, the trajectory's last transition row
  (where every rule clips), ahead of t in its trajectory by 1, 2, 3-4, 5-8, ..., 513+ steps,
  behind t, its trajectory's final observation (no goal should be there), or another trajectory
  (by tenth of that trajectory, and its final observation);
- states s_t: by tenth of the trajectory, and the final observation (never a state);
- waypoints, also against the actor goal: the same categories with the waypoint in place of s_t.

The table gives each side's shares of the main categories, the total variation distance between
the two sides' category distributions, the same distance between two gcrl draws of other seeds
(what sampling noise alone gives), and a chi-square test of homogeneity. A difference of method
(say geometric goals where the published code draws them uniformly, or a clip at the final
observation instead of the last transition) moves the distance far above the floor.

    python benchmarks/published_sampler_check.py --published SNAPSHOT/impls --python ENV/bin/python

It writes results/side_by_side/sampler_check.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import jax
import numpy as np
from scipy.stats import chi2_contingency

from gcrl import agents, config as gcrl_config
from gcrl.data.load import dataset_dir, load
from gcrl.data.sampling import sample_batch, to_device
from gcrl.train import data_spec
from published_update_check import DATASET, HIERARCHICAL, HIERARCHICAL_KEYS, published_parser
from side_by_side import published_flags

OUT = Path("results/side_by_side/sampler_check.md")
SIDE = Path(__file__).with_name("published_sampler_side.py")
AHEAD_BINS = 11  # offsets 1, 2, 3-4, ..., 513-1024
TENTHS = 10
# Category codes (see `relation`): 0 at t, 1 trajectory end, 2.. ahead bins, then behind, final
# observation, another trajectory's tenths, another trajectory's final observation.
AT_T, AT_END, AHEAD = 0, 1, 2
BEHIND = AHEAD + AHEAD_BINS
FINAL_OBS = BEHIND + 1
OTHER = FINAL_OBS + 1
OTHER_FINAL_OBS = OTHER + TENTHS
CATEGORIES = OTHER_FINAL_OBS + 1
# Keys a published configuration marks unused and draws by its own rule (GCBC's value goals from the
# trajectory, QRL's and CRL's rewards as 0/1): neither side's loss reads them (tests/test_batch_keys.py).
UNUSED = {"gcbc": {"value_goals", "rewards"}, "qrl": {"rewards"}, "crl": {"rewards"}}


class Trajectories:
    """Trajectory facts per raw row, from the raw terminals alone (1 marks a final observation)."""

    def __init__(self, terminals: np.ndarray):
        final_obs = np.nonzero(terminals > 0)[0]
        self.traj = np.searchsorted(final_obs, np.arange(len(terminals)))
        starts = np.concatenate([[0], final_obs[:-1] + 1])
        self.start, self.final_obs = starts[self.traj], final_obs[self.traj]

    def tenth(self, rows):
        length = self.final_obs[rows] - self.start[rows]  # transitions in the row's trajectory
        return np.minimum((rows - self.start[rows]) * TENTHS // length, TENTHS - 1)

    def position(self, rows) -> np.ndarray:
        """States: the tenth of their trajectory, or FINAL_OBS."""
        return np.where(rows == self.final_obs[rows], FINAL_OBS, OTHER + self.tenth(rows))

    def relation(self, t, g) -> np.ndarray:
        """Where row g lies against row t (the category codes above)."""
        same = self.traj[g] == self.traj[t]
        end = self.final_obs[t] - 1
        offset = np.maximum(g - t, 1)
        ahead_bin = np.minimum(np.ceil(np.log2(offset)).astype(int), AHEAD_BINS - 1)
        in_traj = np.select(
            [g == t, g == end, g == self.final_obs[t], g < t],
            [AT_T, AT_END, FINAL_OBS, BEHIND],
            AHEAD + ahead_bin,
        )
        elsewhere = np.where(g == self.final_obs[g], OTHER_FINAL_OBS, OTHER + self.tenth(g))
        return np.where(same, in_traj, elsewhere)


def index_dataset(path: Path) -> dict:
    """The raw dataset with each row's observation replaced by (row index, 0)."""
    with np.load(dataset_dir() / f"{DATASET}.npz") as raw:
        arrays = {"actions": raw["actions"], "terminals": raw["terminals"]}
    rows = len(arrays["terminals"])
    if rows >= 2**24:
        raise SystemExit(f"{rows} rows: float32 observations cannot hold every index exactly")
    arrays["observations"] = np.stack([np.arange(rows), np.zeros(rows)], axis=1).astype(np.float32)
    np.savez(path, **arrays)
    return arrays


def gcrl_draw(name: str, dataset, data, batches: int, batch_size: int, seed: int) -> dict:
    """Row indices of `batches` gcrl batches, in the published batch's key names."""
    _, cfg = gcrl_config.resolve(name, DATASET, "cpu")
    sampler = agents.get(name).make(cfg, data_spec(dataset)).sampler
    draw = jax.jit(lambda key: sample_batch(data, key, batch_size, sampler))
    drawn = [draw(k) for k in jax.random.split(jax.random.PRNGKey(seed), batches)]
    names = HIERARCHICAL_KEYS if name in HIERARCHICAL else {}
    out = {names.get(k, k): np.concatenate([np.asarray(b[k])[:, 0] for b in drawn]).astype(np.int64)
           for k, v in drawn[0].items() if v.ndim == 2 and k != "actions"}  # fmt: skip
    out.update({k: np.concatenate([np.asarray(b[k]) for b in drawn]) for k in ("rewards", "masks")})
    return out


def published_draw(args, name: str, path: Path, scratch: Path) -> dict:
    out = scratch / f"{name}-published.npz"
    settings = dict(flag[len("--agent."):].split("=", 1) for flag in published_flags(name))
    command = [args.python, str(SIDE.resolve()), str(args.published.resolve()), name, str(path), json.dumps(settings),
               str(args.batches), str(args.batch_size), str(args.seed), str(out)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{name}: the published side failed:\n{done.stderr[-3000:]}")
    with np.load(out) as arrays:
        return dict(arrays)


def categories(trajs: Trajectories, draw: dict, key: str) -> np.ndarray:
    t = draw["observations"]
    if key == "observations":
        return trajs.position(t)
    if key == "waypoints vs actor goals":
        return trajs.relation(draw["high_actor_targets"], draw["high_actor_goals"])
    return trajs.relation(t, draw[key])


def compare(trajs: Trajectories, published: dict, gcrl: dict, floor: dict, key: str) -> dict:
    counts = [np.bincount(categories(trajs, d, key), minlength=CATEGORIES) for d in (published, gcrl, floor)]
    shares = [c / c.sum() for c in counts]
    table = np.stack(counts[:2])
    table = table[:, table.sum(0) > 0]
    p_value = chi2_contingency(table)[1] if table.shape[1] > 1 else 1.0
    tv = lambda a, b: 0.5 * float(np.abs(a - b).sum())  # noqa: E731
    groups = {"at s_t": [AT_T], "end": [AT_END], "ahead": list(range(AHEAD, BEHIND)), "behind": [BEHIND],
              "final obs": [FINAL_OBS, OTHER_FINAL_OBS], "elsewhere": list(range(OTHER, OTHER_FINAL_OBS))}  # fmt: skip
    return {"key": key, "n": int(counts[0].sum()), "tv": tv(shares[0], shares[1]), "floor": tv(shares[1], shares[2]),
            "p": float(p_value), "groups": {g: (shares[0][c].sum(), shares[1][c].sum()) for g, c in groups.items()}}  # fmt: skip


def check_agent(args, name: str, dataset, data, trajs: Trajectories, path: Path, scratch: Path) -> list[dict]:
    published = published_draw(args, name, path, scratch)
    gcrl = gcrl_draw(name, dataset, data, args.batches, args.batch_size, args.seed)
    floor = gcrl_draw(name, dataset, data, args.batches, args.batch_size, args.seed + 1000)
    if missing := sorted(set(published) - set(gcrl)):
        raise SystemExit(f"{name}: the published batch has {missing}, gcrl's has not")
    keys = [k for k in published if k not in ("rewards", "masks")]
    if "high_actor_targets" in published:
        keys.append("waypoints vs actor goals")
    rows = [compare(trajs, published, gcrl, floor, key) for key in keys]
    for row in rows:
        row["agent"] = name
    rows[0]["reward"] = (float(published["rewards"].mean()), float(gcrl["rewards"].mean()))
    return rows


def main(argv=None) -> None:
    parser = published_parser(__doc__)
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=1024)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / f"{DATASET}-indices.npz"
        trajs = Trajectories(index_dataset(path)["terminals"])
        dataset = load(str(path))
        data = to_device(dataset)
        for name in args.agents.split(","):
            agent_rows = check_agent(args, name, dataset, data, trajs, path, Path(scratch))
            for row in agent_rows:
                print(f"{name:6s} {row['key']:24s} TV {row['tv']:.4f} (gcrl against gcrl {row['floor']:.4f}), chi-square p {row['p']:.3f}", flush=True)
            rows += agent_rows
    write_table(rows, args)


def percent_pair(pair) -> str:
    return f"{100 * pair[0]:.1f} / {100 * pair[1]:.1f}"


def write_table(rows: list[dict], args) -> None:
    n = rows[0]["n"]
    lines = [
        "# gcrl's sampler against the published code's: the same rows in the same proportions",
        "",
        f"`python benchmarks/published_sampler_check.py --published SNAPSHOT/impls --python ENV/bin/python` (seed {args.seed}):",
        f"{DATASET}, each agent's pointmaze configuration, {args.batches} batches of {args.batch_size} ({n:,} samples) a side.",
        "Each sampled row is put in one of 26 categories by where it lies against the transition's state s_t (see the",
        "script's docstring); the shares below are published / gcrl, in %. *TV*: total variation distance between",
        "the two sides' category distributions; *floor*: the same between two gcrl draws of other seeds (sampling",
        "noise alone); *p*: chi-square test that both sides draw from one distribution.",
        "",
        "| agent | key | TV | floor | p | at s_t | last transition | ahead | behind | final obs | other trajectory |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        g = r["groups"]
        key = r["key"] + (" (read by neither loss)" if r["key"] in UNUSED.get(r["agent"], ()) else "")
        lines.append(f"| {r['agent']} | {key} | {r['tv']:.4f} | {r['floor']:.4f} | {r['p']:.2f} | {percent_pair(g['at s_t'])} | "
                     f"{percent_pair(g['end'])} | {percent_pair(g['ahead'])} | {percent_pair(g['behind'])} | "
                     f"{percent_pair(g['final obs'])} | {percent_pair(g['elsewhere'])} |")  # fmt: skip
    rewards = [f"{r['agent']} {r['reward'][0]:.4f} / {r['reward'][1]:.4f}" + (" (read by neither loss)" if "rewards" in UNUSED.get(r["agent"], ()) else "")
               for r in rows if "reward" in r]  # fmt: skip
    lines += ["", "Mean reward (published / gcrl): " + ", ".join(rewards) + "."]
    read = [r for r in rows if r["key"] not in UNUSED.get(r["agent"], ())]
    worst = max(read, key=lambda r: r["tv"])
    lines += ["", f"Over the {len(read)} comparisons of keys a loss reads: the largest TV is {worst['tv']:.4f} ({worst['agent']}, "
              f"{worst['key']}; floor {worst['floor']:.4f}); {sum(r['p'] < 0.05 for r in read)} have p < 0.05, where chance alone "
              f"gives about {0.05 * len(read):.1f} (agents with one configuration draw the same rows, so their tests repeat)."]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    sys.exit(main())
