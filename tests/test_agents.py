"""The agents' math, pinned on hand-built batches: GCIVL's expectile loss, clipped exponential
weights, SAW's bootstrap term and its reduction to GCIVL+AWR at beta = 0, and stop-gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gcrl import agents
from gcrl.agents import gcivl, hiql, saw
from gcrl.agents.base import DataSpec, exp_weight, expectile_weight, gcivl_value_loss, policy_of
from gcrl.learner import apply_update, init_state, make_train_chunk, seed_state, stack_states, update
from gcrl.data import sampling
from gcrl.data.validate import validate
from gcrl.nets.dists import Categorical, Gaussian
from agent_probes import hand_batch as batch
from conftest import raw_arrays

SPEC = DataSpec((2,), False, 2, False)
TINY = dict(hidden=(8, 8))


def build(module, **overrides):
    agent = module.make(module.Config(**{**TINY, **overrides}), SPEC)
    return agent, agent.init(jax.random.PRNGKey(0))


def test_expectile_and_exponential_weights():
    adv = jnp.array([-2.0, -1e-6, 0.0, 3.0])
    np.testing.assert_allclose(expectile_weight(adv, 0.7), [0.3, 0.3, 0.7, 0.7], rtol=1e-6)
    np.testing.assert_allclose(exp_weight(jnp.array([0.0, 1.0, 10.0]), 3.0), [1.0, np.exp(3.0), 100.0], rtol=1e-6)
    grad = jax.grad(lambda a: exp_weight(a, 3.0).sum())(jnp.array([0.5, 50.0]))
    np.testing.assert_array_equal(grad, [0.0, 0.0])  # weights are constants to the gradient


def test_gcivl_value_loss_by_hand():
    v = jnp.array([[-1.0, -2.0], [-1.5, -2.5]])  # V_i(s, g): 2 heads x 2 samples
    vt = jnp.array([[-1.2, -2.0], [-1.0, -3.0]])  # V'_i(s, g)
    nvt = jnp.array([[-0.5, -1.0], [-0.8, -4.0]])  # V'_i(s', g)
    r, m, gamma, tau = jnp.array([-1.0, 0.0]), jnp.array([1.0, 0.0]), 0.9, 0.7
    loss, _ = gcivl_value_loss(v, vt, nvt, r, m, gamma, tau)
    # sample 0: adv = -1 + 0.9 * min(-0.5, -0.8) - mean(-1.2, -1.0) = -0.62 < 0 -> weight 0.3
    #   q_1 = -1 + 0.9 * -0.5 = -1.45, q_2 = -1 + 0.9 * -0.8 = -1.72
    # sample 1: mask 0: adv = 0 - mean(-2, -3) = 2.5 >= 0 -> weight 0.7; q = 0
    head1 = (0.3 * (-1.45 + 1.0) ** 2 + 0.7 * (0.0 + 2.0) ** 2) / 2
    head2 = (0.3 * (-1.72 + 1.5) ** 2 + 0.7 * (0.0 + 2.5) ** 2) / 2
    np.testing.assert_allclose(loss, head1 + head2, rtol=1e-6)


def test_saw_with_beta_zero_is_gcivl_with_awr():
    """beta = 0 leaves GCIVL + AWR with SAW's value settings: expectile 0.7 (GCIVL's own default is
    OGBench's 0.9), phi(s, g) for the value and phi_pi(s, g) for the policy, alpha 3."""
    saw_agent, params = build(saw, beta=0.0, alpha=3.0)
    gcivl_agent = gcivl.make(gcivl.Config(**TINY, goal_rep=True, actor_goal_rep=True, alpha=3.0, expectile=saw.Config().expectile), SPEC)
    assert saw.Config().expectile == 0.7 and gcivl.Config().expectile == 0.9
    b, key = batch(), jax.random.PRNGKey(1)
    targets = {"value": jax.tree_util.tree_map(lambda x: 0.9 * x, params["value"])}
    saw_loss, gcivl_loss = jax.jit(saw_agent.groups[0].loss), jax.jit(gcivl_agent.groups[0].loss)  # one compile beats op-by-op
    saw_total, saw_metrics = saw_loss(params, targets, b, key)
    shared = {k: params[k] for k in ("value", "goal_rep", "actor")}
    gcivl_total, _ = gcivl_loss(shared, targets, b, key)
    np.testing.assert_allclose(saw_total - saw_metrics["subpolicy/loss"], gcivl_total, rtol=1e-6)
    assert "actor/bootstrap_loss" not in saw_metrics
    # ... and the gradient the flat policy gets is GCIVL's.
    g_saw = jax.jit(jax.grad(lambda p: saw_agent.groups[0].loss({**params, "actor": p}, targets, b, key)[0]))(params["actor"])
    g_gcivl = jax.jit(jax.grad(lambda p: gcivl_agent.groups[0].loss({**shared, "actor": p}, targets, b, key)[0]))(params["actor"])
    jax.tree_util.tree_map(lambda a, c: np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-7), g_saw, g_gcivl)


