"""The in-memory containers every dataset is turned into.

Both supported datasets fit in RAM many times over, so a dataset is simply two pairs of
tensors. That keeps training loops free of DataLoader workers (which are slow to start and
nondeterministic across platforms) and makes every epoch reproducible from one generator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from analognas._errors import DataError

#: Per-file provenance: {"bytes": size, "sha256": hex digest of the bytes actually read}.
FileRecord = Mapping[str, int | str]


@dataclass(frozen=True, eq=False)
class Split:
    """One split: float32 images ``x`` of shape (N, C, H, W) and int64 labels ``y`` of shape (N,).

    Frozen so that a split handed to several consumers cannot be swapped out under them;
    ``eq=False`` because element-wise tensor comparison is not a meaningful ``==``.
    """

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if self.x.ndim != 4:
            raise DataError(f"split images must be (N, C, H, W), got shape {tuple(self.x.shape)}")
        if self.y.ndim != 1 or self.y.shape[0] != self.x.shape[0]:
            raise DataError(f"split has {self.x.shape[0]} images but labels of shape {tuple(self.y.shape)}")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, indices: Sequence[int] | None) -> Split:
        """The images at ``indices`` (in that order); ``None`` is the split itself."""
        if indices is None:
            return self
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        return Split(self.x[idx], self.y[idx])


@dataclass(frozen=True, eq=False)
class RawData:
    """What a format reader returns: undecoded uint8 pixels, before subsetting and scaling.

    Subsetting happens on the uint8 arrays so that a 2000-image subset never pays for
    converting all 60000 images to float.
    """

    train_x: np.ndarray  # uint8 (N, C, H, W)
    train_y: np.ndarray  # int64 (N,)
    test_x: np.ndarray
    test_y: np.ndarray
    source: Path
    files: Mapping[str, FileRecord]


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded, normalised dataset plus everything needed to record where it came from."""

    name: str
    train: Split
    test: Split
    classes: tuple[str, ...]
    input_shape: tuple[int, int, int]
    augment: bool
    mean: tuple[float, ...]
    std: tuple[float, ...]
    seed: int
    source: Path
    files: Mapping[str, FileRecord]
    train_available: int
    test_available: int

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready dict for results files: enough to tell whether two runs saw the same data."""
        return {
            "name": self.name,
            "train_size": len(self.train),
            "test_size": len(self.test),
            "train_available": self.train_available,
            "test_available": self.test_available,
            "seed": self.seed,
            "source": str(self.source),
            "files": {name: dict(record) for name, record in sorted(self.files.items())},
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "classes": list(self.classes),
            "augment": self.augment,
            "mean": list(self.mean),
            "std": list(self.std),
        }


def normalise(images: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 ``(x / 255 - mean) / std`` per channel.

    Folded into one multiply and one subtract on a single fresh buffer: the full
    Fashion-MNIST train set is 188 MB as float32, and each extra temporary would cost as
    much as the conversion itself. ``astype`` copies, so the in-place ops never touch the
    (possibly read-only, file-backed) array the reader produced.
    """
    mean_t = torch.tensor(mean, dtype=torch.float64)
    std_t = torch.tensor(std, dtype=torch.float64)
    scale = (1.0 / (255.0 * std_t)).to(torch.float32).view(1, -1, 1, 1)
    shift = (mean_t / std_t).to(torch.float32).view(1, -1, 1, 1)
    x = torch.from_numpy(images.astype(np.float32))
    return x.mul_(scale).sub_(shift)
