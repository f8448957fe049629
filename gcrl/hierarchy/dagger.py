"""DAgger-style correction of a hierarchical policy's high level against the maze oracle.

Each round: evaluate the hierarchy as it is (success, subgoal error); then roll it out again with
corrections: wherever the high level's proposal is farther than `threshold` from the oracle's
subgoal, the oracle's is executed instead and (s, goal, oracle subgoal) recorded; then fine-tune
the high level alone (its own Adam optimiser, `updates` steps) on all corrections so far,
optionally mixed with the original data's (s, goal, k-step waypoint) triples. The low level is
never touched. Maximum likelihood of the oracle's subgoal under the high level's distribution:
for HBC the subgoal observation itself, for HIQL its representation phi(s, w) (the oracle gives
phi(s, oracle w); phi stays frozen). Pointmaze only, as the oracle.

The output folder (default RUN_DIR/dagger) holds dagger.json (settings and per-round results),
corrections.npz and high_actor.msgpack (the fine-tuned high level); `gcrl evaluate FOLDER` and
`gcrl evaluate LOW_RUN --high FOLDER` use it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization
from rich.table import Table

from gcrl.console import console
from gcrl.data.files import atomic_path
from gcrl.errors import GcrlError
from gcrl.evaluate import evaluate, make_envs
from gcrl.hierarchy.levels import DAGGER_FILE, HIGH_PARAMS_FILE, Run, compose, load

HIGH_KEY = "high_actor"


@dataclass(frozen=True)
class DaggerConfig:
    rounds: int = 3
    episodes: int = 10  # collection episodes per task per round
    eval_episodes: int = 10  # evaluation episodes per task per round
    updates: int = 2000  # fine-tuning updates of the high level per round
    batch_size: int = 256
    threshold: float = 2.0  # disagreement (xy units; phi units for HIQL) above which the oracle's subgoal is executed
    mix_data: float = 0.5  # fraction of each fine-tuning batch from the original data (0: corrections only)
    lr: float = 3e-4
    replan: str = "always"
    timeout: int = 50
    seed: int = 0
    tasks: tuple[int, ...] = (1, 2, 3, 4, 5)

    def __post_init__(self):
        for name in ("rounds", "episodes", "eval_episodes", "updates", "batch_size"):
            if getattr(self, name) < (0 if name in ("rounds", "updates") else 1):
                raise GcrlError(f"dagger: {name.replace('_', '-')} must be at least {0 if name in ('rounds', 'updates') else 1}, got {getattr(self, name)}.")
        if not 0.0 <= self.mix_data < 1.0:
            raise GcrlError(f"dagger: --mix-data is the fraction of each batch from the original data, in [0, 1), got {self.mix_data}.")
        if self.threshold < 0:
            raise GcrlError(f"dagger: --threshold must be >= 0, got {self.threshold}.")


def high_loss_fn(run: Run):
    """-mean log pi_h(target(s, w) | s, g) as a function of the high level's parameters alone."""
    parts = run.agent.parts
    if "high_dist" not in parts or "subgoal_target" not in parts or HIGH_KEY not in run.params:
        raise GcrlError(f"dagger corrects a learned high level (hbc, hiql, ris or gcwae runs); {run.path} is a {run.agent.name} run.")

    def loss(high_params, params, observations, goals, subgoals):
        p = {**params, HIGH_KEY: high_params}
        target = jax.lax.stop_gradient(parts["subgoal_target"](p, observations, subgoals))
        return -parts["high_dist"](p, observations, goals).log_prob(target).mean()

    return loss


