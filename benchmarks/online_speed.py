"""How fast the online agents update and act, per preset, on this machine's JAX backend.

For each (agent, preset): the compile time of one update, then the mean seconds of `--updates` jitted
updates on a replay-shaped random batch (batch x length sequences of the preset's images), and of
acting (one jitted act for the preset's number of environments, timed over 50 calls; the environment
itself is not included). Prints one table; `--json PATH` also writes it.

    python benchmarks/online_speed.py [--agents dreamer,director] [--presets cpu,paper] [--updates 20]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

from gcrl.online import loop, settings


def random_batch(cfg, rng) -> dict:
    shape = (cfg.batch, cfg.length)
    return {
        "image": rng.integers(0, 255, (*shape, cfg.size, cfg.size, 3), dtype=np.uint8),
        "action": rng.uniform(-1, 1, (*shape, 2)).astype(np.float32),
        "reward": (rng.random(shape) < 0.05).astype(np.float32),
        "is_first": np.arange(cfg.length)[None].repeat(cfg.batch, 0) == 0,
        "is_terminal": np.zeros(shape, bool),
        "task": rng.uniform(-1, 1, (*shape, 2)).astype(np.float32),
    }


def measure(agent_name: str, preset: str, updates: int) -> dict:
    cfg, model_cfg = settings.resolve("pixel-maze-medium", preset, agent=agent_name)
    agent = loop.make_agent(cfg, model_cfg)
    act, train_step = loop.programs(agent)
    rng = np.random.default_rng(0)
    state, batch = agent.init(jax.random.PRNGKey(0)), random_batch(cfg, rng)
    t0 = time.perf_counter()
    state, metrics = train_step(state, batch, jax.random.PRNGKey(1))
    jax.block_until_ready(metrics)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for i in range(updates):
        state, metrics = train_step(state, batch, jax.random.PRNGKey(2 + i))
    jax.block_until_ready(metrics)
    update_s = (time.perf_counter() - t0) / updates
    n = cfg.num_envs
    obs = {"image": batch["image"][:n, 0], "task": batch["task"][:n, 0], "is_first": np.zeros(n, bool)}
    carry = agent.initial_carry(n)
    action, carry = act(state.params, carry, obs, jax.random.PRNGKey(0))
    jax.block_until_ready(action)
    t0 = time.perf_counter()
    for i in range(50):
        action, carry = act(state.params, carry, obs, jax.random.PRNGKey(i))
        np.asarray(action)  # the loop needs the action on the host each step
    act_s = (time.perf_counter() - t0) / 50
    frames = cfg.batch * cfg.length
    return {"agent": agent_name, "preset": preset, "backend": jax.default_backend(), "batch": f"{cfg.batch}x{cfg.length}", "image": cfg.size,
            "compile_s": compile_s, "update_s": update_s, "updates_per_s": 1.0 / update_s, "frames_per_s": frames / update_s,
            "act_ms": 1000 * act_s, "num_envs": n}  # fmt: skip


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", default="dreamer")
    parser.add_argument("--presets", default="cpu,paper")
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    rows = []
    print(f"{'agent':9} {'preset':6} {'backend':7} {'batch':6} {'image':>5} {'compile s':>9} {'update s':>9} {'updates/s':>9} {'frames/s':>9} {'act ms':>7}")
    for agent_name in args.agents.split(","):
        for preset in args.presets.split(","):
            r = measure(agent_name, preset, args.updates)
            rows.append(r)
            print(f"{r['agent']:9} {r['preset']:6} {r['backend']:7} {r['batch']:6} {r['image']:>5} {r['compile_s']:9.1f} {r['update_s']:9.3f} "
                  f"{r['updates_per_s']:9.2f} {r['frames_per_s']:9.0f} {r['act_ms']:7.2f}", flush=True)  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return rows


if __name__ == "__main__":
    main()
