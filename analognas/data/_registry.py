"""Dataset names -> loaders, and the one entry point ``load_dataset``.

A loader bundles a format reader with the facts the rest of the code needs about the
dataset (classes, shape, normalisation, whether to augment), so adding a dataset is one
registry entry and nothing else changes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import torch

from analognas._errors import ConfigError, DataError
from analognas.data import _cifar, _fashion_mnist
from analognas.data._dataset import Dataset, RawData, Split, normalise
from analognas.data._subset import check_seed, check_size, stratified_indices


@dataclass(frozen=True)
class DatasetLoader:
    """Everything that distinguishes one dataset; calling it loads the dataset."""

    name: str
    classes: tuple[str, ...]
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: bool
    default_dir: Callable[[], Path]
    read: Callable[[Path, bool], RawData]

    def __call__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        train_size: int | None = None,
        test_size: int | None = None,
        seed: int = 0,
        download: bool = False,
    ) -> Dataset:
        seed = check_seed(seed)
        train_n = check_size(train_size, "train_size")
        test_n = check_size(test_size, "test_size")
        folder = self.default_dir() if data_dir is None else Path(data_dir).expanduser()
        raw = self.read(folder, bool(download))
        for part, images in (("train", raw.train_x), ("test", raw.test_x)):
            if images.shape[1:] != self.input_shape:
                raise DataError(f"{self.name} {part} images have shape {images.shape[1:]}, expected {self.input_shape}")
        # Independent streams: the train subset does not change when test_size does.
        train_rng, test_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
        return Dataset(
            name=self.name,
            train=self._split(raw.train_x, raw.train_y, train_n, train_rng, "train_size"),
            test=self._split(raw.test_x, raw.test_y, test_n, test_rng, "test_size"),
            classes=self.classes,
            input_shape=self.input_shape,
            augment=self.augment,
            mean=self.mean,
            std=self.std,
            seed=seed,
            source=raw.source,
            files=MappingProxyType(dict(raw.files)),
            train_available=int(raw.train_y.shape[0]),
            test_available=int(raw.test_y.shape[0]),
        )

    def _split(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        size: int | None,
        rng: np.random.Generator,
        what: str,
    ) -> Split:
        available = int(labels.shape[0])
        if size is not None and size > available:
            raise ConfigError(f"{what}={size} exceeds the {available} images available in {self.name}")
        if size is not None and size < available:
            index = stratified_indices(labels, size, rng)
            images, labels = images[index], labels[index]
        return Split(
            normalise(images, self.mean, self.std),
            torch.from_numpy(labels.astype(np.int64)),
        )


DATASETS: Mapping[str, DatasetLoader] = MappingProxyType(
    {
        "fashion-mnist": DatasetLoader(
            name="fashion-mnist",
            classes=_fashion_mnist.CLASSES,
            input_shape=(1, 28, 28),
            mean=_fashion_mnist.MEAN,
            std=_fashion_mnist.STD,
            augment=False,
            default_dir=lambda: _fashion_mnist.DEFAULT_DIR,
            read=_fashion_mnist.read_fashion_mnist,
        ),
        "cifar10": DatasetLoader(
            name="cifar10",
            classes=_cifar.CLASSES,
            input_shape=(3, 32, 32),
            mean=_cifar.MEAN,
            std=_cifar.STD,
            augment=True,
            default_dir=_cifar.default_dir,
            read=_cifar.read_cifar10,
        ),
    }
)

_ALIASES = {"fashionmnist": "fashion-mnist", "cifar-10": "cifar10"}


def get_loader(name: str) -> DatasetLoader:
    """Look a dataset up, forgiving case and ``_`` vs ``-``; unknown -> DataError listing names."""
    key = name.strip().lower().replace("_", "-") if isinstance(name, str) else ""
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(sorted(DATASETS))}")
    return DATASETS[key]


def default_data_dir(name: str) -> Path:
    """Where ``load_dataset(name)`` looks when no ``data_dir`` is given."""
    return get_loader(name).default_dir()


def load_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    seed: int = 0,
    download: bool = False,
) -> Dataset:
    """Load ``name`` as normalised in-memory tensors, optionally as balanced subsets.

    ``train_size``/``test_size`` None mean the full split; otherwise a class-balanced subset
    drawn with a numpy Generator seeded by ``seed``. ``download`` only applies to cifar10.
    """
    return get_loader(name)(
        data_dir,
        train_size=train_size,
        test_size=test_size,
        seed=seed,
        download=download,
    )
