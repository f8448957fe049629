"""The online training loop, as phases (DreamerV3's and PureJaxRL's split: agent, replay, environment
and settings kept apart):

    open     the run directory, locked (gcrl.train.open_single; --resume takes its saved settings)
    build    environments, agent (Dreamer or Director: one interface), replay; fresh, from the newest
             verified checkpoint, or (init_from) from another run's parameters with a fresh optimiser
    per env step   act (jitted agent.act, sampled; random during the prefill; ezgreedy may hold a
                   random action instead) -> replay.add -> env.step
                   -> the updates the train ratio owes (each one jitted train_step)
             -> log every `log_every` env steps -> checkpoint -> evaluate (the five tasks or a goal
             set; + open-loop picture, and Director's goal picture)
    finish   the last checkpoint, summary.json, the closing line

Train ratio (DreamerV3's): replayed steps per env step. Updates start once `prefill` env steps are in
the replay; from then the run owes updates_due() = floor((env_steps - start) * ratio / (batch x
length)) updates, and does each owed update right after the env step that owes it.

Checkpoints (gcrl/checkpoint.py, atomic, verified) hold the parameters, optimiser state, slow
critic, return normaliser and both counters (env steps, updates), named by env steps. The replay is
NOT saved: a resumed run refills it with `prefill` random env steps (counted as env steps; no updates
are owed for them) and continues the counters from the checkpoint.

Episodes end in the environment's next-step autoreset mode: the last frame (reward, is_terminal)
is a step of its own, the next step is the new episode's first frame (is_first), as DreamerV3 stores
them; Dreamer.act zeroes its carry there.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gcrl import checkpoint
from gcrl.console import Reporter, console
from gcrl.data.files import write_text
from gcrl.errors import GcrlError
from gcrl.online import dreamer, settings
from gcrl.online.behavior import ACState
from gcrl.online.explore import EzGreedy
from gcrl.online.replay import SequenceReplay
from gcrl.online.settings import LoopConfig
from gcrl.train import RunGuard, SeedRun, _StopFlag, open_single, peak_rss_mb

TASKS = 5


class Saved(NamedTuple):
    """What a checkpoint holds."""

    params: dict
    ac_state: ACState  # the agent's (Director's holds more)
    opt_state: object
    step: jax.Array  # env steps
    updates: jax.Array


def updates_due(env_steps: int, start: int, ratio: float, batch: int, length: int) -> int:
    """Updates owed after `env_steps`, counting from env step `start` (the prefill's end)."""
    return max(0, int((env_steps - start) * ratio // (batch * length)))


def make_env(cfg: LoopConfig, num_envs: int, seed: int, task_id: int | None = None, goal_set: str | None = None, decoy: bool = False):
    from gcrl.envs.pixel_maze import PixelMazeVector

    return PixelMazeVector(num_envs, seed=seed, task_id=task_id, autoreset="next-step", layout=settings.layout(cfg.env), size=cfg.size,
                           max_episode_steps=cfg.max_episode_steps, goal_set=goal_set or cfg.goal_set, min_point_px=cfg.point_px,
                           action_repeat=cfg.action_repeat, decoy=decoy)  # fmt: skip


def make_agent(cfg: LoopConfig, model_cfg):
    """The agent `cfg.agent` names: dreamer.Dreamer or director.Director (the same interface)."""
    if cfg.agent == "dreamer" and model_cfg.finetune != "all":
        raise GcrlError(f"online: finetune={model_cfg.finetune} freezes parts of Director; the flat agent fine-tunes everything (finetune=all).")
    if cfg.agent == "director":
        from gcrl.online import director

        return director.make(model_cfg, 2, False, 2, (cfg.size, cfg.size, 3))
    return dreamer.make(model_cfg, 2, False, 2, (cfg.size, cfg.size, 3))


def to_saved(state, env_steps: int = 0, updates: int = 0) -> "Saved":
    """What a checkpoint holds of a train state and the two counters (zeros: a restore template)."""
    return Saved(state.params, state.ac_state, state.opt_state, jnp.asarray(env_steps, jnp.int32), jnp.asarray(updates, jnp.int32))


def saved_template(agent) -> "Saved":
    """A checkpoint's shape, from a freshly initialised agent."""
    return to_saved(agent.init(jax.random.PRNGKey(0)))


@functools.lru_cache(maxsize=4)
def programs(agent: dreamer.Dreamer):
    """(act, train_step), jitted once per agent in a process (a resume in the same process compiles nothing)."""
    return jax.jit(agent.act, static_argnames="sample"), jax.jit(agent.train_step)


def replay_spec(cfg: LoopConfig) -> dict:
    return {"image": ((cfg.size, cfg.size, 3), np.uint8), "action": ((2,), np.float32), "reward": ((), np.float32),
            "is_first": ((), bool), "is_terminal": ((), bool), "task": ((2,), np.float32)}  # fmt: skip


@dataclass
class OnlineJob:
    cfg: LoopConfig
    model_cfg: object
    run: SeedRun
    progress: bool
    agent: dreamer.Dreamer = None
    state: dreamer.TrainState = None
    env_steps: int = 0
    updates: int = 0
    saved_step: int = -1
    train_start: int = 0  # env step at which this session's prefill ends
    updates_at_start: int = 0
    replay: SequenceReplay = None
    env: object = None
    act: object = None
    train_step: object = None
    metrics: list = field(default_factory=list)
    episodes: list = field(default_factory=list)  # (return, success) of episodes ended since the last log
    times: dict = field(default_factory=lambda: {"env_s": 0.0, "train_s": 0.0, "eval_s": 0.0, "compile_s": 0.0})
    timed: int = 0  # updates timed (the first of a session, with its compilation, is not)
    last_log: tuple = (0.0, 0, 0, 0.0)  # (time, env steps, timed updates, train_s) at the last log
    result: dict | None = None


# ---- opening and building ---------------------------------------------------------------------------

def default_run_dir(cfg: LoopConfig, root: str = "runs") -> Path:
    return Path(root) / "online" / cfg.env / f"{cfg.agent}-seed{cfg.seed}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def latest_run_dir(cfg: LoopConfig, root: str = "runs") -> Path | None:
    parent = Path(root) / "online" / cfg.env
    found = sorted(parent.glob(f"{cfg.agent}-seed{cfg.seed}-*")) if parent.exists() else []
    return found[-1] if found else None


def build_phase(job: OnlineJob, resume: bool) -> None:
    cfg, run = job.cfg, job.run
    job.agent = make_agent(cfg, job.model_cfg)
    state = job.agent.init(jax.random.PRNGKey(cfg.seed))
    if resume:
        saved, header = checkpoint.restore_latest(run.run_dir, to_saved(state), quarantine=True)
        state = type(state)(saved.params, saved.ac_state, saved.opt_state, saved.updates)
        job.env_steps, job.updates = int(saved.step), int(saved.updates)
        run.eval_pending = bool(header.get("eval_pending"))
    elif cfg.init_from:
        state = initialised_from(job.agent, state, Path(cfg.init_from))
    job.state, job.saved_step = state, job.env_steps if resume else -1
    job.train_start, job.updates_at_start = job.env_steps + cfg.prefill, job.updates
    write_text(run.run_dir / "config.json", settings.to_json(cfg, job.model_cfg))
    run.open_logs(job.env_steps)
    job.replay = SequenceReplay(cfg.num_envs, cfg.capacity // cfg.num_envs, replay_spec(cfg), seed=cfg.seed + job.env_steps)
    job.env = make_env(cfg, cfg.num_envs, seed=cfg.seed + job.env_steps)
    job.act, job.train_step = programs(job.agent)


def initialised_from(agent, state, source: Path):
    """`state` with the parameters and critic state of `source`'s newest checkpoint (a run of the same
    agent and sizes); the optimiser and counters start fresh, as fine-tuning does."""
    if not checkpoint.exists(source):
        raise GcrlError(f"init_from: no checkpoint found in {source}; pass a run directory of a finished (or checkpointed) online run.")
    source_cfg, source_model = settings.read(source)
    if source_cfg.agent != agent_name(agent):
        raise GcrlError(f"init_from: {source} is a {source_cfg.agent} run; this run's agent is {agent_name(agent)}.")
    saved, _ = checkpoint.restore_latest(source, to_saved(state))
    return type(state)(saved.params, saved.ac_state, agent.tx.init(saved.params), jnp.zeros((), jnp.int32))


def agent_name(agent) -> str:
    return "director" if type(agent).__name__ == "Director" else "dreamer"


# ---- the phases of the loop ---------------------------------------------------------------------------

def update_phase(job: OnlineJob, key) -> None:
    """The updates the train ratio owes now, one jitted train_step each."""
    cfg = job.cfg
    if job.env_steps < job.train_start:
        return
    due = job.updates_at_start + updates_due(job.env_steps, job.train_start, cfg.train_ratio, cfg.batch, cfg.length)
    while job.updates < due:
        batch = job.replay.sample(cfg.batch, cfg.length)
        t0 = time.perf_counter()
        job.state, metrics = job.train_step(job.state, batch, jax.random.fold_in(key, job.updates))
        jax.block_until_ready(metrics)  # timed to the end (and the env waits: 2 cores have nothing to spare)
        if job.updates == job.updates_at_start:  # the session's first update includes its compilation
            job.times["compile_s"] += time.perf_counter() - t0
        else:
            job.times["train_s"] += time.perf_counter() - t0
            job.timed += 1
        job.metrics.append(metrics)
        job.updates += 1


def log_phase(job: OnlineJob) -> None:
    now, (t_last, steps_last, timed_last, train_last) = time.perf_counter(), job.last_log
    jax.block_until_ready(job.state.params)
    row = {}
    if job.metrics:
        host = jax.device_get(job.metrics)
        row.update({f"train/{k}": float(np.mean([m[k] for m in host])) for k in host[0]})
        if not all(np.isfinite(v) for v in row.values()):
            bad = sorted(k for k, v in row.items() if not np.isfinite(v))
            raise GcrlError(f"training diverged: {', '.join(bad[:4])} became non-finite by env step {job.env_steps:,}; "
                            f"the last checkpoint is kept. Resume with other settings, e.g.: gcrl online train --resume --run-dir {job.run.run_dir} --set lr=1e-5")  # fmt: skip
    row["episode/return"] = float(np.mean([r for r, _ in job.episodes])) if job.episodes else float("nan")
    row["episode/success"] = float(np.mean([s for _, s in job.episodes])) if job.episodes else float("nan")
    row["episode/count"] = len(job.episodes)
    train_s = job.times["train_s"] - train_last
    row["updates"] = job.updates
    row["env_steps_per_s"] = (job.env_steps - steps_last) / max(now - t_last, 1e-9)
    row["updates_per_s"] = (job.timed - timed_last) / train_s if train_s else 0.0  # compilation excluded
    job.run.logger.log(job.env_steps, row)
    job.metrics, job.episodes = [], []
    job.last_log = (now, job.env_steps, job.timed, job.times["train_s"])


def save_phase(job: OnlineJob, eval_pending: bool = False) -> None:
    checkpoint.save(job.run.run_dir, to_saved(job.state, job.env_steps, job.updates), job.env_steps, keep=job.cfg.keep_checkpoints, meta={"eval_pending": eval_pending})
    job.saved_step = job.env_steps


def run_episodes(agent, params, env, seed: int, act, record=None, sample: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Each of `env`'s environments runs its first episode to the end, with the actor's samples (or
    its mode); (success [N], return [N]). `record(obs, carry)` sees every step's observation and carry."""
    episodes = len(env)
    obs, carry = env.reset(), agent.initial_carry(episodes)
    first, done = np.ones(episodes, bool), np.zeros(episodes, bool)
    success, ret = np.zeros(episodes, bool), np.zeros(episodes)
    key = jax.random.PRNGKey(seed)
    while not done.all():
        action, carry = act(params, carry, {"image": obs["image"], "task": obs["task"], "is_first": first}, jax.random.fold_in(key, int(env.envs[0].steps)), sample=sample)
        if record is not None and not done[0]:
            record(obs, carry)
        obs, reward, terminated, truncated, info = env.step(np.asarray(action))
        live = ~done
        ret += reward * live
        success |= terminated & live
        done |= terminated | truncated
        first = info["first"]
    return success, ret


def evaluate(agent, params, cfg: LoopConfig, episodes: int, seed: int, act=None, goals: str | None = None, record=None, decoy: bool = False) -> dict:
    """Success of the policy (sampled or greedy: cfg.eval_policy). goals 'tasks': the maze's five tasks, `episodes` each, one batch
    of environments per task; a goal set ('train', 'heldout', 'all'): 5 x `episodes` episodes towards
    that set's cells from random starts, as one batch, reported in five groups. With `decoy` the
    agent is shown another goal than the one success counts (PixelMaze's control; the same starts
    and goals as without). `record` sees the first environment's episode."""
    act, goals = act or programs(agent)[0], goals or cfg.eval_goals
    if goals == "tasks":
        batches = [(make_env(cfg, episodes, seed=seed + 7919 * task, task_id=task, decoy=decoy), seed + task) for task in range(1, TASKS + 1)]
    else:
        batches = [(make_env(cfg, TASKS * episodes, seed=seed + 7919, goal_set=goals, decoy=decoy), seed + 1)]
    success, returns = [], []
    for k, (env, batch_seed) in enumerate(batches):
        try:
            s, r = run_episodes(agent, params, env, batch_seed, act, record if k == 0 else None, sample=cfg.eval_policy == "sample")
        finally:
            env.close()
        success.append(s)
        returns.append(r)
    per_group = np.concatenate(success).reshape(TASKS, episodes).mean(1)
    group_returns = np.concatenate(returns).reshape(TASKS, episodes).mean(1)
    return {"overall": float(per_group.mean()), "per_task": per_group.tolist(), "returns": group_returns.tolist(), "episodes_per_task": episodes, "goals": goals,
            "policy": cfg.eval_policy, "decoy": decoy}


def save_goal_picture(job: OnlineJob, frames, goals, path: Path, steps: int = 96) -> None:
    """Director's evaluation episode: its first `steps` frames above the decoded goals it pursued."""
    from gcrl.online.director import goal_picture

    goal_frames = jax.jit(job.agent.goal_image)(job.state.params, jnp.asarray(np.stack(goals[:steps])))
    goal_picture(np.stack(frames[:steps]), np.asarray(goal_frames), path, every=job.model_cfg.goal_every,
                 title=f"{job.cfg.env}, env step {job.env_steps:,}: frames (top) and the goals the manager chose (decoded)")  # fmt: skip


def groups_text(result: dict) -> str:
    name = "task" if result["goals"] == "tasks" else f"{result['goals']} goals, group "
    return "  ".join(f"{name}{j + 1} {s:.0%}" for j, s in enumerate(result["per_task"]))


def evaluate_phase(job: OnlineJob) -> None:
    cfg, run = job.cfg, job.run
    t0 = time.perf_counter()
    frames, goals = [], []
    record = (lambda obs, carry: (frames.append(obs["image"][0]), goals.append(np.asarray(carry.goal[0])))) if hasattr(job.agent, "goal_image") else None
    result = evaluate(job.agent, job.state.params, cfg, cfg.eval_episodes, cfg.seed + 100_000, job.act, record=record)
    out = run.run_dir / "eval"
    out.mkdir(exist_ok=True)
    pictures = {"goals": out / f"goals_step_{job.env_steps:08d}.png", "openloop": out / f"openloop_step_{job.env_steps:08d}.png"}
    if frames:
        save_goal_picture(job, frames, goals, pictures["goals"])
    write_text(out / f"step_{job.env_steps:08d}.json", json.dumps({"step": job.env_steps, "updates": job.updates, **result}, indent=2))
    if job.replay.windows(cfg.length) > 0:
        from gcrl.online.openloop import openloop_picture

        openloop_picture(job.agent, job.state.params, job.replay.sample(1, cfg.length), cfg.openloop_context,
                         pictures["openloop"], jax.random.PRNGKey(job.env_steps))  # fmt: skip
    run.eval_logger.log(job.env_steps, {"overall": result["overall"], **{f"task{j + 1}": s for j, s in enumerate(result["per_task"])}})
    run.tracker.evaluation(job.env_steps, result["overall"], result["per_task"], label="task" if result["goals"] == "tasks" else "group", pictures=pictures)
    run.eval_pending, job.result = False, result
    job.times["eval_s"] += time.perf_counter() - t0
    console.print(f"  evaluation at env step {job.env_steps:,}: success {result['overall']:.0%} ({groups_text(result)})", highlight=False)


def _crossed(before: int, after: int, every: int) -> bool:
    return every > 0 and before // every != after // every


@dataclass
class _Envs:
    """What the loop carries from one vector step to the next: the latest observations and the
    agent's recurrent state, what the replay records beside the next action, and the returns and
    successes of the episodes under way."""

    obs: dict
    carry: object
    first: np.ndarray
    reward: np.ndarray
    terminal: np.ndarray
    ep_return: np.ndarray
    ep_success: np.ndarray

    @classmethod
    def reset(cls, job: OnlineJob) -> "_Envs":
        n = job.cfg.num_envs
        return cls(job.env.reset(), job.agent.initial_carry(n), np.ones(n, bool), np.zeros(n, np.float32), np.zeros(n, bool), np.zeros(n), np.zeros(n, bool))


def loop(job: OnlineJob) -> None:
    cfg, run = job.cfg, job.run
    if run.eval_pending and cfg.eval_episodes > 0:
        console.print(f"  the evaluation at env step {job.env_steps:,} was cut short: it is made up once the replay is refilled")
    key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), job.env_steps)
    rng = np.random.default_rng(cfg.seed + job.env_steps)
    explore = EzGreedy(cfg.num_envs, 2, cfg.explore_eps, cfg.explore_zeta, cfg.explore_max, rng) if cfg.explore == "ezgreedy" else None
    envs = _Envs.reset(job)
    job.last_log = (time.perf_counter(), job.env_steps, job.timed, 0.0)
    reporter = Reporter("online", cfg.steps, "env steps", enabled=job.progress, start=job.env_steps)
    try:
        with _StopFlag() as stop:
            while job.env_steps < cfg.steps and not stop.requested:
                t0 = time.perf_counter()
                action = act_phase(job, envs, jax.random.fold_in(key, job.env_steps), rng, explore)
                env_phase(job, envs, action)
                previous = job.env_steps
                job.env_steps += cfg.num_envs
                job.times["env_s"] += time.perf_counter() - t0
                update_phase(job, key)
                reporter.advance(cfg.num_envs)
                end = job.env_steps >= cfg.steps
                if (_crossed(previous, job.env_steps, cfg.log_every) or end) and job.updates > job.updates_at_start:  # rows start with the first update: metrics.csv's columns are fixed by its first row
                    log_phase(job)
                ready = job.env_steps >= job.train_start
                # A resumed run refills its replay first, its parameters those it was saved with: an
                # evaluation falling in that refill still runs (a fresh run's, before any update, not).
                trained = ready or job.updates > 0
                evaluate_now = cfg.eval_episodes > 0 and trained and (_crossed(previous, job.env_steps, cfg.eval_every) or end or run.eval_pending)
                if ready and (evaluate_now or _crossed(previous, job.env_steps, cfg.checkpoint_every) or end):
                    save_phase(job, eval_pending=evaluate_now)
                if evaluate_now:
                    evaluate_phase(job)
    finally:
        reporter.close()


def act_phase(job: OnlineJob, envs: _Envs, key, rng: np.random.Generator, explore: EzGreedy | None) -> np.ndarray:
    """The actions to take: the agent's, random ones while the replay prefills, or the explorer's
    changes to the agent's; the agent's carry records the ones taken."""
    first = envs.first
    action, envs.carry = job.act(job.state.params, envs.carry, {"image": envs.obs["image"], "task": envs.obs["task"], "is_first": first}, key)
    if job.env_steps < job.train_start:
        action = rng.uniform(-1, 1, (len(first), 2)).astype(np.float32)
        envs.carry = envs.carry._replace(prev_action=jnp.asarray(action))
    elif explore is not None:
        action = explore(np.asarray(action))
        envs.carry = envs.carry._replace(prev_action=jnp.asarray(action))
    return np.asarray(action)


def env_phase(job: OnlineJob, envs: _Envs, action: np.ndarray) -> None:
    """Record the step in the replay (observation, the action taken on it, the reward and flags
    that came with the observation), step the environments, and book the episodes that ended."""
    obs = envs.obs
    job.replay.add({"image": obs["image"], "action": action, "reward": envs.reward, "is_first": envs.first, "is_terminal": envs.terminal, "task": obs["task"]})
    envs.obs, envs.reward, terminated, truncated, info = job.env.step(action)
    envs.first, envs.terminal = info["first"], terminated
    envs.ep_return += envs.reward
    envs.ep_success |= envs.reward > 0
    for k in info["ended"]:
        job.episodes.append((envs.ep_return[k], float(envs.ep_success[k])))
    done = envs.first | terminated | truncated
    envs.ep_return[done], envs.ep_success[done] = 0.0, False


def finish(job: OnlineJob) -> dict:
    if job.saved_step != job.env_steps and job.env_steps >= job.train_start:
        save_phase(job)
    t = job.times
    summary = {
        "run_dir": str(job.run.run_dir), "agent": job.cfg.agent, "env": job.cfg.env, "seed": job.cfg.seed,
        "env_steps": job.env_steps, "updates": job.updates, "finished": job.env_steps >= job.cfg.steps,
        "checkpoint_step": job.saved_step if job.saved_step >= 0 else checkpoint.latest_step(job.run.run_dir),
        "timings": {**t, "env_steps_per_s": job.env_steps / t["env_s"] if t["env_s"] else 0.0,
                    "updates_per_s": job.timed / t["train_s"] if t["train_s"] else 0.0, "peak_rss_mb": peak_rss_mb()},
        "eval": job.result,
    }  # fmt: skip
    write_text(job.run.run_dir / "summary.json", json.dumps(summary, indent=2, default=float))
    if not summary["finished"] and summary["checkpoint_step"] is None:
        console.print(f"Stopped at env step {job.env_steps:,}, before the prefill ended: no checkpoint yet.")
    elif not summary["finished"]:
        console.print(f"Saved at env step {summary['checkpoint_step']:,} (the replay is not saved). Resume with:  gcrl online train --resume --run-dir {job.run.run_dir}")
    else:
        console.print(f"Done: {job.env_steps:,} env steps, {job.updates:,} updates (env {t['env_s']:.0f} s, updates {t['train_s']:.0f} s, "
                      f"compile {t['compile_s']:.0f} s, evaluation {t['eval_s']:.0f} s).\n  run directory: {job.run.run_dir}")  # fmt: skip
    return summary


def train(cfg: LoopConfig, model_cfg, run_dir: Path | None = None, resume: bool = False, progress: bool = True,
          changes: dict[str, str] | None = None, wandb=None) -> dict:  # fmt: skip
    """Train (or resume) one online run; returns its summary (also in summary.json). `wandb`
    (gcrl.tracking.WandbOptions): the run also logs to W&B."""
    if run_dir is None:
        run_dir = latest_run_dir(cfg) if resume else default_run_dir(cfg)
        if run_dir is None:
            raise GcrlError(f"--resume: no online run of {cfg.agent} on {cfg.env} with seed {cfg.seed} under runs/online; pass --run-dir.")
    run, model_cfg = open_single(cfg, model_cfg, run_dir, resume, changes, settings, wandb)
    job = OnlineJob(run.cfg, model_cfg, run, progress)
    with RunGuard([run], cleanup=lambda: job.env is not None and job.env.close()) as guard:
        build_phase(job, resume)
        guard.started = True
        c = job.cfg
        console.print(
            f"[bold]{c.agent}[/] online on [bold]{c.env}[/] ({c.size}x{c.size} images, {c.num_envs} envs), preset {c.preset}, "
            f"batch {c.batch} x {c.length}, train ratio {c.train_ratio:g}, {c.steps:,} env steps on {jax.default_backend()}"
            f"{f', resuming at env step {job.env_steps:,} (update {job.updates:,}; refilling the replay first)' if resume else ''}\n  run directory: {run.run_dir}"
        )
        loop(job)
        return finish(job)


def evaluate_run(run_dir: Path, episodes: int | None = None, progress: bool = True, goals: str | None = None, out: Path | None = None,
                 policy: str | None = None, decoy: bool = False) -> dict:  # fmt: skip
    """Evaluate a run's newest checkpoint on the five tasks or a goal set, with the actor's samples
    or its mode (default: the run's eval_goals and eval_policy), with decoy goals shown if asked;
    with `out`, the result is also written there as JSON."""
    cfg, model_cfg = settings.read(run_dir)
    cfg = dataclasses.replace(cfg, eval_goals=goals or cfg.eval_goals, eval_policy=policy or cfg.eval_policy)  # checked like settings
    agent = make_agent(cfg, model_cfg)
    saved, _ = checkpoint.restore_latest(run_dir, saved_template(agent))
    result = evaluate(agent, saved.params, cfg, episodes or cfg.eval_episodes, cfg.seed + 200_000, decoy=decoy)
    shown = ", decoy goals shown" if decoy else ""
    console.print(f"{cfg.env}, {cfg.agent}, env step {int(saved.step):,}, goals {result['goals']}{shown}, {result['policy']} policy: success {result['overall']:.0%} ({groups_text(result)})", highlight=False)
    result = {"step": int(saved.step), "run_dir": str(run_dir), **result}
    if out is not None:
        write_text(Path(out), json.dumps(result, indent=2))
    return result
