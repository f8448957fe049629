"""One writer per directory (or per dataset): an exclusive lock that a killed process cannot leave stuck.

The lock is an flock(2) on DIR/.gcrl.lock (or another name in DIR), which the kernel drops when the holder exits for any
reason (SIGKILL included), so a crashed run never blocks the next one. The file itself stays and
holds the last holder's pid, host, command and start time, which the error message quotes."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from gcrl.errors import GcrlError

LOCK_FILE = ".gcrl.lock"


class DirectoryInUse(GcrlError):
    """Another gcrl process is writing to this directory."""


class DirectoryLock:
    """Hold DIR's lock for the life of a `with` block (or until release())."""

    def __init__(self, directory: Path, what: str = "run directory", lock_name: str = LOCK_FILE):
        self.directory, self.what, self.lock_name, self._fd = Path(directory), what, lock_name, None

    def acquire(self) -> DirectoryLock:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / self.lock_name
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(fd)
            os.close(fd)
            raise DirectoryInUse(
                f"{self.directory} is in use by another gcrl process ({holder}). Wait for it to finish or stop it, "
                f"or choose another {self.what}."
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                                 "command": " ".join(sys.argv)}).encode())  # fmt: skip
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def _describe(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {info['pid']} on {info['host']}, since {info['since']}: {info['command']}"
    except (OSError, ValueError, KeyError):
        return "pid unknown"


def remove_partials(directory: Path) -> list[Path]:
    """Delete the temporary files an earlier, killed writer left in `directory` (its own files, made
    by atomic_path, end in .partial). Call only while holding the directory's lock."""
    removed = []
    for path in Path(directory).rglob(".*.partial"):
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed
