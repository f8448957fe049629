"""Trained runs as objects: rebuild the agent from a run directory and act with it.

    policy = gcrl.load_policy("runs/...")
    action = policy(observation, goal)          # one observation, or a batch
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np

from gcrl import agents, checkpoint, config
from gcrl.agents.base import Agent, DataSpec
from gcrl.data.files import write_text
from gcrl.errors import GcrlError
from gcrl.learner import TrainState, init_state

SPEC_FILE = "spec.json"


def save_spec(run_dir: Path, spec: DataSpec) -> None:
    write_text(Path(run_dir) / SPEC_FILE, json.dumps(spec._asdict()))


def load_spec(run_dir: Path) -> DataSpec:
    """The observation and action shapes a run was trained on (spec.json), checked."""
    path = Path(run_dir) / SPEC_FILE
    try:
        raw = json.loads(path.read_text())
        spec = DataSpec(tuple(int(d) for d in raw["observation_shape"]), bool(raw["pixels"]), int(raw["action_dim"]), bool(raw["discrete"]))
    except FileNotFoundError:
        raise GcrlError(f"{run_dir} has no {SPEC_FILE}: it never finished starting; train it again.") from None
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise GcrlError(f"{path} is damaged ({type(err).__name__}: {err}); restore it from a copy, or train the run again.") from None
    if spec.action_dim < 1 or any(d < 1 for d in spec.observation_shape):
        raise GcrlError(f"{path} is damaged (shapes {spec.observation_shape} and {spec.action_dim}); restore it from a copy.")
    return spec


def load_run(run_dir) -> tuple[config.TrainConfig, object, Agent, TrainState]:
    run_dir = Path(run_dir).expanduser()
    if not run_dir.is_dir():
        raise GcrlError(f"{run_dir}: no such run directory.")
    train_cfg, agent_cfg = config.read_run_config(run_dir)
    spec = load_spec(run_dir)
    agent = agents.get(train_cfg.agent).make(agent_cfg, spec)
    template = init_state(agent, jax.random.PRNGKey(0))
    return train_cfg, spec, agent, checkpoint.restore(run_dir, template)


def stepping(fn):
    """fn(params, x, y, key, temperature) jitted as (params, x, y, key, temperature) -> (out, next
    key): the key moves on inside the same compiled call, so a step is one dispatch, which is most
    of the cost of a small network called in a loop."""

    def step(params, x, y, key, temperature):
        key, sub = jax.random.split(key)
        return fn(params, x, y, sub, temperature), key

    return jax.jit(step)


class Policy:
    """A goal-conditioned policy: policy(observation, goal) -> action, batched or not."""

    def __init__(self, agent: Agent, params, spec: DataSpec, temperature: float = 0.0, seed: int = 0):
        self.agent, self.params, self.spec = agent, params, spec
        self.temperature = temperature
        self._step = stepping(agent.act)
        self._key = jax.random.PRNGKey(seed)

    def __call__(self, observation, goal) -> np.ndarray:
        obs, goal = np.asarray(observation), np.asarray(goal)
        single = obs.ndim == len(self.spec.observation_shape)
        if single:
            obs, goal = obs[None], goal[None]
        actions, self._key = self._step(self.params, obs, goal, self._key, self.temperature)
        actions = np.asarray(actions)
        return actions[0] if single else actions


def load_policy(run_dir, temperature: float = 0.0, seed: int = 0) -> Policy:
    """The trained policy of a run directory (its last checkpoint)."""
    _, spec, agent, state = load_run(run_dir)
    return Policy(agent, state.params, spec, temperature, seed)
