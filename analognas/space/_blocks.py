"""Block types as data: each declares its weight layers once (timm byobnet style).

A ``BlockDef`` says, for one branch of a residual block with ``cin`` inputs, ``cout``
outputs, a stride and the spec's bottleneck ``expansion``, which convolutions it holds
(name suffix, channels, kernel, stride, groups, and whether the layer runs at the block's
input resolution), and how many weight layers it puts on the longest path. The cost model
(params, MACs, tiles), ``depth`` and the encoding ask this registry; the torch module of a
block type is registered beside it in ``analognas.models`` (``register_branch``), which is
the only place specs become modules. A new block type is one ``register_block`` here and
one ``register_branch`` there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from analognas._errors import SpecError


@dataclass(frozen=True)
class LayerRow:
    """One convolution of a branch."""

    suffix: str
    """Module name inside the branch (``conv1`` ...): the builder must use the same."""
    cin: int
    cout: int
    kernel: int
    stride: int = 1
    groups: int = 1
    at_input: bool = False
    """Output at the block's input resolution (a layer before the strided one)."""


@dataclass(frozen=True)
class BlockDef:
    name: str
    depth: int
    """Weight layers this block adds to the longest input-to-output path."""
    layers: Callable[[int, int, int, int], tuple[LayerRow, ...]]
    """``(cin, cout, stride, expansion) -> rows`` of one branch, in module order."""
    short: str = ""
    """Label in compact tables (default: the name)."""
    doc: str = ""
    counts_as: str = "bottleneck"
    """Which block count of the surrogate's encoding this type adds to: ``"basic"`` (full-width
    3x3 pairs) or ``"bottleneck"`` (everything that narrows or mixes with 1x1 convolutions).
    The encoding keeps these two columns per level so every fitted surrogate's schema stays
    valid when a block type is registered; a new type says which it resembles."""


BLOCKS: dict[str, BlockDef] = {}
ENCODING_KINDS = ("basic", "bottleneck")


def register_block(block: BlockDef) -> BlockDef:
    """Add (or replace) a block type; returns it."""
    if not block.name or not block.name.replace("_", "").isalnum():
        raise SpecError(f"block type names are letters, digits and '_', got {block.name!r}")
    if block.depth < 1:
        raise SpecError(f"block type {block.name!r}: depth must be >= 1")
    if block.counts_as not in ENCODING_KINDS:
        kinds = ", ".join(ENCODING_KINDS)
        raise SpecError(f"block type {block.name!r}: counts_as must be one of {kinds}, got {block.counts_as!r}")
    BLOCKS[block.name] = block
    return block


def get_block(name: str) -> BlockDef:
    try:
        return BLOCKS[str(name)]
    except KeyError:
        raise SpecError(f"block must be one of {', '.join(map(repr, BLOCKS))}, got {name!r}") from None


def bottleneck_mid(cout: int, expansion: int) -> int:
    """Inner width of a bottleneck branch."""
    return max(1, cout // expansion)


register_block(
    BlockDef(
        "basic",
        depth=2,
        layers=lambda cin, cout, stride, expansion: (
            LayerRow("conv1", cin, cout, 3, stride),
            LayerRow("conv2", cout, cout, 3),
        ),
        short="basic",
        counts_as="basic",
        doc="Two 3x3 convolutions (He et al. 2016).",
    )
)
register_block(
    BlockDef(
        "bottleneck",
        depth=3,
        layers=lambda cin, cout, stride, expansion: (
            LayerRow("conv1", cin, bottleneck_mid(cout, expansion), 1, at_input=True),
            LayerRow("conv2", bottleneck_mid(cout, expansion), bottleneck_mid(cout, expansion), 3, stride),
            LayerRow("conv3", bottleneck_mid(cout, expansion), cout, 1),
        ),
        short="bneck",
        doc="1x1 reduce -> 3x3 -> 1x1 expand; the inner width is `width // expansion`.",
    )
)
