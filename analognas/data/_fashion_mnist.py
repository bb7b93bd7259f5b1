"""Fashion-MNIST from its original IDX files.

The default location is where Debian's ``dataset-fashion-mnist`` package installs them, so
on a prepared machine nothing needs downloading. We never download Fashion-MNIST: the
package (or a user-supplied folder) is the single, auditable source.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analognas._errors import DataError
from analognas.data._dataset import FileRecord, RawData
from analognas.data._idx import read_idx

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
APT_PACKAGE = "dataset-fashion-mnist"

CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
MEAN = (0.2860,)
STD = (0.3530,)

_STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _candidate_dirs(data_dir: Path) -> tuple[Path, ...]:
    # The folder itself, torchvision's layout, and a parent holding a fashion-mnist/ folder.
    return (data_dir, data_dir / "FashionMNIST" / "raw", data_dir / "fashion-mnist")


def _find(folder: Path, stem: str) -> Path | None:
    # Uncompressed first: it is faster to read when someone has gone to the trouble.
    for name in (stem, f"{stem}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _how_to_get() -> str:
    return (
        f"install them with `apt-get install {APT_PACKAGE}` (puts them in {DEFAULT_DIR}) "
        "or pass --data-dir DIR pointing at a folder holding the four IDX files "
        "(gzipped or not)"
    )


def locate(data_dir: Path) -> dict[str, Path]:
    """Map each IDX stem to its file, or raise DataError saying how to get the files."""
    best: tuple[Path, dict[str, Path]] | None = None
    for folder in _candidate_dirs(data_dir):
        found = {stem: path for stem in _STEMS if (path := _find(folder, stem)) is not None}
        if len(found) == len(_STEMS):
            return found
        if found and (best is None or len(found) > len(best[1])):
            best = (folder, found)
    if best is not None:
        folder, found = best
        missing = ", ".join(stem for stem in _STEMS if stem not in found)
        raise DataError(f"fashion-mnist files incomplete in {folder}: missing {missing}; {_how_to_get()}")
    state = "has no fashion-mnist IDX files" if data_dir.is_dir() else "does not exist"
    raise DataError(f"fashion-mnist data folder {data_dir} {state}; {_how_to_get()}")


def _read_pair(images_path: Path, labels_path: Path, files: dict[str, FileRecord]) -> tuple[np.ndarray, np.ndarray]:
    """Read and cross-check one images/labels pair, recording both files in ``files``."""
    images, files[images_path.name] = read_idx(images_path)
    labels, files[labels_path.name] = read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{images_path}: expected uint8 images of shape (N, 28, 28), got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(f"{labels_path}: expected a 1-D uint8 label file, got {labels.shape}")
    if labels.shape[0] != images.shape[0]:
        raise DataError(f"{labels_path}: {labels.shape[0]} labels for {images.shape[0]} images in {images_path.name}")
    if labels.size and int(labels.max()) >= len(CLASSES):
        raise DataError(f"{labels_path}: label {int(labels.max())} outside 0..{len(CLASSES) - 1}")
    return images.reshape(-1, 1, 28, 28), labels.astype(np.int64)


def read_fashion_mnist(data_dir: Path, download: bool) -> RawData:
    """Read all four IDX files. ``download`` is accepted for a uniform loader signature and
    ignored on purpose: the files come from the Debian package or the user."""
    del download
    paths = locate(data_dir)
    files: dict[str, FileRecord] = {}
    train_x, train_y = _read_pair(paths[_STEMS[0]], paths[_STEMS[1]], files)
    test_x, test_y = _read_pair(paths[_STEMS[2]], paths[_STEMS[3]], files)
    return RawData(train_x, train_y, test_x, test_y, paths[_STEMS[0]].parent, files)
