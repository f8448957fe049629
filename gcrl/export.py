"""A trained policy as one file that runs with JAX alone (`gcrl export RUN --out FILE`).

The file is JAX's own serialized export (jax.export: the StableHLO of the policy, its parameters
inside as constants), so a process with only jax (and flatbuffers, which jax.export's format needs)
can act with it, gcrl never imported:

    import jax, numpy as np
    policy = jax.export.deserialize(open("policy.jax", "rb").read())
    action = policy.call(observation, goal)            # [B, *obs] each -> [B, *action], any B
    action = policy.call(observation, goal, key)       # exported with --sample: key = jax.random.PRNGKey(s)

Beside FILE, FILE.json (the sidecar) says what goes in and out: the agent, dataset, run and update
it came from, each function's inputs and output with shapes and dtypes, the action bounds, the
platforms, gcrl's and jax's versions.

What the flat file computes is the agent's own act, the one `gcrl evaluate` and `gcrl.load_policy`
run: for hiql and hbc that is the published two-level rule, a new subgoal every step (action =
low(s, high(s, g))). With --levels, agents that have a high level (hiql, hbc, and ris and gcwae,
whose high level trains beside a flat actor) also get FILE's two levels as files of their own,
FILE.high.jax and FILE.low.jax (the suffix before .jax kept: policy.jax -> policy.high.jax), so a
controller can replan on its own schedule: keep high's subgoal for n steps (`--replan every:n`), or
until the low level has reached it. The subgoal is what the high level proposes: HIQL's z = phi(s, w)
(normalised to length sqrt(dim)), or an observation (hbc, ris, gcwae).

Sampled exports (--sample) take a key (uint32[2], jax.random.PRNGKey's raw form; with typed keys pass
jax.random.key_data(key)) and draw at --temperature; the default export acts with the mode, as
evaluation does. Pixel policies take uint8 images, as the datasets store them.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from gcrl.errors import GcrlError

PLATFORMS = ("cpu", "cuda", "rocm", "tpu")


@dataclass(frozen=True)
class ExportOptions:
    sample: bool = False  # a key argument, actions drawn at `temperature`; else the mode
    temperature: float = 1.0
    batch: bool = True  # a symbolic leading batch dimension; False: one observation, no batch axis
    platforms: tuple[str, ...] = ("cpu",)
    levels: bool = False  # also the high and low levels, each a file of its own


def parse_platforms(text: str) -> tuple[str, ...]:
    names = tuple(p.strip().lower() for p in text.split(",") if p.strip())
    unknown = [p for p in names if p not in PLATFORMS]
    if not names or unknown:
        raise GcrlError(f"--platforms: expected a comma-separated list of {', '.join(PLATFORMS)}, got '{text}'.")
    return names


def level_paths(out: Path) -> dict[str, Path]:
    """FILE, and with --levels FILE's high and low levels: policy.jax -> policy.high.jax, policy.low.jax."""
    stem, suffix = (out.name[: -len(out.suffix)], out.suffix) if out.suffix else (out.name, "")
    return {"policy": out, "high": out.with_name(f"{stem}.high{suffix}"), "low": out.with_name(f"{stem}.low{suffix}")}


def sidecar_path(out: Path) -> Path:
    return out.with_name(out.name + ".json")


# ---- the functions that get exported ------------------------------------------------------------

def _functions(run, options: ExportOptions) -> dict:
    """name -> (fn(params, x, y, key, temperature), what y is): the flat policy, and with --levels
    the high level (observation, goal -> subgoal) and the low level (observation, subgoal -> action)."""
    agent = run.agent
    fns = {"policy": (agent.act, "goal")}
    if not options.levels:
        return fns
    parts = agent.parts
    if "subgoal" not in parts:
        raise GcrlError(f"--levels: this {agent.name} run has no high level to export (hiql, hbc and ris have one, gcwae with use_subgoal_rep=false); "
                        "export its flat policy without --levels.")  # fmt: skip
    if parts.get("subgoal_space") == "representation":
        low = parts["reach_rep"]
    else:
        low = parts.get("reach", agent.act)  # gcwae: the flat actor aimed at the subgoal, as gcrl evaluate runs it
    fns["high"] = (parts["subgoal"], "goal")
    fns["low"] = (low, "subgoal")
    return fns


def _closed(fn, params, options: ExportOptions):
    """fn with the parameters inside: (x, y) -> out, or (x, y, key) -> out when sampled; with
    batch=False the inputs and output lose their batch axis."""
    temperature = jnp.float32(options.temperature if options.sample else 0.0)

    def call(x, y, key):
        if not options.batch:
            return fn(params, x[None], y[None], key, temperature)[0]
        return fn(params, x, y, key, temperature)

    if options.sample:
        return call
    fixed = jax.random.PRNGKey(0)  # unused at temperature 0: the mode is taken
    return lambda x, y: call(x, y, fixed)


def _input_specs(spec, second_shape, second_dtype, options: ExportOptions, batch_dim):
    lead = (batch_dim,) if options.batch else ()
    obs_dtype = jnp.uint8 if spec.pixels else jnp.float32
    args = [jax.ShapeDtypeStruct((*lead, *spec.observation_shape), obs_dtype), jax.ShapeDtypeStruct((*lead, *second_shape), second_dtype)]
    if options.sample:
        args.append(jax.ShapeDtypeStruct((2,), jnp.uint32))
    return args


