"""Each agent's losses read exactly the batch keys its published code reads.

benchmarks/published_sampler_check.py shows gcrl's sampler draws every key as the published one
does, except where a published configuration marks a key unused (GCBC's value goals, QRL's and
CRL's rewards, drawn there by other rules). This pins that no gcrl loss reads those keys, and that
each loss reads every key its published code does: a key whose replacement leaves every loss of
the agent unchanged is not read."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gcrl import agents
from gcrl.agents.base import DataSpec
from agent_probes import hand_batch, perturbed_params

# batch['...'] in each published agent file (OGBench impls/agents; johnlyzhou/saw impls/agents for
# saw, ris and gcwae), in gcrl's names: the published HGCDataset's high_actor_goals, low_actor_goals
# and high_actor_targets are gcrl's actor_goals, subgoals and waypoints.
TD = {"observations", "next_observations", "actions", "rewards", "masks", "value_goals"}
PUBLISHED_READS = {
    "gcbc": {"observations", "actions", "actor_goals"},
    "gcivl": TD | {"actor_goals"},
    "gciql": TD | {"actor_goals"},
    "qrl": {"observations", "next_observations", "actions", "value_goals", "actor_goals"},
    "crl": {"observations", "actions", "value_goals", "actor_goals"},
    "hiql": TD | {"actor_goals", "subgoals", "waypoints"},
    "saw": TD | {"actor_goals", "subgoals", "waypoints"},
    "ris": TD | {"actor_goals", "subgoals", "waypoints"},
    "gcwae": TD | {"actor_goals", "waypoints"},
}
SPEC = DataSpec((2,), False, 2, False)
TINY = {"hidden": (8, 8)}
TINY_LATENT = {"qrl": {"latent_dim": 16}, "crl": {"latent_dim": 16}}


def keys_read(name: str) -> set:
    module = agents.get(name)
    agent = module.make(module.Config(**TINY, **TINY_LATENT.get(name, {})), SPEC)
    params = perturbed_params(agent)  # away from initial values where a term ignores its input (a zero actor mean)
    batch, other = hand_batch(seed=0), hand_batch(seed=1)
    losses = jax.jit(lambda b: jnp.stack([g.loss(params, params, b, jax.random.PRNGKey(2))[0] for g in agent.groups]))
    base = np.asarray(losses(batch))
    # rewards and masks: flip every sample's success, so that no sample keeps its value by chance
    swapped = {**other, "rewards": -1.0 - batch["rewards"], "masks": 1.0 - batch["masks"]}
    return {k for k in batch if not np.array_equal(np.asarray(losses({**batch, k: swapped[k]})), base)}


@pytest.mark.parametrize("name", sorted(PUBLISHED_READS))
def test_each_agent_reads_the_batch_keys_its_published_code_reads(name):
    assert keys_read(name) == PUBLISHED_READS[name]
