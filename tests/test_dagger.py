"""Hierarchies built from tiny trained runs (`gcrl train --agent hbc` / `hiql`), evaluated through the
hierarchy, and a DAgger round that records corrections and fine-tunes the high level alone."""

import json

import jax
import numpy as np
import pytest

from gcrl.cli import main
from gcrl.errors import GcrlError
from gcrl.evaluate import make_envs
from gcrl.hierarchy.dagger import DaggerConfig, dagger
from gcrl.hierarchy.evaluate import evaluate_hierarchical
from gcrl.hierarchy.levels import DecodedHigh, compose, load

DATASET, ENV = "pointmaze-medium-stitch-v0", "pointmaze-medium-v0"


def untrained_run(run_dir, agent_name: str, step: int):
    """A run directory as gcrl train writes it, with freshly initialised parameters (no compile of a
    training loop: these tests need the levels' plumbing, not skill)."""
    from gcrl import agents, checkpoint, config
    from gcrl.agents.base import DataSpec
    from gcrl.learner import init_state
    from gcrl.policy import save_spec

    train_cfg, agent_cfg = config.resolve(agent_name, DATASET, "cpu", {"steps": step}, {"hidden": "16,16"})
    spec = DataSpec((2,), False, 2, False)
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(config.to_json(train_cfg, agent_cfg))
    save_spec(run_dir, spec)
    state = init_state(agents.get(agent_name).make(agent_cfg, spec), jax.random.PRNGKey(0))
    checkpoint.save(run_dir, state._replace(step=jax.numpy.asarray(step, jax.numpy.int32)), step)
    return run_dir


