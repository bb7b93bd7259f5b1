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

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from analognas._errors import ConfigError
from analognas.analog._noise import NoiseSource
from analognas.analog._periphery import (
    ConvOp,
    FastTile,
    LinearOp,
    Op,
    Periphery,
    RangeGrad,
    TileMVM,
    fast_tile_forward,
)
from analognas.analog._recipe import CalibrationRule, HWARecipe, WeightClipType, WeightNoiseType, WeightScaling
from analognas.analog._tiles import TileLayout, make_layout
from analognas.analog._unfold import ConvUnfold, LinearUnfold, kernel_mask_for

EXTRA_STATE_SUFFIXES = ("input_range", "input_range_init_count")
"""state_dict entries that analog layers add to their digital counterparts."""


@dataclass
class ProgrammedTiles:
    """A layer's weights as read from the chip at one time (set by a drift session)."""

    weights: list[torch.Tensor]
    """Per input tile: effective logical weights ``am * alpha * Wn_drifted`` (masked)."""
    tiles: list[FastTile]
    """Per input tile: the same, prepared for ``fast_tile_forward`` (``s = r * am * alpha``)."""
    noise: NoiseSource
    """Per-forward noise of the session."""
    folded: torch.Tensor | None = None
    """All tiles summed into one weight when the periphery is ideal (exact fold)."""


@dataclass
class AnalogState:
    """Non-tensor configuration of one analog layer (kept out of the state_dict)."""

    recipe: HWARecipe
    periphery: Periphery
    layout: TileLayout
    op: Op
    noise: NoiseSource
    """Training/eval noise: weight noise uses its generator, output noise its bank."""
    pre_pad: tuple[tuple[int, ...], str] | None
    """``(pad, mode)`` applied before the tiles when padding is not plain symmetric zeros."""
    unfolds: list[Any]
    rgrad: RangeGrad
    program: ProgrammedTiles | None = None
    calibration: list[list[Any]] | None = None
    """Per input tile, one statistic per calibration batch (see ``_calibrate_step``)."""
    out_index: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long))


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


# ------------------------------------------------------------------------------ forward


def analog_forward(module: nn.Conv2d | nn.Linear, x: torch.Tensor) -> torch.Tensor:
    st: AnalogState = module._analog  # type: ignore[assignment]
    if st.calibration is not None:
        _calibrate_step(module, st, x)
        return _digital(module, x)
    if st.program is not None:
        return _programmed_forward(module, st, x)
    recipe = st.recipe
    if not recipe.trains_analog:
        return _digital(module, x)

    if st.pre_pad is not None:
        x = F.pad(x, st.pre_pad[0], mode=st.pre_pad[1])
    weight = module.weight
    noisy = module.training and recipe.weight_noise.type is WeightNoiseType.ADD_NORMAL
    p = st.periphery
    ideal_io = not p.clip_input and not p.touches_output and p.d_in == 0
    tile_max = tile_abs_max(module) if (noisy or not ideal_io) else None
    if noisy:
        assert tile_max is not None
        weight = weight + _weight_noise(module, tile_max)
    if ideal_io:
        return _add_bias(module, st.op.forward(x, weight))
    if module.training and recipe.input_range.enable:
        _init_from_data(module, st, x)

    assert tile_max is not None
    safe_max = torch.where(tile_max > 0, tile_max, torch.ones_like(tile_max))  # aihwkit: alpha 0 -> 1
    grad_on = torch.is_grad_enabled()
    ranges = module.input_range  # HWARecipe guarantees ranges for any non-ideal periphery
    y: torch.Tensor | None = None
    for i, tile in enumerate(st.layout.in_tiles):
        x_i = _slice_input(module, x, tile)
        w_i = _slice_weight(module, weight, tile)
        r_i = ranges[i : i + 1]
        s_i = _out_scale(st, safe_max[i]) * r_i.detach()  # s = r * max|W_tile|, per output
        if grad_on and (x_i.requires_grad or w_i.requires_grad or r_i.requires_grad):
            y_i = TileMVM.apply(x_i, w_i, r_i, s_i, p, st.op, st.noise, st.rgrad, st.unfolds[i])
        else:
            with torch.no_grad():
                fast = FastTile.build(w_i, r_i.detach(), s_i, p)
                y_i = fast_tile_forward(x_i, fast, p, st.op, st.noise)
        y = y_i if y is None else y + y_i
    assert y is not None
    return _add_bias(module, y)


