"""CIFAR-10 from the official python-pickle batches (``cifar-10-batches-py``).

The batches are read with a restricted unpickler (see ``_safe_pickle``) and validated
field by field, so a wrong folder or a damaged file fails with a message naming the file
rather than a numpy reshape error deep inside training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from analognas._errors import DataError
from analognas.data._dataset import FileRecord, RawData
from analognas.data._download import CIFAR10_URL, download_cifar10
from analognas.data._files import read_source
from analognas.data._safe_pickle import safe_loads

BATCH_DIR = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"

CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


def default_dir() -> Path:
    return Path.home() / ".cache" / "analognas" / "cifar10"


def locate(data_dir: Path) -> Path | None:
    """The batches folder: ``data_dir`` itself or its ``cifar-10-batches-py`` child."""
    for folder in (data_dir, data_dir / BATCH_DIR):
        if all((folder / name).is_file() for name in (*TRAIN_FILES, TEST_FILE)):
            return folder
    return None


def _missing_message(data_dir: Path) -> str:
    folder = data_dir / BATCH_DIR if (data_dir / BATCH_DIR).is_dir() else data_dir
    if folder.is_dir():
        missing = [n for n in (*TRAIN_FILES, TEST_FILE) if not (folder / n).is_file()]
        problem = f"{folder} lacks {', '.join(missing)}"
    else:
        problem = f"{folder} does not exist"
    return (
        f"cifar10 batches not found: {problem}; pass --data-dir DIR pointing at an extracted "
        f"{BATCH_DIR} folder (or its parent), or enable download to fetch {CIFAR10_URL}"
    )


def _field(batch: dict[Any, Any], key: str, path: Path) -> Any:
    for candidate in (key.encode(), key):
        if candidate in batch:
            return batch[candidate]
    raise DataError(f"{path}: CIFAR batch has no {key!r} entry (is this a CIFAR-10 batch file?)")


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray, FileRecord]:
    """One batch file -> uint8 images (N, 3, 32, 32), int64 labels (N,), file record."""
    raw, record = read_source(path)
    batch = safe_loads(raw, path)
    if not isinstance(batch, dict):
        raise DataError(f"{path}: expected a dict in a CIFAR batch, got {type(batch).__name__}")
    data = _field(batch, "data", path)
    if not (
        isinstance(data, np.ndarray) and data.dtype == np.uint8 and data.ndim == 2 and data.shape[1] == 3 * 32 * 32
    ):
        shape = getattr(data, "shape", None)
        dtype = getattr(data, "dtype", type(data).__name__)
        raise DataError(f"{path}: 'data' must be a uint8 array of shape (N, 3072), got {dtype} of shape {shape}")
    labels = np.asarray(_field(batch, "labels", path))
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or labels.shape[0] != data.shape[0]:
        raise DataError(f"{path}: 'labels' must be {data.shape[0]} integers, got {labels.dtype} {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(CLASSES)):
        raise DataError(f"{path}: labels outside 0..{len(CLASSES) - 1}")
    # Rows are 1024 red, 1024 green, 1024 blue values, each 32x32 row-major: already CHW.
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64), record


def read_cifar10(data_dir: Path, download: bool) -> RawData:
    folder = locate(data_dir)
    if folder is None:
        if not download:
            raise DataError(_missing_message(data_dir))
        parent = data_dir.parent if data_dir.name == BATCH_DIR else data_dir
        folder = download_cifar10(parent, BATCH_DIR)
        if locate(folder) is None:
            raise DataError(_missing_message(folder))
    files: dict[str, FileRecord] = {}
    xs, ys = [], []
    for name in TRAIN_FILES:
        x, y, files[name] = read_batch(folder / name)
        xs.append(x)
        ys.append(y)
    test_x, test_y, files[TEST_FILE] = read_batch(folder / TEST_FILE)
    return RawData(np.concatenate(xs), np.concatenate(ys), test_x, test_y, folder, files)
