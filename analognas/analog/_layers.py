"""Analog-aware ``nn.Conv2d`` / ``nn.Linear``: same parameters, same state_dict keys.

``AnalogConv2d`` and ``AnalogLinear`` *are* ``nn.Conv2d`` / ``nn.Linear`` (subclasses that
share the original ``weight``/``bias`` Parameter objects), so a digital checkpoint loads
into them and their weights load back into a digital model. The only extra state is the
per-input-tile input range, stored as ``<layer>.input_range`` (Parameter, one value per
input tile) and ``<layer>.input_range_init_count`` (how many batches initialised it);
both are optional when loading: absent keys leave the layer uncalibrated (see
``calibrate_input_ranges``).

Forward, by mode:

* ``train()``: HWA forward: weight noise, input range (learned), DAC, crossbar as a native
  conv per input tile, output noise, ADC; aihwkit's gradients (``_periphery``).
* ``eval()``: the same periphery on the clean weights (aihwkit's ``is_test`` forward).
* inside ``analog_inference``: programmed, drifted, compensated weights.
* recipe ``none`` (outside a session): exactly the digital layer.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from analognas._errors import ConfigError
from analognas.analog._noise import NoiseSource
from analognas.analog._periphery import ConvOp, LinearOp, Op, Periphery
from analognas.analog._recipe import HWARecipe, WeightClipType
from analognas.analog._tile_forward import (
    AnalogState,
    analog_forward,
)
from analognas.analog._tile_mvm import RangeGrad
from analognas.analog._tiles import make_layout
from analognas.analog._unfold import ConvUnfold, LinearUnfold, kernel_mask_for

EXTRA_STATE_SUFFIXES = ("input_range", "input_range_init_count")
"""state_dict entries that analog layers add to their digital counterparts."""


def _setup(module: nn.Conv2d | nn.Linear, recipe: HWARecipe, noise: NoiseSource) -> None:
    weight = module.weight
    if isinstance(module, nn.Conv2d):
        kernel = tuple(module.kernel_size)
        cin = module.in_channels // module.groups
        pre_pad, padding = _conv_padding(module)
        op: Op = ConvOp(tuple(module.stride), padding, tuple(module.dilation), module.groups)  # type: ignore[arg-type]
    else:
        kernel, cin, pre_pad, op = (), module.in_features, None, LinearOp()
    layout = make_layout(
        weight.shape[0], cin, kernel, recipe.mapping.max_input_size, recipe.mapping.max_output_size
    )
    if isinstance(module, nn.Conv2d) and module.groups > 1 and len(layout.in_tiles) > 1:
        raise ConfigError(
            f"grouped conv with {layout.in_features} inputs per group exceeds one tile "
            f"({recipe.mapping.max_input_size} rows); aihwkit cannot map it either"
        )
    unfolds: list[Any] = []
    out_index = layout.out_index() if len(layout.out_bounds) > 1 else None
    for tile in layout.in_tiles:
        if isinstance(op, ConvOp):
            # a grouped conv is one tile reading all input channels (each in its group)
            span = module.in_channels if op.groups > 1 else tile.c_hi - tile.c_lo  # type: ignore[union-attr]
            km = kernel_mask_for(span, kernel, tile.mask)  # type: ignore[arg-type]
            unfolds.append(ConvUnfold(km, op.stride, op.padding, op.dilation, op.groups, out_index))
        else:
            unfolds.append(LinearUnfold(out_index))
    ir = recipe.input_range
    module._analog = AnalogState(  # type: ignore[assignment]
        recipe=recipe,
        periphery=Periphery.from_recipe(recipe),
        layout=layout,
        op=op,
        noise=noise,
        pre_pad=pre_pad,
        unfolds=unfolds,
        rgrad=RangeGrad(
            ir.gradient_relative, ir.gradient_scale, ir.decay, ir.input_min_percentage, len(layout.out_bounds)
        ),
        out_index=layout.out_index(),
    )
    if ir.enable:
        n = len(layout.in_tiles)
        module.input_range = nn.Parameter(
            torch.full((n,), ir.init_value, dtype=weight.dtype, device=weight.device), requires_grad=ir.learn
        )
        module.register_buffer("input_range_init_count", torch.zeros(n, device=weight.device))


def _conv_padding(conv: nn.Conv2d) -> tuple[tuple[tuple[int, ...], str] | None, tuple[int, int]]:
    """Numeric symmetric padding for the tiles, plus an explicit pre-pad when needed."""
    if conv.padding_mode != "zeros":
        return (tuple(conv._reversed_padding_repeated_twice), conv.padding_mode), (0, 0)
    if conv.padding == "valid":
        return None, (0, 0)
    if conv.padding == "same":
        pads = []
        for k, d in zip(reversed(conv.kernel_size), reversed(conv.dilation), strict=True):
            total = d * (k - 1)
            pads += [total // 2, total - total // 2]
        if pads[0] == pads[1] and pads[2] == pads[3]:
            return None, (pads[2], pads[0])
        return (tuple(pads), "constant"), (0, 0)
    return None, tuple(conv.padding)  # type: ignore[return-value]


# ------------------------------------------------------------------------------ layers


def _load_extra_state(
    module: nn.Module, state_dict: dict[str, Any], prefix: str, missing_keys: list[str]
) -> None:
    """After the normal load: absent input-range keys are fine (digital checkpoint); the
    layer is then reset to 'uncalibrated' instead of keeping stale ranges."""
    if getattr(module, "input_range", None) is None:
        return
    key_r, key_n = prefix + "input_range", prefix + "input_range_init_count"
    if key_r not in state_dict:
        with torch.no_grad():
            module.input_range.fill_(module._analog.recipe.input_range.init_value)
            module.input_range_init_count.zero_()
    elif key_n not in state_dict:
        # ranges given without a count: treat them as fully initialised
        with torch.no_grad():
            module.input_range_init_count.fill_(float(module._analog.recipe.input_range.init_from_data))
    for key in (key_r, key_n):
        if key in missing_keys and key not in state_dict:
            missing_keys.remove(key)


class AnalogConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose forward simulates AIMC tiles (see module docstring)."""

    _analog: AnalogState

    @classmethod
    def from_digital(
        cls, conv: nn.Conv2d, recipe: HWARecipe, noise: NoiseSource
    ) -> AnalogConv2d:
        """Wrap ``conv`` sharing its Parameters (optimizer state stays valid)."""
        new = _rebind(conv, cls)
        _setup(new, recipe, noise)
        return new  # type: ignore[return-value]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return analog_forward(self, x)

    def to_digital(self) -> nn.Conv2d:
        """Plain ``nn.Conv2d`` sharing this layer's weight and bias."""
        return _unbind(self, nn.Conv2d)  # type: ignore[return-value]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, recipe={self._analog.recipe.name}, tiles={self._analog.layout.n_tiles}"

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):  # type: ignore[no-untyped-def]  # noqa: E501
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
        _load_extra_state(self, state_dict, prefix, missing_keys)


