"""gcrl: offline goal-conditioned RL with flat and hierarchical policies."""

__version__ = "0.1.0"


def load_policy(run_dir, temperature: float = 0.0, seed: int = 0):
    """policy = gcrl.load_policy(run_dir); action = policy(observation, goal)."""
    from gcrl.policy import load_policy as _load

    return _load(run_dir, temperature, seed)
