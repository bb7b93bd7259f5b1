"""Mini-batches from an in-memory split, with vectorised CIFAR-style augmentation.

Every random choice (order, crop offsets, flips) is drawn from the caller's
``torch.Generator``: two runs with equally seeded generators see identical batches, and
nothing touches torch's global RNG, which other code (weight init, noise models) relies on.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from analognas._errors import ConfigError
from analognas.data._dataset import Split


def augment_batch(x: torch.Tensor, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """Random crop after ``padding`` pixels of zero padding, then random horizontal flip.

    Returns a new tensor (the input is never modified). Inputs are already normalised, so
    zero padding fills with the dataset's mean colour rather than black; the difference
    from padding raw images is immaterial for training and keeps this function free of
    dataset statistics. Crops are gathered with one advanced-indexing call instead of a
    Python loop over images.
    """
    if x.ndim != 4:
        raise ConfigError(f"augment_batch needs (N, C, H, W) images, got shape {tuple(x.shape)}")
    n, _, h, w = x.shape
    if n == 0:
        return x.clone()
    padded = F.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=x.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (N, H, 1)
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (N, 1, W)
    batch = torch.arange(n, device=x.device)[:, None, None]
    # Advanced indices split by a slice put the broadcast (N, H, W) dims first: (N, H, W, C).
    cropped = padded[batch, :, rows, cols].permute(0, 3, 1, 2)
    flip = torch.rand(n, generator=generator, device=x.device) < 0.5
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped).contiguous()


def iterate_batches(
    split: Split,
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    augment: bool = False,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x, y)`` batches covering every sample once (the last batch may be short).

    ``shuffle`` and ``augment`` need an explicit ``generator``: silently falling back to the
    global RNG would make a run irreproducible without anyone noticing. Arguments are
    checked here, eagerly, not at the first ``next()``. Unshuffled, unaugmented batches are
    views of the split: do not modify them in place.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    if (shuffle or augment) and generator is None:
        raise ConfigError("shuffle/augment need an explicit torch.Generator (seeded by the caller)")
    return _batches(split, batch_size, shuffle, generator, augment, drop_last)


def _batches(
    split: Split,
    batch_size: int,
    shuffle: bool,
    generator: torch.Generator | None,
    augment: bool,
    drop_last: bool,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    n = len(split)
    order = torch.randperm(n, generator=generator) if shuffle else None
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        if order is None:
            xb = split.x[start : start + batch_size]
            yb = split.y[start : start + batch_size]
        else:
            index = order[start : start + batch_size]
            xb = split.x.index_select(0, index)
            yb = split.y.index_select(0, index)
        if augment:
            assert generator is not None  # checked in iterate_batches
            xb = augment_batch(xb, generator)
        yield xb, yb