@pytest.fixture(scope="module")
def runs(tiny_maze, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    # `gcrl train --agent hbc` end to end; HIQL's run is only initialised (its training compiles slowly).
    argv = ["train", "--agent", "hbc", "--dataset", DATASET, "--dataset-dir", str(tiny_maze), "--preset", "cpu", "--steps", "60",
            "--batch-size", "32", "--eval-episodes", "0", "--set", "hidden=16,16", "--run-dir", str(root / "hbc"), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    return {"hbc": root / "hbc", "hiql": untrained_run(root / "hiql", "hiql", 60)}


@pytest.fixture(scope="module")
def envs():
    envs = make_envs(ENV, 2, max_episode_steps=30)  # short episodes: the runs are barely trained
    yield envs
    for env in envs:
        env.close()


def test_hiql_runs_through_its_own_hierarchy(runs, envs):
    result, policy, path = evaluate_hierarchical(runs["hiql"], episodes=2, tasks=(1,), progress=False, envs=envs)
    record = json.loads(path.read_text())
    assert path.name == "step_00000060.json" and record["space"] == "representation" and record["replan"] == "always"
    stats = record["hierarchy"]["overall"]
    assert stats["subgoals"] == 60 and stats["subgoal_error"] is not None and record["error_units"] == "phi"
    assert record["reach_test"] == "value:-12.5"  # HIQL's k = 25: V >= -k/2
    # Every-step replanning is HIQL's own act: the same actions.
    run = load(runs["hiql"])
    obs, goals = np.array([[1.0, 2.0], [5.0, 3.0]], np.float32), np.array([[10.0, 10.0], [20.0, 4.0]], np.float32)
    policy.reset(2)
    np.testing.assert_allclose(policy(obs, goals), jax.jit(run.agent.act)(run.params, obs, goals, jax.random.PRNGKey(0), 0.0), rtol=1e-5, atol=1e-6)


def test_mixed_pairs_and_clear_errors(runs, envs):
    # HBC's observation-space high level over HIQL's low level, replanning on HIQL's value.
    result, policy, path = evaluate_hierarchical(runs["hiql"], episodes=2, tasks=(1,), high=str(runs["hbc"]), replan="reached:value:-5",
                                                 timeout=7, progress=False, envs=envs)  # fmt: skip
    assert path.name == "step_00000060-high-hbc_reached-value--5.json"
    stats = json.loads(path.read_text())["hierarchy"]["overall"]
    assert stats["subgoals"] >= 2 * 30 // 7 and stats["steps_per_subgoal"] <= 7 and result.tasks[0].subgoals[0].shape[1] == 2
    # The oracle over HBC's low level, every 10 steps.
    oracle_policy = compose(runs["hbc"], "oracle", "every:10", oracle_env_=envs[0])
    assert oracle_policy.high.name == "maze oracle" and oracle_policy.compare.units == "xy"
    with pytest.raises(GcrlError, match="value function"):
        compose(runs["hbc"], replan="reached:value:-3", oracle_env_=envs[0])
    with pytest.raises(GcrlError, match="state-distance"):
        compose(runs["hiql"], replan="reached:state:1", oracle_env_=envs[0])


@pytest.mark.parametrize("agent", ["hbc", "hiql"])
def test_a_dagger_round_corrects_the_high_level_only(agent, runs, envs, tiny_maze, tmp_path):
    cfg = DaggerConfig(rounds=1, episodes=2, eval_episodes=1, updates=20, batch_size=16, threshold=0.5, mix_data=0.5, tasks=(1,))
    record = dagger(runs[agent], cfg, out=tmp_path / "dagger", dataset_dir=tiny_maze, envs=envs, progress=False)
    assert [r["round"] for r in record["rounds"]] == [0, 1]
    first = record["rounds"][0]
    assert first["corrections"] > 0 and first["total_corrections"] == first["corrections"] and np.isfinite(first["finetune_loss"])
    corrections = np.load(tmp_path / "dagger" / "corrections.npz")
    assert corrections["observations"].shape == corrections["subgoals"].shape == (first["corrections"], 2)
    assert json.loads((tmp_path / "dagger" / "dagger.json").read_text())["config"]["rounds"] == 1

    before, after = load(runs[agent]), load(tmp_path / "dagger")  # a DAgger folder loads as its run with the new high level
    same = lambda a, b: all(np.array_equal(x, y) for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))  # noqa: E731
    assert not same(before.params["high_actor"], after.params["high_actor"])
    for key in before.params:
        if key != "high_actor":
            assert same(before.params[key], after.params[key]), key  # the low level (and value, phi) bit-identical


def test_dagger_refuses_flat_runs_and_bad_settings(runs):
    with pytest.raises(GcrlError, match="mix-data"):
        DaggerConfig(mix_data=1.0)
    run = load(runs["hbc"])
    flat = run._replace(agent=run.agent.__class__(**{**run.agent.__dict__, "parts": {}}))
    with pytest.raises(GcrlError, match="learned high level"):
        dagger(flat, DaggerConfig(rounds=1))


def test_hiql_high_level_over_another_low_level_is_decoded_to_the_nearest_dataset_state(runs, envs, tiny_maze):
    policy = compose(runs["hbc"], high=str(runs["hiql"]), replan="every:10", oracle_env_=envs[0], dataset_dir=tiny_maze, candidates=64)
    high = policy.high
    assert isinstance(high, DecodedHigh) and high.space == "observation" and policy.compare.units == "xy"
    candidates = np.asarray(high.candidates)
    dataset = np.load(tiny_maze / f"{DATASET}.npz")["observations"]
    assert candidates.shape == (64, 2) and all((dataset == c).all(axis=1).any() for c in candidates)  # dataset states
    obs, goals = np.array([[1.0, 2.0], [5.0, 3.0]], np.float32), np.array([[10.0, 10.0], [20.0, 4.0]], np.float32)
    proposed = high.propose(obs, goals)
    z = high.high.propose(obs, goals)  # deterministic (temperature 0): the same z again
    phi = jax.jit(high.run.agent.parts["phi"])
    for e in range(2):  # by brute force: the candidate whose phi(s, c) is nearest to z
        reps = np.asarray(phi(high.params, np.repeat(obs[e:e + 1], 64, axis=0), candidates))
        np.testing.assert_array_equal(proposed[e], candidates[np.argmin(((reps - z[e]) ** 2).sum(-1))])
    # End to end: HIQL's high level over HBC's low level, every 10 steps.
    _, _, path = evaluate_hierarchical(runs["hbc"], episodes=2, tasks=(1,), high=str(runs["hiql"]), replan="every:10", progress=False,
                                       envs=envs, dataset_dir=tiny_maze, candidates=64)  # fmt: skip
    record = json.loads(path.read_text())
    assert record["space"] == "observation" and "decoded to the nearest of 64 dataset states" in record["high"]
    assert record["hierarchy"]["overall"]["subgoals"] == 2 * 3  # 30-step episodes, a subgoal every 10 steps
    with pytest.raises(GcrlError, match="at least 1"):
        compose(runs["hbc"], high=str(runs["hiql"]), oracle_env_=envs[0], dataset_dir=tiny_maze, candidates=0)
