"""What an analog layer computes: its state, and the forward pass in every mode.

Training (weight noise, learned input ranges, DAC, crossbar, output noise, ADC, with
aihwkit's gradients), eval on the clean weights, calibration, and the programmed chip of a
drift session. ``_layers`` builds the state and wraps it in ``nn.Conv2d`` / ``nn.Linear``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from analognas.analog._noise import NoiseSource
from analognas.analog._periphery import FastTile, Op, Periphery, fast_tile_forward
from analognas.analog._recipe import CalibrationRule, HWARecipe, WeightNoiseType, WeightScaling
from analognas.analog._tile_mvm import RangeGrad, TileMVM
from analognas.analog._tiles import TileLayout


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
