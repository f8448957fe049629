"""Reading and writing dataset files safely: atomic writes, and clear errors for unreadable files."""

from __future__ import annotations

import os
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from gcrl.errors import DatasetError


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A crash or Ctrl-C leaves either the old file or no file, never a half-written one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the permissions a plain open() would
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """Write a small text file (JSON, CSV) atomically: the old content or the new, never half of it."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an .npz file, or a DatasetError that says why it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file.")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as err:
        raise DatasetError(
            f"{path}: not a readable dataset ({type(err).__name__}: {err}). The file may be truncated or "
            "not an .npz of arrays; download or generate it again."
        ) from None
    except Exception as err:  # zlib.error and other decoder failures of a damaged file
        raise DatasetError(f"{path}: the file is damaged ({type(err).__name__}: {err}); download or generate it again.") from None