def test_saw_bootstrap_term_by_hand():
    agent, params = build(saw, beta=2.0, sub_goal_rep=False)
    b, key = batch(), jax.random.PRNGKey(2)
    _, m = agent.groups[0].loss(params, params, b, key)
    value = lambda s, g: agent_value(agent, params, s, g)  # noqa: E731
    from gcrl.nets.heads import Actor

    # The flat policy acts on concat(s, phi_pi(s, g)), phi_pi its own goal representation.
    pi = Actor((8, 8), 2, layer_norm=False, goal_rep_dim=10).apply(params["actor"], (b["observations"], b["actor_goals"]))
    sub = Actor((8, 8), 2, layer_norm=False).apply(params["subpolicy"], (b["observations"], b["waypoints"]))
    w = np.minimum(np.exp(2.0 * (value(b["waypoints"], b["actor_goals"]) - value(b["observations"], b["actor_goals"]))), 100)
    d = np.sum((np.asarray(sub.mean) - np.asarray(pi.mean)) ** 2, axis=-1)
    np.testing.assert_allclose(m["actor/bootstrap_loss"], np.mean(w * d), rtol=1e-5)


def agent_value(agent, params, s, g):
    from gcrl.agents.values import GoalValue

    value = GoalValue(agent.config, SPEC, goal_rep=True, rep_dim=agent.config.rep_dim)
    return np.asarray(value.mean(params, s, g))


@pytest.mark.parametrize(
    "module, overrides, frozen",
    [
        (saw, {}, ("value", "goal_rep", "subpolicy")),  # the flat policy's loss
        (gcivl, {}, ("value",)),
    ],
)
def test_policy_losses_give_no_gradient_to_values_or_subpolicy(module, overrides, frozen):
    agent, params = build(module, **overrides)
    b, key = batch(), jax.random.PRNGKey(3)
    if module is saw:
        policy_only = saw.make(saw.Config(**TINY, schedule="sequential"), SPEC).groups[2].loss
        grads = jax.grad(lambda p: policy_only(p, p, b, key)[0])(params)
    else:
        from gcrl.agents.gcivl import awr_policy_loss, policy_value_pairs
        from gcrl.agents.values import GoalValue
        from gcrl.nets.heads import Actor

        value, actor = GoalValue(agent.config, SPEC, goal_rep=False), Actor((8, 8), 2, layer_norm=False)

        def actor_part(p):
            v = value.named(p, policy_value_pairs(b))
            return awr_policy_loss(policy_of(actor), p, b, v["v"], v["next_v"], 10.0)[0]

        grads = jax.grad(actor_part)(params)
    for key_name in frozen:
        assert all(np.all(np.asarray(g) == 0) for g in jax.tree_util.tree_leaves(grads[key_name])), key_name
    assert any(np.any(np.asarray(g) != 0) for g in jax.tree_util.tree_leaves(grads["actor"]))
    if module is saw:  # the policy's own goal representation learns from the policy loss
        assert any(np.any(np.asarray(g) != 0) for g in jax.tree_util.tree_leaves(grads["actor"]["params"]["GoalRep_0"]))


