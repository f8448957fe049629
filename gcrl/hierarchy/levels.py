"""High and low levels from run directories and from the maze oracle, and their composition into a
HierarchicalPolicy (gcrl/hierarchy/policy.py).

- A high level comes from a run whose agent has one (hbc: observation subgoals; hiql: z = phi(s,
  w)), from a DAgger output folder (that run with its fine-tuned high level), or is 'oracle': the
  maze's next cell on a shortest path to the goal, as OGBench's oracle (pointmaze, antmaze and
  humanoidmaze from states, whose observations begin with the xy; see OracleHigh).
- HIQL's z paired with another run's low level is decoded into an observation: the dataset state w
  whose phi(s, w) lies nearest to z, among a fixed sample of the high level's dataset.
- A low level comes from a run: its 'reach' part (hbc and hiql's low level, SAW's subpolicy: a
  subgoal observation; hiql also takes its own z), or, for agents without one, the flat policy
  aimed at the subgoal as its goal.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np

from gcrl.errors import GcrlError
from gcrl.hierarchy.policy import (
    OBSERVATION,
    REPRESENTATION,
    HierarchicalPolicy,
    OracleCompare,
    StateTest,
    ValueTest,
    parse_rule,
    parse_test,
)
from gcrl.policy import stepping

DAGGER_FILE, HIGH_PARAMS_FILE = "dagger.json", "high_actor.msgpack"
DECODE_CANDIDATES = 1024  # dataset states a HIQL z is decoded among (for pointmaze-giant: ~10 per free cell)
DEFAULT_STATE_THRESHOLD = 1.0  # OGBench's goal tolerance in pointmaze: what "reached" means when only measured


class Run(NamedTuple):
    path: Path
    train_cfg: object
    spec: object
    agent: object
    params: dict
    step: int


def load(path) -> Run:
    """A trained run; a DAgger output folder gives its run with the fine-tuned high level."""
    from flax import serialization

    from gcrl.policy import load_run

    path = Path(path).expanduser()
    if (path / DAGGER_FILE).is_file():
        try:
            base = Path(json.loads((path / DAGGER_FILE).read_text())["run_dir"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise GcrlError(f"{path / DAGGER_FILE} is damaged ({type(err).__name__}: {err}); run gcrl dagger again.") from None
        if not (base / "config.json").exists() and (path.parent / "config.json").exists():
            base = path.parent  # the default place: RUN_DIR/dagger, moved along with its run
        run = load(base)
        if "high_actor" not in run.params:
            raise GcrlError(f"{path}: its run {base} is a {run.agent.name} run, which has no high level to replace.")
        try:
            high = serialization.from_bytes(run.params["high_actor"], (path / HIGH_PARAMS_FILE).read_bytes())
        except Exception as err:  # missing, truncated, or another network's parameters
            raise GcrlError(f"{path / HIGH_PARAMS_FILE} cannot be read as {base}'s high level ({type(err).__name__}: {err}); "
                            "run gcrl dagger again.") from None  # fmt: skip
        return run._replace(path=path, params={**run.params, "high_actor": high})
    train_cfg, spec, agent, state = load_run(path)
    return Run(path, train_cfg, spec, agent, state.params, int(state.step))


def has_high_level(run: Run) -> bool:
    return "subgoal" in run.agent.parts


# ---- levels -------------------------------------------------------------------------------------

class LearnedHigh:
    """A run's high level: its 'subgoal' part, jitted once."""

    def __init__(self, run: Run, temperature: float = 0.0, seed: int = 0):
        if not has_high_level(run):
            raise GcrlError(f"{run.path} is a {run.agent.name} run, which has no high level; high levels come from hbc, hiql, ris or gcwae runs, or 'oracle'.")
        self.run, self.temperature = run, temperature
        self.space = run.agent.parts.get("subgoal_space", OBSERVATION)
        self.name = f"{run.agent.name} high level ({run.path.name})"
        self._fn = stepping(run.agent.parts["subgoal"])
        self._key = jax.random.PRNGKey(seed)

    @property
    def params(self):
        return self.run.params

    def propose(self, observations, goals):
        subgoals, self._key = self._fn(self.params, observations, goals, self._key, self.temperature)
        return np.asarray(subgoals)


class DecodedHigh:
    """A representation-space high level (HIQL's z = phi(s, w)) for a low level that reads subgoal
    observations: each proposal z becomes the candidate state c whose phi(s, c) is nearest to z
    (squared distance), the candidates a fixed uniform sample of the high level's dataset states."""

    space = OBSERVATION

    def __init__(self, high: LearnedHigh, candidates: np.ndarray):
        import jax.numpy as jnp

        self.high, self.candidates = high, jnp.asarray(candidates, jnp.float32)
        self.name = f"{high.name} decoded to the nearest of {len(candidates):,} dataset states"
        phi = high.run.agent.parts["phi"]

        def nearest(params, observations, z, candidates):
            count, pool = observations.shape[0], candidates.shape[0]
            pairs_s = jnp.repeat(observations, pool, axis=0)  # [count * pool, D]: each state with every candidate
            pairs_c = jnp.tile(candidates, (count, 1))
            reps = phi(params, pairs_s, pairs_c).reshape(count, pool, -1)
            return candidates[jnp.argmin(jnp.sum((reps - z[:, None]) ** 2, axis=-1), axis=1)]

        self._nearest = jax.jit(nearest)

    @property
    def run(self) -> Run:
        return self.high.run

    @run.setter
    def run(self, run: Run) -> None:  # DAgger swaps in fine-tuned parameters
        self.high.run = run

    @property
    def params(self):
        return self.high.params

    def propose(self, observations, goals):
        z = self.high.propose(observations, goals)
        return np.asarray(self._nearest(self.params, np.asarray(observations, np.float32), z, self.candidates))


def decode_candidates(run: Run, count: int, dataset_dir=None, seed: int = 0) -> np.ndarray:
    """`count` states drawn uniformly (fixed seed) from the run's training dataset."""
    from gcrl.data import load as data_load

    if count < 1:
        raise GcrlError(f"--decode-candidates must be at least 1, got {count}.")
    if len(run.spec.observation_shape) != 1:
        raise GcrlError(f"decoding HIQL's z into an observation searches dataset states, which is for vector observations; "
                        f"{run.path} has observations of shape {tuple(run.spec.observation_shape)}.")  # fmt: skip
    observations = np.asarray(data_load.load(run.train_cfg.dataset, dataset_dir, split="train").observations)
    picked = np.random.default_rng(seed).choice(len(observations), size=min(count, len(observations)), replace=False)
    return observations[np.sort(picked)]


class LearnedLow:
    """A run's low level: 'reach' (subgoal observations), 'reach_rep' (HIQL's z), or the flat policy
    with the subgoal as its goal."""

    def __init__(self, run: Run, temperature: float = 0.0, seed: int = 0):
        parts = run.agent.parts
        self.run, self.temperature = run, temperature
        self._fns = {OBSERVATION: stepping(parts.get("reach", run.agent.act))}
        if "reach_rep" in parts:
            self._fns[REPRESENTATION] = stepping(parts["reach_rep"])
        self._key = jax.random.fold_in(jax.random.PRNGKey(seed), 1)  # not the high level's stream
        self.spaces = tuple(self._fns)
        what = "low level" if "reach" in parts else "flat policy as a low level"
        self.name = f"{run.agent.name} {'subpolicy' if run.agent.name == 'saw' else what} ({run.path.name})"
        self.space = OBSERVATION  # which input act() takes; set by compose

    def act(self, observations, subgoals):
        actions, self._key = self._fns[self.space](self.run.params, observations, subgoals, self._key, self.temperature)
        return np.asarray(actions)


# Mazes whose state observations begin with the agent's xy, so the oracle can read and set it.
XY_MAZES = ("pointmaze-", "antmaze-", "humanoidmaze-")


