"""Director on the world model: the goal reward, the manager's abstract trajectory and the worker's
K-step segments worked by hand; the goal autoencoder's KL and adaptive weight; which parameters
each actor and critic loss reaches; imagination's goal schedule; one compiled update moving every
group (and, with finetune='manager', nothing but the manager's); acting's replanning rules."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_online_learning import FAST, moving_dot

from gcrl.errors import GcrlError
from gcrl.online import director, goal_autoencoder
from gcrl.online.behavior import imagination_weights, lambda_return
from gcrl.online.config import preset
from gcrl.online.director import (
    Carry,
    Imagined,
    abstract_continues,
    block_average,
    ManagerNorm,
    code_entropy_bonus,
    combined_advantage,
    cosine_max,
    director_advantage,
    keep_frozen,
    segment_actions,
    segment_goals,
    segments,
)
from gcrl.online.adapt import auto_adapt, moments_init, moments_stats, moments_update
from gcrl.online.goal_autoencoder import adapt_kl_scale, kl_to_uniform
from gcrl.online.world_model import State

# test_online_learning.py's tiny sizes, one layer per actor, critic and goal MLP (compile time)
TINY = dict(deter=32, hidden=32, stoch=4, classes=4, blocks=2, depth=8, mults=(2, 4), units=32, dec_blocks=4, lr=3e-3, warmup=0)
CONFIG = preset("cpu", **TINY, actor_layers=1, critic_layers=1, goal_enc_layers=1, goal_dec_layers=1)
AGENT = director.make(CONFIG, 2, False, 2, (16, 16, 3))
MANAGER_ONLY = director.make(dataclasses.replace(CONFIG, finetune="manager"), 2, False, 2, (16, 16, 3))


def leaves(tree):
    return jax.tree_util.tree_leaves(tree)


def moved(before, after):
    return any(not np.array_equal(a, b) for a, b in zip(leaves(before), leaves(after)))


def identical(before, after):
    return all(np.array_equal(a, b) for a, b in zip(leaves(before), leaves(after)))


@pytest.fixture(scope="module")
def init_state():
    return jax.jit(AGENT.init, compiler_options=FAST)(jax.random.PRNGKey(0))


@pytest.fixture(scope="module")
def one_update(init_state):
    """The batch, the initial state and the state after one compiled update of the whole agent."""
    batch = moving_dot(sequences=4, length=8)
    step = jax.jit(AGENT.train_step, compiler_options=FAST)
    new, metrics = step(init_state, batch, jax.random.PRNGKey(1))
    return batch, init_state, new, metrics


# ---- the math on hand-built inputs --------------------------------------------------------------


def test_cosine_max_by_hand():
    goal = jnp.array([[3.0, 4.0], [3.0, 4.0], [6.0, 8.0], [1.0, 0.0], [2.0, 0.0], [0.0, 0.0]])
    deter = jnp.array([[3.0, 4.0], [6.0, 8.0], [3.0, 4.0], [0.0, 2.0], [-1.0, 0.0], [0.0, 0.0]])
    # equal: 25/25; |s| > |g|: 50/10^2; |g| > |s|: 50/10^2; orthogonal: 0; opposite: -2/2^2; zeros: 0
    np.testing.assert_allclose(cosine_max(goal, deter), [1.0, 0.5, 0.5, 0.0, -0.5, 0.0], rtol=1e-6, atol=1e-7)


def test_abstract_trajectory_averages_each_block_by_hand():
    # H = 4, K = 2: rewards r_1..r_4 (index 0 unused), survival u_0..u_4.
    reward = jnp.array([[99.0, 1.0, 2.0, 3.0, 4.0]])
    survival = jnp.array([[0.9, 0.5, 1.0, 0.8, 0.7]])
    # block 0: (r_1 u_0 + r_2 u_0 u_1) / 2 = (0.9 + 0.9) / 2;  block 1: (r_3 u_2 + r_4 u_2 u_3) / 2 = (3 + 3.2) / 2
    np.testing.assert_allclose(block_average(reward, survival, 2), [[0.0, 0.9, 3.1]], rtol=1e-6)
    # continues: u_0, 0.99 u_1 u_2, 0.99 u_3 u_4 (the published discount once per abstract step)
    np.testing.assert_allclose(abstract_continues(survival, 2, 0.99), [[0.9, 0.495, 0.5544]], rtol=1e-6)
    # the manager's weights: the running product of the abstract continues
    np.testing.assert_allclose(imagination_weights(abstract_continues(survival, 2, 0.99)), [[0.9, 0.4455]], rtol=1e-6)


def test_combined_advantage_by_hand():
    returns = {"extr": jnp.array([2.0]), "expl": jnp.array([4.0])}
    values = {"extr": jnp.array([1.0]), "expl": jnp.array([1.0])}
    scales = {"extr": jnp.array(1.0), "expl": jnp.array(2.0)}
    # 1.0 (2 - 1) / 1 + 0.1 (4 - 1) / 2
    np.testing.assert_allclose(combined_advantage(returns, values, scales, {"extr": 1.0, "expl": 0.1}), [1.15], rtol=1e-6)


def test_moments_are_directors_bias_corrected_ema():
    # decay 0.5: after [1, 3], m = 1, q = 2.5, corrected by 1 - 0.5 = 0.5: mean 2, var 5 - 4 = 1
    first = moments_update(moments_init(), jnp.array([1.0, 3.0]), 0.5)
    np.testing.assert_allclose(moments_stats(first, 0.5, 100.0), (2.0, 1.0), rtol=1e-6)
    # then [2, 2]: m = 1.5, q = 3.25, corrected by 0.75: mean 2, var 13/3 - 4 = 1/3, scale sqrt(3)
    second = moments_update(first, jnp.array([2.0, 2.0]), 0.5)
    np.testing.assert_allclose(moments_stats(second, 0.5, 100.0), (2.0, np.sqrt(3.0)), rtol=1e-5)
    # no spread: the scale is capped at max
    flat = moments_update(moments_init(), jnp.array([0.01, 0.01]), 0.999)
    np.testing.assert_allclose(moments_stats(flat, 0.999, 100.0)[1], 100.0, rtol=1e-3)


def test_auto_adapt_inverse_lowers_a_bonus_while_the_entropy_is_high():
    values = jnp.array([1.0, 0.5, 0.3, 0.52])  # target 0.5, thres 0.1: band [0.4545, 0.55]
    moved = auto_adapt(jnp.ones(4), values, 0.5, 0.1, 0.1, 1e-5, 100.0, inverse=True)
    np.testing.assert_allclose(moved, [1 / 1.1, 1.0, 1.1, 1.0], rtol=1e-6)
    np.testing.assert_allclose(auto_adapt(jnp.full(4, 100.0), values, 0.5, 0.1, 0.1, 1e-5, 100.0, inverse=True)[2], 100.0)


def test_director_advantage_by_hand():
    """From fresh moments the bias correction makes one batch's EMA exactly its mean and variance."""
    returns = {"extr": jnp.array([1.0, 3.0]), "expl": jnp.array([2.0, 6.0])}
    values = {"extr": jnp.zeros(2), "expl": jnp.zeros(2)}
    norm = ManagerNorm({"extr": moments_init(), "expl": moments_init()}, moments_init(), jnp.ones(CONFIG.goal_codes))
    advantage, sigma, moments, advantage_moments = director_advantage(returns, values, {"extr": 1.0, "expl": 0.1}, norm, CONFIG)
    # sigma_extr = std [1, 3] = 1, sigma_expl = std [2, 6] = 2; X = [1 + 0.1, 3 + 0.3]; A = (X - 2.2) / 1.1
    np.testing.assert_allclose([sigma["extr"], sigma["expl"]], [1.0, 2.0], rtol=1e-4)
    np.testing.assert_allclose(advantage, [-1.0, 1.0], rtol=1e-3)
    assert int(moments["extr"].count) == 1 and int(advantage_moments.count) == 1


