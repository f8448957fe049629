"""`gcrl bench`: how fast gcrl runs on this machine, against the machine's own limits.

For each agent and preset: updates/s after compilation, compile time, FLOPs per update (XLA's cost
analysis) and achieved FLOP/s, peak memory. Beside them: a float32 matrix-multiply peak measured in
the same run, evaluation environment steps/s (batched and one episode at a time), and dataset
generation transitions/s. Each agent x preset runs in its own process so that peak memory is its own.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import queue as queue_module
import time
from pathlib import Path

import numpy as np

from gcrl.console import console
from gcrl.errors import GcrlError

OBS_DIM, ACTION_DIM = 2, 2  # pointmaze
# Pixel timings use visual-cube-single-play-v0's shapes and settings (64 x 64 x 3 frames, 5 actions;
# the IMPALA encoder, batch 256, random crops) and its evaluation environment.
PIXEL_DATASET, PIXEL_ENV, PIXEL_SHAPE, PIXEL_ACTION_DIM = "visual-cube-single-play-v0", "visual-cube-single-v0", (64, 64, 3), 5
PIXEL_TRANSITIONS = 10_000  # frames on the device: the update's speed does not depend on how many


def synthetic_dataset(transitions: int = 1_000_000, episode_steps: int = 1000, seed: int = 0, pixels: bool = False):
    """Random walks with pointmaze's shapes (with `pixels`, random frames with the visual cube's):
    the speed of an update does not depend on the values."""
    from gcrl.data.dataset import from_raw

    episodes = transitions // episode_steps
    rows = episodes * (episode_steps + 1)
    rng = np.random.default_rng(seed)
    if pixels:
        obs = rng.integers(0, 256, (rows, *PIXEL_SHAPE), np.uint8)
        actions = rng.uniform(-1, 1, (rows, PIXEL_ACTION_DIM)).astype(np.float32)
    else:
        obs = np.cumsum(rng.normal(0, 0.2, (rows, OBS_DIM)), axis=0).astype(np.float32)
        actions = rng.uniform(-1, 1, (rows, ACTION_DIM)).astype(np.float32)
    terminals = np.zeros(rows, np.float32)
    terminals[episode_steps :: episode_steps + 1] = 1
    return from_raw(obs, actions, terminals, source="synthetic")


def synthetic_setup(agent_name: str, preset: str, batch_size: int | None = None, pixels: bool = False):
    """(train config, agent config, agent, device data) for timing an agent on pointmaze's shapes, or
    with `pixels` on the visual cube's with its pixel settings; `batch_size` replaces the preset's."""
    from gcrl import agents, config
    from gcrl.agents.base import DataSpec
    from gcrl.data import sampling

    dataset = PIXEL_DATASET if pixels else "pointmaze-medium-navigate-v0"
    train_cfg, agent_cfg = config.resolve(agent_name, dataset, preset, pixels=pixels)
    if batch_size:
        train_cfg = dataclasses.replace(train_cfg, batch_size=batch_size)
    spec = DataSpec(PIXEL_SHAPE, True, PIXEL_ACTION_DIM, False) if pixels else DataSpec((OBS_DIM,), False, ACTION_DIM, False)
    data = synthetic_dataset(PIXEL_TRANSITIONS, 500, pixels=True) if pixels else synthetic_dataset()
    return train_cfg, agent_cfg, agents.get(agent_name).make(agent_cfg, spec), sampling.to_device(data)


def _measure_agent(agent_name: str, preset: str, seconds: float, queue, seeds: int = 1, seed_mode: str = "auto", pixels: bool = False) -> None:
    """Runs in a fresh process: compile, then time chunks of updates (of `seeds` seeds vmapped
    together when seeds > 1; the rate is then per seed)."""
    import jax

    from gcrl.learner import compiler_options, convolutions_loop_slowly, init_state, make_train_chunk, resolve_seed_mode, stack_states, update
    from gcrl.train import peak_rss_mb

    train_cfg, agent_cfg, agent, data = synthetic_setup(agent_name, preset, pixels=pixels)
    state = init_state(agent, jax.random.PRNGKey(0))
    if pixels:  # a pixel update takes seconds on a CPU
        chunk_size = 2 if jax.default_backend() == "cpu" else 10
    else:
        chunk_size = 100 if preset == "cpu" else 10
    options = compiler_options(train_cfg.batch_size, train_cfg.xla_cpu_ynn_fusion)

    def one_update(state, data):
        return update(agent, state, data, train_cfg.batch_size)

    flops = flops_of(jax.jit(one_update).lower(state, data))  # traced, not compiled: see flops_of
    if seeds > 1:
        state = stack_states([init_state(agent, jax.random.PRNGKey(i)) for i in range(seeds)])

    t0 = time.perf_counter()
    chunk = make_train_chunk(agent, train_cfg.batch_size, chunk_size, seeds=seeds > 1, seed_mode=seed_mode, ynn_fusion=train_cfg.xla_cpu_ynn_fusion)
    chunk = chunk.lower(state, data).compile()
    compile_s = time.perf_counter() - t0
    state, rate = timed_rate(chunk, state, data, chunk_size, seconds)
    rss = peak_rss_mb()
    alone = None
    if seeds == 1 and not pixels:  # after the peak memory is read: the products' operands are not the update's
        alone = products_alone(one_update, state, data, seconds=seconds / 2, compiler_options=options)
    queue.put(
        dict(
            agent=agent_name,
            preset=preset,
            pixels=pixels,
            seeds=seeds,
            seed_mode=("vmap" if convolutions_loop_slowly(agent) else resolve_seed_mode(seed_mode)) if seeds > 1 else None,  # see make_train_chunk
            batch_size=train_cfg.batch_size,
            hidden=list(agent_cfg.hidden),
            updates_per_s=rate,
            compile_s=compile_s,
            flops_per_update=flops,
            gflops_per_s=flops * rate / 1e9,
            peak_rss_mb=rss,
            # the most updates/s the update's matrix products alone allow, and their share of its time
            products_alone_per_s=1.0 / alone["seconds"] if alone else None,
            products_share=alone["seconds"] * rate if alone else None,
        )
    )


def flops_of(lowered) -> float:
    """XLA's count of floating-point operations in a program as lowered, before a backend compiles
    it (0 where it gives none): the same count on every device, within 0.3% of XLA:CPU's count of the
    compiled program. The compiled count is not used because XLA:GPU's leaves out most of the matrix
    products it hands to cuBLAS (on an H200, SAW's paper-preset update counted 13.3 GFLOP compiled, 43.3 lowered)."""
    cost = lowered.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost.get("flops", 0.0)) if cost else 0.0


