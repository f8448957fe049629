"""Training an expert (`gcrl experts train NAME`): main_sac.py's loop, with each env step one
compiled call.

main_sac.py, per env step i = 1..steps: act (a random action while i < seed_steps, else a sample of
the policy at temperature 1), step the environment (a time-limit end is terminal with
terminate_at_end), store (s, a, r, 1 - terminated, s'), reset at an episode's end; once the replay
holds seed_steps transitions, one SAC update on 256 uniform transitions every train_interval steps.
Here the store, the update and the next action (for the observation the agent acts on next: s', or
the reset's) are one jitted function over a replay on the device, so the parameters never leave it
and the host only steps the environment. The order is the published one: the action at step i+1 is
taken with the parameters after step i's update.

Phases: open (the run directory, locked; --resume takes the saved settings) -> build (agent, replay,
environment; fresh or from the newest verified checkpoint) -> per env step: act/update, env -> log
every log_every steps -> checkpoint every checkpoint_every -> evaluate every eval_every (the mode,
eval_episodes episodes in lockstep, and the picture of the paths for eight directions) -> finish.

Checkpoints hold the agent (parameters, target critic, Adam, key), the replay (the transitions
held, so a resumed run samples from the same data it would have) and the counters; a resumed run
starts a fresh episode (the environment's state is not saved) and goes on from the saved step.
"""

from __future__ import annotations

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
from gcrl.experts import envs, settings
from gcrl.experts.evaluate import path_picture, rollouts, summary
from gcrl.experts.replay import Replay
from gcrl.experts.sac import Config as SacConfig
from gcrl.experts.sac import Sac, SacState
from gcrl.experts.settings import ExpertConfig
from gcrl.train import RunGuard, SeedRun, _StopFlag, open_single, peak_rss_mb


class Saved(NamedTuple):
    """What a checkpoint holds."""

    agent: SacState
    replay: Replay
    step: jax.Array  # env steps taken


def default_run_dir(cfg: ExpertConfig, root: str = "runs") -> Path:
    return Path(root) / "experts" / cfg.expert / f"seed{cfg.seed}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def latest_run_dir(cfg: ExpertConfig, root: str = "runs") -> Path | None:
    parent = Path(root) / "experts" / cfg.expert
    found = sorted(parent.glob(f"seed{cfg.seed}-*")) if parent.exists() else []
    return found[-1] if found else None


def programs(sac: Sac, batch_size: int, state: SacState, replay: Replay, obs_dim: int, act_dim: int):
    """The compiled calls (compiled here, ahead of the loop): store (the replay donated, written in
    place), act (batched; one observation while training), and update + act, which only reads the
    replay. Kept apart from the store: a program that writes the ring and then gathers a batch from
    it makes XLA copy the whole ring every step (25 ms at 400K transitions)."""

    def store(replay, transition):
        return replay.add(transition)

    def update_act(state, replay, obs, key):
        k_batch, k_act = jax.random.split(key)
        state, metrics = sac.update(state, replay.sample(k_batch, batch_size))
        return state, sac.act(state.params, obs[None], k_act)[0], metrics

    def act_one(state, obs, key):
        return sac.act(state.params, obs[None], key)[0]

    transition, obs, key = blank_transition(obs_dim, act_dim), np.zeros(obs_dim, np.float32), jax.random.PRNGKey(0)
    return Programs(jax.jit(store, donate_argnums=0).lower(replay, transition).compile(), jax.jit(act_one).lower(state, obs, key).compile(),
                    jax.jit(update_act, donate_argnums=0).lower(state, replay, obs, key).compile(), jax.jit(sac.act))  # fmt: skip


class Programs(NamedTuple):
    store: object
    act_one: object  # (state, observation, key) -> action, sampled
    update_act: object
    act: object  # (params, observations, key, temperature) -> actions: evaluation


def blank_transition(obs_dim: int, act_dim: int) -> dict:
    z = np.zeros
    return {"observations": z(obs_dim, np.float32), "actions": z(act_dim, np.float32), "rewards": z((), np.float32), "masks": z((), np.float32),
            "next_observations": z(obs_dim, np.float32)}  # fmt: skip