def test_code_entropy_bonus_per_code():
    c = CONFIG
    # code 0 uniform (e = 1, too high: its scale falls), code 1 certain (e = 0, too low: it rises),
    # the other codes at e = 0.5 (in the band: unchanged); the bonus sums s_l e_l with the new scales
    e = jnp.full((3, c.goal_codes), 0.5).at[:, 0].set(1.0).at[:, 1].set(0.0)
    bonus, scale = code_entropy_bonus(e * np.log(c.goal_classes), jnp.ones(c.goal_codes), c)
    np.testing.assert_allclose(scale[:2], [1 / 1.1, 1.1], rtol=1e-6)
    np.testing.assert_allclose(scale[2:], 1.0)
    np.testing.assert_allclose(bonus, 1 / 1.1 + 0.5 * (c.goal_codes - 2), rtol=1e-5)


def test_worker_returns_stop_at_each_goal_change():
    # H = 4, K = 2. Goals in force at states 0..4: g0 g0 g1 g1 g2 (the manager replans at 2 and 4).
    goals = jnp.array([[0.0, 0.0, 1.0, 1.0, 2.0]])[..., None]
    held = segment_goals(goals, 2)[..., 0]
    np.testing.assert_array_equal(held, [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])  # each segment's last state keeps its goal
    # A value v(s_t, g) = 10 t + 100 g, read on each segment under its own goal.
    t = segments(jnp.arange(5.0)[None], 2)
    np.testing.assert_array_equal(t, [[0.0, 1.0, 2.0], [2.0, 3.0, 4.0]])
    value = 10.0 * t + 100.0 * held  # [[0, 10, 20], [120, 130, 140]]: state 2 with g0, state 4 with g1
    reward = segments(jnp.array([[0.0, 1.0, 2.0, 3.0, 4.0]]), 2)
    live = segments(jnp.ones((1, 5)), 2)
    # segment 0: R_1 = r_2 + v(s_2, g0) = 22;  R_0 = r_1 + 0.5 v(s_1, g0) + 0.5 R_1 = 1 + 5 + 11 = 17
    # segment 1: R_1 = r_4 + v(s_4, g1) = 144; R_0 = r_3 + 0.5 130 + 0.5 144 = 140
    np.testing.assert_allclose(lambda_return(reward, live, value, 0.5), [[17.0, 22.0], [140.0, 144.0]], rtol=1e-6)
    # segment 0's returns do not see segment 1's rewards
    other = segments(jnp.array([[0.0, 1.0, 2.0, -50.0, 70.0]]), 2)
    np.testing.assert_allclose(lambda_return(other, live, value, 0.5)[0], [17.0, 22.0], rtol=1e-6)
    # weights restart at each segment: c_jK, c_jK c_jK+1
    cont = segments(jnp.array([[0.9, 0.8, 0.7, 0.6, 0.5]]), 2)
    np.testing.assert_allclose(imagination_weights(cont), [[0.9, 0.72], [0.7, 0.42]], rtol=1e-6)