def test_saw_with_a_shared_goal_rep_trains_the_values_phi_from_the_policy_loss():
    agent = saw.make(saw.Config(**TINY, schedule="sequential", share_goal_rep=True), SPEC)
    params = agent.init(jax.random.PRNGKey(0))
    assert "GoalRep_0" not in params["actor"]["params"] and agent.groups[2].keys == ("actor", "goal_rep")
    grads = jax.grad(lambda p: agent.groups[2].loss(p, p, batch(), None)[0])(params)
    assert any(np.any(np.asarray(g) != 0) for g in jax.tree_util.tree_leaves(grads["goal_rep"]))
    assert all(np.all(np.asarray(g) == 0) for g in jax.tree_util.tree_leaves(grads["value"]))


def test_value_targets_are_the_target_heads_on_the_online_phi():
    """As the published code: only the heads have Polyak copies; phi is shared with the targets."""
    agent, params = build(hiql)
    assert agent.target_keys == ("value",)
    from gcrl.agents.values import GoalValue

    value = GoalValue(agent.config, SPEC, goal_rep=True)
    b = batch()
    target_heads = jax.tree_util.tree_map(lambda x: 1.1 * x, params["value"])
    loss, _ = value.loss(params, {"value": target_heads}, b, 0.99, 0.7)
    s, s2, g = b["observations"], b["next_observations"], b["value_goals"]
    by_hand = lambda o, heads: value.value.apply(heads, (o,), (value.phi(params, o, g),))  # noqa: E731
    expected, _ = gcivl_value_loss(by_hand(s, params["value"]), by_hand(s, target_heads), by_hand(s2, target_heads), b["rewards"], b["masks"], 0.99, 0.7)
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    # phi's gradient comes from the online pass only.
    grads = jax.grad(lambda p: value.loss({**params, "goal_rep": p}, {"value": target_heads}, b, 0.99, 0.7)[0])(params["goal_rep"])
    online_only = jax.grad(
        lambda p: gcivl_value_loss(
            value.value.apply(params["value"], (s,), (value.phi({"goal_rep": p}, s, g),)),
            by_hand(s, target_heads), by_hand(s2, target_heads), b["rewards"], b["masks"], 0.99, 0.7,
        )[0]
    )(params["goal_rep"])
    jax.tree_util.tree_map(lambda a, c: np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-6), grads, online_only)


@pytest.mark.parametrize("sub_goal_rep", [True, False])
def test_saw_subpolicy_loss_gives_no_gradient_to_the_value_and_trains_phi_only_through_its_input(sub_goal_rep):
    agent = saw.make(saw.Config(**TINY, schedule="sequential", sub_goal_rep=sub_goal_rep), SPEC)
    params = agent.init(jax.random.PRNGKey(0))
    grads = jax.grad(lambda p: agent.groups[1].loss(p, p, batch(), None)[0])(params)
    zero = lambda tree: all(np.all(np.asarray(g) == 0) for g in jax.tree_util.tree_leaves(tree))  # noqa: E731
    assert zero(grads["value"]) and zero(grads["actor"]) and not zero(grads["subpolicy"])
    assert zero(grads["goal_rep"]) != sub_goal_rep  # as HIQL's low actor, the subpolicy shapes phi


@pytest.mark.parametrize("low_actor_rep_grad", [False, True])
def test_hiql_low_policy_trains_phi_only_with_low_actor_rep_grad_and_the_high_policy_never(low_actor_rep_grad):
    """OGBench: low_actor_rep_grad is False on states (the default) and True on pixels."""
    agent, params = build(hiql, low_actor_rep_grad=low_actor_rep_grad)
    b = batch()
    grads = jax.grad(lambda p: agent.groups[0].loss({**params, "goal_rep": p}, params, b, None)[1]["low_actor/loss"])(params["goal_rep"])
    assert any(np.any(np.asarray(g) != 0) for g in jax.tree_util.tree_leaves(grads)) == low_actor_rep_grad
    grads = jax.grad(lambda p: agent.groups[0].loss({**params, "goal_rep": p}, params, b, None)[1]["high_actor/loss"])(params["goal_rep"])
    assert all(np.all(np.asarray(g) == 0) for g in jax.tree_util.tree_leaves(grads))


