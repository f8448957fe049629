"""Temporally extended epsilon-greedy exploration (Dabney, Ostrovski and Barreto 2021, "Temporally-
Extended epsilon-Greedy Exploration"): the flat agent's control for the exploration a hierarchy
brings. Per environment, while no random action is being held: with probability eps draw a uniform
action and a duration n ~ zeta(mu) (P(n) proportional to n^-mu, at most `longest`), then execute that
action for n steps instead of the policy's; otherwise execute the policy's action."""

from __future__ import annotations

import numpy as np


class EzGreedy:
    def __init__(self, num_envs: int, action_dim: int, eps: float, zeta: float, longest: int, rng: np.random.Generator):
        self.eps, self.zeta, self.longest, self.rng = eps, zeta, longest, rng
        self.left = np.zeros(num_envs, int)  # steps the held action still runs
        self.held = np.zeros((num_envs, action_dim), np.float32)

    def __call__(self, action: np.ndarray) -> np.ndarray:
        """The actions to execute, given the policy's [E, A]."""
        start = (self.left == 0) & (self.rng.random(len(self.left)) < self.eps)
        if start.any():
            self.held[start] = self.rng.uniform(-1.0, 1.0, (int(start.sum()), self.held.shape[1]))
            self.left[start] = np.minimum(self.rng.zipf(self.zeta, int(start.sum())), self.longest)
        holding = self.left > 0
        self.left[holding] -= 1
        return np.where(holding[:, None], self.held, action).astype(np.float32)