class AnalogLinear(nn.Linear):
    """``nn.Linear`` whose forward simulates AIMC tiles (see module docstring)."""

    _analog: AnalogState

    @classmethod
    def from_digital(
        cls, linear: nn.Linear, recipe: HWARecipe, noise: NoiseSource
    ) -> AnalogLinear:
        """Wrap ``linear`` sharing its Parameters (optimizer state stays valid)."""
        new = _rebind(linear, cls)
        _setup(new, recipe, noise)
        return new  # type: ignore[return-value]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return analog_forward(self, x)

    def to_digital(self) -> nn.Linear:
        """Plain ``nn.Linear`` sharing this layer's weight and bias."""
        return _unbind(self, nn.Linear)  # type: ignore[return-value]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, recipe={self._analog.recipe.name}, tiles={self._analog.layout.n_tiles}"

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):  # type: ignore[no-untyped-def]  # noqa: E501
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
        _load_extra_state(self, state_dict, prefix, missing_keys)


AnalogLayer = AnalogConv2d | AnalogLinear


def _rebind(module: nn.Module, cls: type) -> nn.Module:
    """A ``cls`` instance with ``module``'s attributes, Parameters and hooks (shared)."""
    new = cls.__new__(cls)
    new.__dict__ = dict(module.__dict__)
    for name in ("_parameters", "_buffers", "_modules", "_non_persistent_buffers_set"):
        if name in new.__dict__:
            new.__dict__[name] = type(module.__dict__[name])(module.__dict__[name])
    return new


def _unbind(module: nn.Module, cls: type) -> nn.Module:
    new = _rebind(module, cls)
    new.__dict__.pop("_analog", None)
    new._parameters.pop("input_range", None)
    new._buffers.pop("input_range_init_count", None)
    return new


def is_analog(module: nn.Module) -> bool:
    return isinstance(module, (AnalogConv2d, AnalogLinear))


def apply_clip(module: AnalogConv2d | AnalogLinear) -> int:
    """Gaussian clip in place, of every tile block (LAYER_GAUSSIAN) or of every column of
    every tile (COLUMN_GAUSSIAN); returns the tiles clipped."""
    clip = module._analog.recipe.clip
    if clip.type is WeightClipType.NONE:
        return 0
    layout = module._analog.layout
    with torch.no_grad():
        w = module.weight
        w2 = w.view(w.shape[0], -1) if w.is_contiguous() else w.reshape(w.shape[0], -1)
        for tile in layout.in_tiles:
            if clip.type is WeightClipType.COLUMN_GAUSSIAN:
                block = w2[:, tile.start : tile.stop]
                if block.shape[1] < 2:
                    continue
                alpha = block.std(dim=1, keepdim=True) * clip.sigma
                block.copy_(torch.minimum(torch.maximum(block, -alpha), alpha))
                continue
            for a, b in layout.out_bounds:
                block = w2[a:b, tile.start : tile.stop]
                if block.numel() < 2:
                    continue
                alpha = float(block.std()) * clip.sigma
                block.clamp_(-alpha, alpha)
        if not w.is_contiguous():
            w.copy_(w2.view(w.shape))
    return layout.n_tiles
