"""gcrl: offline goal-conditioned RL with flat and hierarchical policies."""

__version__ = "0.1.0"