def _digital(module: nn.Conv2d | nn.Linear, x: torch.Tensor) -> torch.Tensor:
    if isinstance(module, nn.Conv2d):
        return nn.Conv2d.forward(module, x)
    return nn.Linear.forward(module, x)


def _add_bias(module: nn.Conv2d | nn.Linear, y: torch.Tensor) -> torch.Tensor:
    if module.bias is None:
        return y
    if isinstance(module, nn.Conv2d):
        return y + module.bias.view((-1, 1, 1) if y.dim() == 3 else (1, -1, 1, 1))
    return y + module.bias


def _slice_input(module: nn.Module, x: torch.Tensor, tile: Any) -> torch.Tensor:
    layout: TileLayout = module._analog.layout  # type: ignore[union-attr]
    if len(layout.in_tiles) == 1:
        return x
    if isinstance(module, nn.Conv2d):
        return x[:, tile.c_lo : tile.c_hi] if x.dim() == 4 else x[tile.c_lo : tile.c_hi]
    return x[..., tile.c_lo : tile.c_hi]


def _slice_weight(module: nn.Module, weight: torch.Tensor, tile: Any) -> torch.Tensor:
    layout: TileLayout = module._analog.layout  # type: ignore[union-attr]
    if len(layout.in_tiles) == 1:
        return weight
    w = weight[:, tile.c_lo : tile.c_hi]
    if tile.mask is not None:
        w = w * tile.mask.to(w.dtype)
    return w


def _out_scale(st: AnalogState, per_unit: torch.Tensor) -> torch.Tensor:
    """One input tile's scales -> one value (a single scale) or one per output: per output
    column already under column-wise scaling, else ``(n_out_tiles,)`` spread to outputs."""
    if per_unit.numel() == 1:
        return per_unit.reshape(1)
    if columnwise(st):
        return per_unit
    return per_unit[st.out_index.to(per_unit.device)]


def columnwise(st: AnalogState) -> bool:
    """Whether each output column of a tile has its own conductance scale (recipe v2)."""
    return st.recipe.mapping.weight_scaling is WeightScaling.COLUMN


@torch.no_grad()
def tile_abs_max(module: nn.Conv2d | nn.Linear) -> torch.Tensor:
    """The values mapped to ``g_max``: ``(n_in_tiles, n_out_tiles)`` max|W| of each tile
    (aihwkit ``weight_scaling_omega=1`` with per-step ``LAYERWISE_SYMMETRIC`` remap), or
    under column-wise scaling ``(n_in_tiles, out_features)`` max|W| of each column of each
    tile (``weight_scaling_columnwise`` with ``CHANNELWISE_SYMMETRIC`` remap)."""
    st: AnalogState = module._analog  # type: ignore[assignment]
    w2 = module.weight.detach().reshape(module.weight.shape[0], -1).abs()
    cols = columnwise(st)
    width = w2.shape[0] if cols else len(st.layout.out_bounds)
    out = torch.empty(len(st.layout.in_tiles), width, dtype=w2.dtype, device=w2.device)
    for i, tile in enumerate(st.layout.in_tiles):
        rows = w2[:, tile.start : tile.stop].amax(dim=1)
        if cols:
            out[i] = rows
            continue
        for j, (a, b) in enumerate(st.layout.out_bounds):
            out[i, j] = rows[a:b].max()
    return out


