"""gcrl's update side by side with the published code's: do the same parameters and the same
batches give the same loss, the same gradient, leaf by leaf, and the same parameters after 20
updates (Adam and the target update included)?

The success rates of `side_by_side.py` say whether gcrl and the published code learn alike, but
an evaluation moves by 10-20 points between checkpoints; this check is exact. For each agent gcrl:
- resolves its configuration for pointmaze-medium-navigate-v0 at the cpu size, draws 20 batches of
  the real dataset with its own sampler, initialises its parameters (and targets, which it moves
  away from the online parameters by a little noise, so that a loss reading the wrong copy shows);
- computes its loss and gradient on the first batch, then runs 20 updates; and the same 20 updates
  from parameters nudged by float32 rounding's size, the floor of what rounding alone grows to;
- hands parameters, targets and batches (in the published batch's key names) to the published
  agent, built with the same settings by `published_update_side.py` under the published code's
  Python, which computes the published `total_loss`, its gradient, and its 20 updates.
It also compares the parameters gcrl starts from with a published agent's initialisation: the
same bound of every uniformly drawn leaf, the same constant in every constant one.
float32 sums in another order differ by ~1e-6; a difference of method shows at 1e-3 or above
(gcrl with `--set expectile=0.7` for GCIVL: 0.7 on the first gradient). This check found one: the
published target update averages in the parameters from before the gradient step (gcrl did after).

Needs the published code (OGBench's impls/ with SAW's agents, as for side_by_side.py) and an
interpreter that runs it:

    python benchmarks/published_update_check.py --published SNAPSHOT/impls --python ENV/bin/python

It writes results/side_by_side/update_check.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import jax
import numpy as np
from flax.traverse_util import flatten_dict

from gcrl import agents, config as gcrl_config
from gcrl.data.load import load
from gcrl.data.sampling import sample_batch, to_device
from gcrl.learner import apply_update, init_state
from gcrl.train import data_spec
from side_by_side import published_flags

DATASET = "pointmaze-medium-navigate-v0"
AGENTS = ("gcbc", "gcivl", "hiql", "saw", "gciql", "qrl", "crl", "ris", "gcwae")
OUT = Path("results/side_by_side/update_check.md")
SIDE = Path(__file__).with_name("published_update_side.py")
# gcrl's batch keys -> the published batch's (HGCDataset's names for the hierarchical agents).
HIERARCHICAL_KEYS = {"actor_goals": "high_actor_goals", "subgoals": "low_actor_goals", "waypoints": "high_actor_targets"}
HIERARCHICAL = ("hiql", "saw", "ris", "gcwae")
# gcrl's module names -> the published ModuleDict's, per agent where they differ.
MODULE_NAMES = {"saw": {"subpolicy": "low_actor"}}
TARGET_NOISE = 1e-2
ROUNDING = 1e-7


def canonical(agent: str, path: tuple[str, ...]) -> str:
    """A gcrl parameter path in the published ModuleDict's naming, modules_<module>/<layers>."""
    module, rest = path[0], [p for p in path[1:] if p != "params"]
    module = MODULE_NAMES.get(agent, {}).get(module, module)
    if rest[0] == "GoalRep_0":  # the flat actor's own goal representation: a module of its own there
        module, rest = ("actor_goal_rep_def" if agent == "saw" else "actor_goal_rep"), rest[1:]
    head, tail = rest[0], rest[1:]
    if head in ("MLP_0", "VmapMLP_0"):  # the published wrapper around an MLP, by the module's kind
        kinds = {"value": "value_net", "critic": "value_net", "dynamics": None, "goal_rep": "layers_0",
                 "actor_goal_rep": "layers_0", "actor_goal_rep_def": "layers_0"}  # fmt: skip
        head = kinds.get(module, "actor_net")
    else:
        head = {"Dense_0": "mean_net", "phi_net": "phi", "psi_net": "psi", "mix_logit": "alpha/value", "log_lam": "log_value"}[head]
    return "/".join(["modules_" + module, *([head] if head else []), *tail])