def timed_rate(chunk, state, data, chunk_size: int, seconds: float):
    """(state, updates/s) after one warm-up chunk and then chunks until `seconds` of them are timed."""
    import jax

    state, metrics = chunk(state, data)
    jax.block_until_ready(metrics)
    done, elapsed = 0, 0.0
    while elapsed < seconds:
        t0 = time.perf_counter()
        state, metrics = chunk(state, data)
        jax.block_until_ready(metrics)
        elapsed += time.perf_counter() - t0
        done += chunk_size
    return state, done / elapsed


def measure_agent(agent_name: str, preset: str, seconds: float, seeds: int = 1, seed_mode: str = "auto", pixels: bool = False) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure_agent, args=(agent_name, preset, seconds, queue, seeds, seed_mode, pixels))
    proc.start()
    while True:  # a child that dies (crash, out of memory, killed) must not leave us waiting forever
        try:
            result = queue.get(timeout=1.0)
            break
        except queue_module.Empty:
            if not proc.is_alive() and queue.empty():
                raise GcrlError(
                    f"bench: the process measuring {agent_name} ({preset} preset) died with exit code {proc.exitcode}; "
                    "its error is printed above. When calling gcrl.bench from a script, guard the script's body with "
                    "`if __name__ == '__main__':` (the measurement runs in a spawned process that imports it)."
                )
    proc.join()
    return result