@dataclass
class ExpertJob:
    cfg: ExpertConfig
    agent_cfg: SacConfig
    run: SeedRun
    progress: bool
    sac: Sac | None = None
    state: SacState | None = None
    replay: Replay | None = None
    env: object = None
    step: int = 0
    saved_step: int = -1
    fns: Programs | None = None
    metrics: dict | None = None  # the last update's (on the device until logged)
    episodes: list = field(default_factory=list)  # (return, length, progress) of episodes ended since the last log
    times: dict = field(default_factory=lambda: {"env_s": 0.0, "agent_s": 0.0, "eval_s": 0.0, "compile_s": 0.0})
    last_log: tuple = (0.0, 0)
    result: dict | None = None


def build_phase(job: ExpertJob, resume: bool) -> None:
    cfg, run = job.cfg, job.run
    job.env = envs.make_env(cfg.expert, cfg.seed + job.step)
    obs_dim, act_dim = job.env.observation_space.shape[0], job.env.action_space.shape[0]
    job.sac = Sac(job.agent_cfg, obs_dim, act_dim)
    capacity = min(cfg.capacity, cfg.steps)  # no larger than the run needs
    state, replay = job.sac.init(jax.random.PRNGKey(cfg.seed)), Replay.empty(capacity, obs_dim, act_dim)
    if resume:
        saved = restore(run.run_dir, job.sac, obs_dim, act_dim, quarantine=True)
        state, replay, job.step = saved.agent, jax.device_put(saved.replay).grown(capacity), int(saved.step)
        job.env.close()
        job.env = envs.make_env(cfg.expert, cfg.seed + job.step)  # a fresh episode, seeded by where it resumes
    job.state, job.replay, job.saved_step = state, replay, job.step if resume else -1
    write_text(run.run_dir / "config.json", settings.to_json(cfg, job.agent_cfg))
    run.open_logs(job.step)
    t0 = time.perf_counter()
    job.fns = programs(job.sac, job.agent_cfg.batch_size, state, replay, obs_dim, act_dim)
    job.times["compile_s"] = time.perf_counter() - t0


def restore(run_dir: Path, sac: Sac, obs_dim: int, act_dim: int, quarantine: bool = False) -> Saved:
    """The newest verified checkpoint; its replay as large as it was saved (its header says)."""
    capacity = int(checkpoint.latest_header(run_dir).get("replay_capacity", 1))
    template = Saved(sac.init(jax.random.PRNGKey(0)), Replay.empty(capacity, obs_dim, act_dim), jnp.zeros((), jnp.int32))
    return checkpoint.restore_latest(run_dir, template, quarantine=quarantine)[0]


def save_phase(job: ExpertJob) -> None:
    checkpoint.save(job.run.run_dir, Saved(job.state, job.replay, jnp.asarray(job.step, jnp.int32)), job.step, keep=job.cfg.keep_checkpoints,
                    meta={"replay_capacity": job.replay.capacity})  # fmt: skip
    job.saved_step = job.step


def log_phase(job: ExpertJob) -> None:
    now, (t_last, step_last) = time.perf_counter(), job.last_log
    row = {f"train/{k}": float(v) for k, v in jax.device_get(job.metrics).items()} if job.metrics is not None else {}
    if row and not all(np.isfinite(v) for v in row.values()):
        bad = sorted(k for k, v in row.items() if not np.isfinite(v))
        raise GcrlError(f"training diverged: {', '.join(bad[:4])} became non-finite by env step {job.step:,}; the last checkpoint is kept. "
                        f"Resume with other settings, e.g.: gcrl experts train {job.cfg.expert} --resume --run-dir {job.run.run_dir} --set lr=3e-5")  # fmt: skip
    if job.episodes:
        ret, length, progress = (np.array(x, float) for x in zip(*job.episodes))
        row.update({"episode/return": ret.mean(), "episode/length": length.mean(), "episode/count": len(ret)})
        if envs.spec(job.cfg.expert).directional:
            row["episode/speed"] = float((progress / length).mean() / job.env.unwrapped.dt)
    row["steps_per_s"] = (job.step - step_last) / max(now - t_last, 1e-9)
    job.run.logger.log(job.step, row)
    job.episodes, job.last_log = [], (now, job.step)


