"""The SAC experts (gcrl/experts): SAC's losses pinned on hand-built batches (the critic's soft
target, the actor's and the temperature's losses, which parameters each moves, the target critic's
Polyak step from the update's starting point), the tanh-Gaussian's density, the directional
environment's reward and directions, and the loop's protocol (updates only from seed_steps on, one
per train_interval, the replay kept across a resume)."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gcrl.cli import main
from gcrl.experts import envs, settings
from gcrl.experts.loop import restore
from gcrl.experts.replay import Replay
from gcrl.experts.sac import Config, Sac, TanhGaussian

OBS, ACT = 5, 3
TINY_SAC = Config(actor_hidden=(8, 8), value_hidden=(8, 8), batch_size=4)


@pytest.fixture(scope="module")
def sac():
    return Sac(TINY_SAC, OBS, ACT)


def batch(seed=0, masks=(1.0, 0.0, 1.0, 1.0)):
    rng = np.random.default_rng(seed)
    return {"observations": jnp.asarray(rng.normal(size=(4, OBS)), jnp.float32), "actions": jnp.asarray(rng.uniform(-0.9, 0.9, (4, ACT)), jnp.float32),
            "rewards": jnp.asarray([1.0, -2.0, 0.5, 0.0]), "masks": jnp.asarray(masks), "next_observations": jnp.asarray(rng.normal(size=(4, OBS)), jnp.float32)}  # fmt: skip


def test_the_tanh_gaussian_density_is_the_change_of_variables(sac):
    dist = TanhGaussian(jnp.asarray([[0.3, -1.0, 2.0]]), jnp.asarray([[-0.5, 0.2, -1.0]]))
    y, log_prob = dist.sample_and_log_prob(jax.random.PRNGKey(1))
    x = jnp.arctanh(jnp.clip(y, -1 + 1e-6, 1 - 1e-6))
    std = jnp.exp(dist.log_std)
    gauss = -0.5 * ((x - dist.mean) / std) ** 2 - jnp.log(std) - 0.5 * jnp.log(2 * jnp.pi)
    expected = jnp.sum(gauss - jnp.log(1 - jnp.tanh(x) ** 2), axis=-1)
    np.testing.assert_allclose(log_prob, expected, rtol=1e-3)
    np.testing.assert_allclose(dist.mode(), jnp.tanh(dist.mean))


def test_the_critic_regresses_on_the_soft_target_of_the_target_critic(sac):
    state = sac.init(jax.random.PRNGKey(0))
    params = {**state.params, "log_alpha": jnp.log(0.3)}
    target = jax.tree_util.tree_map(lambda p: p + 0.05, state.target_critic)  # a target that differs from the critic
    b, key = batch(), jax.random.PRNGKey(7)
    _, metrics = sac.losses(params, target, params, b, key)
    # by hand, with the loss's own draws: a' ~ pi(.|s') with the critic's key (the second of three)
    _, _, critic_key = jax.random.split(key, 3)
    next_a, next_logp = sac.actor.apply(params["actor"], b["next_observations"]).sample_and_log_prob(critic_key)
    next_q = sac.critic.apply(target, b["next_observations"], next_a).min(0)
    y = b["rewards"] + 0.99 * b["masks"] * (next_q - 0.3 * next_logp)
    q = sac.critic.apply(params["critic"], b["observations"], b["actions"])
    np.testing.assert_allclose(metrics["critic/critic_loss"], jnp.mean((q - y) ** 2), rtol=1e-5)
    assert y[1] == b["rewards"][1]  # a terminal transition's target is its reward


def test_each_loss_moves_only_its_own_parameters_and_alpha_follows_the_entropy(sac):
    state = sac.init(jax.random.PRNGKey(0))
    b, key = batch(), jax.random.PRNGKey(3)
    frozen = jax.lax.stop_gradient(state.params)
    grads, metrics = jax.grad(sac.losses, has_aux=True)(state.params, state.target_critic, frozen, b, key)

    def critic_only(critic):
        return sac.losses({**state.params, "critic": critic}, state.target_critic, frozen, b, key)[1]["critic/critic_loss"]

    def actor_only(actor):
        return sac.losses({**state.params, "actor": actor}, state.target_critic, frozen, b, key)[1]["actor/actor_loss"]

    for got, want in ((grads["critic"], jax.grad(critic_only)(state.params["critic"])), (grads["actor"], jax.grad(actor_only)(state.params["actor"]))):
        jax.tree_util.tree_map(lambda g, w: np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-7), got, want)
    # d/d log_alpha of exp(log_alpha) (H - H_target), H_target = -0.5 dim(A); alpha starts at 1
    np.testing.assert_allclose(grads["log_alpha"], metrics["actor/entropy"] - (-0.5 * ACT), rtol=1e-5)


def test_an_update_steps_adam_once_and_the_target_trails_by_tau_from_the_starting_critic(sac):
    state = sac.init(jax.random.PRNGKey(0))
    state = state._replace(target_critic=jax.tree_util.tree_map(lambda p: p * 0.5, state.target_critic))
    new, _ = jax.jit(sac.update)(state, batch())
    expected = jax.tree_util.tree_map(lambda p, t: 0.005 * p + 0.995 * t, state.params["critic"], state.target_critic)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), new.target_critic, expected)
    assert int(new.step) == 1 and not np.array_equal(new.key, state.key)
    moved = jax.tree_util.tree_map(lambda a, b: float(jnp.abs(a - b).max()), new.params, state.params)
    assert all(v > 0 for v in jax.tree_util.tree_leaves(moved))
    assert float(jnp.abs(new.params["log_alpha"])) == pytest.approx(1e-4, rel=1e-3)  # Adam's first step is lr in size


def test_the_replay_is_a_ring_sampled_among_what_it_holds_and_grows_oldest_first():
    replay = Replay.empty(3, 1, 1)
    for i in range(5):
        replay = replay.add({"observations": [i], "actions": [i], "rewards": i, "masks": 1.0, "next_observations": [i + 1]})
    assert int(replay.size) == 3 and np.asarray(replay.data["rewards"]).tolist() == [3.0, 4.0, 2.0]
    grown = replay.grown(5).add({"observations": [5], "actions": [5], "rewards": 5, "masks": 1.0, "next_observations": [6]})
    assert np.asarray(grown.data["rewards"]).tolist() == [2.0, 3.0, 4.0, 5.0, 0.0] and (int(grown.size), int(grown.head)) == (4, 4)
    one = Replay.empty(10, 1, 1).add({"observations": [7], "actions": [0], "rewards": 7, "masks": 1.0, "next_observations": [8]})
    assert set(np.asarray(one.sample(jax.random.PRNGKey(0), 64)["rewards"]).tolist()) == {7.0}


def test_the_ant_is_rewarded_for_moving_along_its_direction_which_is_redrawn_every_100_steps():
    env = envs.make_env("ant", seed=3)
    obs, _ = env.reset(seed=3)
    assert obs.shape == (29,) and np.isclose(np.linalg.norm(obs[-2:]), 1.0)
    directions = [obs[-2:].copy()]
    for t in range(1, 201):
        before = env.unwrapped.data.qpos[:2].copy()
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert np.isclose(reward, (env.unwrapped.data.qpos[:2] - before) @ info["direction"])
        assert np.allclose(info["direction"], directions[-1])  # the reward's direction is the one the agent saw
        if t % 100 == 0:
            assert not np.allclose(obs[-2:], directions[-1])  # the next observation shows the new one
        directions.append(obs[-2:].copy())
        if terminated:
            break
    env.close()
    again = envs.make_env("ant", seed=3)
    assert np.allclose(again.reset(seed=3)[0][-2:], directions[0])  # seeded: the same first direction
    again.close()


def test_the_published_command_lines_are_the_settings():
    ant, ant_sac = settings.resolve("ant")
    assert (ant.steps, ant.train_interval, ant.eval_every, ant.log_every, ant.seed_steps) == (400_000, 1, 100_000, 5_000, 10_000)
    assert (ant_sac.lr, ant_sac.batch_size, ant_sac.value_hidden, ant_sac.layer_norm, ant_sac.min_q, ant_sac.tau) == (1e-4, 256, (256, 256), False, True, 0.005)
    ball, ball_sac = settings.resolve("antball")
    assert (ball.steps, ball.train_interval, ball.terminate_at_end, ball_sac.layer_norm) == (12_000_000, 4, True, True)
    human, human_sac = settings.resolve("humanoid")
    assert (human.steps, human.train_interval, human_sac.value_hidden, human_sac.layer_norm, human_sac.min_q) == (40_000_000, 4, (1024,) * 3, True, False)


TINY = ["--set", "seed_steps=30", "--set", "log_every=20", "--set", "eval_every=0", "--set", "eval_episodes=1", "--set", "batch_size=8",
        "--set", "actor_hidden=8,8", "--set", "value_hidden=8,8", "--set", "checkpoint_every=40", "--quiet"]  # fmt: skip


def _saved(run_dir):
    _, agent_cfg = settings.read(run_dir)
    return restore(run_dir, Sac(agent_cfg, 29, 8), 29, 8)


def test_updates_start_at_seed_steps_one_per_interval_and_a_resume_keeps_the_replay(tmp_path):
    run = tmp_path / "ant"
    assert main(["experts", "train", "ant", "--steps", "60", "--run-dir", str(run), "--set", "train_interval=4", *TINY]) == 0
    saved = _saved(run)
    # main_sac.py: an update at each step i in [seed_steps, steps] with i % train_interval == 0
    assert int(saved.step) == 60 and int(saved.agent.step) == len([i for i in range(30, 61) if i % 4 == 0]) == 8
    assert int(saved.replay.size) == 60 and np.asarray(saved.replay.data["masks"]).min() >= 0
    assert json.loads((run / "summary.json").read_text())["finished"]
    assert (run / "eval" / "paths_step_000000060.png").stat().st_size > 0

    assert main(["experts", "train", "ant", "--resume", "--run-dir", str(run), "--steps", "80", "--quiet"]) == 0  # more steps: the replay grows
    resumed = _saved(run)
    assert int(resumed.step) == 80 and int(resumed.replay.size) == 80 and int(resumed.agent.step) == 8 + len([i for i in range(61, 81) if i % 4 == 0])
    np.testing.assert_array_equal(np.asarray(resumed.replay.data["observations"])[:60], np.asarray(saved.replay.data["observations"])[:60])
    steps = [int(float(line.split(",")[0])) for line in (run / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == [40, 60, 80]  # logged from the first update on (seed steps 30): no rows before, none twice


def test_bad_expert_names_and_settings_are_one_error_line(tmp_path, capsys):
    for args, message in ((["experts", "train", "cheetah"], "invalid choice: 'cheetah'"), (["experts", "train", "ant", "--set", "lr=fast"], "--set lr=fast"),
                          (["experts", "train", "ant", "--set", "nope=1"], "no such expert setting"), (["experts", "evaluate", str(tmp_path)], "not an expert run directory")):  # fmt: skip
        with pytest.raises(SystemExit) as exit_info:
            raise SystemExit(main(args))
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and err.startswith("error:") and message in " ".join(err.split()), err
    assert list(tmp_path.iterdir()) == []
