"""The in-memory dataset: validated arrays in one of OGBench's layouts, plus the index arithmetic
that goal relabelling needs (where each trajectory starts and ends).

Layouts (N steps, trajectories laid end to end):
- raw (OGBench's files): observations include each trajectory's final state; terminals is 1 at
  that final state, whose action is padding. Converted to compact on load, without copying.
- compact: valids[t] = 1 where t has a successor t + 1 in the same trajectory; terminals is 1 at
  the last two states of each trajectory (OGBench's convention). next observation = observations[t+1].
- standard: next_observations[t] is the successor of observations[t]; terminals is 1 at the
  last transition of each trajectory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gcrl.errors import DatasetError

REQUIRED = ("observations", "actions", "terminals")
STEP_KEYS = REQUIRED + ("next_observations", "valids")
# Extra per-step arrays kept when present (OGBench stores the simulator state beside observations).
INFO_KEYS = ("qpos", "qvel", "button_states")


@dataclass
class Dataset:
    observations: np.ndarray
    actions: np.ndarray
    terminals: np.ndarray  # float32 in {0, 1}
    next_observations: np.ndarray | None = None  # standard layout
    valids: np.ndarray | None = None  # compact layout
    info: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = "<arrays>"

    def __post_init__(self):
        if (self.next_observations is None) == (self.valids is None):
            raise DatasetError(
                f"{self.source}: a dataset needs exactly one of 'next_observations' (standard layout) "
                "or 'valids' (compact layout)."
            )

    # ---- shape facts -------------------------------------------------------------------------
    @property
    def layout(self) -> str:
        return "compact" if self.valids is not None else "standard"

    @property
    def num_steps(self) -> int:
        return len(self.observations)

    @property
    def pixels(self) -> bool:
        return self.observations.dtype == np.uint8

    @property
    def discrete_actions(self) -> bool:
        return np.issubdtype(self.actions.dtype, np.integer)

    def transition_idxs(self) -> np.ndarray:
        """Indices t that start a transition (t, a_t, t's successor)."""
        if self.valids is None:
            return np.arange(self.num_steps, dtype=np.int32)
        return np.nonzero(self.valids > 0)[0].astype(np.int32)

    def num_transitions(self) -> int:
        return self.num_steps if self.valids is None else int(np.count_nonzero(self.valids))

    def final_idxs(self) -> np.ndarray:
        """For each index t, the last index a goal may take in t's trajectory ('end' in DESIGN.md):
        the first terminal at or after t (OGBench's convention in both layouts)."""
        terminal_locs = np.nonzero(self.terminals > 0)[0]
        return terminal_locs[np.searchsorted(terminal_locs, np.arange(self.num_steps))].astype(np.int32)

    def start_idxs(self) -> np.ndarray:
        """For each index t, the first index of t's trajectory (for frame stacking)."""
        boundary = (self.terminals > 0) if self.valids is None else (self.valids == 0)
        starts = np.concatenate([[0], np.nonzero(boundary[:-1])[0] + 1])
        return starts[np.searchsorted(starts, np.arange(self.num_steps), side="right") - 1].astype(np.int32)

    def trajectory_lengths(self) -> np.ndarray:
        """Number of transitions in each trajectory."""
        if self.valids is None:
            ends = np.nonzero(self.terminals > 0)[0]
            return np.diff(np.concatenate([[-1], ends]))
        ends = np.nonzero(self.valids == 0)[0]  # each trajectory's final state
        return np.diff(np.concatenate([[-1], ends])) - 1

    def next_observation(self, idxs: np.ndarray) -> np.ndarray:
        if self.next_observations is not None:
            return self.next_observations[idxs]
        return self.observations[idxs + 1]

    # ---- layout conversion -------------------------------------------------------------------
    def to_standard(self) -> "Dataset":
        """The standard layout (with next_observations). Copies the observations."""
        if self.valids is None:
            return self
        idxs = self.transition_idxs()
        terminals = (self.valids[idxs + 1] == 0).astype(np.float32)
        return Dataset(
            observations=self.observations[idxs],
            actions=self.actions[idxs],
            terminals=terminals,
            next_observations=self.observations[idxs + 1],
            info={k: v[idxs] for k, v in self.info.items()},
            source=self.source,
        )

    def as_dict(self) -> dict[str, np.ndarray]:
        out = {"observations": self.observations, "actions": self.actions, "terminals": self.terminals}
        if self.next_observations is not None:
            out["next_observations"] = self.next_observations
        else:
            out["valids"] = self.valids
        out.update(self.info)
        return out


def from_raw(observations, actions, terminals, info=None, source="<arrays>") -> Dataset:
    """OGBench's on-disk layout -> compact layout, as ogbench.load_dataset(compact_dataset=True)
    does, without copying the observations."""
    terminals = np.asarray(terminals, dtype=np.float32)
    valids = 1.0 - terminals
    shifted = np.concatenate([terminals[1:], [1.0]]).astype(np.float32)
    return Dataset(
        observations=observations,
        actions=actions,
        terminals=np.minimum(terminals + shifted, 1.0).astype(np.float32),
        valids=valids.astype(np.float32),
        info=dict(info or {}),
        source=source,
    )
