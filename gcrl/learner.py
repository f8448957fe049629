"""The update, generic over agents: sample on the device, step each loss group's optimiser, move
the Polyak targets. `make_train_chunk` fuses many updates into one jitted `lax.scan` (on a CPU with
a convolutional encoder: one compiled update called from the host, see `convolutions_loop_slowly`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from gcrl.agents.base import Agent
from gcrl.data.sampling import DeviceData, sample_batch


class TrainState(NamedTuple):
    params: dict
    target_params: dict
    opt_state: dict  # loss-group name -> optimiser state
    step: jax.Array
    key: jax.Array


YNN_FUSION_MODES = ("auto", "on", "off")
YNN_OFF_FROM_BATCH = 512


def compiler_options(batch_size: int, ynn_fusion: str = "auto") -> dict | None:
    """XLA options for compiling an update on `batch_size` samples (None: XLA's defaults).

    On x86 CPUs XLA hands each layer's matrix product, layer norm and GELU to YNNPACK as one fused
    call, but passes GELU's scalar constants in as arrays of the activations' full size, rebuilt on
    every update. At batch 256 the fusion still wins (by 2-10% on 2 cores); from batch 512 on the
    rebuilt arrays cost more than it saves, and without it the paper preset's value-based agents run
    1.05-1.22x faster, GCBC about the same (`python benchmarks/xla_cpu_options.py` measures both,
    side by side, on your machine). The numbers change only by float rounding: another library
    multiplies the matrices."""
    if ynn_fusion not in YNN_FUSION_MODES:
        raise ValueError(f"ynn_fusion must be one of {YNN_FUSION_MODES}, got {ynn_fusion!r}")
    if jax.default_backend() != "cpu":
        return None
    if ynn_fusion == "off" or (ynn_fusion == "auto" and batch_size >= YNN_OFF_FROM_BATCH):
        return {"xla_cpu_experimental_ynn_fusion_type": ""}
    return None


def optimizer(agent: Agent) -> optax.GradientTransformation:
    return optax.adam(agent.config.lr)


def init_state(agent: Agent, key) -> TrainState:
    k_init, k_run = jax.random.split(key)
    params = agent.init(k_init)
    tx = optimizer(agent)
    opt_state = {g.name: tx.init({k: params[k] for k in g.keys}) for g in agent.groups}
    targets = {k: jax.tree_util.tree_map(jnp.copy, params[k]) for k in agent.target_keys}  # own buffers: the state is donated
    return TrainState(params, targets, opt_state, jnp.zeros((), jnp.int32), k_run)


def apply_update(agent: Agent, state: TrainState, batch: dict, key) -> tuple[TrainState, dict]:
    """One update on a given batch: each loss group takes a gradient step on its own parameters, in
    order, seeing the groups updated before it; then the targets move by tau towards the parameters
    this update started from. (The published agents' target_update averages the agent's parameters
    from before its gradient step into the targets, so the targets trail the online parameters by
    one more update than the textbook order; gcrl does the same, to stay exact:
    benchmarks/published_update_check.py compares the parameters after 20 updates.)"""
    tx = optimizer(agent)
    params, opt_state, metrics = state.params, dict(state.opt_state), {}
    for group in agent.groups:
        own = {k: params[k] for k in group.keys}

        def group_loss(own_params, params=params, group=group):
            return group.loss({**params, **own_params}, state.target_params, batch, key)

        (loss, info), grads = jax.value_and_grad(group_loss, has_aux=True)(own)
        updates, opt_state[group.name] = tx.update(grads, opt_state[group.name], own)
        params = {**params, **optax.apply_updates(own, updates)}
        metrics.update(info)
        metrics[f"loss/{group.name}"] = loss
    targets = {
        k: jax.tree_util.tree_map(lambda p, t: agent.tau * p + (1.0 - agent.tau) * t, state.params[k], state.target_params[k])
        for k in agent.target_keys
    }
    return TrainState(params, targets, opt_state, state.step + 1, state.key), metrics


def update(agent: Agent, state: TrainState, data: DeviceData, batch_size: int) -> tuple[TrainState, dict]:
    """Sample a batch on the device and apply one update."""
    key, k_batch, k_loss = jax.random.split(state.key, 3)
    batch = sample_batch(data, k_batch, batch_size, agent.sampler)
    new_state, metrics = apply_update(agent, state._replace(key=key), batch, k_loss)
    return new_state, metrics


def stack_states(states: list[TrainState]) -> TrainState:
    """Several seeds' states as one, with a leading seed axis (for `seeds=True` functions)."""
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *states)