def test_divergences():
    sub = Gaussian(jnp.array([[0.5, -0.2]]), jnp.array([[0.1, -0.3]]))
    pi = Gaussian(jnp.array([[0.1, 0.4]]), jnp.array([[-0.2, 0.2]]))
    np.testing.assert_allclose(saw.divergence(sub, pi, True, "sub_to_policy"), [0.4**2 + 0.6**2], rtol=1e-6)
    unit = Gaussian(sub.mean, jnp.zeros_like(sub.log_std)), Gaussian(pi.mean, jnp.zeros_like(pi.log_std))
    np.testing.assert_allclose(saw.divergence(*unit, True, "sub_to_policy", "kl"), unit[0].kl(unit[1]), rtol=1e-6)
    def kl(p, q):
        return np.sum(q.log_std - p.log_std + (np.exp(2 * p.log_std) + (p.mean - q.mean) ** 2) / (2 * np.exp(2 * q.log_std)) - 0.5)
    np.testing.assert_allclose(saw.divergence(sub, pi, False, "sub_to_policy"), [kl(sub, pi)], rtol=1e-5)
    np.testing.assert_allclose(saw.divergence(sub, pi, False, "policy_to_sub"), [kl(pi, sub)], rtol=1e-5)
    p, q = Categorical(jnp.log(jnp.array([[0.2, 0.8]]))), Categorical(jnp.log(jnp.array([[0.5, 0.5]])))
    np.testing.assert_allclose(p.kl(q), [0.2 * np.log(0.4) + 0.8 * np.log(1.6)], rtol=1e-5)


def test_sequential_schedule_has_one_optimiser_per_part_and_differs_from_joint():
    joint = saw.make(saw.Config(**TINY), SPEC)
    seq = saw.make(saw.Config(**TINY, schedule="sequential"), SPEC)
    assert [g.name for g in seq.groups] == ["value", "subpolicy", "actor"]
    s_joint, s_seq = init_state(joint, jax.random.PRNGKey(0)), init_state(seq, jax.random.PRNGKey(0))
    assert set(s_seq.opt_state) == {"value", "subpolicy", "actor"}
    b = batch()
    n_joint, _ = apply_update(joint, s_joint, b, None)
    n_seq, _ = apply_update(seq, s_seq, b, None)
    # The value is the first part: identical after one step. The subpolicy then sees the updated value.
    jax.tree_util.tree_map(np.testing.assert_allclose, n_joint.params["value"], n_seq.params["value"])
    diffs = jax.tree_util.tree_leaves(jax.tree_util.tree_map(lambda a, c: np.abs(a - c).max(), n_joint.params["subpolicy"], n_seq.params["subpolicy"]))
    assert max(diffs) > 0


def test_invalid_settings_are_rejected():
    from gcrl.errors import GcrlError

    with pytest.raises(GcrlError, match="kl_direction"):
        saw.Config(kl_direction="forward")
    with pytest.raises(GcrlError, match="schedule"):
        saw.Config(schedule="alternating")
    with pytest.raises(GcrlError, match="Unknown agent"):
        agents.get("sac")


@pytest.fixture(scope="module")
def toy_data():
    return sampling.to_device(validate(raw_arrays([40, 60, 30], obs_dim=2)))


@pytest.fixture(scope="module")
def tiny_saw():
    """A tiny SAW and its compiled 3-update chunk, shared: each compile costs seconds."""
    agent = saw.make(saw.Config(**TINY), SPEC)
    return agent, make_train_chunk(agent, 16, 3)


def test_fused_scan_equals_the_plain_update_loop(toy_data, tiny_saw):
    agent, chunk = tiny_saw
    plain, single = init_state(agent, jax.random.PRNGKey(0)), jax.jit(lambda s: update(agent, s, toy_data, 16))
    for _ in range(3):
        plain, _ = single(plain)
    fused, _ = chunk(init_state(agent, jax.random.PRNGKey(0)), toy_data)
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree_util.tree_leaves(fused.params))
    jax.tree_util.tree_map(lambda a, c: np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6), plain.params, fused.params)
    jax.tree_util.tree_map(lambda a, c: np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6), plain.target_params, fused.target_params)
    assert int(fused.step) == 3


