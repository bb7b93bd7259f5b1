"""Deterministic, class-balanced subsets.

Architecture search trains thousands of candidates on small subsets; a subset drawn
uniformly at random can be noticeably unbalanced at a few hundred images, which adds noise
to the ranking of architectures. Balancing per class removes that noise source, and taking
the rng as an argument keeps the choice reproducible from the caller's seed.
"""

from __future__ import annotations

import numpy as np

from analognas._errors import ConfigError


def check_size(value: object, what: str) -> int | None:
    """Type/range check that needs no data: None, or an int >= 1 (bools are not sizes)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{what} must be a whole number or None, got {value!r}")
    if value < 1:
        raise ConfigError(f"{what} must be at least 1, got {value}")
    return int(value)


def check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative whole number, got {seed!r}")
    return int(seed)


def balanced_quota(counts: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """How many items to take from each class: as equal as possible, capped by availability.

    Water-filling: share the remainder equally among classes that still have items; when
    the remainder is smaller than the number of such classes, the classes getting one extra
    item are drawn with ``rng`` (not "the first classes") so no class is systematically
    favoured.
    """
    quota = np.zeros_like(counts)
    remaining = size
    while remaining > 0:
        open_classes = np.flatnonzero(quota < counts)
        share = remaining // len(open_classes)
        if share == 0:
            chosen = rng.choice(open_classes, size=remaining, replace=False)
            quota[chosen] += 1
            break
        add = np.minimum(share, counts[open_classes] - quota[open_classes])
        quota[open_classes] += add
        remaining -= int(add.sum())
    return quota


def stratified_indices(labels: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of a class-balanced random subset of ``size`` items (size <= len(labels)).

    Sorted so the subset keeps the file's order; shuffling is the batch iterator's job.
    """
    _, inverse = np.unique(labels, return_inverse=True)
    counts = np.bincount(inverse)
    quota = balanced_quota(counts, size, rng)
    picked = [
        rng.choice(np.flatnonzero(inverse == k), size=int(q), replace=False) for k, q in enumerate(quota) if q > 0
    ]
    return np.sort(np.concatenate(picked))
