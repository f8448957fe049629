"""The exported policy (gcrl export) beside gcrl.load_policy: file size, and actions/s at batch 1 and
256, measured side by side in one process (rounds alternate between the two, best round kept).

    python benchmarks/export_speed.py                       # saw and hiql, states (pointmaze) and pixels (64 x 64), cpu preset
    python benchmarks/export_speed.py --agents saw --seconds 1

The runs are the cpu preset's networks (2 x 256; pixels: the IMPALA encoder) at initialisation:
speed does not depend on what the parameters learned. Three ways to act are timed: load_policy's
Policy (jitted act, the key carried inside), the exported function called as a user first would
(exported.call(obs, goal)), and the same call under jax.jit (what a control loop should do)."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

from gcrl import agents, checkpoint, config
from gcrl.agents.base import DataSpec
from gcrl.data.files import write_text
from gcrl.export import export_run
from gcrl.learner import init_state
from gcrl.policy import load_policy, save_spec

SPECS = {"states": DataSpec((2,), False, 2, False), "pixels": DataSpec((64, 64, 3), True, 2, False)}


def make_run(path: Path, agent: str, spec: DataSpec) -> Path:
    dataset = str(path.parent / ("visual-bench.npz" if spec.pixels else "bench.npz"))
    train_cfg, agent_cfg = config.resolve(agent, dataset, "cpu", {}, {}, pixels=spec.pixels)
    path.mkdir(parents=True)
    write_text(path / "config.json", config.to_json(train_cfg, agent_cfg))
    save_spec(path, spec)
    checkpoint.save(path, init_state(agents.get(agent).make(agent_cfg, spec), jax.random.PRNGKey(0)), 0)
    return path


def rate(fn, obs, goal, seconds: float) -> float:
    """Actions per second of fn(obs, goal) over about `seconds`."""
    np.asarray(fn(obs, goal))  # compiled, warm
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        np.asarray(fn(obs, goal))
        calls += 1
    return calls * len(obs) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", default="saw,hiql")
    parser.add_argument("--kinds", default="states,pixels")
    parser.add_argument("--batches", default="1,256")
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement (default 2)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"jax {jax.__version__} on {jax.default_backend()}, {jax.device_count()} device(s)")
    print("| agent | observations | file (KB) | batch | load_policy (actions/s) | exported .call | jit(exported.call) | jit(exported) / load_policy |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds.split(","):
            spec = SPECS[kind]
            for agent in args.agents.split(","):
                run = make_run(Path(tmp) / f"{agent}-{kind}", agent, spec)
                out = Path(tmp) / f"{agent}-{kind}.jax"
                export_run(run, out)
                exported = jax.export.deserialize(out.read_bytes())
                ways = {"load_policy": load_policy(run), "call": exported.call, "jit": jax.jit(exported.call)}
                for batch in (int(b) for b in args.batches.split(",")):
                    rng = np.random.default_rng(0)
                    if spec.pixels:
                        obs, goal = (rng.integers(0, 256, (batch, *spec.observation_shape), dtype=np.uint8) for _ in range(2))
                    else:
                        obs, goal = (rng.normal(size=(batch, *spec.observation_shape)).astype(np.float32) for _ in range(2))
                    best = {name: 0.0 for name in ways}
                    for _ in range(args.rounds):  # alternate: the machine's speed drifts
                        for name, fn in ways.items():
                            best[name] = max(best[name], rate(fn, obs, goal, args.seconds))
                    print(f"| {agent} | {kind} {spec.observation_shape} | {out.stat().st_size / 1024:,.0f} | {batch} | {best['load_policy']:,.0f} | "
                          f"{best['call']:,.0f} | {best['jit']:,.0f} | {best['jit'] / best['load_policy']:.2f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