def evaluate_phase(job: ExpertJob) -> None:
    cfg, run = job.cfg, job.run
    t0 = time.perf_counter()
    act = job.fns.act
    result = summary(rollouts(act, job.state.params, cfg.expert, cfg.eval_episodes, cfg.seed + 100_000))
    out = run.run_dir / "eval"
    out.mkdir(exist_ok=True)
    pictures = {}
    if envs.spec(cfg.expert).directional:
        pictures["paths"] = path_picture(act, job.state.params, cfg.expert, out / f"paths_step_{job.step:09d}.png",
                                         title=f"{cfg.expert} expert at env step {job.step:,}: paths for 8 directions")  # fmt: skip
    write_text(out / f"step_{job.step:09d}.json", json.dumps({"step": job.step, "episodes": cfg.eval_episodes, **result}, indent=2))
    run.eval_logger.log(job.step, result)
    run.tracker.scalars(job.step, {f"eval/{k}": v for k, v in result.items()})
    run.tracker.pictures(job.step, pictures)
    job.result = result
    job.times["eval_s"] += time.perf_counter() - t0
    speed = f", speed along the direction {result['speed']:.2f} m/s, per 100-step segment {result['segment_return']:.2f}" if "speed" in result else ""
    console.print(f"  evaluation at env step {job.step:,}: return {result['return']:.1f} +- {result['return_std']:.1f}{speed}", highlight=False)


class _Episode:
    """The episode under way on the host: its observation, return, length and progress."""

    def __init__(self, obs):
        self.obs, self.ret, self.length, self.progress = obs, 0.0, 0, 0.0


def env_phase(job: ExpertJob, episode: _Episode, action: np.ndarray) -> tuple[dict, _Episode]:
    """Step the environment; the transition to store, and the episode the next action is for."""
    next_obs, reward, terminated, truncated, info = job.env.step(action)
    if job.cfg.terminate_at_end and truncated:
        terminated = True
    next_obs = np.asarray(next_obs, np.float32)
    transition = {"observations": episode.obs, "actions": action, "rewards": np.float32(reward), "masks": np.float32(not terminated), "next_observations": next_obs}
    episode.obs, episode.ret, episode.length = next_obs, episode.ret + reward, episode.length + 1
    episode.progress += info.get("progress", 0.0)
    if terminated or truncated:
        job.episodes.append((episode.ret, episode.length, episode.progress))
        episode = _Episode(np.asarray(job.env.reset()[0], np.float32))
    return transition, episode


def agent_phase(job: ExpertJob, transition: dict, obs, key) -> np.ndarray | None:
    """Store the transition; update if one is due; the next action (None while it is a random one)."""
    cfg, fns = job.cfg, job.fns
    step = job.step  # the env step just taken (1-based, as main_sac.py counts)
    t0 = time.perf_counter()
    job.replay = fns.store(job.replay, transition)
    ready = step >= cfg.seed_steps  # the replay holds seed_steps transitions now
    if not ready and step + 1 < cfg.seed_steps:
        action = None
    elif ready and step % cfg.train_interval == 0:
        job.state, action, job.metrics = fns.update_act(job.state, job.replay, obs, key)
    else:
        action = fns.act_one(job.state, obs, key)
    action = None if action is None else np.asarray(action)
    job.times["agent_s"] += time.perf_counter() - t0
    return action


def loop(job: ExpertJob) -> None:
    cfg = job.cfg
    key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 1 + job.step)
    episode = _Episode(np.asarray(job.env.reset(seed=cfg.seed + job.step)[0], np.float32))
    action = None if job.step + 1 < cfg.seed_steps else np.asarray(job.fns.act_one(job.state, episode.obs, key))
    job.last_log = (time.perf_counter(), job.step)
    reporter = Reporter(f"expert {cfg.expert}", cfg.steps, "env steps", enabled=job.progress, start=job.step)
    try:
        with _StopFlag() as stop:
            while job.step < cfg.steps and not stop.requested:
                t0 = time.perf_counter()
                if action is None:
                    action = job.env.action_space.sample()
                transition, episode = env_phase(job, episode, np.asarray(action, np.float32))
                job.step += 1
                job.times["env_s"] += time.perf_counter() - t0
                action = agent_phase(job, transition, episode.obs, jax.random.fold_in(key, job.step))
                reporter.advance(1)
                if (job.step % cfg.log_every == 0 or job.step == cfg.steps) and job.metrics is not None:  # rows start with the first update: the CSV's columns are the first row's
                    log_phase(job)
                if job.step % cfg.checkpoint_every == 0 or job.step == cfg.steps:
                    save_phase(job)
                if cfg.eval_episodes and (cfg.eval_every and job.step % cfg.eval_every == 0 or job.step == cfg.steps):
                    reporter.close()
                    evaluate_phase(job)
                    if job.step < cfg.steps:
                        reporter = Reporter(f"expert {cfg.expert}", cfg.steps, "env steps", enabled=job.progress, start=job.step)
    finally:
        reporter.close()


