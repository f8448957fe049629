"""Replay of fixed-length sequences for a world model, as DreamerV3 trains: uniform over every window
of T consecutive steps of one environment's stream.

The E environments of the loop step together, so the buffer holds E streams side by side, each a
ring of `capacity` steps: the step t of every stream is written at once. A window may cross from one
episode into the next: its is_first flag marks where the new episode starts, and the world model
resets its state there (DreamerV3's replay does the same). What a window may not cross is the ring's
write position, where the stream jumps from new to old data; such windows are never drawn. The
first step of every drawn window is marked is_first as well: the world model starts each training
sequence from its initial state.

Arrays live in host memory (uint8 images: a 1M-step buffer of 64 x 64 x 3 frames is 12 GB); a
batch is gathered with one fancy index per field.
"""

from __future__ import annotations

import numpy as np

from gcrl.errors import GcrlError


class SequenceReplay:
    """E streams of `capacity` steps each; `spec` maps field names to (shape, dtype) of one step."""

    def __init__(self, num_envs: int, capacity: int, spec: dict[str, tuple[tuple[int, ...], np.dtype]], seed: int = 0):
        if "is_first" not in spec:
            raise GcrlError("a sequence replay needs an 'is_first' field: it marks where an episode starts.")
        self.num_envs, self.capacity = num_envs, capacity
        self.data = {name: np.zeros((num_envs, capacity, *shape), dtype) for name, (shape, dtype) in spec.items()}
        self.head, self.written = 0, 0  # next position to write; steps written per stream (up to capacity)
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        """Steps held, over all streams."""
        return self.written * self.num_envs

    def add(self, step: dict[str, np.ndarray]) -> None:
        """One step of every stream: each field [E, ...]."""
        for name, array in self.data.items():
            array[:, self.head] = step[name]
        self.head = (self.head + 1) % self.capacity
        self.written = min(self.written + 1, self.capacity)

    def windows(self, length: int) -> int:
        """How many windows of `length` steps each stream offers now."""
        return max(0, self.written - length + 1)

    def sample(self, batch: int, length: int) -> dict[str, np.ndarray]:
        """`batch` windows of `length` consecutive steps, uniform over streams and start positions;
        each field [batch, length, ...]."""
        count = self.windows(length)
        if count == 0:
            raise GcrlError(f"the replay holds {self.written} steps per stream; a sequence of {length} needs at least {length}.")
        streams = self.rng.integers(self.num_envs, size=batch)
        oldest = self.head if self.written == self.capacity else 0  # windows start at the oldest step or later
        starts = (oldest + self.rng.integers(count, size=batch)) % self.capacity
        steps = (starts[:, None] + np.arange(length)) % self.capacity
        out = {name: array[streams[:, None], steps] for name, array in self.data.items()}
        out["is_first"] = out["is_first"].copy()
        out["is_first"][:, 0] = True
        return out
