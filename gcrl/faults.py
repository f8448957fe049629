"""Fault injection for the tests that kill gcrl at a chosen moment (SIGKILL, no clean-up).

    GCRL_KILL_AT=checkpoint-write      python -m gcrl train ...   # killed at the first checkpoint write
    GCRL_KILL_AT=update-chunk:3        ...                        # at the third chunk of updates

Named points sit where a crash would hurt most: inside an update chunk, halfway through writing a
checkpoint, during an evaluation, during a dataset generation, between the runs of a sweep. Without
the variable a point costs one dictionary lookup."""

from __future__ import annotations

import os
import signal

ENV = "GCRL_KILL_AT"
POINTS = ("update-chunk", "checkpoint-write", "evaluation", "dataset-generation", "sweep-run")
_reached: dict[str, int] = {}


def point(name: str) -> None:
    """SIGKILL this process if $GCRL_KILL_AT names this point (NAME, or NAME:K for its K-th pass)."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    target, _, count = wanted.partition(":")
    if target != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
