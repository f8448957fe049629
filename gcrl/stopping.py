"""SIGTERM met as Ctrl-C. A job scheduler, a container stopping or a plain `kill` sends SIGTERM,
whose default ends the process on the spot: a run loses the updates since its last checkpoint and a
sweep leaves its worker processes training with nobody to collect them. Inside
`sigterm_as_interrupt()`, SIGTERM raises `Terminated`, a KeyboardInterrupt, so every place that
already saves and stops on Ctrl-C does the same on SIGTERM."""

from __future__ import annotations

import contextlib
import signal
import threading


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: stop as on Ctrl-C."""


def _raise_terminated(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM raises Terminated in the main thread; the previous handler comes
    back after it. Elsewhere than the main thread (where Python delivers signals) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