def test_segment_actions_line_up_with_segment_states():
    steps = jnp.arange(4.0)[None] + jnp.array([[0.0], [10.0]])  # [N = 2, H = 4], value t + 10 n
    states = segments(jnp.concatenate([steps, steps[:, -1:] + 1], 1), 2)
    np.testing.assert_array_equal(segment_actions(steps[..., None], 2)[..., 0], states[:, :-1])


def test_goal_kl_to_uniform_and_the_adaptive_weight():
    uniform = jnp.zeros((8, 8))
    certain = jnp.where(jnp.arange(8) == 3, 0.0, -1e9) * jnp.ones((8, 1))
    half = jnp.log(jnp.array([[0.5, 0.5, 1e-30, 1e-30]]))
    np.testing.assert_allclose(kl_to_uniform(uniform), 0.0, atol=1e-6)
    np.testing.assert_allclose(kl_to_uniform(certain), 8 * np.log(8), rtol=1e-5)
    np.testing.assert_allclose(kl_to_uniform(half), np.log(2), rtol=1e-5)
    # target 10, thres 0.1: above 11 grows by 1.1, below 10 / 1.1 shrinks by 1.1, between stays
    for scale, kl, expected in [
        (0.5, 12.0, 0.55),
        (0.5, 8.0, 0.5 / 1.1),
        (0.5, 10.0, 0.5),
        (0.5, 9.5, 0.5),
        (0.5, 10.9, 0.5),
        (1.0, 12.0, 1.0),  # clipped at max 1
        (1e-5, 1.0, 1e-5),  # clipped at min 1e-5
    ]:
        np.testing.assert_allclose(adapt_kl_scale(jnp.array(scale), jnp.array(kl), CONFIG), expected, rtol=1e-6)


def test_goal_autoencoder_loss_applies_the_updated_weight(init_state):
    params = init_state.params["goal"]
    deter = jax.random.normal(jax.random.PRNGKey(3), (5, CONFIG.deter))
    key = jax.random.PRNGKey(4)

    @functools.partial(jax.jit, compiler_options=FAST)
    def run(d):
        (loss, (metrics, scale)), grad = jax.value_and_grad(goal_autoencoder.goal_autoencoder_loss, argnums=3, has_aux=True)(CONFIG, params, jnp.array(0.5), d, key)
        return loss, metrics, scale, grad, kl_to_uniform(goal_autoencoder.encode(CONFIG, params, d))

    loss, metrics, scale, grad, kl = run(deter)
    np.testing.assert_allclose(scale, adapt_kl_scale(jnp.array(0.5), kl.mean(), CONFIG), rtol=1e-6)
    np.testing.assert_allclose(loss, metrics["goal/rec_loss"] + scale * kl.mean(), rtol=1e-5)
    assert not np.any(grad)  # the replayed deter is a fixed target (stop-gradient)


def hand_trajectory(params, n=2):
    """A random imagined trajectory, H = 16, with codes and their decoded goals held K steps."""
    c, h = CONFIG, CONFIG.director_imag_length
    k = jax.random.split(jax.random.PRNGKey(5), 5)
    stoch = jax.nn.one_hot(jax.random.randint(k[0], (n, h + 1, c.stoch), 0, c.classes), c.classes)
    states = State(jax.random.normal(k[1], (n, h + 1, c.deter)), stoch, jnp.log(jnp.full_like(stoch, 1 / c.classes)))
    codes = jax.nn.one_hot(jax.random.randint(k[2], (n, h // c.goal_every + 1, c.goal_codes), 0, c.goal_classes), c.goal_classes)
    goals = AGENT.decode_goal(params["goal"], codes)
    goals = jnp.concatenate([jnp.repeat(goals[:, :-1], c.goal_every, 1), goals[:, -1:]], 1)
    actions = jax.random.uniform(k[3], (n, h, 2), minval=-1, maxval=1)
    rewards = {name: jax.random.normal(key, (n, h + 1)) for name, key in zip(("extr", "expl", "goal"), jax.random.split(k[4], 3))}
    return Imagined(states, actions, codes, goals), rewards, jnp.full((n, h + 1), 0.99)


def test_policy_losses_do_not_reach_the_critics(init_state):
    """REINFORCE's advantage, baseline included, is a constant to the actor: neither actor loss
    moves a critic (the critic losses do not read the actors at all)."""
    params, ac_state = init_state.params, init_state.ac_state
    traj, rewards, cont = hand_trajectory(params)
    task = jnp.ones((2, 2))

    def manager_policy_loss(manager_params):
        return AGENT.manager_loss(manager_params, ac_state, traj, task, rewards, cont)[1][0]["manager/policy_loss"]

    def worker_policy_loss(worker_params):
        return AGENT.worker_loss(worker_params, ac_state, traj, rewards["goal"], cont)[1][0]["worker/policy_loss"]

    def gradients(manager_params, worker_params):
        return jax.grad(manager_policy_loss)(manager_params), jax.grad(worker_policy_loss)(worker_params)

    manager, worker = jax.jit(gradients, compiler_options=FAST)(params["manager"], params["worker"])

    def nonzero(tree):
        return any(np.any(g) for g in leaves(tree))

    assert nonzero(manager["actor"]) and not nonzero((manager["extr"], manager["expl"]))
    assert nonzero(worker["actor"]) and not nonzero(worker["critic"])


# ---- imagination and the update ------------------------------------------------------------------


def test_imagination_holds_each_goal_for_k_steps(init_state):
    params, c = init_state.params, CONFIG
    starts = State(*(jax.random.normal(jax.random.PRNGKey(i), (3, *s)) for i, s in enumerate(AGENT.wm.nets.state_shapes())))
    imagine = jax.jit(AGENT.imagine, compiler_options=FAST)
    traj = imagine(params, starts, jnp.zeros((3, 2)), jax.random.PRNGKey(6))
    h, k = c.director_imag_length, c.goal_every
    assert traj.states.deter.shape == (3, h + 1, c.deter) and traj.actions.shape == (3, h, 2)
    np.testing.assert_array_equal(traj.states.deter[:, 0], starts.deter)
    decoded = AGENT.decode_goal(params["goal"], traj.codes)  # the codes at states 0, K, ..., H
    for t in range(h + 1):
        np.testing.assert_allclose(traj.goals[:, t], decoded[:, t // k], rtol=1e-5, atol=1e-6)
    assert not np.allclose(traj.goals[:, k - 1], traj.goals[:, k])  # a new goal at K (8^8 codes: a repeat is vanishingly rare)


def test_one_update_moves_every_group_and_keeps_its_books(one_update):
    _, old, new, metrics = one_update
    assert all(np.isfinite(float(v)) for v in metrics.values()), metrics
    assert int(new.step) == 1
    groups = {"wm": ("wm",), "enc": ("goal", "enc"), "dec": ("goal", "dec"), "manager actor": ("manager", "actor"),
              "extr critic": ("manager", "extr"), "expl critic": ("manager", "expl"),
              "worker actor": ("worker", "actor"), "worker critic": ("worker", "critic")}  # fmt: skip
    for name, path in groups.items():
        before, after = old.params, new.params
        for part in path:
            before, after = before[part], after[part]
        assert moved(before, after), name
    critics = {"manager": {k: new.params["manager"][k] for k in ("extr", "expl")}, "worker": {"critic": new.params["worker"]["critic"]}}
    expected = jax.tree_util.tree_map(lambda s, p: 0.98 * s + 0.02 * p, old.ac_state.slow, critics)
    for a, b in zip(leaves(expected), leaves(new.ac_state.slow)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(new.ac_state.goal_kl_scale, adapt_kl_scale(jnp.array(1.0), metrics["goal/kl"], CONFIG), rtol=1e-6)
    assert moved(old.ac_state.retnorm, new.ac_state.retnorm)
    norm = new.ac_state.manager_norm  # the published normalisers took their first step
    assert int(norm.advantage.count) == 1 and all(int(m.count) == 1 for m in norm.returns.values())
    np.testing.assert_allclose(norm.entropy_scale, 1 / 1.1, rtol=1e-6)  # a fresh manager is near uniform
    parts = ["wm/loss", "goal/loss", "manager/policy_loss", "manager/extr_value_loss", "manager/expl_value_loss", "worker/policy_loss", "worker/value_loss"]
    np.testing.assert_allclose(metrics["loss"], sum(metrics[k] for k in parts), rtol=1e-5)


def test_finetune_manager_moves_only_the_manager(one_update):
    batch, _, state, _ = one_update  # after one full update: the optimiser's moments are non-zero
    step = jax.jit(MANAGER_ONLY.train_step, compiler_options=FAST)
    new, metrics = step(state, batch, jax.random.PRNGKey(2))
    assert all(np.isfinite(float(v)) for v in metrics.values())
    for part in ("actor", "extr", "expl"):
        assert moved(state.params["manager"][part], new.params["manager"][part]), part
    for group in ("wm", "goal", "worker"):
        assert identical(state.params[group], new.params[group]), group
    # the optimiser's per-parameter moments of the frozen groups do not drift
    mask = MANAGER_ONLY.trainable_mask(state.params)
    structure = jax.tree_util.tree_structure(mask)
    moments = [(o, n) for o, n in zip(leaves_like(state.opt_state, structure), leaves_like(new.opt_state, structure))]
    assert len(moments) == 2  # LaProp's second moment and momentum
    for old_moment, new_moment in moments:
        for group in ("wm", "goal", "worker"):
            assert identical(old_moment[group], new_moment[group]), group
        assert moved(old_moment["manager"], new_moment["manager"])
    assert identical(state.ac_state.slow["worker"], new.ac_state.slow["worker"])
    assert identical(state.ac_state.retnorm["worker"], new.ac_state.retnorm["worker"])
    assert np.array_equal(state.ac_state.goal_kl_scale, new.ac_state.goal_kl_scale)
    assert moved(state.ac_state.slow["manager"], new.ac_state.slow["manager"])


def leaves_like(tree, structure):
    """The subtrees of `tree` shaped like the parameters."""
    found = []

    def visit(x):
        if jax.tree_util.tree_structure(x) == structure:
            found.append(x)
            return True
        return False

    jax.tree_util.tree_map(lambda x: None, tree, is_leaf=visit)
    return found


def test_finetune_masks_and_frozen_optimiser_state():
    params = {"wm": {"w": jnp.ones(2)}, "goal": {"w": jnp.ones(1)}, "manager": {"w": jnp.ones(1)}, "worker": {"w": jnp.ones(1)}}
    for finetune, expected in [("all", {"wm", "goal", "manager", "worker"}), ("manager", {"manager"}), ("manager_wm", {"manager", "wm"})]:
        agent = director.Director(dataclasses.replace(CONFIG, finetune=finetune), AGENT.wm, False)
        mask = agent.trainable_mask(params)
        assert {g for g in mask if mask[g]["w"]} == expected, finetune
    mask = {"a": True, "b": False}
    old = (jnp.zeros(()), {"a": jnp.zeros(2), "b": jnp.zeros(2)}, "tag")
    new = (jnp.ones(()), {"a": jnp.ones(2), "b": jnp.ones(2)}, "tag")
    kept = keep_frozen(new, old, mask)
    assert float(kept[0]) == 1.0  # counts are not per parameter: they move on
    np.testing.assert_array_equal(kept[1]["a"], [1.0, 1.0])
    np.testing.assert_array_equal(kept[1]["b"], [0.0, 0.0])
    with pytest.raises(GcrlError):
        director.make(dataclasses.replace(CONFIG, finetune="worker"), 2, False, 2, (16, 16, 3))
    with pytest.raises(GcrlError):
        director.make(dataclasses.replace(CONFIG, director_imag_length=12), 2, False, 2, (16, 16, 3))


# ---- acting ------------------------------------------------------------------------------------


def run_acting(agent, params, firsts, steps=20, envs=2):
    """`since` after each step [steps, envs] and the goals [steps, envs, D]; is_first at `firsts`."""
    act = jax.jit(agent.act, static_argnames="sample", compiler_options=FAST)
    carry = agent.initial_carry(envs)
    rng = np.random.default_rng(0)
    since, goals = [], []
    for t in range(steps):
        obs = {
            "image": rng.integers(0, 256, (envs, 16, 16, 3), dtype=np.uint8),
            "is_first": np.array([(t, e) in firsts or t == 0 for e in range(envs)]),
            "task": np.ones((envs, 2), np.float32),
        }
        action, carry = act(params, carry, obs, jax.random.PRNGKey(t))
        assert action.shape == (envs, 2)
        since.append(np.asarray(carry.since))
        goals.append(np.asarray(carry.goal))
    return np.array(since), np.array(goals)


def check_new_goals(since, goals, expected_new):
    """A new goal (since == 1, and a different goal) exactly at the expected steps."""
    for e, steps in enumerate(expected_new):
        new = [t for t in range(len(since)) if since[t, e] == 1]
        assert new == steps, (e, since[:, e])
        for t in range(1, len(since)):
            assert np.array_equal(goals[t, e], goals[t - 1, e]) == (t not in steps), (e, t)


def test_fixed_replanning_sets_a_goal_every_k_steps_and_at_is_first(init_state):
    since, goals = run_acting(AGENT, init_state.params, firsts={(11, 1)})
    check_new_goals(since, goals, [[0, 8, 16], [0, 8, 11, 19]])


def test_reached_replanning_on_timeout_and_on_reaching(init_state):
    agent = director.make(dataclasses.replace(CONFIG, replan="reached", reach_threshold=2.0, replan_timeout=3), 2, False, 2, (16, 16, 3))
    since, goals = run_acting(agent, init_state.params, firsts={(7, 0)}, steps=10)
    check_new_goals(since, goals, [[0, 3, 6, 7], [0, 3, 6, 9]])  # never reached (similarity <= 1): the timeout
    # The rule by hand: reached (cosine_max >= 0.9), timed out (since >= 3), first, none of these.
    agent = director.make(dataclasses.replace(CONFIG, replan="reached", reach_threshold=0.9, replan_timeout=3), 2, False, 2, (16, 16, 3))
    deter = jnp.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    goal = jnp.array([[0.95, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    carry = Carry(None, None, goal, jnp.array([1, 3, 1, 2]))
    first = jnp.array([False, False, True, False])
    np.testing.assert_array_equal(agent.should_replan(carry, deter, first), [True, True, True, False])
    fixed = AGENT.should_replan(Carry(None, None, goal, jnp.array([7, 8, 1, 100])), deter, first)
    np.testing.assert_array_equal(fixed, [False, True, True, True])


def test_goal_image_and_picture(init_state, tmp_path):
    goals = jax.random.normal(jax.random.PRNGKey(7), (3, CONFIG.deter))
    images = jax.jit(AGENT.goal_image, compiler_options=FAST)(init_state.params, goals)
    assert images.shape == (3, 16, 16, 3) and images.dtype == jnp.uint8
    frames = np.random.default_rng(0).integers(0, 256, (17, 16, 16, 3), dtype=np.uint8)
    path = tmp_path / "goals.png"
    director.goal_picture(frames, np.repeat(np.asarray(images)[:1], 17, 0), path, every=8)
    assert path.stat().st_size > 0