def test_a_convolutional_agent_on_a_cpu_runs_its_chunk_update_by_update_with_the_same_numbers():
    """XLA:CPU runs convolutions inside a compiled loop on a slow path (jax-ml/jax#12868), so there a
    pixel agent's chunk is the host's loop over one compiled update: the same parameters and metrics
    as that many single updates, one seed or several (vmapped) alike."""
    from gcrl.agents import gcbc
    from gcrl.learner import HEALTH, HostLoopChunk

    agent = gcbc.make(gcbc.Config(hidden=(8,), encoder="impala_small"), DataSpec((8, 8, 3), True, 2, False))
    data = sampling.to_device(validate(raw_arrays([20, 30], pixels=True)))
    plain, history = init_state(agent, jax.random.PRNGKey(0)), []
    single = jax.jit(lambda s: update(agent, s, data, 8))
    for _ in range(3):
        plain, metrics = single(plain)
        history.append(metrics)
    chunk = make_train_chunk(agent, 8, 3)
    assert isinstance(chunk, HostLoopChunk) == (jax.default_backend() == "cpu")
    ticks = []  # the host's loop reports each update as it finishes (progress for updates of seconds)
    call = chunk.lower(init_state(agent, jax.random.PRNGKey(0)), data).compile()
    chunked, metrics = call(init_state(agent, jax.random.PRNGKey(0)), data, **({"on_update": lambda: ticks.append(1)} if isinstance(call, HostLoopChunk) else {}))
    assert len(ticks) == (3 if isinstance(call, HostLoopChunk) else 0)
    close = lambda a, c: np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-5)  # noqa: E731  (XLA's convolutions round differently by program)
    jax.tree_util.tree_map(close, plain.params, chunked.params)
    for name in history[0]:
        close(np.mean([m[name] for m in history]), metrics[name])
    assert int(metrics[HEALTH]["first_nonfinite_update"]) == -1 and bool(metrics[HEALTH]["params_finite"]) and int(chunked.step) == 3
    both, both_metrics = make_train_chunk(agent, 8, 3, seeds=True)(stack_states([init_state(agent, jax.random.PRNGKey(i)) for i in (0, 1)]), data)
    jax.tree_util.tree_map(lambda a, c: close(a[0], c), both.params, chunked.params)
    np.testing.assert_array_equal(both_metrics[HEALTH]["first_nonfinite_update"], [-1, -1])


def test_ynn_fusion_setting_reaches_the_compiler_and_changes_only_rounding(toy_data, tiny_saw):
    agent, default_chunk = tiny_saw  # at batch 16 the default is "on" (test_compiler_options_turn_...)
    chunks = {"on": default_chunk, "off": make_train_chunk(agent, 16, 3, ynn_fusion="off")}
    results = {}
    for mode, chunk in chunks.items():
        program = chunk.lower(init_state(agent, jax.random.PRNGKey(0)), toy_data).compile()
        if jax.default_backend() == "cpu":  # XLA fuses with YNNPACK even at this size when allowed
            assert ("__ynn_fusion" in program.as_text()) == (mode == "on")
        results[mode], _ = program(init_state(agent, jax.random.PRNGKey(0)), toy_data)
    close = lambda a, c: np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)  # noqa: E731
    jax.tree_util.tree_map(close, results["on"].params, results["off"].params)


def test_compiler_options_turn_ynn_fusion_off_from_batch_512_on_a_cpu(monkeypatch):
    from gcrl.learner import YNN_OFF_FROM_BATCH, compiler_options

    off = {"xla_cpu_experimental_ynn_fusion_type": ""}
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    assert compiler_options(YNN_OFF_FROM_BATCH - 1) is None and compiler_options(YNN_OFF_FROM_BATCH) == off
    assert compiler_options(16, "off") == off and compiler_options(4096, "on") is None
    with pytest.raises(ValueError, match="ynn_fusion"):
        compiler_options(256, "sometimes")
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert compiler_options(4096, "off") is None  # a CPU library: nothing to set elsewhere


