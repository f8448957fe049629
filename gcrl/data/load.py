"""Load datasets by OGBench name (from a dataset directory, downloading once if possible) or by path."""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request
from pathlib import Path

from gcrl.data import names
from gcrl.data.dataset import Dataset
from gcrl.data.files import atomic_path, read_npz
from gcrl.data.validate import validate
from gcrl.errors import DatasetError, GcrlError

DEFAULT_DATASET_DIR = "~/.ogbench/data"
DATASET_URL = "https://rail.eecs.berkeley.edu/datasets/ogbench"
DOWNLOAD_TIMEOUT_S = 5.0


def dataset_dir(override: str | os.PathLike | None = None) -> Path:
    """--dataset-dir, else $GCRL_DATASET_DIR, else OGBench's default ~/.ogbench/data."""
    chosen = override or os.environ.get("GCRL_DATASET_DIR") or DEFAULT_DATASET_DIR
    directory = Path(chosen).expanduser()
    if directory.exists() and not directory.is_dir():
        where = "--dataset-dir" if override else "$GCRL_DATASET_DIR" if os.environ.get("GCRL_DATASET_DIR") else "the default dataset directory"
        raise GcrlError(f"{where} {directory} is a file, not a directory: name the folder the datasets are in (or a new one, which gcrl creates).")
    return directory


def split_paths(name: str, directory: Path) -> tuple[Path, Path]:
    return directory / f"{name}.npz", directory / f"{name}-val.npz"


def is_path(name_or_path: str | os.PathLike) -> bool:
    text = str(name_or_path)
    return text.endswith(".npz") or os.sep in text or Path(text).is_file()


def _missing_message(name: str, directory: Path, reason: str) -> str:
    fix = (
        f"generate it locally with:  gcrl datasets generate {name} --dataset-dir {directory}"
        if name in names.GENERATABLE
        else f"download {name}.npz and {name}-val.npz from {DATASET_URL} into {directory}"
    )
    return f"Dataset {name} is not in {directory} and could not be downloaded ({reason}). To get it, {fix}"


def download(name: str, directory: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Fetch both splits of an OGBench dataset, each file written atomically."""
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    for path in split_paths(name, directory):
        if path.exists():
            continue
        url = f"{DATASET_URL}/{path.name}"
        try:
            response = urllib.request.urlopen(url, timeout=timeout)
        except (urllib.error.URLError, socket.timeout, OSError) as err:
            raise DatasetError(_missing_message(name, directory, f"{type(err).__name__}: {err}")) from None
        total = int(response.headers.get("Content-Length") or 0) or None
        with atomic_path(path) as tmp, open(tmp, "wb") as out, Progress(
            *Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn()
        ) as bar:
            task = bar.add_task(f"download {path.name}", total=total)
            while chunk := response.read(1 << 20):
                out.write(chunk)
                bar.advance(task, len(chunk))


def load_file(path: str | os.PathLike) -> Dataset:
    path = Path(path).expanduser()
    return validate(read_npz(path), source=str(path))


def load(name_or_path: str, dataset_dir_override=None, split: str = "train", allow_download: bool = True) -> Dataset:
    """One split ('train' or 'val') of a dataset given by OGBench name or by .npz path.

    For a path, 'val' reads the sibling file NAME-val.npz."""
    if split not in ("train", "val"):
        raise DatasetError(f"split must be 'train' or 'val', got '{split}'.")
    if is_path(name_or_path):
        return load_file(val_path_of(name_or_path) if split == "val" else name_or_path)
    names.parse(name_or_path)  # unknown names fail here, with a suggestion
    directory = dataset_dir(dataset_dir_override)
    train_path, val_path = split_paths(name_or_path, directory)
    path = train_path if split == "train" else val_path
    if not path.exists():
        if not allow_download:
            raise DatasetError(_missing_message(name_or_path, directory, "downloads disabled"))
        download(name_or_path, directory)
    return load_file(path)


def val_path_of(path: str | os.PathLike) -> Path:
    path = Path(path).expanduser()
    return path.with_name(path.name.removesuffix(".npz") + "-val.npz")


def load_splits(name_or_path: str, dataset_dir_override=None, allow_download: bool = True) -> tuple[Dataset, Dataset | None]:
    """(train, val); val is None for a user's file that has no sibling NAME-val.npz."""
    train = load(name_or_path, dataset_dir_override, "train", allow_download)
    if is_path(name_or_path) and not val_path_of(name_or_path).exists():
        return train, None
    return train, load(name_or_path, dataset_dir_override, "val", allow_download)