def named(agent_name: str, prefix: str, tree: dict, target: bool = False) -> dict:
    """A parameter tree as {prefix + published name: array}."""
    out = {}
    for path, value in flatten_dict(tree).items():
        name = canonical(agent_name, path)
        out[prefix + (name.replace("modules_", "modules_target_", 1) if target else name)] = np.asarray(value)
    return out


def relative_change_difference(a, b, start) -> float:
    """|a - b| / |a - start| (L2): two runs' parameters against how far the updates moved them."""
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b)) / max(float(np.linalg.norm(np.asarray(a) - np.asarray(start))), 1e-12))


def gcrl_side(agent_name: str, dataset, data, seed: int, updates: int, sets: dict[str, str]) -> dict:
    """One gcrl agent's parameters, targets, `updates` batches (in the published key names), the
    loss and gradient on the first batch, and the parameters and targets after `updates` updates."""
    train_cfg, cfg = gcrl_config.resolve(agent_name, DATASET, "cpu", sets=sets)
    agent = agents.get(agent_name).make(cfg, data_spec(dataset))
    if len(agent.groups) != 1:
        raise SystemExit(f"{agent_name}: {len(agent.groups)} loss groups; this check compares one total loss.")
    state = init_state(agent, jax.random.PRNGKey(seed))
    k_batch, k_noise, k_loss = jax.random.split(jax.random.PRNGKey(seed + 1), 3)
    targets = {k: jax.tree.map(lambda x: x + TARGET_NOISE * jax.random.normal(k_noise, x.shape), state.params[k]) for k in agent.target_keys}
    state = state._replace(target_params=targets)
    batches = [sample_batch(data, k, train_cfg.batch_size, agent.sampler) for k in jax.random.split(k_batch, updates)]
    (loss, _), grads = jax.value_and_grad(agent.groups[0].loss, has_aux=True)(state.params, targets, batches[0], k_loss)
    out = {"loss": np.asarray(loss), **named(agent_name, "param:", state.params), **named(agent_name, "param:", targets, target=True),
           **named(agent_name, "grad:", grads)}  # fmt: skip
    step = jax.jit(lambda state, batch: apply_update(agent, state, batch, k_loss)[0])
    # The floor: the same updates from parameters perturbed by float32 rounding's size (1e-7 relative).
    nudged = state._replace(params=jax.tree.map(lambda x: x * (1 + ROUNDING * jax.random.normal(k_noise, x.shape)), state.params))
    start = state
    for batch in batches:
        state, nudged = step(state, batch), step(nudged, batch)
    out["rounding_floor"] = np.asarray(max(relative_change_difference(a, b, s) for a, b, s in
                                           zip(*(jax.tree.leaves(x.params) for x in (state, nudged, start)))))  # fmt: skip
    out.update({**named(agent_name, "final:", state.params), **named(agent_name, "final:", state.target_params, target=True)})
    names = HIERARCHICAL_KEYS if agent_name in HIERARCHICAL else {}
    for key in batches[0]:
        out["batch:" + names.get(key, key)] = np.stack([np.asarray(b[key]) for b in batches])
    return out