@pytest.mark.parametrize("mode", ["vmap", "map"])
def test_seeds_in_parallel_equal_each_seed_trained_alone(toy_data, tiny_saw, mode):
    agent, solo_chunk = tiny_saw
    stacked = stack_states([init_state(agent, jax.random.PRNGKey(s)) for s in (0, 1)])
    together, metrics = make_train_chunk(agent, 16, 3, seeds=True, seed_mode=mode)(stacked, toy_data)
    assert metrics["actor/loss"].shape == (2,)
    for i in (0, 1):
        alone, _ = solo_chunk(init_state(agent, jax.random.PRNGKey(i)), toy_data)
        assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree_util.tree_leaves(alone.params))
        if mode == "map":  # the very computation of a solo run, seed by seed
            close = np.testing.assert_array_equal
        else:
            close = lambda a, c: np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6, equal_nan=False)  # noqa: E731
        jax.tree_util.tree_map(close, seed_state(together, i).params, alone.params)
        jax.tree_util.tree_map(close, seed_state(together, i).target_params, alone.target_params)
    assert not np.allclose(together.params["actor"]["params"]["Dense_0"]["kernel"][0], together.params["actor"]["params"]["Dense_0"]["kernel"][1])


def test_length_normalize_has_norm_sqrt_dim_and_a_finite_gradient_at_zero():
    from gcrl.nets.layers import length_normalize

    x = jnp.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(length_normalize(x)[0], np.array([3.0, 4.0]) / 5 * np.sqrt(2), rtol=1e-6)
    grad = jax.grad(lambda v: length_normalize(v).sum())(x)
    assert np.isfinite(np.asarray(grad)).all()  # phi(0, 0) = 0 at initialisation must not poison training


def test_targets_move_by_polyak_averaging_towards_the_parameters_before_the_step():
    """As the published target_update: tau theta_t + (1 - tau) target_t, theta_t being the
    parameters the update started from, not the ones its gradient step produced."""
    agent = gcivl.make(gcivl.Config(**TINY), SPEC)
    state = init_state(agent, jax.random.PRNGKey(0))
    state = state._replace(target_params={"value": jax.tree_util.tree_map(lambda x: 0.5 * x, state.target_params["value"])})
    new, _ = apply_update(agent, state, batch(), None)
    expected = jax.tree_util.tree_map(lambda p, t: 0.005 * p + 0.995 * t, state.params["value"], state.target_params["value"])
    jax.tree_util.tree_map(lambda a, c: np.testing.assert_allclose(a, c, rtol=1e-6), new.target_params["value"], expected)
    after_step = jax.tree_util.tree_map(lambda p, t: 0.005 * p + 0.995 * t, new.params["value"], state.target_params["value"])
    assert not all(np.allclose(a, c, rtol=1e-6) for a, c in zip(jax.tree_util.tree_leaves(new.target_params["value"]), jax.tree_util.tree_leaves(after_step)))


@pytest.mark.parametrize("name", ["gcbc", "gcivl", "hiql", "saw"])
def test_every_agent_acts_and_trains_with_discrete_or_continuous_actions(name):
    for spec in (SPEC, DataSpec((2,), False, 3, True)):
        module = agents.get(name)
        agent = module.make(module.Config(**TINY), spec)
        state = init_state(agent, jax.random.PRNGKey(0))
        b = batch()
        if spec.discrete:
            b["actions"] = jnp.array([0, 2, 1, 2])
        new, metrics = apply_update(agent, state, b, jax.random.PRNGKey(1))
        assert all(np.isfinite(float(v)) for v in metrics.values())
        actions = agent.act(new.params, b["observations"], b["actor_goals"], jax.random.PRNGKey(2), 0.0)
        if spec.discrete:
            assert actions.shape == (4,) and set(np.asarray(actions).tolist()) <= {0, 1, 2}
        else:
            assert actions.shape == (4, 2) and np.abs(np.asarray(actions)).max() <= 1.0
        sampled = agent.act(new.params, b["observations"], b["actor_goals"], jax.random.PRNGKey(2), 1.0)
        assert sampled.shape == actions.shape