def matrix_products(fn, *args) -> list[tuple]:
    """Every matrix product (dot_general) that fn(*args) computes, as (lhs aval, rhs aval, params),
    from its jaxpr; a product inside a scan counts once per iteration."""
    from jax.extend import core as jex_core

    found: list[tuple] = []

    def walk(jaxpr, times: int) -> None:
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "dot_general":
                found.extend([(eqn.invars[0].aval, eqn.invars[1].aval, eqn.params)] * times)
            inner_times = times * eqn.params["length"] if eqn.primitive.name == "scan" else times
            for value in eqn.params.values():
                for sub in value if isinstance(value, (list, tuple)) else (value,):
                    if isinstance(sub, jex_core.ClosedJaxpr):
                        walk(sub.jaxpr, inner_times)
                    elif isinstance(sub, jex_core.Jaxpr):
                        walk(sub, inner_times)

    import jax

    walk(jax.make_jaxpr(fn)(*args).jaxpr, 1)
    return found


def product_flops(lhs, rhs, params) -> int:
    """2 x (batch x free lhs x free rhs) x contracted: a multiply and an add per term."""
    (contract_lhs, contract_rhs), (batch_lhs, batch_rhs) = params["dimension_numbers"]
    free_lhs = [i for i in range(lhs.ndim) if i not in (*contract_lhs, *batch_lhs)]
    free_rhs = [i for i in range(rhs.ndim) if i not in (*contract_rhs, *batch_rhs)]
    size = lambda shape, axes: int(np.prod([shape[i] for i in axes]))  # noqa: E731
    return 2 * size(lhs.shape, batch_lhs) * size(lhs.shape, free_lhs) * size(rhs.shape, free_rhs) * size(lhs.shape, contract_lhs)


def products_alone(fn, *args, seconds: float = 2.0, compiler_options: dict | None = None) -> dict[str, float]:
    """The time of fn's matrix products alone: all of them, with their shapes and dimension
    numbers, on random operands in one compiled program that does nothing else (convolutions are
    not counted). An estimate of how fast fn could run with these kernels on this machine however
    well the rest were done; not a strict bound, since inside fn XLA may fuse a product with its
    neighbours (a small update, like GCBC's, then runs faster than its products alone)."""
    import jax
    from jax import lax

    products = matrix_products(fn, *args)
    keys = jax.random.split(jax.random.PRNGKey(0), 2 * len(products))
    operands = [
        (jax.random.normal(keys[2 * i], lhs.shape).astype(lhs.dtype), jax.random.normal(keys[2 * i + 1], rhs.shape).astype(rhs.dtype))
        for i, (lhs, rhs, _) in enumerate(products)
    ]

    def all_products(operands):
        return [
            lax.dot_general(x, y, p["dimension_numbers"], preferred_element_type=p.get("preferred_element_type"))
            for (x, y), (_, _, p) in zip(operands, products)
        ]

    program = jax.jit(all_products, compiler_options=compiler_options).lower(operands).compile()
    jax.block_until_ready(program(operands))
    times: list[float] = []
    while sum(times) < seconds or len(times) < 3:
        t0 = time.perf_counter()
        jax.block_until_ready(program(operands))
        times.append(time.perf_counter() - t0)
    return {"products": len(products), "flops": float(sum(product_flops(*p) for p in products)), "seconds": float(np.median(times))}


def matmul_peak(rows_list=(256, 1024), inner: int = 512, seconds: float = 1.0) -> dict[str, float]:
    """GFLOP/s of a float32 [rows, inner] x [inner, inner] product under jit."""
    import jax
    import jax.numpy as jnp

    out = {}
    for rows in rows_list:
        a = jnp.ones((rows, inner), jnp.float32)
        b = jnp.ones((inner, inner), jnp.float32)
        f = jax.jit(lambda x, y: jnp.tanh(x @ y) @ y)  # two dependent products, so nothing is skipped
        f(a, b).block_until_ready()
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            f(a, b).block_until_ready()
            n += 1
        out[str(rows)] = 2 * 2 * rows * inner * inner * n / (time.perf_counter() - t0) / 1e9
    return out


