"""Hierarchical policies: a high level proposes subgoals, a low level acts towards them, and a
replanning rule decides, per episode, when the high level proposes a new one.

    high.propose(observations [E, ...], goals [E, ...]) -> subgoals [E, ...]
    low.act(observations [E, ...], subgoals [E, ...]) -> actions [E, ...]

(a level that samples owns its random key).

Subgoals live in a `space`: 'observation' (a subgoal is an observation: HBC's high level, the maze
oracle) or 'representation' (HIQL's z = phi(s, w)). A low level lists the spaces it accepts.

Replanning rules (`parse_rule`):
  always             every step (HIQL and HBC as published)
  every:N            every N steps of that episode
  reached:state:D    when ||s[dims] - w[dims]|| <= D (observation-space subgoals)
  reached:value:V    when V(s, w) >= V (rewards are -1 per step, so V ~ -(steps to go) nearby)
with a timeout (max steps per subgoal) for the reached rules, so a test that never fires cannot
stall an episode. Everything is batched over lockstep episodes: one call per level per step on the
full batch, the new subgoals taken only where that episode's mask says so.

`HierarchicalPolicy` is a policy for gcrl.evaluate (policy(observations, goals) -> actions) with
per-episode state: evaluate calls reset(E) at the start of each task and end_task(lengths)
after it, which turns the per-step records into statistics (how often subgoals are reached, steps
per subgoal, distance to the oracle's subgoal) and, when correcting, DAgger's corrections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from rich.table import Table

from gcrl.errors import GcrlError

OBSERVATION, REPRESENTATION = "observation", "representation"
RULES_HELP = "always | every:N | reached:state:D | reached:value:V"
PLOT_SUBGOALS_PER_EPISODE = 40  # at most this many subgoal markers per drawn episode


class HighLevel(Protocol):
    space: str
    name: str

    def propose(self, observations, goals) -> np.ndarray: ...


class LowLevel(Protocol):
    spaces: tuple[str, ...]
    name: str

    def act(self, observations, subgoals) -> np.ndarray: ...


# ---- replanning rules and completion tests ----------------------------------------------------

@dataclass(frozen=True)
class Rule:
    kind: str  # 'always' | 'every' | 'reached'
    every: int = 1  # 'every': replan every N steps
    test: str | None = None  # 'reached': 'state' or 'value'
    threshold: float = 0.0  # 'reached': distance (state) or value (value) threshold
    timeout: int = 50  # 'reached': max steps per subgoal

    def __str__(self) -> str:
        if self.kind == "every":
            return f"every:{self.every}"
        if self.kind == "reached":
            return f"reached:{self.test}:{self.threshold:g} (timeout {self.timeout})"
        return "always"


def parse_rule(text: str, timeout: int = 50) -> Rule:
    """'always', 'every:N', 'reached:state:D' or 'reached:value:V' as a Rule."""
    if timeout < 1:
        raise GcrlError(f"--subgoal-timeout must be at least 1 step, got {timeout}.")
    parts = text.strip().lower().split(":")
    try:
        if parts == ["always"]:
            return Rule("always")
        if parts[0] == "every" and len(parts) == 2 and int(parts[1]) >= 1:
            return Rule("every", every=int(parts[1]))
        if parts[0] == "reached" and len(parts) == 3 and parts[1] in ("state", "value"):
            threshold = float(parts[2])
            if parts[1] == "state" and threshold < 0:
                raise ValueError
            return Rule("reached", test=parts[1], threshold=threshold, timeout=timeout)
    except ValueError:
        pass
    raise GcrlError(f"--replan: cannot read '{text}'; use one of {RULES_HELP} (N >= 1, D >= 0), e.g. every:25 or reached:state:0.5.")


def parse_test(text: str) -> tuple[str, float]:
    """'state:D' or 'value:V' (the completion test that measures reaching) as (kind, threshold)."""
    kind, _, number = text.strip().lower().partition(":")
    try:
        if kind in ("state", "value"):
            return kind, float(number)
    except ValueError:
        pass
    raise GcrlError(f"--reach-test: cannot read '{text}'; use state:D or value:V, e.g. state:1.0 or value:-12.")


class StateTest:
    """Reached when ||s[dims] - w[dims]|| <= threshold (observation-space subgoals)."""

    def __init__(self, threshold: float, dims=None):
        self.threshold, self.dims = float(threshold), None if dims is None else list(dims)
        self.label = f"state:{self.threshold:g}"

    def __call__(self, observations, subgoals) -> np.ndarray:
        s, w = np.asarray(observations, np.float32), np.asarray(subgoals, np.float32)
        if self.dims is not None:
            s, w = s[..., self.dims], w[..., self.dims]
        return np.linalg.norm((s - w).reshape(len(s), -1), axis=1) <= self.threshold


class ValueTest:
    """Reached when V(s, w) >= threshold; value(observations, subgoals) -> [E] values."""

    def __init__(self, value, threshold: float):
        self.value, self.threshold = value, float(threshold)
        self.label = f"value:{self.threshold:g}"

    def __call__(self, observations, subgoals) -> np.ndarray:
        return np.asarray(self.value(observations, subgoals)) >= self.threshold


class OracleCompare:
    """Distance from a proposed subgoal to the oracle's, in the proposal's space.

    oracle: a HighLevel in observation space. Observation-space proposals are compared on `dims`
    (xy in mazes); representation proposals z against to_space(s, oracle w) (phi(s, w) for HIQL).
    Returns (distances [E], the oracle's subgoal observations, the oracle's subgoal in the
    proposal's space)."""

    def __init__(self, oracle: HighLevel, space: str = OBSERVATION, dims=(0, 1), to_space=None):
        if space == REPRESENTATION and to_space is None:
            raise GcrlError("comparing representation subgoals with the oracle needs the high level's phi.")
        self.oracle, self.space, self.dims, self.to_space = oracle, space, list(dims), to_space
        self.units = "phi" if space == REPRESENTATION else ("xy" if self.dims == [0, 1] else f"dims {self.dims}")

    def __call__(self, observations, goals, proposals):
        target = np.asarray(self.oracle.propose(observations, goals))
        proposals = np.asarray(proposals, np.float32)
        if self.space == REPRESENTATION:
            in_space = np.asarray(self.to_space(observations, target))
            return np.linalg.norm(proposals - in_space, axis=-1), target, in_space
        return np.linalg.norm(proposals[..., self.dims] - target[..., self.dims], axis=-1), target, target


# ---- the policy --------------------------------------------------------------------------------

class HierarchicalPolicy:
    """High and low level composed under a replanning rule, batched over lockstep episodes.

    test: the completion test of a 'reached' rule; with 'always' or 'every' it only measures how
    often subgoals are reached. compare: an OracleCompare, for the subgoal error and corrections.
    correct_threshold: where the proposal is farther than this from the oracle's (in the compare's
    units), the oracle's subgoal is executed instead and (s, goal, oracle subgoal) recorded in
    `corrections` (DAgger)."""

    def __init__(self, high: HighLevel, low: LowLevel, rule: Rule, test=None, compare: OracleCompare | None = None,
                 correct_threshold: float | None = None):  # fmt: skip
        if high.space not in low.spaces:
            raise GcrlError(f"{high.name} proposes {high.space} subgoals, but {low.name} takes {' or '.join(low.spaces)} subgoals.")
        if rule.kind == "reached" and test is None:
            raise GcrlError(f"replan rule {rule} needs a completion test.")
        if correct_threshold is not None and compare is None:
            raise GcrlError("corrections need the oracle (an OracleCompare).")
        self.high, self.low, self.rule, self.test, self.compare = high, low, rule, test, compare
        self.correct_threshold = correct_threshold
        self.corrections: dict[str, list] = {"observations": [], "goals": [], "subgoals": []}
        self._count = 0

    def describe(self) -> dict:
        return {"high": self.high.name, "low": self.low.name, "space": self.high.space, "replan": str(self.rule),
                "reach_test": getattr(self.test, "label", None), "error_units": self.compare.units if self.compare else None}  # fmt: skip

    def reset(self, count: int) -> None:
        """Start `count` new episodes: no subgoal yet, empty records."""
        self._count, self._subgoal, self._since = count, None, np.zeros(count, np.int64)
        self._records: list[dict] = []

    def _replan_mask(self, reached: np.ndarray) -> np.ndarray:
        if self._subgoal is None or self.rule.kind == "always":
            return np.ones(self._count, bool)
        if self.rule.kind == "every":
            return self._since >= self.rule.every
        return reached | (self._since >= self.rule.timeout)

    def __call__(self, observations, goals) -> np.ndarray:
        observations, goals = np.asarray(observations), np.asarray(goals)
        if len(observations) != self._count:  # called without evaluate's reset: start afresh
            self.reset(len(observations))
        first = self._subgoal is None
        reached = np.zeros(self._count, bool) if first or self.test is None else self.test(observations, self._subgoal)
        replan = self._replan_mask(reached)
        timed_out = replan & ~reached & ~first & (self._since >= self.rule.timeout) if self.rule.kind == "reached" else np.zeros(self._count, bool)
        record = {"replan": replan, "reached": reached, "timeout": timed_out}
        if replan.any():
            proposal = np.asarray(self.high.propose(observations, goals))
            executed = proposal
            if self.compare is not None:
                error, oracle_obs, oracle_in_space = self.compare(observations, goals, proposal)
                record["error"] = np.where(replan, error, np.nan)
                if self.correct_threshold is not None:
                    corrected = replan & (error > self.correct_threshold)
                    executed = np.where(corrected.reshape(-1, *[1] * (proposal.ndim - 1)), oracle_in_space, proposal)
                    record["corrected"] = corrected
                    record["correction"] = (observations.copy(), goals.copy(), oracle_obs.copy())
            if self.high.space == OBSERVATION and proposal.ndim == 2 and proposal.shape[1] >= 2:  # for maze pictures
                record["proposal_xy"] = proposal[:, :2].astype(np.float32)
            mask = replan.reshape(-1, *[1] * (proposal.ndim - 1))
            self._subgoal = executed if first else np.where(mask, executed, self._subgoal)
            self._since = np.where(replan, 0, self._since)
        actions = np.asarray(self.low.act(observations, self._subgoal))
        self._since = self._since + 1
        self._records.append(record)
        return actions

    def end_task(self, lengths) -> dict:
        """Statistics of the episodes just run (each counted up to its own length), the proposed
        subgoals' xy per episode (observation-space subgoals) and the corrections made."""
        lengths = np.asarray(lengths, np.int64)
        steps, count = len(self._records), self._count

        def stack(key, fill, dtype):  # [T, E]; steps without that record get `fill`
            if not steps:
                return np.zeros((0, count), dtype)
            return np.stack([r.get(key, np.full(count, fill, dtype)) for r in self._records])

        replan, reached, timeout = stack("replan", False, bool), stack("reached", False, bool), stack("timeout", False, bool)
        error, corrected = stack("error", np.nan, np.float32), stack("corrected", False, bool)
        alive = np.arange(steps)[:, None] < lengths[None, :]  # [T, E]: steps each episode really took

        stats = {"episodes": int(count), "steps": int(alive.sum()), "subgoals": int((replan & alive).sum()),
                 "segments": 0, "segments_reached": 0, "segments_timed_out": 0, "segment_steps": 0,
                 "error_sum": float(np.nansum(np.where(alive, error, np.nan))), "error_count": int((~np.isnan(error) & alive).sum()),
                 "corrected": int((corrected & alive).sum())}  # fmt: skip
        for e in range(count):
            starts = np.flatnonzero(replan[: lengths[e], e])
            # A closed segment runs from one replan to the next; the last one is cut by the episode's end.
            for a, b in zip(starts[:-1], starts[1:]):
                stats["segments"] += 1
                stats["segment_steps"] += int(b - a)
                hit = bool(reached[a + 1 : b + 1, e].any())  # tested before each step's replanning
                stats["segments_reached"] += hit
                stats["segments_timed_out"] += bool(timeout[b, e]) and not hit
        stats["measured_reaching"] = self.test is not None

        subgoals = []
        for e in range(count):
            xy = [r["proposal_xy"][e] for t, r in enumerate(self._records[: lengths[e]]) if r["replan"][e] and "proposal_xy" in r]
            subgoals.append(np.array(xy, np.float32).reshape(-1, 2))
        for t, r in enumerate(self._records):
            if "correction" in r:
                take = r["corrected"] & (t < lengths)
                for name, array in zip(("observations", "goals", "subgoals"), r["correction"]):
                    self.corrections[name].append(array[take])
        self._records = []
        return {"stats": finish_stats(stats), "subgoals": subgoals}

    def close(self) -> None:
        """Close what the levels opened (the oracle's environment)."""
        for part in (self.high, getattr(self.compare, "oracle", None)):
            if hasattr(part, "close"):
                part.close()

    def take_corrections(self) -> dict[str, np.ndarray] | None:
        """The corrections recorded so far as arrays (and forget them); None if there are none."""
        if not self.corrections["observations"]:
            return None
        out = {k: np.concatenate(v) for k, v in self.corrections.items()}
        self.corrections = {k: [] for k in self.corrections}
        return out if len(out["observations"]) else None


# ---- statistics --------------------------------------------------------------------------------

COUNT_KEYS = ("episodes", "steps", "subgoals", "segments", "segments_reached", "segments_timed_out", "segment_steps", "error_sum", "error_count", "corrected")


def finish_stats(counts: dict) -> dict:
    """Counts plus the rates they give: subgoals per episode, steps per subgoal, reached and
    timed-out fractions of closed segments, mean distance to the oracle's subgoal."""
    out = dict(counts)
    seg = counts["segments"]
    out["subgoals_per_episode"] = counts["subgoals"] / max(counts["episodes"], 1)
    out["steps_per_subgoal"] = counts["segment_steps"] / seg if seg else None
    out["reached_fraction"] = counts["segments_reached"] / seg if seg and counts.get("measured_reaching", True) else None
    out["timeout_fraction"] = counts["segments_timed_out"] / seg if seg else None
    out["subgoal_error"] = counts["error_sum"] / counts["error_count"] if counts["error_count"] else None
    out["corrected_fraction"] = counts["corrected"] / counts["subgoals"] if counts["subgoals"] else 0.0
    return out


def combine_stats(stats: list[dict]) -> dict:
    """Task statistics pooled into one (sums of counts, rates recomputed)."""
    counts = {k: sum(s[k] for s in stats) for k in COUNT_KEYS}
    counts["measured_reaching"] = all(s.get("measured_reaching", True) for s in stats)
    return finish_stats(counts)


def hierarchy_table(result, title: str | None = None, units: str | None = None) -> Table:
    """Per task and overall: subgoals per episode, steps per subgoal, reached and timed-out
    fractions (closed segments), and the mean distance to the oracle's subgoal."""
    table = Table(title=title or "hierarchical execution")
    table.caption = ("sg/episode: subgoals proposed per episode; steps/sg: steps per subgoal; reached, timeout: share of subgoals (those "
                     f"followed by another) the low level reached, or gave up on at the timeout; oracle dist: mean distance from each proposed "
                     f"subgoal to the maze oracle's{f' ({units})' if units else ''}")  # fmt: skip
    for name in ("task", "success", "sg/episode", "steps/sg", "reached", "timeout", "oracle dist"):
        table.add_column(name, justify="left" if name == "task" else "right")
    pct = lambda x: "-" if x is None else f"{100 * x:.0f}%"  # noqa: E731
    num = lambda x, f=".1f": "-" if x is None else format(x, f)  # noqa: E731
    rows = [(f"task {t.task_id}", t.success, t.hierarchy) for t in result.tasks if t.hierarchy]
    rows.append(("overall", result.overall, combine_stats([t.hierarchy for t in result.tasks if t.hierarchy])))
    for i, (name, success, s) in enumerate(rows):
        table.add_row(name, pct(success), num(s["subgoals_per_episode"]), num(s["steps_per_subgoal"]), pct(s["reached_fraction"]),
                      pct(s["timeout_fraction"]), num(s["subgoal_error"], ".2f"), style="bold" if i == len(rows) - 1 else None)  # fmt: skip
    return table


def plot_subgoals(result, max_episodes_per_task: int = 5) -> list[np.ndarray]:
    """The proposed subgoals' xy of the episodes plot_maze draws (its first few per task), thinned
    to at most PLOT_SUBGOALS_PER_EPISODE each."""
    out = []
    for task in result.tasks:
        for xy in task.subgoals[:max_episodes_per_task]:
            stride = max(1, int(np.ceil(len(xy) / PLOT_SUBGOALS_PER_EPISODE)))
            out.append(xy[::stride])
    return [xy for xy in out if len(xy)]