class OracleHigh:
    """The maze oracle as a high level: the centre of the next cell on a shortest path to the goal
    (OGBench's get_oracle_subgoal), or the goal itself once in the goal's cell. For pointmaze the
    observation is the xy, so the subgoal is that cell centre; for antmaze and humanoidmaze (xy in
    the first two entries) it is the current observation with its xy moved there, the body's joints
    as they are (OGBench's oracle gives xy alone; a low level conditioned on whole observations
    needs the rest, and the current posture is the one state it knows is reachable)."""

    space = OBSERVATION
    name = "maze oracle"

    def __init__(self, maze_env, owned: bool = False):
        from gcrl.envs.maze import MazeOracle

        self.env, self.owned = maze_env, owned  # owned: made for the oracle alone, closed with it
        self.maze = maze_env.unwrapped
        self.oracle = MazeOracle(self.maze)

    def close(self) -> None:
        if self.owned:
            self.env.close()
            self.owned = False

    def propose(self, observations, goals):
        observations, goals = np.asarray(observations, np.float32), np.asarray(goals, np.float32)
        out = np.empty_like(observations)
        for e, (observation, goal) in enumerate(zip(observations, goals)):
            xy, goal_xy = observation[:2], goal[:2]
            if self.maze.xy_to_ij(xy) == self.maze.xy_to_ij(goal_xy):
                out[e] = goal
            else:
                out[e] = observation
                out[e, :2] = self.oracle.subgoal_xy(xy, goal_xy)
        return out


def oracle_env(env_name: str, observation_shape):
    """One environment for the oracle's maze geometry, or a GcrlError where there is no oracle."""
    from gcrl.evaluate import is_maze, make_envs

    if env_name is None:
        raise GcrlError("the oracle needs an OGBench maze environment; this run was trained on a file.")
    if not env_name.startswith(XY_MAZES) or len(observation_shape) != 1:
        raise GcrlError(f"the oracle high level is for pointmaze, antmaze and humanoidmaze from states, whose observations begin with "
                        f"the agent's xy; {env_name} with observations of shape {tuple(observation_shape)} is not one.")  # fmt: skip
    env = make_envs(env_name, 1)[0]
    if not is_maze(env):
        env.close()
        raise GcrlError(f"{env_name} has no maze for the oracle.")
    return env


# ---- composition --------------------------------------------------------------------------------

def _value_fn(run: Run, space: str):
    """V(s, w) for a completion test, jitted: the run's 'value' (observation subgoals) or 'value_rep' (z)."""
    name = "value_rep" if space == REPRESENTATION else "value"
    if run is None or name not in run.agent.parts:
        return None
    fn = jax.jit(run.agent.parts[name])
    return lambda observations, subgoals: fn(run.params, observations, subgoals)


def make_test(kind: str, threshold: float, space: str, dims, value_runs: list[Run]):
    if kind == "state":
        if space != OBSERVATION:
            raise GcrlError("a state-distance completion test needs observation-space subgoals; HIQL's own high level proposes representations: use value:V.")
        return StateTest(threshold, dims)
    for run in value_runs:
        value = _value_fn(run, space)
        if value is not None:
            return ValueTest(value, threshold)
    raise GcrlError("a value completion test needs a value function, and neither level's run has one (hbc has none): use state:D.")


def default_dims(env_name: str | None, observation_shape) -> list[int] | None:
    """The dims a state test compares: xy (the first two) in mazes, all of them elsewhere."""
    maze = env_name is not None and "maze" in env_name
    return [0, 1] if maze and observation_shape[0] >= 2 else None