def _describe(struct) -> dict:
    return {"shape": ["batch" if not isinstance(d, int) else d for d in struct.shape], "dtype": str(np.dtype(struct.dtype))}


# ---- export ---------------------------------------------------------------------------------------

def export_run(run_dir, out, options: ExportOptions = ExportOptions()) -> dict:
    """Export a run's policy (its newest checkpoint; a gcrl dagger output gives its fine-tuned high
    level) to `out`, with the sidecar beside it; returns the sidecar. Every file is written
    atomically, and only once all were built: a failure leaves what was there before."""
    out = Path(out).expanduser()
    _check_writable(out)
    from gcrl.hierarchy.levels import load

    run = load(run_dir)
    spec = run.spec
    (batch_dim,) = jax.export.symbolic_shape("batch")
    obs_dtype = jnp.uint8 if spec.pixels else jnp.float32
    second = {"goal": (spec.observation_shape, obs_dtype)}
    fns = _functions(run, options)
    paths = level_paths(out)
    blobs, described = {}, {}
    for name, (fn, second_name) in fns.items():
        if name == "low":
            second["subgoal"] = (subgoal_struct.shape[1:] if options.batch else subgoal_struct.shape, subgoal_struct.dtype)
        args = _input_specs(spec, *second[second_name], options, batch_dim)
        exported = _export(_closed(fn, run.params, options), args, options.platforms, name)
        if name == "high":
            subgoal_struct = exported.out_avals[0]
        blobs[name] = exported.serialize()
        inputs = ["observation", second_name] + (["key"] if options.sample else [])
        described[name] = {
            "file": paths[name].name,
            "inputs": {n: _describe(a) for n, a in zip(inputs, args)},
            "output": {"name": "subgoal" if name == "high" else "action", **_describe(exported.out_avals[0])},
        }
    sidecar = _sidecar(run, options, described, spec)
    _write_all({paths[name]: blob for name, blob in blobs.items()} | {sidecar_path(out): json.dumps(sidecar, indent=2).encode()})
    return sidecar


def _export(fn, args, platforms, name: str):
    try:
        return jax.export.export(jax.jit(fn), platforms=platforms)(*args)
    except ImportError as err:  # serialization's flatbuffers, a gcrl dependency, missing from this environment
        raise GcrlError(f"jax.export needs a package this environment lacks ({err}); pip install flatbuffers.") from None
    except Exception as err:
        raise GcrlError(f"the {name} function cannot be exported for {','.join(platforms)} ({type(err).__name__}: {str(err).splitlines()[0]}); "
                        "try --platforms cpu.") from None  # fmt: skip


def _sidecar(run, options: ExportOptions, described: dict, spec) -> dict:
    import gcrl

    policy = described["policy"]
    action = policy["output"]
    if spec.discrete:
        bounds = {"discrete": True, "num_actions": spec.action_dim}
    else:
        bounds = {"discrete": False, "low": -1.0, "high": 1.0}
    sidecar = {
        "format": "jax.export (load with jax.export.deserialize(open(FILE, 'rb').read()); needs jax and flatbuffers)",
        "agent": run.agent.name,
        "dataset": run.train_cfg.dataset,
        "run_dir": str(Path(run.path).resolve()),
        "step": run.step,
        "observation": policy["inputs"]["observation"],
        "goal": policy["inputs"]["goal"],
        "action": {"shape": action["shape"], "dtype": action["dtype"], **bounds},
        "sampled": options.sample,
        "temperature": options.temperature if options.sample else 0.0,
        "batch": "any (a symbolic leading dimension)" if options.batch else "none (one observation, no batch axis)",
        "platforms": list(options.platforms),
        "functions": described,
        "gcrl_version": gcrl.__version__,
        "jax_version": jax.__version__,
    }
    if "high" in described:
        sidecar["levels"] = {
            "subgoal_space": run.agent.parts.get("subgoal_space", "observation"),
            "replanning": "The flat file is the agent's own rule: a new subgoal every step, action = low(observation, "
                          "high(observation, goal)) (HIQL's published act). To replan every n steps, call high once and keep "
                          "its subgoal for n steps of low; to replan on completion, call high again once the low level has "
                          "reached the subgoal (observation subgoals: the state is within the task's tolerance of it) or after "
                          "a timeout.",
        }  # fmt: skip
    return sidecar


def _check_writable(out: Path) -> None:
    """Before anything loads: the output's folder can hold a new file (made if missing), and the
    output is not a folder."""
    if out.is_dir():
        raise GcrlError(f"--out {out} is a directory; name a file, e.g. --out {out / 'policy.jax'}.")
    parent = out.parent
    existing = next((p for p in (parent, *parent.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise GcrlError(f"--out {out}: {existing} is a file, not a directory; choose another path.")
    try:
        parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".probe", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise GcrlError(f"--out {out}: cannot write there ({err.strerror or err}); choose a path you can write to.") from None


def _write_all(files: dict[Path, bytes]) -> None:
    """Each file to a temporary name beside it, then all renamed into place."""
    from gcrl.data.files import atomic_path

    def write(items):
        if not items:
            return
        (path, data), rest = items[0], items[1:]
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
            write(rest)  # renamed only once every later file is written too

    write(list(files.items()))
