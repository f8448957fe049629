"""How fast the online agents update and act, per preset, on this machine's JAX backend.

For each (agent, preset): the compile time of one update, then the mean seconds of `--updates` jitted
updates on a replay-shaped random batch (batch x length sequences of the preset's images), and of
acting (one jitted act for the preset's number of environments, timed over 50 calls; the environment
itself is not included). Prints one table; `--json PATH` also writes it.

`--breakdown` adds where an update's time goes: each part of the world-model loss alone (the
encoder, the posterior scan, the decoder; forward and gradient, as in the update), the whole
world-model loss, and the rest of the update (behaviour learning and the optimiser step: the update
less the world-model loss). The parts are timed alone, so they overlap what XLA fuses in the update
and need not add up to it exactly.

    python benchmarks/online_speed.py [--agents dreamer,director] [--presets cpu,paper] [--updates 20]
        [--breakdown]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from gcrl.online import loop, settings, world_model


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


def seconds_per_call(fn, *args, calls: int) -> float:
    """Mean seconds of a jitted fn over `calls` calls, after one compiling call."""
    jax.block_until_ready(fn(*args))
    t0 = time.perf_counter()
    for _ in range(calls):
        out = fn(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - t0) / calls


def breakdown(agent, params: dict, batch: dict, calls: int) -> dict:
    """Milliseconds of the world model's parts (each as forward + gradient) and of its whole loss."""
    wm, p, key = agent.wm, params["wm"], jax.random.PRNGKey(3)
    batch = jax.tree.map(jnp.asarray, batch)
    task = batch["task"].astype(jnp.float32)
    actions = world_model.previous_actions(batch["action"])
    embed = jax.jit(wm.encode)(p, batch["image"])
    _, post = jax.jit(lambda p: wm.observe(p, embed, actions, batch["is_first"], task, key))(p)

    def encoder(p):
        return wm.encode(p, batch["image"]).sum()

    def posterior_scan(p):
        return wm.observe(p, embed, actions, batch["is_first"], task, key)[1].deter.sum()

    def decoder(p):
        return wm.decode(p, post).sum()

    def wm_loss(p):
        return wm.world_model_loss(p, batch, key)[0]

    parts = {"encoder": encoder, "posterior scan": posterior_scan, "decoder": decoder, "world-model loss": wm_loss}
    return {name: 1000 * seconds_per_call(jax.jit(jax.grad(fn)), p, calls=calls) for name, fn in parts.items()}


def print_breakdown(row: dict) -> None:
    update_ms = 1000 * row["update_s"]
    print(f"  where a {row['agent']} {row['preset']} update's {update_ms:.0f} ms go (forward + gradient, each part timed alone):")
    rest = {"behaviour + optimiser (the update less the world-model loss)": update_ms - row["breakdown_ms"]["world-model loss"]}
    for name, ms in {**row["breakdown_ms"], **rest}.items():
        print(f"    {name:62} {ms:8.1f} ms {100 * ms / update_ms:5.0f}%")


def measure(agent_name: str, preset: str, updates: int, parts: bool = False) -> dict:
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
    extra = {"breakdown_ms": breakdown(agent, state.params, batch, calls=max(3, updates // 2))} if parts else {}
    return {**extra, "agent": agent_name, "preset": preset, "backend": jax.default_backend(), "batch": f"{cfg.batch}x{cfg.length}", "image": cfg.size,
            "compile_s": compile_s, "update_s": update_s, "updates_per_s": 1.0 / update_s, "frames_per_s": frames / update_s,
            "act_ms": 1000 * act_s, "num_envs": n}  # fmt: skip


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", default="dreamer")
    parser.add_argument("--presets", default="cpu,paper")
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--json", default=None)
    parser.add_argument("--breakdown", action="store_true", help="also time the world model's parts")
    args = parser.parse_args(argv)
    rows = []
    print(f"{'agent':9} {'preset':6} {'backend':7} {'batch':6} {'image':>5} {'compile s':>9} {'update s':>9} {'updates/s':>9} {'frames/s':>9} {'act ms':>7}")
    for agent_name in args.agents.split(","):
        for preset in args.presets.split(","):
            r = measure(agent_name, preset, args.updates, args.breakdown)
            rows.append(r)
            print(f"{r['agent']:9} {r['preset']:6} {r['backend']:7} {r['batch']:6} {r['image']:>5} {r['compile_s']:9.1f} {r['update_s']:9.3f} "
                  f"{r['updates_per_s']:9.2f} {r['frames_per_s']:9.0f} {r['act_ms']:7.2f}", flush=True)  # fmt: skip
            if args.breakdown:
                print_breakdown(r)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return rows


if __name__ == "__main__":
    main()