def compose(low_run, high: str | None = None, replan: str | None = None, timeout: int = 50, dims=None, reach_test: str | None = None,
            temperature: float = 0.0, seed: int = 0, env_name: str | None = None, oracle_env_=None, correct_threshold: float | None = None,
            compare: bool = True, dataset_dir=None, candidates: int | None = None) -> HierarchicalPolicy:  # fmt: skip
    """The hierarchical policy of a low-level run (a path or a Run) and a high level: None (the
    run's own), 'oracle', or a run / DAgger folder (a path or a Run). `replan` is a rule string
    (default 'always', as HIQL and HBC act); `reach_test` ('state:D' or 'value:V') measures
    reaching under 'always' and 'every' (default: state within 1.0 on dims for observation
    subgoals, value >= -k/2 for HIQL's). In pointmaze (unless compare=False) each proposal is
    compared with the oracle's subgoal; `oracle_env_` lends the oracle an environment. A HIQL high
    level over another run's low level is decoded among `candidates` (default DECODE_CANDIDATES)
    states of its dataset (found in `dataset_dir`)."""
    rule = parse_rule(replan or "always", timeout)
    low_run = low_run if isinstance(low_run, Run) else load(low_run)
    if env_name is None:
        from gcrl.train import eval_env_name

        env_name = eval_env_name(low_run.train_cfg)
    obs_shape = tuple(low_run.spec.observation_shape)
    high_run = _high_run(low_run, high, obs_shape)
    if high_run is not None:
        high_level = LearnedHigh(high_run, temperature, seed)
        if high_level.space == REPRESENTATION and high_run.path != low_run.path:  # only its own low level reads z
            high_level = DecodedHigh(high_level, decode_candidates(high_run, DECODE_CANDIDATES if candidates is None else candidates, dataset_dir, seed))
    space = high_level.space if high_run is not None else OBSERVATION
    low = LearnedLow(low_run, temperature, seed)
    if space not in low.spaces:
        raise GcrlError(f"the high level proposes {space} subgoals, but {low.name} takes {' or '.join(low.spaces)} subgoals.")
    low.space = space

    dims = list(dims) if dims is not None else default_dims(env_name, obs_shape)
    test = _reach_test(rule, reach_test, space, dims, low_run, high_run)

    # The oracle last, once nothing else can fail: it may open an environment.
    oracle = None
    if high == "oracle" or (compare and env_name is not None and obs_shape == (2,) and "maze" in env_name):
        oracle = OracleHigh(oracle_env_) if oracle_env_ is not None else OracleHigh(oracle_env(env_name, obs_shape), owned=True)
    if high == "oracle":
        high_level = oracle
    oracle_compare = None if oracle is None else _oracle_compare(oracle, space, dims, high_run)
    return HierarchicalPolicy(high_level, low, rule, test, oracle_compare, correct_threshold)


def _high_run(low_run: Run, high: str | Run | None, obs_shape: tuple) -> Run | None:
    """The run whose high level proposes: the low-level run's own (high None), another run's, or
    none for the oracle."""
    if high == "oracle":
        return None
    if high is None:
        if not has_high_level(low_run):
            raise GcrlError(f"{low_run.path} is a flat {low_run.agent.name} run: pass --high (a hbc, hiql, ris or gcwae run, or oracle) to run it as the low level under a high level.")
        return low_run
    high_run = high if isinstance(high, Run) else load(high)
    if tuple(high_run.spec.observation_shape) != obs_shape:
        raise GcrlError(f"{high} and {low_run.path} were trained on observations of different shapes ({high_run.spec.observation_shape} vs {obs_shape}).")
    return high_run


def _reach_test(rule, reach_test: str | None, space: str, dims, low_run: Run, high_run: Run | None):
    """The rule's own test under 'reached'; else `reach_test`, or the default of the subgoal space:
    the state within DEFAULT_STATE_THRESHOLD on `dims`, or HIQL's value >= -subgoal_steps / 2."""
    value_runs = [r for r in (low_run, high_run) if r is not None]
    if rule.kind == "reached":
        return make_test(rule.test, rule.threshold, space, dims, value_runs)
    if reach_test:
        return make_test(*parse_test(reach_test), space, dims, value_runs)
    if space == OBSERVATION:
        return StateTest(DEFAULT_STATE_THRESHOLD, dims)
    return make_test("value", -getattr(high_run.agent.config, "subgoal_steps", 25) / 2, space, dims, value_runs)


def _oracle_compare(oracle: OracleHigh, space: str, dims, high_run: Run | None) -> OracleCompare:
    """Compares each proposal with the oracle's subgoal, in the proposals' space (a representation
    subgoal against the high run's phi of the oracle's)."""
    to_space = None
    if space == REPRESENTATION:
        phi = jax.jit(high_run.agent.parts["phi"])
        to_space = lambda observations, subgoals: phi(high_run.params, observations, subgoals)  # noqa: E731
    return OracleCompare(oracle, space, dims or [0, 1], to_space)
