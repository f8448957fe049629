"""Hierarchical execution: replanning rules on fake levels (how often the high level is called, the
timeout, per-episode masks, the statistics), and the maze oracle over a scripted low level in the
real pointmaze through gcrl.evaluate's lockstep loop."""

import json

import numpy as np
import pytest

from gcrl.errors import GcrlError
from gcrl.evaluate import evaluate, make_envs
from gcrl.hierarchy.policy import (
    HierarchicalPolicy,
    OracleCompare,
    StateTest,
    ValueTest,
    combine_stats,
    hierarchy_table,
    parse_rule,
    parse_test,
    plot_subgoals,
)

ENV = "pointmaze-medium-v0"


class FakeHigh:
    """Proposes obs + 10 * (its call number), so each call's subgoals are recognisable."""

    space, name = "observation", "fake high"

    def __init__(self):
        self.calls, self.batch_sizes = 0, []

    def propose(self, observations, goals):
        self.calls += 1
        self.batch_sizes.append(len(observations))
        return np.asarray(observations, np.float32) + 10.0 * self.calls


class FakeLow:
    spaces, name = ("observation",), "fake low"

    def __init__(self):
        self.seen = []

    def act(self, observations, subgoals):
        self.seen.append(np.array(subgoals))
        return np.zeros((len(observations), 2), np.float32)


def run_steps(policy, observations, steps, goals=None):
    """Call the policy `steps` times; `observations` is an array (held) or a function of the step."""
    for t in range(steps):
        obs = observations(t) if callable(observations) else observations
        policy(obs, np.zeros_like(obs) if goals is None else goals)


def make(rule, test=None, **kwargs):
    high, low = FakeHigh(), FakeLow()
    policy = HierarchicalPolicy(high, low, parse_rule(rule, kwargs.pop("timeout", 50)), test, **kwargs)
    policy.reset(2)
    return policy, high, low


def test_always_calls_the_high_level_every_step():
    policy, high, _ = make("always")
    run_steps(policy, np.zeros((2, 2), np.float32), 7)
    assert high.calls == 7 and set(high.batch_sizes) == {2}
    stats = policy.end_task([7, 7])["stats"]
    assert stats["subgoals"] == 14 and stats["segments"] == 12 and stats["steps_per_subgoal"] == 1.0


def test_every_n_replans_every_n_steps_of_each_episode():
    policy, high, low = make("every:3")
    run_steps(policy, np.zeros((2, 2), np.float32), 10)
    assert high.calls == 4  # steps 0, 3, 6, 9
    changes = [t for t in range(1, 10) if not np.array_equal(low.seen[t], low.seen[t - 1])]
    assert changes == [3, 6, 9]
    stats = policy.end_task([10, 10])["stats"]
    assert stats["subgoals"] == 8 and stats["segments"] == 6 and stats["steps_per_subgoal"] == 3.0
    assert stats["subgoals_per_episode"] == 4.0 and stats["timeout_fraction"] == 0.0


def test_a_low_level_that_never_reaches_is_cut_by_the_timeout():
    # Observations never move, and subgoals are 10+ away: the test never fires.
    policy, high, _ = make("reached:state:0.5", StateTest(0.5), timeout=4)
    run_steps(policy, np.zeros((2, 2), np.float32), 10)
    assert high.calls == 3  # steps 0, 4, 8
    stats = policy.end_task([10, 10])["stats"]
    assert stats["segments"] == 4 and stats["segments_timed_out"] == 4 and stats["segments_reached"] == 0
    assert stats["timeout_fraction"] == 1.0 and stats["reached_fraction"] == 0.0 and stats["steps_per_subgoal"] == 4.0