def evaluation_speed(episodes: int = 50) -> dict[str, float]:
    """Seconds per 1000 environment steps with a cpu-preset SAW policy: E episodes in lockstep with
    one batched policy call per step, their environments stepped by worker processes ('parallel')
    or in this process ('lockstep'), against one episode at a time."""
    import jax

    from gcrl import agents, config
    from gcrl.agents.base import DataSpec
    from gcrl.envs.group import default_workers, make_env_group
    from gcrl.evaluate import evaluate
    from gcrl.policy import Policy

    _, agent_cfg = config.resolve("saw", "pointmaze-medium-navigate-v0", "cpu")
    spec = DataSpec((OBS_DIM,), False, ACTION_DIM, False)
    agent = agents.get("saw").make(agent_cfg, spec)
    policy = Policy(agent, agent.init(jax.random.PRNGKey(0)), spec)  # untrained: every episode runs the full 1000 steps
    out = {"workers": default_workers(episodes)}
    for label, count, workers in (("parallel", episodes, out["workers"]), ("lockstep", episodes, 1), ("one_at_a_time", 1, 1)):
        if label == "parallel" and workers < 2:
            continue
        group = make_env_group("pointmaze-medium-v0", count, workers)
        policy(np.zeros((count, OBS_DIM), np.float32), np.zeros((count, OBS_DIM), np.float32))  # compile
        runs = max(1, min(episodes, 5) // count) if count == 1 else 1
        t0 = time.perf_counter()
        steps = 0
        for r in range(runs):
            steps += evaluate(policy, "pointmaze-medium-v0", count, tasks=(1,), seed=r, progress=False, envs=group).env_steps
        seconds = time.perf_counter() - t0
        out[f"{label}_s_per_1000_steps"] = seconds / steps * 1000
        out[f"{label}_env_steps_per_s"] = steps / seconds
        group.close()
    return out


def visual_evaluation_speed(episodes: int = 2) -> dict:
    """Seconds per episode of OGBench's visual cube (its MuJoCo camera, headless) under an untrained
    pixel SAW policy, `episodes` in lockstep, stepped by worker processes (one per episode, at most
    default_workers): rendering is the cost, so this is what a pixel evaluation's time scales with."""
    import jax

    from gcrl import agents, config
    from gcrl.agents.base import DataSpec
    from gcrl.envs.group import make_env_group
    from gcrl.evaluate import evaluate
    from gcrl.policy import Policy

    _, agent_cfg = config.resolve("saw", PIXEL_DATASET, "cpu", pixels=True)
    spec = DataSpec(PIXEL_SHAPE, True, PIXEL_ACTION_DIM, False)
    agent = agents.get("saw").make(agent_cfg, spec)
    policy = Policy(agent, agent.init(jax.random.PRNGKey(0)), spec)  # untrained: every episode runs its full length
    try:
        group = make_env_group(PIXEL_ENV, episodes)  # default_workers: one per episode for visual environments
    except Exception as err:  # no MuJoCo rendering here: say so in the report instead of failing the bench
        return {"error": f"{type(err).__name__}: {err}"}
    try:
        frames = np.zeros((episodes, *PIXEL_SHAPE), np.uint8)
        policy(frames, frames)  # compile
        t0 = time.perf_counter()
        steps = evaluate(policy, PIXEL_ENV, episodes, tasks=(1,), seed=0, progress=False, envs=group).env_steps
        seconds = time.perf_counter() - t0
    finally:
        group.close()
    return {"env": PIXEL_ENV, "episodes": episodes, "workers": group.workers, "s_per_episode": seconds / episodes, "env_steps_per_s": steps / seconds,
            "steps_per_episode": steps / episodes}  # fmt: skip


def generation_speed(episodes: int = 5) -> float:
    from gcrl.data.generate import generate_arrays

    t0 = time.perf_counter()
    train, val = generate_arrays("pointmaze-medium-navigate-v0", episodes=episodes, seed=0, progress=False)
    return (len(train["observations"]) + len(val["observations"])) / (time.perf_counter() - t0)


def pixel_maze_speed(seconds: float = 1.0) -> dict[str, float]:
    """Frames/s of the pixel maze's renderer (64 x 64), one at a time and in batches of 64, and steps/s
    of one environment with its pictures (OGBench's MuJoCo physics included)."""
    import numpy as np

    from gcrl.envs.pixel_maze import MazeRenderer, PixelMaze

    env = PixelMaze("medium")
    renderer = MazeRenderer(env.maze.maze_map, 64)
    xy = np.random.default_rng(0).uniform(0, 20, (64, 2))
    out = {}
    for batch in (1, 64):
        t0, frames = time.perf_counter(), 0
        while time.perf_counter() - t0 < seconds:
            renderer.render(xy[:batch], xy[:batch][::-1])
            frames += batch
        out[f"render_batch{batch}_fps"] = frames / (time.perf_counter() - t0)
    env.reset(seed=0)
    t0, steps = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += 1
        if terminated or truncated:
            env.reset()
    out["env_steps_per_s"] = steps / (time.perf_counter() - t0)
    env.close()
    return out


def markdown(report: dict) -> str:
    peak = report["matmul_gflops_per_s"]
    lines = [
        "| agent | preset | updates/s | compile s | GFLOP/update | GFLOP/s | matrix products alone: updates/s | their share of the update | peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report["agents"]:
        alone = f"{r['products_alone_per_s']:.1f} | {100 * r['products_share']:.0f}%" if r.get("products_alone_per_s") else "- | -"
        preset = f"{r['preset']}, pixels" if r.get("pixels") else r["preset"]
        lines.append(
            f"| {r['agent']} | {preset} | {r['updates_per_s']:.{2 if r['updates_per_s'] < 10 else 1}f} | {r['compile_s']:.1f} | "
            f"{r['flops_per_update'] / 1e9:.2f} | {r['gflops_per_s']:.0f} | {alone} | {r['peak_rss_mb']:.0f} |"
        )
    lines.append("")
    lines.append(
        "matrix products alone: the update's matrix products (same shapes and layouts) in a program that does nothing else; "
        "about the most updates/s XLA's kernels allow on this machine (an estimate: fused into the update they can run a little faster)."
    )
    lines.append("float32 matmul peak (GFLOP/s): " + ", ".join(f"{k} rows {v:.0f}" for k, v in peak.items()))
    if "device" in report:
        lines.append(f"device: {report['device']}")
    for r in report.get("seeds", []):
        alone = next((a for a in report["agents"] if a["agent"] == r["agent"] and a["preset"] == r["preset"]), None)
        against = ""
        if alone:
            ratio = r["updates_per_s"] / alone["updates_per_s"]
            against = f" ({ratio:.2f}x one seed alone: {r['seeds'] * ratio:.1f}x the updates of one run in the same time)"
        lines.append(f"{r['agent']} ({r['preset']}), {r['seeds']} seeds in one program ({r['seed_mode']}): {r['updates_per_s']:.1f} updates/s for each seed{against}")
    if "evaluation" in report:
        e = report["evaluation"]
        parallel = (
            f"{e['parallel_s_per_1000_steps']:.3f} s with {e['workers']} worker processes stepping the environments, "
            if "parallel_s_per_1000_steps" in e else ""
        )
        lines.append(
            f"evaluation, per 1000-step episode in lockstep: {parallel}{e['lockstep_s_per_1000_steps']:.3f} s "
            f"in one process; {e['one_at_a_time_s_per_1000_steps']:.3f} s one episode at a time"
        )
    if any(r.get("pixels") for r in report["agents"]):
        lines.append(f"pixels: {PIXEL_DATASET}'s shapes and settings (64 x 64 x 3 frames, IMPALA encoder, batch 256, random crops); "
                     "no matrix-products-alone figure (most of the work is convolutions)")  # fmt: skip
    if "visual_evaluation" in report:
        v = report["visual_evaluation"]
        lines.append(f"pixel evaluation: {v['error']}" if "error" in v else
                     f"pixel evaluation ({v['env']}, MuJoCo's camera): {v['s_per_episode']:.1f} s per {v['steps_per_episode']:.0f}-step episode, "
                     f"{v['episodes']} in lockstep on {v['workers']} worker process{'es' if v['workers'] > 1 else ''} "
                     f"({v['env_steps_per_s']:.1f} env steps/s)")  # fmt: skip
    if "generation_transitions_per_s" in report:
        lines.append(f"dataset generation: {report['generation_transitions_per_s']:,.0f} transitions/s")
    if "pixel_maze" in report:
        p = report["pixel_maze"]
        lines.append(f"pixel maze (64 x 64): {p['render_batch1_fps']:,.0f} frames/s one at a time, {p['render_batch64_fps']:,.0f} in batches of 64; "
                     f"{p['env_steps_per_s']:,.0f} environment steps/s with pictures")  # fmt: skip
    return "\n".join(lines)


def device_name() -> str:
    """What the updates ran on, as JAX names it: 'cpu', or the platform and the accelerator's kind
    (e.g. 'gpu: NVIDIA H200')."""
    import jax

    device = jax.devices()[0]
    return device.platform if device.platform == "cpu" else f"{device.platform}: {device.device_kind}"


def save(report: dict, json_path: str | None) -> str:
    """The report's table; written with its JSON after every measurement, so that a bench stopped
    part-way (killed, timed out, a measuring process that died) keeps every row it measured."""
    table = markdown(report)
    if json_path:
        Path(json_path).write_text(json.dumps(report, indent=2))
        Path(json_path).with_suffix(".md").write_text(table + "\n")
    return table


def run(agent_names: list[str], presets: list[str], quick: bool = False, json_path: str | None = None, seeds: int = 0, pixels: bool = False,
        seed_modes: tuple[str, ...] = ("vmap", "map")) -> dict:  # fmt: skip
    """Measure and print: every agent x preset alone first, then (seeds > 1) the same with `seeds`
    seeds in one program in each of `seed_modes`; with `pixels`, the agents on the visual cube's
    frames and the pixel evaluation instead of pointmaze's states, its evaluation, generation and
    the pixel maze."""
    seconds = 3.0 if quick else 15.0
    report: dict = {"device": device_name(), "agents": []}
    rows = (256, 1024) if report["device"] == "cpu" else (256, 1024, 65536)  # a GPU fills only with many rows
    report["matmul_gflops_per_s"] = matmul_peak(rows, seconds=0.5 if quick else 2.0)
    data = " on pixels" if pixels else ""
    runs = [(name, preset, 1, "auto") for preset in presets for name in agent_names]
    if seeds > 1:
        runs += [(name, preset, seeds, mode) for preset in presets for name in agent_names for mode in seed_modes]
    for name, preset, count, mode in runs:
        together = f", {count} seeds in one program ({mode})" if count > 1 else ""
        console.print(f"measuring {name} ({preset}){data}{together}...")
        result = measure_agent(name, preset, seconds if preset == "cpu" else 2 * seconds, count, mode, pixels=pixels)
        report.setdefault("agents" if count == 1 else "seeds", []).append(result)
        save(report, json_path)
    if pixels:
        console.print(f"measuring the pixel evaluation ({PIXEL_ENV}, rendering on this machine)...")
        report["visual_evaluation"] = visual_evaluation_speed(episodes=2)
    else:
        report["evaluation"] = evaluation_speed(episodes=10 if quick else 50)
        report["generation_transitions_per_s"] = generation_speed(episodes=2 if quick else 10)
        report["pixel_maze"] = pixel_maze_speed(seconds=0.3 if quick else 1.0)
    table = save(report, json_path)
    console.print(table)
    return report
