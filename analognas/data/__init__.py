"""Datasets for architecture search: loaded once into memory, normalised, reproducible.

``load_dataset`` returns a ``Dataset`` whose splits are plain tensors; ``iterate_batches``
turns a split into (optionally shuffled and augmented) mini-batches driven by an explicit
``torch.Generator``.
"""

from __future__ import annotations

from analognas.data._batches import augment_batch, iterate_batches
from analognas.data._dataset import Dataset, Split
from analognas.data._registry import (
    DATASETS,
    DatasetLoader,
    default_data_dir,
    load_dataset,
)

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetLoader",
    "Split",
    "augment_batch",
    "default_data_dir",
    "iterate_batches",
    "load_dataset",
]
