"""XLA's YNNPACK fusions on this CPU, on and off, measured side by side: the evidence behind
`xla_cpu_ynn_fusion = auto` (gcrl.learner.compiler_options).

    python benchmarks/xla_cpu_options.py [--agents saw,hiql] [--presets cpu,paper] [--batch-sizes 512] [--rounds 10] [--out FILE]

For each agent, preset and batch size, both programs are compiled in one process and their update
chunks are timed in turns, so that a slow spell of a shared machine hits both alike; the table
gives the median updates/s of each, their ratio, and the setting `auto` picks.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from gcrl.console import console, run_command
from gcrl.data.files import atomic_path
from gcrl.errors import GcrlError


def measure(agent_name: str, preset: str, batch_size: int | None, rounds: int) -> dict:
    import jax

    from gcrl.bench import synthetic_setup
    from gcrl.learner import compiler_options, init_state, make_train_chunk

    train_cfg, agent_cfg, agent, data = synthetic_setup(agent_name, preset, batch_size)
    updates = max(2, round(12_800 / train_cfg.batch_size * 256 / max(agent_cfg.hidden)))  # about 0.5-1 s a chunk
    programs, states = {}, {}
    for mode in ("on", "off"):
        state = init_state(agent, jax.random.PRNGKey(0))
        programs[mode] = make_train_chunk(agent, train_cfg.batch_size, updates, ynn_fusion=mode).lower(state, data).compile()
        states[mode], metrics = programs[mode](state, data)  # the first call warms up
        jax.block_until_ready(metrics)
    seconds: dict[str, list[float]] = {"on": [], "off": []}
    for _ in range(rounds):
        for mode, program in programs.items():
            t0 = time.perf_counter()
            states[mode], metrics = program(states[mode], data)
            jax.block_until_ready(metrics)
            seconds[mode].append((time.perf_counter() - t0) / updates)
    rate = {mode: 1.0 / statistics.median(s) for mode, s in seconds.items()}
    auto = "off" if compiler_options(train_cfg.batch_size, "auto") else "on"
    return dict(agent=agent_name, preset=preset, batch_size=train_cfg.batch_size, hidden=agent_cfg.hidden, on=rate["on"], off=rate["off"], auto=auto)


def table(rows: list[dict]) -> str:
    lines = [
        "| agent | preset | batch | hidden | updates/s, YNN fusion on | off | off / on | auto picks |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        hidden = "x".join(map(str, r["hidden"]))
        lines.append(f"| {r['agent']} | {r['preset']} | {r['batch_size']} | {hidden} | {r['on']:.2f} | {r['off']:.2f} | {r['off'] / r['on']:.2f} | {r['auto']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", default="saw", help="comma-separated agents (default saw)")
    parser.add_argument("--presets", default="cpu,paper", help="comma-separated presets (default cpu,paper)")
    parser.add_argument("--batch-sizes", default="", help="comma-separated batch sizes to try besides each preset's own")
    parser.add_argument("--rounds", type=int, default=10, help="timed chunks per setting (default 10)")
    parser.add_argument("--out", metavar="FILE", help="also write the markdown table to FILE")
    args = parser.parse_args()

    import jax

    from gcrl import config

    if jax.default_backend() != "cpu":
        raise GcrlError(f"this compares XLA's CPU libraries, but JAX runs on {jax.default_backend()}; run it with JAX_PLATFORMS=cpu.")
    names = [a for a in args.agents.split(",") if a]
    presets = [p for p in args.presets.split(",") if p]
    for name in names:
        for preset in presets:
            config.resolve(name, "pointmaze-medium-navigate-v0", preset)  # unknown agents or presets fail here, before anything is measured
    try:
        batch_sizes = [None] + [int(b) for b in args.batch_sizes.split(",") if b]
    except ValueError:
        raise GcrlError(f"--batch-sizes expects whole numbers like 512,1024, got '{args.batch_sizes}'.") from None
    if any(b < 1 for b in batch_sizes[1:]):
        raise GcrlError(f"--batch-sizes expects positive whole numbers like 512,1024, got '{args.batch_sizes}'.")
    if args.rounds < 1:
        raise GcrlError(f"--rounds must be at least 1, got {args.rounds}.")

    rows = []
    for preset in presets:
        for batch_size in batch_sizes:
            for name in names:
                console.print(f"measuring {name} ({preset} preset{f', batch {batch_size}' if batch_size else ''})...")
                rows.append(measure(name, preset, batch_size, args.rounds))
    text = table(rows)
    console.print(text, highlight=False)
    if args.out:
        with atomic_path(args.out) as tmp:
            tmp.write_text(text + "\n")


if __name__ == "__main__":
    sys.exit(run_command(main))