def make_finetune(run: Run, cfg: DaggerConfig, with_data: bool):
    """A jitted (high_params, opt_state, params, corrections, data, key) -> (high_params, opt_state,
    mean loss): `cfg.updates` Adam steps in one lax.scan, batches drawn on the device."""
    from gcrl.data.sampling import sample_batch

    loss = high_loss_fn(run)
    tx = optax.adam(cfg.lr)
    n_data = min(round(cfg.mix_data * cfg.batch_size), cfg.batch_size - 1) if with_data else 0  # at least one correction per batch
    n_corr = cfg.batch_size - n_data

    def step(carry, key, params, corrections, data):
        high_params, opt_state = carry
        k_corr, k_data = jax.random.split(key)
        pick = jax.random.randint(k_corr, (n_corr,), 0, corrections["observations"].shape[0])
        s, g, w = (corrections[k][pick] for k in ("observations", "goals", "subgoals"))
        if n_data:
            batch = sample_batch(data, k_data, n_data, run.agent.sampler)
            s, g, w = (jnp.concatenate([a, batch[k]]) for a, k in ((s, "observations"), (g, "actor_goals"), (w, "waypoints")))
        value, grads = jax.value_and_grad(loss)(high_params, params, s, g, w)
        updates, opt_state = tx.update(grads, opt_state, high_params)
        return (optax.apply_updates(high_params, updates), opt_state), value

    @jax.jit
    def finetune(high_params, opt_state, params, corrections, data, key):
        body = lambda carry, k: step(carry, k, params, corrections, data)  # noqa: E731
        (high_params, opt_state), losses = jax.lax.scan(body, (high_params, opt_state), jax.random.split(key, cfg.updates))
        return high_params, opt_state, losses.mean()

    return finetune, tx


def _set_high_params(policy, params: dict) -> None:
    policy.high.run = policy.high.run._replace(params=params)


def dagger(run_dir, cfg: DaggerConfig = DaggerConfig(), low=None, out=None, dataset_dir=None, envs=None, progress: bool = True) -> dict:
    """Correct RUN_DIR's high level over `low`'s low level (default: RUN_DIR's own) for
    cfg.rounds rounds; returns the results (also written to OUT/dagger.json)."""
    high_run = run_dir if isinstance(run_dir, Run) else load(run_dir)
    high_loss_fn(high_run)  # fails early for runs without a learned high level
    low_run = high_run if low is None else (low if isinstance(low, Run) else load(low))
    from gcrl.train import eval_env_name

    env_name = eval_env_name(high_run.train_cfg)
    if env_name is None:
        raise GcrlError(f"{high_run.path} was trained on a file: dagger needs an OGBench maze environment for the oracle.")
    own_envs = envs is None
    if own_envs:
        envs = make_envs(env_name, max(cfg.episodes, cfg.eval_episodes))
    try:
        return _dagger(high_run, low_run, cfg, env_name, envs, out, dataset_dir, progress)
    finally:
        if own_envs:
            for env in envs:
                env.close()


def _dagger(high_run: Run, low_run: Run, cfg: DaggerConfig, env_name: str, envs, out, dataset_dir, progress: bool) -> dict:
    out = Path(out) if out is not None else high_run.path / "dagger"
    policies = [compose(low_run, high_run, cfg.replan, cfg.timeout, seed=cfg.seed, env_name=env_name, oracle_env_=envs[0], correct_threshold=t, dataset_dir=dataset_dir)
                for t in (None, cfg.threshold)]  # fmt: skip
    clean, correcting = policies
    if clean.compare is None:
        raise GcrlError(f"dagger needs the maze oracle; {env_name} has none (pointmaze only).")
    info = clean.describe()
    console.print(f"[bold]dagger[/]: {info['high']} over {info['low']}, replan {info['replan']}, threshold {cfg.threshold:g} ({info['error_units']}), "
                  f"{cfg.rounds} round(s) of {cfg.episodes} episodes per task, {cfg.updates:,} high-level updates per round")  # fmt: skip

    data = None
    if cfg.mix_data > 0 and cfg.updates > 0 and cfg.rounds > 0:
        from gcrl.data import sampling
        from gcrl.train import load_data

        data = sampling.to_device(load_data(high_run.train_cfg.dataset, dataset_dir, progress)[0])
    finetune, tx = make_finetune(high_run, cfg, with_data=data is not None)
    params = high_run.params
    opt_state = tx.init(params[HIGH_KEY])
    key = jax.random.PRNGKey(cfg.seed)
    aggregated: dict[str, list] = {"observations": [], "goals": [], "subgoals": []}
    rounds = []

    for r in range(cfg.rounds + 1):
        row = {"round": r, **_evaluation(clean, env_name, cfg, progress, envs)}
        if r < cfg.rounds:
            row.update(_collect_corrections(correcting, aggregated, env_name, cfg, r, progress, envs), finetune_loss=None)
            if row["total_corrections"] and cfg.updates:
                corrections = {k: jnp.asarray(np.concatenate(v)) for k, v in aggregated.items()}
                key, k_round = jax.random.split(key)
                high, opt_state, loss = finetune(params[HIGH_KEY], opt_state, params, corrections, data, k_round)
                params = {**params, HIGH_KEY: high}
                row["finetune_loss"] = float(loss)
                for policy in policies:
                    _set_high_params(policy, params)
        rounds.append(row)
        console.print(f"round {r}: success {100 * row['success']:.1f}%" + (f", {row['corrections']} corrections ({row['total_corrections']} in all)" if "corrections" in row else ""))

    record = {"run_dir": str(high_run.path.resolve()), "low_run": str(low_run.path.resolve()), "env_name": env_name, **info,
              "config": asdict(cfg), "rounds": rounds}  # fmt: skip
    _save(out, record, params[HIGH_KEY], aggregated)
    console.print(dagger_table(rounds, info["error_units"]))
    console.print(f"Results in {out}/ ({DAGGER_FILE}; evaluate the corrected hierarchy with: gcrl evaluate {out})")
    return record