def published_parser(doc: str) -> argparse.ArgumentParser:
    """The options every check against the published code takes."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--published", type=Path, required=True, help="the published impls/ directory")
    parser.add_argument("--python", required=True, help="an interpreter that runs the published code")
    parser.add_argument("--agents", default=",".join(AGENTS))
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv=None) -> None:
    parser = published_parser(__doc__)
    parser.add_argument("--updates", type=int, default=20, help="updates to run on both sides before comparing the parameters")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="change a gcrl setting (not the published one), e.g. expectile=0.7 for GCIVL: the check must then fail")
    args = parser.parse_args(argv)
    dataset = load(DATASET)
    data = to_device(dataset)  # once: every agent samples from the same arrays
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.agents.split(","):
            arrays = gcrl_side(name, dataset, data, args.seed, args.updates, gcrl_config.parse_sets(args.set))
            path = Path(scratch) / f"{name}.npz"
            np.savez(path, **arrays)
            settings = dict(flag[len("--agent."):].split("=", 1) for flag in published_flags(name))
            done = subprocess.run([args.python, str(SIDE.resolve()), str(args.published.resolve()), name, str(path), json.dumps(settings)],
                                  capture_output=True, text=True)  # fmt: skip
            if done.returncode != 0:
                raise SystemExit(f"{name}: the published side failed:\n{done.stderr[-3000:]}")
            row = json.loads(done.stdout.strip().splitlines()[-1])
            row["rounding_floor"] = float(arrays["rounding_floor"])
            rows.append(row)
            print(f"{name:6s} loss gcrl {row['loss_gcrl']:.6f} published {row['loss_published']:.6f}  "
                  f"gradient difference {row['worst']:.1e} ({row['worst_leaf']}, {row['leaves']} leaves); "
                  f"after {row['updates']} updates, parameter difference {row['params_worst']:.1e} ({row['params_leaf']}; "
                  f"gcrl against itself from parameters nudged by {ROUNDING:g}: {row['rounding_floor']:.1e}); initialisation: "
                  f"largest |value| {row['init_bound']:.1e} apart ({row['init_bound_leaf']}), standard deviation {row['init_std']:.1e} "
                  f"({row['init_std_leaf']}), {row['init_constants_equal']} of {row['init_constants']} constant leaves equal", flush=True)
    if args.set:
        print(f"not writing {OUT}: gcrl ran with --set {' '.join(args.set)}")
    else:
        write_table(rows, args)


def write_table(rows: list[dict], args) -> None:
    updates = rows[0]["updates"]
    lines = [
        "# gcrl's update against the published code's: same parameters, same batches",
        "",
        f"`python benchmarks/published_update_check.py --published SNAPSHOT/impls --python ENV/bin/python` (seed {args.seed}):",
        f"{DATASET}, batches of 256 drawn by gcrl's sampler, cpu-sized networks, targets moved off the",
        f"online parameters by N(0, {TARGET_NOISE}^2) at the start.",
        "",
        "- *gradient*: on the first batch, over every parameter leaf, max |g_gcrl - g_published| / max(|g_gcrl|, |g_published|)",
        "  (float32 summation in another order alone gives ~1e-6);",
        f"- *after {updates} updates* (Adam and the target update on both sides): over every leaf, targets included,",
        "  |theta_gcrl - theta_published| / |theta_gcrl - theta_start| (L2);",
        f"- *rounding floor*: the same over the online parameters, for gcrl against itself started from parameters nudged by {ROUNDING:g} (relative):",
        "  what float rounding alone grows to over these updates.",
        "- *initialisation* (the parameters gcrl starts from against a published agent's, seed 0, online leaves): over the",
        "  leaves drawn at random, the largest |ratio - 1| of the largest |value| (a uniform initialiser's bound, reached",
        "  within about 1/n by n draws; a normal initialiser's lies far beyond) and of the standard deviation (sampling",
        "  noise: the published code's own seeds 0 and 1 give 0.0825 and 0.0869 for SAW's subpolicy's first kernel, 5% apart); and how many constant leaves (biases, layer-norm scales, log stds)",
        "  hold the same constant.",
        "",
        f"| agent | loss, gcrl | loss, published | gradient | after {updates} updates | rounding floor | init: largest value | init: std | init: constant leaves equal |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {r['agent']} | {r['loss_gcrl']:.6f} | {r['loss_published']:.6f} | {r['worst']:.1e} | {r['params_worst']:.1e} | {r['rounding_floor']:.1e} "
              f"| {r['init_bound']:.1e} | {r['init_std']:.1e} ({r['init_std_leaf']}) | {r['init_constants_equal']} of {r['init_constants']} |"
              for r in rows]  # fmt: skip
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}")

if __name__ == "__main__":
    sys.exit(main())
