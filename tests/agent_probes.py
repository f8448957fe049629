"""What the agents' tests share: a hand-built batch, each named loss's gradient with respect to
every parameter subtree, and run directories of untrained agents for the hierarchical tools."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from gcrl import agents, checkpoint, config
from gcrl.learner import init_state
from gcrl.policy import save_spec


def hand_batch(seed: int = 0, n: int = 4, discrete: bool = False) -> dict:
    """A batch of n random 2-d states with every goal key; the second sample's value goal is its
    own state (r = 0, m = 0), the others not; actions in [-1, 1]^2, or among 3 when discrete."""
    rng = np.random.default_rng(seed)
    obs = lambda: jnp.asarray(rng.normal(size=(n, 2)), jnp.float32)  # noqa: E731
    actions = jnp.asarray(rng.integers(0, 3, n)) if discrete else jnp.asarray(rng.uniform(-1, 1, (n, 2)), jnp.float32)
    return {
        "observations": obs(), "next_observations": obs(), "actions": actions,
        "value_goals": obs(), "actor_goals": obs(), "subgoals": obs(), "waypoints": obs(),
        "rewards": jnp.array([-1.0, 0.0, -1.0, -1.0][:n]), "masks": jnp.array([1.0, 0.0, 1.0, 1.0][:n]),
    }  # fmt: skip


def image_batch(seed: int = 0, n: int = 4) -> dict:
    """hand_batch with random 8x8x3 uint8 images for every observation and goal."""
    rng = np.random.default_rng(seed)
    images = {k: jnp.asarray(rng.integers(0, 256, (n, 8, 8, 3)), jnp.uint8)
              for k in ("observations", "next_observations", "value_goals", "actor_goals", "subgoals", "waypoints")}  # fmt: skip
    return {**hand_batch(n=n), **images}


def perturbed_params(agent, scale: float = 0.3, seed: int = 1):
    """The agent's initial parameters plus Gaussian noise, so that terms whose initial values sit
    near zero (actor means) are well away from it."""
    rng = np.random.default_rng(seed)
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x + scale * rng.normal(size=x.shape), x.dtype), agent.init(jax.random.PRNGKey(0)))


def per_loss_gradients(loss, names: tuple[str, ...]):
    """A jitted (params, targets, batch, key) -> (metrics, {name: gradient of metrics[name] with
    respect to every parameter subtree}), for the named terms of one loss group."""

    @jax.jit
    def metrics_and_grads(params, targets, b, rng):
        metrics = loss(params, targets, b, rng)[1]
        grads = jax.jacrev(lambda p: jnp.stack([loss(p, targets, b, rng)[1][n] for n in names]))(params)
        return metrics, {n: jax.tree_util.tree_map(lambda g, i=i: g[i], grads) for i, n in enumerate(names)}

    return metrics_and_grads


def moved(grads) -> set:
    """The parameter subtrees with a nonzero gradient."""
    return {k for k, tree in grads.items() if any(np.any(np.asarray(g) != 0) for g in jax.tree_util.tree_leaves(tree))}


def untrained_run(run_dir, agent_name: str, dataset: str, spec, step: int = 60, **sets):
    """A run directory as gcrl train writes it, with freshly initialised parameters."""
    train_cfg, agent_cfg = config.resolve(agent_name, dataset, "cpu", {"steps": step}, {"hidden": "16,16", **sets})
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(config.to_json(train_cfg, agent_cfg))
    save_spec(run_dir, spec)
    state = init_state(agents.get(agent_name).make(agent_cfg, spec), jax.random.PRNGKey(0))
    checkpoint.save(run_dir, state._replace(step=jnp.asarray(step, jnp.int32)), step)
    return run_dir


def assert_acts_in_range(agent, params, discrete: bool, n: int = 4) -> None:
    """act gives n actions of the right shape, in [-1, 1] (continuous) or among 3 (discrete), at
    temperature 0 (the mode) and 1 (sampled)."""
    b = hand_batch(n=n, discrete=discrete)
    for temperature in (0.0, 1.0):
        actions = np.asarray(agent.act(params, b["observations"], b["actor_goals"], jax.random.PRNGKey(2), temperature))
        if discrete:
            assert actions.shape == (n,) and set(actions.tolist()) <= {0, 1, 2}
        else:
            assert actions.shape == (n, 2) and np.abs(actions).max() <= 1.0
