"""SAC's replay on the device: a ring of transitions (s, a, r, mask, s') that the compiled step
writes into and samples from, so an env step costs one dispatch (main_sac.py's ReplayBuffer: 1M
transitions, uniform over those held; a batch here is drawn with JAX's generator, not NumPy's)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

FIELDS = ("observations", "actions", "rewards", "masks", "next_observations")


class Replay(NamedTuple):
    data: dict  # field -> [capacity, ...] float32
    size: jax.Array  # transitions held
    head: jax.Array  # where the next one goes

    @classmethod
    def empty(cls, capacity: int, observation_dim: int, action_dim: int) -> "Replay":
        shapes = {"observations": (observation_dim,), "actions": (action_dim,), "rewards": (), "masks": (), "next_observations": (observation_dim,)}
        data = {k: jnp.zeros((capacity, *shapes[k]), jnp.float32) for k in FIELDS}
        return cls(data, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))

    @property
    def capacity(self) -> int:
        return self.data["rewards"].shape[0]

    def add(self, transition: dict) -> "Replay":
        data = {k: self.data[k].at[self.head].set(jnp.asarray(transition[k], jnp.float32)) for k in FIELDS}
        return Replay(data, jnp.minimum(self.size + 1, self.capacity), (self.head + 1) % self.capacity)

    def sample(self, key, batch: int) -> dict:
        idx = jax.random.randint(key, (batch,), 0, self.size)
        return {k: v[idx] for k, v in self.data.items()}

    def grown(self, capacity: int) -> "Replay":
        """The same transitions in a ring of `capacity` >= this one's (a resumed run with more
        steps): oldest first, the head after the newest."""
        if capacity <= self.capacity:
            return self
        start = jnp.where(self.size == self.capacity, self.head, 0)  # a full ring's oldest transition is at its head
        order = (start + jnp.arange(self.capacity)) % self.capacity
        pad = capacity - self.capacity
        data = {k: jnp.concatenate([v[order], jnp.zeros((pad, *v.shape[1:]), v.dtype)]) for k, v in self.data.items()}
        return Replay(data, self.size, self.size % capacity)