def _evaluation(policy, env_name: str, cfg: DaggerConfig, progress: bool, envs) -> dict:
    """Success and the subgoal statistics of the uncorrected hierarchy, on the same seed each round."""
    result = evaluate(policy, env_name, cfg.eval_episodes, cfg.tasks, seed=cfg.seed, progress=progress, envs=envs)
    stats = result.to_dict()["hierarchy"]["overall"]
    return {"success": result.overall, "per_task": result.per_task, "subgoal_error": stats["subgoal_error"],
            "reached_fraction": stats["reached_fraction"], "steps_per_subgoal": stats["steps_per_subgoal"]}  # fmt: skip


def _collect_corrections(correcting, aggregated: dict, env_name: str, cfg: DaggerConfig, r: int, progress: bool, envs) -> dict:
    """Round r's episodes under the correcting hierarchy (a fresh seed each round); its corrections
    join `aggregated`. Returns the round's counts."""
    collected = evaluate(correcting, env_name, cfg.episodes, cfg.tasks, seed=cfg.seed + 1 + r, progress=progress, envs=envs)
    new = correcting.take_corrections()
    if new is not None:
        for k in aggregated:
            aggregated[k].append(new[k])
    return dict(collect_success=collected.overall, corrections=0 if new is None else len(new["observations"]),
                total_corrections=sum(len(a) for a in aggregated["observations"]),
                corrected_fraction=collected.to_dict()["hierarchy"]["overall"]["corrected_fraction"])  # fmt: skip


def _save(out: Path, record: dict, high_params, corrections: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / HIGH_PARAMS_FILE) as tmp:
        tmp.write_bytes(serialization.to_bytes(jax.device_get(high_params)))
    arrays = {k: np.concatenate(v) if v else np.zeros((0,), np.float32) for k, v in corrections.items()}
    with atomic_path(out / "corrections.npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    with atomic_path(out / DAGGER_FILE) as tmp:  # last: its presence marks a complete output
        tmp.write_text(json.dumps(record, indent=2))


def dagger_table(rounds: list[dict], units: str | None = None) -> Table:
    table = Table(title="DAgger: the high level corrected by the oracle, the low level frozen")
    for name in ("round", "success", f"subgoal error{f' ({units})' if units else ''}", "reached", "collect success", "corrected", "corrections (all)", "fine-tune loss"):
        table.add_column(name, justify="right")
    pct = lambda x: "-" if x is None else f"{100 * x:.1f}%"  # noqa: E731
    num = lambda x, f: "-" if x is None else format(x, f)  # noqa: E731
    for row in rounds:
        table.add_row(str(row["round"]), pct(row["success"]), num(row["subgoal_error"], ".2f"), pct(row["reached_fraction"]), pct(row.get("collect_success")),
                      pct(row.get("corrected_fraction")), num(row.get("total_corrections"), ","), num(row.get("finetune_loss"), ".3f"))  # fmt: skip
    return table
