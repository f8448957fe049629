"""The published half of published_update_check.py; runs under the published code's interpreter.

    python published_update_side.py IMPLS_DIR AGENT ARRAYS.npz FLAGS_JSON

Builds the published AGENT (get_config, then FLAGS_JSON's {key: value text}, as main.py's
--agent.key=value flags), replaces every parameter (targets included) by gcrl's from ARRAYS,
computes the published total_loss and its gradient on ARRAYS' first batch, then runs the published
update (Adam, then the target update) on each of ARRAYS' batches in turn, and prints one JSON line:
both losses, the largest relative gradient difference, and the largest relative difference of the
parameters after the updates.
Imports nothing of gcrl: only the published code and what it needs.
"""

import ast
import importlib
import json
import sys

import jax
import numpy as np
from flax.traverse_util import flatten_dict, unflatten_dict


def main(impls: str, name: str, arrays_path: str, settings_json: str) -> dict:
    sys.path.insert(0, impls)
    from agents import agents  # the published registry

    arrays = dict(np.load(arrays_path))
    batches = {k[len("batch:"):]: v for k, v in arrays.items() if k.startswith("batch:")}  # [updates, B, ...]
    first = {k: v[0] for k, v in batches.items()}
    config = importlib.import_module(f"agents.{name}").get_config()
    for key, text in json.loads(settings_json).items():  # main.py's --agent.KEY=VALUE flags
        config[key] = ast.literal_eval(text)
    agent = agents[name].create(0, first["observations"][:1], first["actions"][:1], config)
    initialisation = init_difference(agent.network.params, arrays, "param:")
    params = gcrl_parameters(name, agent.network.params, arrays, "param:")
    agent = agent.replace(network=agent.network.replace(params=params))

    def loss_fn(grad_params):
        return agent.total_loss(first, grad_params, rng=jax.random.PRNGKey(0))

    (loss, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    gradient_worst, gradient_leaf, leaves = largest_difference(grads, arrays, "grad:", lambda key, mine, theirs: max(np.abs(mine).max(), np.abs(theirs).max()))

    for i in range(len(batches["observations"])):
        agent, _ = agent.update({k: v[i] for k, v in batches.items()})
    # Parameters after the updates: |theta_gcrl - theta_published| / |theta_gcrl - theta_start| per leaf (L2).
    moved = lambda key, mine, theirs: np.linalg.norm(mine - arrays["param:" + key])  # noqa: E731
    params_worst, params_leaf, params_leaves = largest_difference(agent.network.params, arrays, "final:", moved, norm=np.linalg.norm)
    return {"agent": name, "loss_gcrl": float(arrays["loss"]), "loss_published": float(loss), "worst": gradient_worst,
            "worst_leaf": gradient_leaf, "leaves": leaves, "updates": len(batches["observations"]),
            "params_worst": params_worst, "params_leaf": params_leaf, "params_leaves": params_leaves, **initialisation}  # fmt: skip


def gcrl_parameters(name: str, published: dict, arrays: dict, prefix: str) -> dict:
    """The published parameter tree filled with gcrl's arrays; every name and shape must line up."""
    flat = flatten_dict(published)
    names = {"/".join(k) for k in flat}
    ours = {k[len(prefix):] for k in arrays if k.startswith(prefix)}
    if names != ours:
        raise SystemExit(f"{name}: parameter names do not line up; published only: {sorted(names - ours)}; gcrl only: {sorted(ours - names)}")
    filled = {}
    for key, value in flat.items():
        mine = arrays[prefix + "/".join(key)]
        if mine.shape != value.shape:
            raise SystemExit(f"{name}: {'/'.join(key)} is {value.shape} there, {mine.shape} in gcrl")
        filled[key] = mine
    return unflatten_dict(filled)


def largest_difference(tree: dict, arrays: dict, prefix: str, scale, norm=lambda x: np.abs(x).max()):
    """Over the leaves gcrl has under `prefix`: the largest norm(theirs - mine) / scale(...), its leaf, and the count."""
    worst, worst_leaf, leaves = 0.0, "", 0
    for key, theirs in flatten_dict(tree).items():
        leaf = "/".join(key)
        if prefix + leaf not in arrays:  # e.g. a target network's gradient: none on either side
            continue
        mine, theirs = arrays[prefix + leaf], np.asarray(theirs)
        err = float(norm(theirs - mine)) / max(float(scale(leaf, mine, theirs)), 1e-12)
        leaves += 1
        if err > worst:
            worst, worst_leaf = err, leaf
    return worst, worst_leaf, leaves


def init_difference(published: dict, arrays: dict, prefix: str) -> dict:
    """gcrl's initial parameters against the published initialisation, online leaves only: a
    constant leaf (biases, layer-norm scales, log stds) must hold the same constant; a random one
    the same distribution, compared by the largest |value| (a uniform initialiser's bound, which n
    draws reach within about 1/n; a normal one's lies far beyond) and by the standard deviation."""
    worst_bound, worst_std, constants, constants_equal = (0.0, ""), (0.0, ""), 0, 0
    for key, theirs in flatten_dict(published).items():
        leaf = "/".join(key)
        if leaf.startswith("modules_target_"):
            continue
        theirs, mine = np.asarray(theirs), arrays[prefix + leaf]
        if np.all(theirs == theirs.flat[0]):
            constants += 1
            constants_equal += int(np.all(mine == theirs.flat[0]))
            continue
        bound = abs(np.abs(mine).max() / np.abs(theirs).max() - 1)
        std = abs(mine.std() / theirs.std() - 1)
        worst_bound, worst_std = max(worst_bound, (float(bound), leaf)), max(worst_std, (float(std), leaf))
    return {"init_bound": worst_bound[0], "init_bound_leaf": worst_bound[1], "init_std": worst_std[0],
            "init_std_leaf": worst_std[1], "init_constants": constants, "init_constants_equal": constants_equal}  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:5])))
