"""Hardware cost of a spec computed from its shape alone (no torch).

The search asks for params, MACs and analog tiles thousands of times per second as
cheap constraints before the surrogate is consulted, and a surrogate-only search must
not pay torch's import. These formulas walk the same layer list the builder creates;
`tests/test_metrics.py` checks them against torch's own counters (`numel` and
`torch.utils.flop_counter`) for every registry entry and random samples, so the fast
path cannot silently drift from the reference.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from analognas.space._blocks import bottleneck_mid, get_block
from analognas.space._spec import ArchSpec, Shortcut

DEFAULT_TILE_SIZE = (512, 512)


@dataclass(frozen=True)
class LayerShape:
    """One analog-mappable layer (conv or linear) with its output resolution.

    `name` is the module path in the built network, e.g. `stages.1.0.branches.0.conv2`.
    """

    name: str
    kind: str  # "conv" | "linear"
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    out_h: int
    out_w: int
    stage: int  # -1 stem, 0.. stages, len(stages) head
    groups: int = 1

    @property
    def rows(self) -> int:
        """Crossbar rows = inputs of the weight matrix (in / groups * k * k)."""
        return self.in_channels // self.groups * self.kernel * self.kernel

    @property
    def cols(self) -> int:
        return self.out_channels

    @property
    def params(self) -> int:
        """Weights, plus the bias of the linear head (convs carry no bias, BN does)."""
        return self.rows * self.cols + (self.out_channels if self.kind == "linear" else 0)

    @property
    def macs(self) -> int:
        return self.rows * self.cols * self.out_h * self.out_w

    def tiles(self, tile_size: tuple[int, int] = DEFAULT_TILE_SIZE) -> int:
        return math.ceil(self.rows / tile_size[0]) * math.ceil(self.cols / tile_size[1])

    def utilisation(self, tile_size: tuple[int, int] = DEFAULT_TILE_SIZE) -> float:
        return (self.rows * self.cols) / (self.tiles(tile_size) * tile_size[0] * tile_size[1])


def _down(size: int, stride: int) -> int:
    # 3x3/pad 1, 1x1/pad 0 and [::2] subsampling all give ceil(size / stride).
    return -(-size // stride)


def bottleneck_width(spec: ArchSpec, width: int) -> int:
    return bottleneck_mid(width, spec.expansion)


def iter_layers(spec: ArchSpec, input_shape: tuple[int, int, int], num_classes: int) -> Iterator[LayerShape]:
    """Yield the conv/linear layers of the network the builder makes, in module order."""
    c, h, w = input_shape
    yield LayerShape("stem.conv", "conv", c, spec.stem_width, spec.stem_kernel, 1, h, w, -1)
    cin = spec.stem_width
    for i, stage in enumerate(spec.stages):
        for j in range(stage.blocks):
            stride = 2 if (i > 0 and j == 0) else 1
            ho, wo = _down(h, stride), _down(w, stride)
            prefix = f"stages.{i}.{j}"
            rows = get_block(stage.block).layers(cin, stage.width, stride, spec.expansion)
            for b in range(stage.branches):
                p = f"{prefix}.branches.{b}"
                for r in rows:
                    oh, ow = (h, w) if r.at_input else (ho, wo)
                    yield LayerShape(f"{p}.{r.suffix}", "conv", r.cin, r.cout, r.kernel, r.stride, oh, ow, i, r.groups)
            if (cin != stage.width or stride != 1) and spec.shortcut is Shortcut.PROJECTION:
                yield LayerShape(f"{prefix}.shortcut.conv", "conv", cin, stage.width, 1, stride, ho, wo, i)
            cin, h, w = stage.width, ho, wo
    yield LayerShape("head", "linear", cin, num_classes, 1, 1, 1, 1, len(spec.stages))


def count_params(spec: ArchSpec, input_shape: tuple[int, int, int], num_classes: int) -> int:
    """Trainable parameters: conv/linear weights, head bias, and BN scale+shift per channel."""
    total = 0
    for layer in iter_layers(spec, input_shape, num_classes):
        total += layer.params
        if layer.kind == "conv":
            total += 2 * layer.out_channels  # every conv is followed by a BatchNorm
    return total


def count_macs(spec: ArchSpec, input_shape: tuple[int, int, int], num_classes: int) -> int:
    """Multiply-accumulates of conv and linear layers for one image (BN/ReLU/adds excluded)."""
    return sum(layer.macs for layer in iter_layers(spec, input_shape, num_classes))


def count_tiles(
    spec: ArchSpec,
    input_shape: tuple[int, int, int],
    num_classes: int,
    tile_size: tuple[int, int] = DEFAULT_TILE_SIZE,
) -> int:
    """Analog crossbar tiles when each weight matrix (in*k*k rows x out cols) is tiled."""
    return sum(layer.tiles(tile_size) for layer in iter_layers(spec, input_shape, num_classes))


def depth(spec: ArchSpec) -> int:
    """Weight layers on the longest input-to-output path (ResNet32 -> 32)."""
    return 2 + sum(s.blocks * get_block(s.block).depth for s in spec.stages)


@dataclass(frozen=True)
class Cost:
    params: int
    macs: int
    tiles: int
    depth: int


def cost(
    spec: ArchSpec,
    input_shape: tuple[int, int, int],
    num_classes: int,
    tile_size: tuple[int, int] = DEFAULT_TILE_SIZE,
) -> Cost:
    """All cheap metrics in one walk over the layers."""
    params = macs = tiles = 0
    for layer in iter_layers(spec, input_shape, num_classes):
        params += layer.params + (2 * layer.out_channels if layer.kind == "conv" else 0)
        macs += layer.macs
        tiles += layer.tiles(tile_size)
    return Cost(params=params, macs=macs, tiles=tiles, depth=depth(spec))