def finish(job: ExpertJob) -> dict:
    if job.saved_step != job.step:
        save_phase(job)
    t = job.times
    summary_ = {
        "run_dir": str(job.run.run_dir), "expert": job.cfg.expert, "seed": job.cfg.seed, "env_steps": job.step, "finished": job.step >= job.cfg.steps,
        "timings": {**t, "steps_per_s": job.step / max(t["env_s"] + t["agent_s"] + t["compile_s"], 1e-9), "peak_rss_mb": peak_rss_mb()},
        "eval": job.result,
    }  # fmt: skip
    write_text(job.run.run_dir / "summary.json", json.dumps(summary_, indent=2, default=float))
    if not summary_["finished"]:
        console.print(f"Saved at env step {job.step:,}. Resume with:  gcrl experts train {job.cfg.expert} --resume --run-dir {job.run.run_dir}")
    else:
        console.print(f"Done: {job.step:,} env steps (env {t['env_s']:.0f} s, agent {t['agent_s']:.0f} s, compile {t['compile_s']:.0f} s, "
                      f"evaluation {t['eval_s']:.0f} s).\n  run directory: {job.run.run_dir}")  # fmt: skip
    return summary_


def train(cfg: ExpertConfig, agent_cfg: SacConfig, run_dir: Path | None = None, resume: bool = False, progress: bool = True,
          changes: dict[str, str] | None = None, wandb=None) -> dict:  # fmt: skip
    """Train (or resume) an expert; returns its summary (also in summary.json)."""
    if run_dir is None:
        run_dir = latest_run_dir(cfg) if resume else default_run_dir(cfg)
        if run_dir is None:
            raise GcrlError(f"--resume: no {cfg.expert} expert run with seed {cfg.seed} under runs/experts; pass --run-dir.")
    run, agent_cfg = open_single(cfg, agent_cfg, run_dir, resume, changes, settings, wandb)
    job = ExpertJob(run.cfg, agent_cfg, run, progress)
    with RunGuard([run], cleanup=lambda: job.env is not None and job.env.close()) as guard:
        build_phase(job, resume)
        guard.started = True
        c = job.cfg
        console.print(f"[bold]SAC expert {c.expert}[/] ({envs.spec(c.expert).env_id}), {c.steps:,} env steps, one update every {c.train_interval} after "
                      f"{c.seed_steps:,} random ones, on {jax.default_backend()}"
                      f"{f', resuming at env step {job.step:,}' if resume else ''}\n  run directory: {run.run_dir}")  # fmt: skip
        loop(job)
        return finish(job)


def evaluate_run(run_dir: Path, episodes: int = 50, seed: int = 0) -> dict:
    """Evaluate an expert run's newest checkpoint: the table of its episodes, and its path picture."""
    cfg, agent_cfg = settings.read(run_dir)
    env = envs.make_env(cfg.expert, seed)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    env.close()
    sac = Sac(agent_cfg, obs_dim, act_dim)
    saved = restore(run_dir, sac, obs_dim, act_dim)
    act, step = jax.jit(sac.act), int(saved.step)
    result = summary(rollouts(act, saved.agent.params, cfg.expert, episodes, seed + 200_000))
    if envs.spec(cfg.expert).directional:
        picture = path_picture(act, saved.agent.params, cfg.expert, Path(run_dir) / "eval" / f"paths_step_{step:09d}.png",
                               title=f"{cfg.expert} expert at env step {step:,}: paths for 8 directions")  # fmt: skip
        console.print(f"  paths for eight directions: {picture}")
    speed = f", speed along the direction {result['speed']:.2f} m/s, per 100-step segment {result['segment_return']:.2f}" if "speed" in result else ""
    console.print(f"{cfg.expert} expert, env step {step:,}, {episodes} episodes: return {result['return']:.1f} +- {result['return_std']:.1f}{speed}", highlight=False)
    return {"step": step, **result}
