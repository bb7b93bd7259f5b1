"""The one place a spec becomes a module."""

from __future__ import annotations

from torch import nn

from analognas._errors import SpecError
from analognas.models._blocks import SpecNet
from analognas.space import ArchSpec


def build_model(spec: ArchSpec, input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10) -> nn.Module:
    """Build the plain PyTorch network described by `spec`.

    Any (C, H, W) input works: stages after the first halve the resolution, and the global
    average pool makes the head independent of the final size. Raises `SpecError` when the
    input is too small for the number of downsampling stages.
    """
    c, h, w = input_shape
    if min(c, h, w) < 1 or num_classes < 1:
        raise SpecError(f"invalid input shape {input_shape} or class count {num_classes}")
    from analognas.space import cost
    from analognas.space._spec import LIMITS

    params = cost(spec, input_shape, num_classes).params  # counted from the spec, nothing allocated
    if params > LIMITS["params"]:
        raise SpecError(f"{spec.label} has {params:,} parameters, over the limit of {LIMITS['params']:,}")
    return SpecNet(spec.to_dict(include_name=False), in_channels=c, num_classes=num_classes)