def _weight_noise(module: nn.Conv2d | nn.Linear, tile_max: torch.Tensor) -> torch.Tensor:
    """ADD_NORMAL: N(0, (std_dev * max|W_tile|)^2), fresh each call, no gradient."""
    st: AnalogState = module._analog  # type: ignore[assignment]
    w = module.weight
    std = st.recipe.weight_noise.std_dev
    # drawn on the CPU generator whatever the device: the same noise on CPU and CUDA
    noise = torch.empty(w.shape, dtype=w.dtype).normal_(generator=st.noise.generator).to(w.device)
    if tile_max.numel() == 1:
        return noise.mul_(std * float(tile_max))
    layout = st.layout
    col_tile = torch.empty(layout.in_features, dtype=torch.long)
    for i, tile in enumerate(layout.in_tiles):
        col_tile[tile.start : tile.stop] = i
    col_tile = col_tile.to(tile_max.device)
    if columnwise(st):  # tile_max[in_tile, output]
        scale = tile_max.T[:, col_tile] * std
    else:
        scale = tile_max[col_tile[None, :], st.out_index.to(tile_max.device)[:, None]] * std
    return noise.view(w.shape[0], -1).mul_(scale.to(w.dtype)).view(w.shape)


@torch.no_grad()
def _init_from_data(module: nn.Module, st: AnalogState, x: torch.Tensor) -> None:
    """aihwkit ``apply_input_range(update_from_data=True)``: running mean of
    ``init_std_alpha * std(unfolded tile input)`` over the first ``init_from_data`` batches."""
    ir = st.recipe.input_range
    counts = module.input_range_init_count
    if ir.init_from_data <= 0 or bool((counts >= ir.init_from_data).all()):
        return
    ranges = module.input_range
    for i, tile in enumerate(st.layout.in_tiles):
        idx = float(counts[i])
        if idx >= ir.init_from_data:
            continue
        std = st.unfolds[i].std(_slice_input(module, x, tile))
        if std > 0.0:
            ranges.data[i] = (ranges.data[i] * idx + ir.init_std_alpha * std) / (idx + 1)
            counts[i] += 1
        ranges.data[i] = ranges.data[i].abs()


@torch.no_grad()
def _calibrate_step(module: nn.Module, st: AnalogState, x: torch.Tensor) -> None:
    assert st.calibration is not None
    if st.pre_pad is not None:
        x = F.pad(x, st.pre_pad[0], mode=st.pre_pad[1])
    rule = st.recipe.input_range.calibration
    for i, tile in enumerate(st.layout.in_tiles):
        x_i = _slice_input(module, x, tile)
        if rule is CalibrationRule.STD:
            st.calibration[i].append(st.unfolds[i].std(x_i))
        elif rule is CalibrationRule.MAX:
            st.calibration[i].append(float(x_i.abs().max()) if x_i.numel() else 0.0)
        else:
            st.calibration[i].append(_abs_sample(x_i, len(st.calibration[i])))


_SAMPLE_PER_BATCH = 1 << 17


def _abs_sample(x: torch.Tensor, batch: int) -> torch.Tensor:
    """``|x|`` of a tile input, or a seeded uniform sample of it for large inputs: the
    percentile rule then needs bounded memory. Pixels, not unfolded copies: each pixel
    appears in (almost) the same number of kernel windows, so the law is the same."""
    flat = x.detach().reshape(-1).abs().float()
    if flat.numel() <= _SAMPLE_PER_BATCH:
        return flat.cpu().clone()
    gen = torch.Generator().manual_seed(batch)
    return flat[torch.randint(flat.numel(), (_SAMPLE_PER_BATCH,), generator=gen).to(flat.device)].cpu()


@torch.no_grad()
def _programmed_forward(module: nn.Conv2d | nn.Linear, st: AnalogState, x: torch.Tensor) -> torch.Tensor:
    prog = st.program
    assert prog is not None
    if st.pre_pad is not None:
        x = F.pad(x, st.pre_pad[0], mode=st.pre_pad[1])
    if prog.folded is not None:
        return _add_bias(module, st.op.forward(x, prog.folded))
    y: torch.Tensor | None = None
    for i, tile in enumerate(st.layout.in_tiles):
        y_i = fast_tile_forward(_slice_input(module, x, tile), prog.tiles[i], st.periphery, st.op, prog.noise)
        y = y_i if y is None else y.add_(y_i)
    assert y is not None
    return _add_bias(module, y)


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