def seed_state(state, i: int):
    """Seed i's share of a stacked state (or of any pytree with a leading seed axis: metrics, params)."""
    return jax.tree_util.tree_map(lambda x: x[i], state)


SEED_MODES = ("vmap", "map")  # how seeds trained in one program share it; "auto" picks by backend


def resolve_seed_mode(mode: str = "auto") -> str:
    return ("map" if jax.default_backend() == "cpu" else "vmap") if mode == "auto" else mode


def over_seeds(fn, in_axes, mode: str = "auto"):
    """fn mapped over a leading seed axis of the arguments marked 0 in `in_axes`.

    'vmap' batches the seeds into larger matrix products, which fills a GPU. On a CPU one seed
    already fills the cores and vmap measured no faster (`gcrl bench --seeds 2`), so 'map' (the
    default there) runs the seeds one after another inside the compiled program: each seed's
    computation is then exactly its solo run's, bit for bit (vmap agrees to float rounding)."""
    mode = resolve_seed_mode(mode)
    if mode == "vmap":
        return jax.vmap(fn, in_axes=in_axes)
    if mode not in SEED_MODES:
        raise ValueError(f"seed mode must be auto, {' or '.join(SEED_MODES)}, got {mode!r}")

    def mapped(*args):
        seeded = [i for i, axis in enumerate(in_axes) if axis == 0]

        def one(xs):
            full = list(args)
            for i, x in zip(seeded, xs):
                full[i] = x
            return fn(*full)

        return jax.lax.map(one, [args[i] for i in seeded])

    return mapped


HEALTH = "_health"  # the chunk's divergence watch, beside its metrics (not a metric: never logged)


def all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree)]))


def nonfinite_metrics(metrics: dict) -> jax.Array:
    """One update's watch: which of its metrics (by sorted name) hold a NaN or inf."""
    return jnp.stack([~jnp.all(jnp.isfinite(metrics[k])) for k in sorted(metrics)])


def first_nonfinite(bad: jax.Array, first_update) -> dict:
    """From a chunk's per-update watches bad [updates, metrics], on the device (no host work per
    update): the number of the first update whose metrics went non-finite (-1: none), and which."""
    any_bad = bad.any(axis=1)
    i = jnp.argmax(any_bad)
    diverged = any_bad.any()
    return {"first_nonfinite_update": jnp.where(diverged, first_update + i, -1).astype(jnp.int32), "nonfinite_metrics": bad[i] & diverged}


def convolutions_loop_slowly(agent: Agent) -> bool:
    """Whether this agent's update must not run inside a compiled loop: XLA:CPU runs convolutions in
    a while loop's body on a slow path (jax-ml/jax#12868, open). Measured here on a pixel SAW update
    (IMPALA encoder, batch 32): 3.1 s alone, 58 s for two in a lax.scan, 5.8 s for two unrolled."""
    return jax.default_backend() == "cpu" and getattr(agent.config, "encoder", None) is not None


