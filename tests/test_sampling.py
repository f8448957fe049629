"""Goal relabelling on the device, pinned statistically on datasets with known trajectory ends.

Observations hold their own row index, so every sampled goal can be read back as an index."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import raw_arrays
from gcrl.data import sampling as S
from gcrl.data.validate import validate

N = 100_000  # samples per statistical check


@pytest.fixture(scope="module")
def data():
    return S.to_device(validate(raw_arrays([5, 1, 30, 2, 300, 12, 2000, 40])))


@pytest.fixture(scope="module")
def idx_sampler():
    return jax.jit(S.sample_idx_batch, static_argnums=(2, 3))


def _np(tree):
    return jax.tree_util.tree_map(np.asarray, tree)


def test_transitions_are_uniform_and_never_a_final_state(data, idx_sampler):
    ix = _np(idx_sampler(data, jax.random.PRNGKey(0), N, S.SamplerConfig()))
    valid = set(np.asarray(data.transition_idxs).tolist())
    assert set(np.unique(ix["idxs"]).tolist()) <= valid
    counts = np.bincount(ix["idxs"], minlength=int(data.final_idxs.shape[0]))[sorted(valid)]
    expected = N / len(valid)
    assert abs(counts.mean() - expected) < 1e-9 and counts.std() < 4 * np.sqrt(expected)


def test_geometric_offsets_have_the_right_mean_and_stop_at_the_trajectory_end(data):
    idxs = jnp.full((N,), 360, jnp.int32)  # inside the 2000-step trajectory, far from its end
    final = data.final_idxs[idxs]
    goals = np.asarray(S.traj_geometric_idxs(jax.random.PRNGKey(1), idxs, final, discount=0.9))
    offsets = goals - 360
    assert offsets.min() >= 1
    assert abs(offsets.mean() - 10.0) < 0.15  # E[Geometric(0.1)] = 10
    near_end = np.asarray(data.final_idxs[360 + 1995]) - 3
    clipped = np.asarray(S.traj_geometric_idxs(jax.random.PRNGKey(2), jnp.full((N,), near_end), data.final_idxs[jnp.full((N,), near_end)], 0.9))
    assert clipped.max() == near_end + 3 and (clipped == near_end + 3).mean() > 0.7


def test_uniform_future_goals_cover_exactly_the_rest_of_the_trajectory(data):
    t = 343  # trajectory 5 (rows 40..340 hold 300 transitions) ... pick from the 12-step one
    starts = np.asarray(data.start_idxs)
    t = int(np.nonzero(starts == starts[345])[0][3])  # the 4th state of the trajectory containing row 345
    final = int(data.final_idxs[t])
    goals = np.asarray(S.traj_uniform_idxs(jax.random.PRNGKey(3), jnp.full((N,), t), jnp.full((N,), final)))
    assert goals.min() == t + 1 and goals.max() == final
    assert abs(goals.mean() - (t + 1 + final) / 2) < 0.05
    # at the last transition the only future goal is the end itself
    last = np.asarray(S.traj_uniform_idxs(jax.random.PRNGKey(4), jnp.array([final]), jnp.array([final])))
    assert last[0] == final


def test_goal_mix_fractions(data):
    t = 400  # inside the 2000-step trajectory
    idxs = jnp.full((N,), t, jnp.int32)
    mix = S.GoalMix(p_cur=0.2, p_traj=0.5, p_random=0.3, geometric=True)
    goals = np.asarray(S.goal_idxs(jax.random.PRNGKey(5), data, idxs, mix, discount=0.99))
    final = int(data.final_idxs[t])
    cur = goals == t
    ahead = (goals > t) & (goals <= final)
    n_valid = int(data.transition_idxs.shape[0])
    p_random_ahead = np.sum((np.asarray(data.transition_idxs) > t) & (np.asarray(data.transition_idxs) <= final)) / n_valid
    p_random_cur = 1 / n_valid
    assert abs(cur.mean() - (0.2 + 0.3 * p_random_cur)) < 0.006
    assert abs(ahead.mean() - (0.5 + 0.3 * p_random_ahead)) < 0.008
    assert abs((~cur & ~ahead).mean() - 0.3 * (1 - p_random_ahead - p_random_cur)) < 0.008


def test_actor_goals_default_to_the_uniform_future(data, idx_sampler):
    ix = _np(idx_sampler(data, jax.random.PRNGKey(6), N, S.SamplerConfig()))
    t, g, final = ix["idxs"], ix["actor_goals"], ix["final"]
    assert ((g >= np.minimum(t + 1, final)) & (g <= final)).all()


def test_subgoals_and_waypoints_never_cross_the_end_or_the_goal(data, idx_sampler):
    ix = _np(idx_sampler(data, jax.random.PRNGKey(7), N, S.SamplerConfig(subgoal_steps=25)))
    t, final, g = ix["idxs"], ix["final"], ix["actor_goals"]
    np.testing.assert_array_equal(ix["subgoals"], np.minimum(t + 25, final))
    np.testing.assert_array_equal(ix["waypoints"], np.minimum(t + 25, g))
    assert (ix["waypoints"] <= g).all() and (ix["subgoals"] <= final).all()
    starts = np.asarray(data.start_idxs)
    assert (starts[ix["subgoals"]] == starts[t]).all()  # the same trajectory


def test_waypoints_of_random_goals_fall_back_to_subgoals():
    final = jnp.array([50, 50, 50])
    t = jnp.array([10, 10, 10])
    goals = jnp.array([3, 20, 400])  # behind t, ahead, another trajectory
    np.testing.assert_array_equal(S.waypoint_idxs(t, goals, final, 25), [35, 20, 35])
    # OGBench decides by how the goal was drawn: a random goal that lands just ahead still gets the subgoal.
    drawn_at_random = jnp.array([True, True, False])
    np.testing.assert_array_equal(S.waypoint_idxs(t, goals, final, 25, drawn_at_random), [35, 35, 35])


def test_stitch_actor_goals_are_half_random_and_their_waypoints_are_subgoals(data, idx_sampler):
    """Actor goals 0.5 trajectory / 0.5 random (OGBench's stitch setting): about half the goals come
    from another trajectory, and a random goal's waypoint is the k-step subgoal."""
    config = S.SamplerConfig(actor_goals=S.GoalMix(0.0, 0.5, 0.5), subgoal_steps=25)
    ix = _np(idx_sampler(data, jax.random.PRNGKey(9), N, config))
    t, g, final = ix["idxs"], ix["actor_goals"], ix["final"]
    # A random goal lands in [t, end] of t's trajectory with probability (valid indices there) / (all).
    valid = np.sort(np.asarray(data.transition_idxs))
    p_in_reach = (np.searchsorted(valid, final, side="right") - np.searchsorted(valid, t)) / len(valid)
    elsewhere = ~((g >= t) & (g <= final))
    assert abs(elsewhere.mean() - 0.5 * (1 - p_in_reach).mean()) < 0.01
    np.testing.assert_array_equal(ix["waypoints"][elsewhere], np.minimum(t + 25, final)[elsewhere])


def test_rewards_and_masks_exactly_where_the_goal_is_the_current_state(data):
    batch = jax.jit(S.sample_batch, static_argnums=(2, 3))(data, jax.random.PRNGKey(8), 4096, S.SamplerConfig())
    b = _np(batch)
    at_goal = b["value_goals"][:, 0] == b["observations"][:, 0]
    assert at_goal.mean() > 0.15
    np.testing.assert_array_equal(b["rewards"], np.where(at_goal, 0.0, -1.0))
    np.testing.assert_array_equal(b["masks"], np.where(at_goal, 0.0, 1.0))
    np.testing.assert_array_equal(b["next_observations"] - b["observations"], 1.0)


def test_standard_layout_samples_the_same_way():
    standard = validate(raw_arrays([5, 1, 30]))
    data = S.to_device(standard.to_standard())
    b = _np(jax.jit(S.sample_batch, static_argnums=(2, 3))(data, jax.random.PRNGKey(9), 512, S.SamplerConfig(subgoal_steps=3)))
    np.testing.assert_array_equal(b["next_observations"] - b["observations"], 1.0)
    # goals stay in [t, end] of the same trajectory for traj goals: obs values are original rows
    assert (b["subgoals"][:, 0] - b["observations"][:, 0] <= 3).all()


def test_frame_stacking_clamps_at_the_trajectory_start():
    data = S.to_device(validate(raw_arrays([5, 6])))
    idxs = jnp.array([0, 1, 2, 6, 7, 9])  # second trajectory starts at row 6
    stacked = np.asarray(S.gather(data, idxs, frame_stack=3))
    np.testing.assert_array_equal(stacked, [[0, 0, 0], [0, 0, 1], [0, 1, 2], [6, 6, 6], [6, 6, 7], [7, 8, 9]])
    nxt = np.asarray(S.gather_next(data, idxs, frame_stack=3))
    np.testing.assert_array_equal(nxt[:, -1], np.asarray(idxs) + 1)
    std = S.to_device(validate(raw_arrays([5, 6])).to_standard())
    np.testing.assert_array_equal(np.asarray(S.gather_next(std, jnp.array([0, 5]), 3)), [[0, 0, 1], [6, 6, 7]])


def test_random_crop_shifts_all_keys_of_a_sample_together():
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.integers(0, 255, (64, 8, 8, 3)), dtype=jnp.uint8)
    out = S.random_crop(jax.random.PRNGKey(10), {"a": images, "b": images})
    assert out["a"].shape == images.shape and out["a"].dtype == jnp.uint8
    np.testing.assert_array_equal(out["a"], out["b"])
    changed = np.any(np.asarray(out["a"]) != np.asarray(images), axis=(1, 2, 3))
    assert 0.8 < changed.mean() < 1.0  # offset (3, 3) is the identity: 1 in 49
    padded = np.pad(np.asarray(images[0]), ((3, 3), (3, 3), (0, 0)), mode="edge")
    found = [(i, j) for i in range(7) for j in range(7) if np.array_equal(padded[i : i + 8, j : j + 8], out["a"][0])]
    assert found


def test_pixel_batches_are_augmented_inside_jit():
    data = S.to_device(validate(raw_arrays([20, 20], pixels=True)))
    config = S.SamplerConfig(subgoal_steps=3, frame_stack=2, p_aug=1.0)
    b = jax.jit(S.sample_batch, static_argnums=(2, 3))(data, jax.random.PRNGKey(11), 16, config)
    assert b["observations"].shape == (16, 8, 8, 6) and b["observations"].dtype == jnp.uint8
    assert b["waypoints"].shape == (16, 8, 8, 6)


def test_sampling_runs_inside_lax_scan(data):
    config = S.SamplerConfig()

    @partial(jax.jit, static_argnums=1)
    def many(key, steps):
        def body(carry, k):
            b = S.sample_batch(data, k, 32, config)
            return carry + b["rewards"].sum(), None

        return jax.lax.scan(body, 0.0, jax.random.split(key, steps))[0]

    total = float(many(jax.random.PRNGKey(12), 5))
    assert -5 * 32 <= total <= 0