def test_replanning_is_decided_per_episode():
    """Episode 0 lands on its subgoal every step (replans each step); episode 1 never does (replans
    at the timeout). The high level always sees the full batch; only masked rows change."""
    policy, high, low = make("reached:state:0.1", StateTest(0.1), timeout=5)
    current = {"obs": np.zeros((2, 2), np.float32)}

    def observations(t):
        if t > 0:  # episode 0 reaches the subgoal it was given; episode 1 stays put
            current["obs"] = np.stack([low.seen[-1][0], current["obs"][1]])
        return current["obs"]

    run_steps(policy, observations, 8)
    assert high.calls == 8 and set(high.batch_sizes) == {2}
    for t in range(1, 8):
        assert not np.array_equal(low.seen[t][0], low.seen[t - 1][0])  # episode 0: a new subgoal every step
    ep1_changes = [t for t in range(1, 8) if not np.array_equal(low.seen[t][1], low.seen[t - 1][1])]
    assert ep1_changes == [5]  # episode 1: only at its timeout
    stats = policy.end_task([8, 8])["stats"]
    # Episode 0: 7 closed segments, all reached; episode 1: one closed segment (0-5), timed out.
    assert stats["segments"] == 8 and stats["segments_reached"] == 7 and stats["segments_timed_out"] == 1


def test_value_test_and_episode_lengths():
    # V(s, w) = -||s - w||: episode 0's subgoals are 10 away, never reached at -0.5; lengths cut the records.
    value = lambda s, w: -np.linalg.norm(np.asarray(s) - np.asarray(w), axis=1)  # noqa: E731
    policy, high, _ = make("reached:value:-0.5", ValueTest(value, -0.5), timeout=3)
    run_steps(policy, np.zeros((2, 2), np.float32), 9)
    stats = policy.end_task([4, 9])["stats"]
    # Episode 0 counts its first 4 steps (replans at 0, 3: one closed segment), episode 1 all 9 (0, 3, 6: two).
    assert stats["steps"] == 13 and stats["subgoals"] == 5 and stats["segments"] == 3 and stats["segments_timed_out"] == 3


def test_every_with_a_measuring_test_counts_reaching_without_replanning():
    policy, high, low = make("every:4", StateTest(100.0))  # everything counts as reached
    run_steps(policy, np.zeros((2, 2), np.float32), 8)
    assert high.calls == 2
    stats = policy.end_task([8, 8])["stats"]
    assert stats["segments"] == 2 and stats["reached_fraction"] == 1.0 and stats["timeout_fraction"] == 0.0


def test_corrections_replace_far_proposals_and_are_recorded():
    class Oracle:
        space, name = "observation", "oracle"

        def propose(self, observations, goals):
            return np.asarray(goals, np.float32)

    policy, high, low = make("always", compare=OracleCompare(Oracle()), correct_threshold=5.0)
    obs = np.zeros((2, 2), np.float32)
    goals = np.array([[10.0, 10.0], [100.0, 0.0]], np.float32)  # proposals = obs + 10: 0 from goal 0, far from goal 1
    run_steps(policy, obs, 1, goals)
    np.testing.assert_allclose(low.seen[0], [[10.0, 10.0], [100.0, 0.0]])  # episode 1 executes the oracle's subgoal
    stats = policy.end_task([1, 1])["stats"]
    assert stats["corrected"] == 1 and stats["subgoal_error"] == pytest.approx(np.hypot(90, 10) / 2)
    corrections = policy.take_corrections()
    np.testing.assert_allclose(corrections["subgoals"], [[100.0, 0.0]])
    np.testing.assert_allclose(corrections["goals"], [[100.0, 0.0]])
    assert policy.take_corrections() is None


def test_rules_and_tests_parse_or_fail_clearly():
    assert str(parse_rule("every:25")) == "every:25" and parse_rule("reached:value:-12", 30).timeout == 30
    assert parse_rule("Reached:State:0.5").threshold == 0.5 and parse_test("value:-12") == ("value", -12.0)
    for bad in ("sometimes", "every:0", "every:x", "reached:foo:1", "reached:state", "reached:state:-1"):
        with pytest.raises(GcrlError, match="--replan"):
            parse_rule(bad)
    with pytest.raises(GcrlError, match="timeout"):
        parse_rule("always", timeout=0)
    with pytest.raises(GcrlError, match="--reach-test"):
        parse_test("distance:1")

    class RepHigh(FakeHigh):
        space = "representation"

    with pytest.raises(GcrlError, match="takes observation subgoals"):
        HierarchicalPolicy(RepHigh(), FakeLow(), parse_rule("always"))
    with pytest.raises(GcrlError, match="completion test"):
        HierarchicalPolicy(FakeHigh(), FakeLow(), parse_rule("reached:state:1"))