def make_train_chunk(agent: Agent, batch_size: int, num_updates: int, seeds: bool = False, seed_mode: str = "auto", ynn_fusion: str = "auto"):
    """A jitted function (state, data) -> (state, metrics averaged over `num_updates` updates, plus
    metrics[HEALTH]: where the chunk first went non-finite, see `first_nonfinite`).
    With `seeds`, the state is stacked over seeds: every seed trains in the one program, on the one
    dataset, each with its own batches, exactly as it would alone (see `over_seeds`). `ynn_fusion`:
    see `compiler_options`. Where `convolutions_loop_slowly`, the same chunk runs as one compiled
    update called `num_updates` times from the host (seeds vmapped: lax.map is a loop too)."""

    def one_update(s: TrainState, data: DeviceData):
        s, metrics = update(agent, s, data, batch_size)
        return s, (metrics, nonfinite_metrics(metrics))

    def summary(state: TrainState, metrics, bad, first_update):
        metrics = jax.tree_util.tree_map(jnp.mean, metrics)
        metrics[HEALTH] = {**first_nonfinite(bad, first_update), "params_finite": all_finite(state.params)}
        return state, metrics

    options = compiler_options(batch_size, ynn_fusion)
    if convolutions_loop_slowly(agent):
        step, close = one_update, summary
        if seeds:
            step, close = over_seeds(one_update, (0, None), "vmap"), over_seeds(summary, (0, 0, 0, 0), "vmap")
        return HostLoopChunk(jax.jit(step, donate_argnums=0, compiler_options=options), jax.jit(close), num_updates, seed_axis=seeds)

    def chunk(state: TrainState, data: DeviceData):
        first_update = state.step + 1
        state, (metrics, bad) = jax.lax.scan(lambda s, _: one_update(s, data), state, None, length=num_updates)
        return summary(state, metrics, bad, first_update)

    if seeds:
        chunk = over_seeds(chunk, (0, None), seed_mode)
    return jax.jit(chunk, donate_argnums=0, compiler_options=options)


class HostLoopChunk:
    """A chunk of updates as the host's loop over one compiled update (see convolutions_loop_slowly),
    with the fused chunk's interface: called as (state, data) -> (state, metrics), or lowered and
    compiled first (which compiles the update)."""

    def __init__(self, step, summary, num_updates: int, seed_axis: bool):
        self.step, self.summary, self.num_updates, self.seed_axis = step, summary, num_updates, seed_axis

    def lower(self, state: TrainState, data: DeviceData) -> "HostLoopChunk":
        self.step = self.step.lower(state, data).compile()
        return self

    def compile(self) -> "HostLoopChunk":
        return self

    def __call__(self, state: TrainState, data: DeviceData, on_update: Callable[[], None] | None = None):
        """`on_update` is called as each update finishes (waiting for it: an update takes seconds here)."""
        first_update = state.step + 1
        outputs = []
        for _ in range(self.num_updates):
            state, out = self.step(state, data)
            outputs.append(out)
            if on_update is not None:
                jax.block_until_ready(state.step)
                on_update()
        axis = 1 if self.seed_axis else 0  # the updates' axis, after the seeds'
        metrics, bad = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs, axis), *outputs)
        return self.summary(state, metrics, bad, first_update)


def make_loss_eval(agent: Agent, batch_size: int, seeds: bool = False, seed_mode: str = "auto", ynn_fusion: str = "auto"):
    """A jitted function (state, data, key) -> metrics of every loss group on one batch, no update
    (validation losses). With `seeds`, state and key carry a seed axis."""

    def evaluate(state: TrainState, data: DeviceData, key):
        k_batch, k_loss = jax.random.split(key)
        batch = sample_batch(data, k_batch, batch_size, agent.sampler)
        metrics = {}
        for group in agent.groups:
            loss, info = group.loss(state.params, state.target_params, batch, k_loss)
            metrics.update(info)
            metrics[f"loss/{group.name}"] = loss
        return metrics

    if seeds:
        evaluate = over_seeds(evaluate, (0, None, 0), seed_mode)
    return jax.jit(evaluate, compiler_options=compiler_options(batch_size, ynn_fusion))


def make_act(agent: Agent):
    """A jitted policy: (params, observations, goals, key, temperature) -> actions."""
    return jax.jit(agent.act)
