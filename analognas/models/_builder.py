"""The one place a spec becomes a module."""

from __future__ import annotations

from torch import nn

from analognas._errors import SpecError
from analognas.models._blocks import BRANCHES, SpecNet
from analognas.space import ArchSpec, get_block

_BUILT_IN = frozenset(BRANCHES)
"""Block types whose modules live in `_blocks.py` (and so in every exported file)."""


def register_branch(name: str, factory) -> None:  # type: ignore[no-untyped-def]
    """Register the torch module of a block type declared with
    ``analognas.space.register_block``: ``factory(cin, cout, stride, expansion)`` returns one
    branch whose convolutions carry the block's ``LayerRow`` suffixes as attribute names."""
    get_block(name)  # the layer declaration must exist first: cost model and builder agree
    BRANCHES[name] = factory


def is_built_in(block: str) -> bool:
    """Whether `block`'s module source is part of `_blocks.py` (exportable)."""
    return str(block) in _BUILT_IN


def build_model(spec: ArchSpec, input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10) -> nn.Module:
    """Build the plain PyTorch network described by `spec`.

    Any (C, H, W) input works: stages after the first halve the resolution, and the global
    average pool makes the head independent of the final size. Raises `SpecError` when the
    input is too small for the number of downsampling stages.
    """
    c, h, w = input_shape
    if min(c, h, w) < 1 or num_classes < 1:
        raise SpecError(f"invalid input shape {input_shape} or class count {num_classes}")
    from analognas.space import LIMITS, cost

    for st in spec.stages:
        if str(st.block) not in BRANCHES:
            raise SpecError(f"block type {str(st.block)!r} has no module; call register_branch({str(st.block)!r}, ...)")
    params = cost(spec, input_shape, num_classes).params  # counted from the spec, nothing allocated
    if params > LIMITS["params"]:
        raise SpecError(f"{spec.label} has {params:,} parameters, over the limit of {LIMITS['params']:,}")
    return SpecNet(spec.to_dict(include_name=False), in_channels=c, num_classes=num_classes)
