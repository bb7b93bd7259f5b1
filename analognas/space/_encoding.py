"""Fixed-length numeric encoding of specs, for surrogates.

Specs have 1..M stages, but a regressor needs one vector length. Padding missing stages
with zeros (IBM's analog-nas) tells the model "a stage with 0 channels and 0 blocks of
type 0", a network that does not exist. Here every feature is a true property of the
network:

* global features: stage count, stem, depth, totals, log params/MACs, tiles;
* per resolution level l (1..max_stages, level l works at 1/2**(l-1) of the input size):
  the *counts* of basic and bottleneck blocks and of branch instances at that level and
  the parameters spent there. A level the network does not reach truly holds zero blocks
  and zero parameters, so zero is a count, not a placeholder;
* the channel width *carried* through level l: the width of the tensor at that level, and
  for levels past the last stage the width the head receives. It is never 0.
"""

from __future__ import annotations

import math

import numpy as np

from analognas.space._blocks import get_block
from analognas.space._cost import iter_layers
from analognas.space._spec import ArchSpec

GLOBAL_FEATURES = (
    "n_stages",
    "log2_stem_width",
    "stem_kernel",
    "depth",
    "blocks_total",
    "branch_instances_total",
    "bottleneck_fraction",
    "log2_final_width",
    "log10_params",
    "log10_macs",
    "tiles",
)
LEVEL_FEATURES = ("basic_blocks", "bottleneck_blocks", "branch_instances", "log2_width", "log10_1p_params")


def feature_names(max_stages: int) -> tuple[str, ...]:
    per_level = tuple(f"L{lvl + 1}_{f}" for lvl in range(max_stages) for f in LEVEL_FEATURES)
    return GLOBAL_FEATURES + per_level


def encode(
    spec: ArchSpec,
    max_stages: int,
    input_shape: tuple[int, int, int],
    num_classes: int,
    tile_size: tuple[int, int] = (512, 512),
) -> np.ndarray:
    """One spec -> float64 vector of length `len(feature_names(max_stages))`."""
    if spec.num_stages > max_stages:
        raise ValueError(f"spec has {spec.num_stages} stages, encoding allows {max_stages}")
    n_levels = max_stages
    level_params = [0] * (n_levels + 2)  # index 0 stem, 1..n stages, n+1 head
    params = macs = tiles = 0
    for layer in iter_layers(spec, input_shape, num_classes):
        p = layer.params + (2 * layer.out_channels if layer.kind == "conv" else 0)
        params += p
        macs += layer.macs
        tiles += layer.tiles(tile_size)
        if 0 <= layer.stage < spec.num_stages:
            level_params[layer.stage + 1] += p

    blocks_total = sum(s.blocks for s in spec.stages)
    bottlenecks = sum(s.blocks for s in spec.stages if get_block(s.block).counts_as == "bottleneck")
    depth = 2 + sum(s.blocks * get_block(s.block).depth for s in spec.stages)
    out = [
        spec.num_stages,
        math.log2(spec.stem_width),
        spec.stem_kernel,
        depth,
        blocks_total,
        sum(s.blocks * s.branches for s in spec.stages),
        bottlenecks / blocks_total,
        math.log2(spec.stages[-1].width),
        math.log10(params),
        math.log10(max(macs, 1)),
        tiles,
    ]
    for lvl in range(n_levels):
        if lvl < spec.num_stages:
            s = spec.stages[lvl]
            basic = s.blocks if get_block(s.block).counts_as == "basic" else 0
            out += [basic, s.blocks - basic, s.blocks * s.branches, math.log2(s.width)]
        else:
            out += [0, 0, 0, math.log2(spec.stages[-1].width)]
        out.append(math.log10(1 + level_params[lvl + 1]))
    return np.asarray(out, dtype=np.float64)


def encode_many(
    specs: list[ArchSpec],
    max_stages: int,
    input_shape: tuple[int, int, int],
    num_classes: int,
    tile_size: tuple[int, int] = (512, 512),
) -> np.ndarray:
    if not specs:
        return np.zeros((0, len(feature_names(max_stages))))
    return np.stack([encode(s, max_stages, input_shape, num_classes, tile_size) for s in specs])
