"""Search spaces and architecture specs: pure data, no torch.

Everything here is cheap to import, so a surrogate-only search never pays for torch.
"""

from __future__ import annotations

from analognas.space._blocks import BLOCKS, BlockDef, LayerRow, get_block, register_block
from analognas.space._cost import (
    DEFAULT_TILE_SIZE,
    Cost,
    LayerShape,
    cost,
    count_macs,
    count_params,
    count_tiles,
    depth,
    iter_layers,
)
from analognas.space._encoding import encode, encode_many, feature_names
from analognas.space._space import SPACES_DIR, Choice, Constraints, IntRange, SearchSpace, param_name
from analognas.space._space_file import load_space, space_from_dict
from analognas.space._spec import LIMITS, ArchSpec, BlockType, Shortcut, StageSpec

__all__ = [
    "BLOCKS",
    "DEFAULT_TILE_SIZE",
    "LIMITS",
    "SPACES_DIR",
    "ArchSpec",
    "BlockDef",
    "BlockType",
    "Choice",
    "Constraints",
    "Cost",
    "IntRange",
    "LayerRow",
    "LayerShape",
    "SearchSpace",
    "Shortcut",
    "StageSpec",
    "cost",
    "count_macs",
    "count_params",
    "count_tiles",
    "depth",
    "encode",
    "encode_many",
    "feature_names",
    "get_block",
    "iter_layers",
    "load_space",
    "param_name",
    "register_block",
    "space_from_dict",
]
