"""Where each crossbar tile sits inside a layer's weight tensor.

A layer's logical matrix is ``out x (in/groups * kh * kw)``, flattened in PyTorch's
``(channel, kh, kw)`` order, which is also ``F.unfold``'s column order and therefore what
aihwkit puts on its crossbars. aihwkit cuts it into *equal* parts along each axis
(``TileModuleArray.get_split_sizes``: 576 inputs -> 288 + 288, not 512 + 64); so do we.

Instead of unfolding, every input tile is run as a native convolution over the channels
it touches: ``x[:, c_lo:c_hi]`` against ``W[:, c_lo:c_hi]``. When a cut falls inside a
channel's kernel (e.g. 57 channels * 9 = 513 -> 257 + 256), the boundary channel is read
by both tiles and a 0/1 mask zeroes the kernel entries that belong to the other tile, so
each tile still computes exactly its own rows of the crossbar.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def split_sizes(size: int, max_size: int) -> list[int]:
    """aihwkit's rule: as few parts as possible, sizes differing by at most one."""
    if max_size <= 0 or size <= max_size:
        return [size]
    n = (size + max_size - 1) // max_size
    base, extra = divmod(size, n)
    return [base + (i < extra) for i in range(n)]


@dataclass(frozen=True)
class InTile:
    """One slice of the input axis (all out-tiles of that slice share it)."""

    start: int
    """First flattened input row (inclusive)."""
    stop: int
    """Last flattened input row (exclusive)."""
    c_lo: int
    """First input channel (or feature) read."""
    c_hi: int
    """One past the last input channel read."""
    mask: torch.Tensor | None
    """``(c_hi - c_lo, kh, kw)`` 0/1 mask of this tile's kernel entries, or None when the
    tile covers whole channels."""

    @property
    def size(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class TileLayout:
    """All tiles of one layer."""

    out_features: int
    in_features: int
    """Flattened input rows per output (``in/groups * kh * kw``)."""
    kernel: tuple[int, ...]
    """``(kh, kw)`` for conv, ``()`` for linear."""
    in_tiles: tuple[InTile, ...]
    out_bounds: tuple[tuple[int, int], ...]
    """``(start, stop)`` of each out-tile along the output axis."""

    @property
    def n_tiles(self) -> int:
        return len(self.in_tiles) * len(self.out_bounds)

    @property
    def kernel_numel(self) -> int:
        n = 1
        for k in self.kernel:
            n *= k
        return n

    def out_index(self) -> torch.Tensor:
        """``(out_features,)`` long tensor: which out-tile each output channel is on."""
        idx = torch.empty(self.out_features, dtype=torch.long)
        for j, (a, b) in enumerate(self.out_bounds):
            idx[a:b] = j
        return idx


def make_layout(
    out_features: int, in_channels: int, kernel: tuple[int, ...], max_in: int, max_out: int
) -> TileLayout:
    """Cut ``out x in_channels*prod(kernel)`` into tiles of at most ``max_in x max_out``."""
    knum = 1
    for k in kernel:
        knum *= k
    in_features = in_channels * knum
    tiles = []
    start = 0
    for size in split_sizes(in_features, max_in):
        stop = start + size
        c_lo, c_hi = start // knum, (stop - 1) // knum + 1
        mask = None
        if start % knum or stop % knum:
            flat = torch.zeros((c_hi - c_lo) * knum)
            flat[start - c_lo * knum : stop - c_lo * knum] = 1.0
            mask = flat.view(c_hi - c_lo, *kernel) if kernel else flat
        tiles.append(InTile(start, stop, c_lo, c_hi, mask))
        start = stop
    bounds = []
    start = 0
    for size in split_sizes(out_features, max_out):
        bounds.append((start, start + size))
        start += size
    return TileLayout(out_features, in_features, tuple(kernel), tuple(tiles), tuple(bounds))


def tile_block(weight2d: torch.Tensor, tile: InTile, out: tuple[int, int]) -> torch.Tensor:
    """The ``(rows, cols)`` crossbar block of a ``(out, in_features)`` weight view."""
    return weight2d[out[0] : out[1], tile.start : tile.stop]