def test_combine_stats_pools_counts():
    a = {"episodes": 2, "steps": 10, "subgoals": 4, "segments": 2, "segments_reached": 1, "segments_timed_out": 1, "segment_steps": 6,
         "error_sum": 3.0, "error_count": 3, "corrected": 0}  # fmt: skip
    b = {**a, "segments": 0, "segments_reached": 0, "segments_timed_out": 0, "segment_steps": 0, "error_sum": 1.0, "error_count": 1}
    pooled = combine_stats([a, b])
    assert pooled["segments"] == 2 and pooled["steps_per_subgoal"] == 3.0 and pooled["subgoal_error"] == 1.0 and pooled["subgoals_per_episode"] == 2.0


# ---- the maze oracle over a scripted low level, in the real environment ---------------------------

class ScriptedLow:
    """Unit direction to the subgoal (pointmaze observations are xy)."""

    spaces, name = ("observation",), "scripted low"

    def act(self, observations, subgoals):
        direction = np.asarray(subgoals) - np.asarray(observations)
        return direction / (np.linalg.norm(direction, axis=1, keepdims=True) + 1e-6)


@pytest.fixture(scope="module")
def oracle_run():
    from gcrl.hierarchy.levels import OracleHigh

    envs = make_envs(ENV, 2)
    oracle = OracleHigh(envs[0])
    policy = HierarchicalPolicy(oracle, ScriptedLow(), parse_rule("reached:state:0.5", 60), StateTest(0.5, [0, 1]), OracleCompare(oracle))
    result = evaluate(policy, ENV, episodes_per_task=2, tasks=(1, 4), seed=0, progress=False, envs=envs)
    yield result, envs
    for env in envs:
        env.close()


def test_oracle_high_level_over_a_scripted_low_level_reaches_the_goals(oracle_run):
    result, _ = oracle_run
    assert result.overall == 1.0 and max(t.lengths.max() for t in result.tasks) < 1000
    stats = result.to_dict()["hierarchy"]["overall"]
    assert stats["subgoal_error"] == 0.0  # the oracle against itself
    assert stats["reached_fraction"] > 0.9 and 5 < stats["steps_per_subgoal"] < 60
    assert all(len(t.subgoals) == 2 and t.subgoals[0].shape[1] == 2 for t in result.tasks)
    assert sum(len(xy) for xy in result.tasks[0].subgoals) == result.tasks[0].hierarchy["subgoals"]
    json.dumps(result.to_dict())


def test_hierarchy_table_and_picture(oracle_run, tmp_path):
    from rich.console import Console

    from gcrl.experiments.plots import plot_maze

    result, envs = oracle_run
    console = Console(record=True, width=140)
    console.print(hierarchy_table(result, units="xy"))
    text = console.export_text()
    assert "task 4" in text and "overall" in text and "steps/sg" in text and "(xy)" in text
    path = plot_maze(result, tmp_path / "maze.png", env=envs[0], subgoals=plot_subgoals(result))
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_evaluation_file_tags_name_the_high_level_and_the_rule():
    from gcrl.hierarchy.evaluate import variant_tag

    assert variant_tag(None, None) == ""  # the run's own hierarchy, its own rule: the plain file name
    assert variant_tag(None, "reached:value:-12") == "high-self_reached-value--12"
    assert variant_tag("oracle", "every:25") == "high-oracle_every-25"
    assert variant_tag("runs/maze/hbc-seed0-20261121", None) == "high-hbc-seed0-20261121_always"
    assert variant_tag("results/runs/maze/hiql/seed2", "every:25") == "high-hiql-seed2_every-25"  # a sweep's seedS folder
