"""gcrl's SAC update side by side with OGBench's (impls/agents/sac.py): the published agent is built
with its get_config at the ant's sizes (observations 29, actions 8), its initial parameters and key
are handed to gcrl's, and both run the same 20 updates on the same batches; compared are every
update's metrics and the parameters after the 20 (Adam, the temperature and the target critic
included). float32 sums in another order differ by ~1e-6; a difference of method shows at 1e-3.

    python benchmarks/published_sac_check.py --published SNAPSHOT/impls --python ENV/bin/python

The published side runs under its own interpreter (its jax, flax, distrax); it writes results/experts/update_check.md.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from gcrl.experts.sac import Config, Sac, SacState

OUT = Path("results/experts/update_check.md")
OBS, ACT, BATCH, UPDATES = 29, 8, 256, 20

# Runs under the published interpreter: the agent, its initial parameters and key, 20 updates.
PUBLISHED_SIDE = textwrap.dedent("""
    import sys
    import jax, numpy as np
    sys.path.insert(0, sys.argv[1])
    from agents.sac import SACAgent, get_config
    from flax.traverse_util import flatten_dict
    data = dict(np.load(sys.argv[2]))
    batches = [{k: data[f"{i}/{k}"] for k in ("observations", "actions", "rewards", "masks", "next_observations")} for i in range(int(data["updates"]))]
    agent = SACAgent.create(0, batches[0]["observations"][0], batches[0]["actions"][0], get_config())
    out = {f"init/{'/'.join(k)}": np.asarray(v) for k, v in flatten_dict(agent.network.params).items()}
    out["init_key"] = np.asarray(agent.rng)
    for i, batch in enumerate(batches):
        agent, info = agent.update(batch)
        out.update({f"info{i}/{k}": np.asarray(v) for k, v in info.items()})
    out.update({f"final/{'/'.join(k)}": np.asarray(v) for k, v in flatten_dict(agent.network.params).items()})
    np.savez(sys.argv[3], **out)
""")

# published ModuleDict names -> gcrl's parameter paths
ACTOR = {"actor_net/Dense_0": "MLP_0/Dense_0", "actor_net/Dense_1": "MLP_0/Dense_1", "mean_net": "Dense_0", "log_std_net": "Dense_1"}


def to_gcrl(flat: dict, prefix: str) -> tuple[dict, dict]:
    """(params, target critic) in gcrl's layout from the published flat parameters under `prefix`."""

    def tree(module: str, renames: dict) -> dict:
        out: dict = {}
        for key, value in flat.items():
            if not key.startswith(f"{prefix}/modules_{module}/"):
                continue
            path = key[len(f"{prefix}/modules_{module}/"):]
            for old, new in renames.items():
                if path.startswith(old + "/"):
                    path = new + path[len(old):]
            node = out
            *parents, leaf = path.split("/")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = jnp.asarray(value)
        return {"params": out}

    critic_names = {"value_net": "VmapMLP_0"}
    params = {"actor": tree("actor", ACTOR), "critic": tree("critic", critic_names), "log_alpha": jnp.asarray(flat[f"{prefix}/modules_alpha/log_value"])}
    return params, tree("target_critic", critic_names)


def batches(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    out = {"updates": np.asarray(UPDATES)}
    for i in range(UPDATES):
        out[f"{i}/observations"] = rng.normal(size=(BATCH, OBS)).astype(np.float32)
        out[f"{i}/actions"] = rng.uniform(-1, 1, (BATCH, ACT)).astype(np.float32)
        out[f"{i}/rewards"] = rng.normal(0, 0.1, BATCH).astype(np.float32)
        out[f"{i}/masks"] = (rng.uniform(size=BATCH) > 0.05).astype(np.float32)
        out[f"{i}/next_observations"] = rng.normal(size=(BATCH, OBS)).astype(np.float32)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--published", required=True, help="OGBench's impls/ folder")
    parser.add_argument("--python", required=True, help="an interpreter that runs the published code")
    args = parser.parse_args()
    data = batches()
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "batches.npz", **data)
        subprocess.run([args.python, "-c", PUBLISHED_SIDE, str(Path(args.published).resolve()), str(Path(tmp) / "batches.npz"), str(Path(tmp) / "out.npz")], check=True)
        published = dict(np.load(Path(tmp) / "out.npz"))

    sac = Sac(Config(), OBS, ACT)
    params, target = to_gcrl(published, "init")
    state = SacState(params, target, sac.tx.init(params), jnp.asarray(published["init_key"]), jnp.zeros((), jnp.int32))
    update = jax.jit(sac.update)
    rows, worst = [], 0.0
    for i in range(UPDATES):
        batch = {k: jnp.asarray(data[f"{i}/{k}"]) for k in ("observations", "actions", "rewards", "masks", "next_observations")}
        state, metrics = update(state, batch)
        for key, value in metrics.items():
            theirs = float(published[f"info{i}/{key}"])
            diff = abs(float(value) - theirs) / max(1.0, abs(theirs))
            worst = max(worst, diff)
            if i in (0, UPDATES - 1):
                rows.append(f"| {i + 1} | {key} | {float(value):.6g} | {theirs:.6g} | {diff:.1e} |")
    final, final_target = to_gcrl(published, "final")
    leaves = {"params": (state.params, final), "target critic": (state.target_critic, final_target)}
    param_rows = []
    for name, (ours, theirs) in leaves.items():
        diffs = jax.tree_util.tree_map(lambda a, b: float(jnp.abs(a - b).max()), ours, theirs)
        param_rows.append(f"| {name} | {max(jax.tree_util.tree_leaves(diffs)):.1e} |")
    page = "\n".join([
        "# gcrl's SAC update beside OGBench's", "",
        f"`python benchmarks/published_sac_check.py --published SNAPSHOT/impls --python ENV/bin/python`: the published agent "
        f"(impls/agents/sac.py, get_config; observations {OBS}, actions {ACT}, batch {BATCH}) initialises the parameters and the key; "
        f"gcrl's starts from them and both run the same {UPDATES} updates on the same batches.", "",
        f"Largest relative difference of any metric over the {UPDATES} updates: **{worst:.1e}**.", "",
        "| update | metric | gcrl | published | relative difference |", "| --- | --- | --- | --- | --- |", *rows, "",
        f"Largest absolute difference of any parameter after {UPDATES} updates:", "", "| parameters | max abs difference |", "| --- | --- |", *param_rows, "",
    ])  # fmt: skip
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(page)
    print(page)


if __name__ == "__main__":
    main()
