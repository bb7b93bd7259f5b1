"""One tile's analog MVM on native conv/linear: DAC -> crossbar -> output noise -> ADC.

aihwkit (``TorchInferenceTile`` + ``AnalogMVM``, noise/bound management off) computes,
per tile, in normalised units (``Wn = W / max|W_tile|``, ``am = max|W_tile|``)::

    xn = clamp(x, -r, r) / r                    # input range (pre_forward)
    xq = round(xn / d_in) * d_in                # DAC, d_in = 2 / inp_levels
    o  = xq @ Wn.T + out_noise * randn          # crossbar + output noise
    oq = clamp(round(o / d_out) * d_out, +-b)   # ADC, d_out = 2 b / out_levels
    y  = oq * r * am                            # digital periphery scales

We compute the same numbers without unfolding: with ``s = r * am`` (one value per output
channel), ``conv(r * xq, W) = s * (xq @ Wn.T)``, so the crossbar runs as one native conv on
the logical weights and the noise std and ADC step are simply multiplied by ``s``.
Drift compensation ``alpha`` folds into ``W`` and ``s`` the same way (exact, because it
multiplies the ADC output).

The autograd function with aihwkit's gradients is in ``_tile_mvm``; the elementwise
chains of the DAC and ADC run fused in C where they can (``_fused``, bit-identical).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from analognas.analog import _fused
from analognas.analog._noise import NoiseSource
from analognas.analog._recipe import HWARecipe


@dataclass(frozen=True)
class Periphery:
    """The recipe's periphery as plain floats, ready for the kernels."""

    d_in: float
    """DAC step in normalised units (aihwkit ``inp_res * 2 * inp_bound``); 0 = ideal."""
    d_out: float
    """ADC step in normalised units; 0 = ideal."""
    half_levels_out: int
    """Largest ADC code (levels / 2)."""
    out_bound: float
    """ADC saturation (0 = none)."""
    out_noise: float
    """Output noise std in normalised units."""
    clip_input: bool
    """Whether an input range clips and scales the input."""
    in_code_dtype: torch.dtype = torch.int8
    """Smallest integer type holding the DAC codes (kept for backward)."""

    @classmethod
    def from_recipe(cls, recipe: HWARecipe) -> Periphery:
        p = recipe.periphery
        d_in = 2.0 / p.inp_levels if p.inp_levels else 0.0
        # aihwkit: res = 1 / levels; res *= 2 * bound. Same float expression.
        d_out = (1.0 / p.out_levels) * (2.0 * p.out_bound) if p.out_levels else 0.0
        return cls(
            d_in=d_in,
            d_out=d_out,
            half_levels_out=p.out_levels // 2,
            out_bound=p.out_bound,
            out_noise=p.out_noise,
            clip_input=recipe.input_range.enable,
            in_code_dtype=torch.int8 if p.inp_levels // 2 <= 127 else torch.int16,
        )

    @property
    def touches_output(self) -> bool:
        return self.d_out > 0 or self.out_bound > 0 or self.out_noise > 0


@dataclass(frozen=True)
class LinearOp:
    """``F.linear`` and its two backward products."""

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return F.linear(x, w)

    def backward(
        self, g: torch.Tensor, x: torch.Tensor, w: torch.Tensor, need_x: bool, need_w: bool
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        gx = g @ w if need_x else None
        gw = g.reshape(-1, g.shape[-1]).T @ x.reshape(-1, x.shape[-1]) if need_w else None
        return gx, gw

    def channel_view(self, ndim: int) -> tuple[int, ...]:
        return (-1,)


@dataclass(frozen=True)
class ConvOp:
    """``F.conv2d`` with fixed geometry (padding already numeric) and its backward."""

    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, w, None, self.stride, self.padding, self.dilation, self.groups)

    def backward(
        self, g: torch.Tensor, x: torch.Tensor, w: torch.Tensor, need_x: bool, need_w: bool
    ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        unbatched = x.dim() == 3
        if unbatched:
            g, x = g.unsqueeze(0), x.unsqueeze(0)
        gx, gw, _ = torch.ops.aten.convolution_backward(
            g, x, w, None, list(self.stride), list(self.padding), list(self.dilation),
            False, [0, 0], self.groups, [need_x, need_w, False],
        )
        if unbatched and gx is not None:
            gx = gx.squeeze(0)
        return gx, gw

    def channel_view(self, ndim: int) -> tuple[int, ...]:
        return (-1, 1, 1) if ndim == 3 else (1, -1, 1, 1)


Op = LinearOp | ConvOp


def channel_dim(v: torch.Tensor, view: tuple[int, ...]) -> int:
    """The dimension of ``v`` that a per-channel ``s.view(view)`` runs along."""
    return v.dim() - len(view) + view.index(-1)


def fused_layout(v: torch.Tensor, s: torch.Tensor, op: Op, d_out: float) -> tuple[torch.Tensor, tuple[int, int, int]]:
    """What the fused ADC kernels take for ``v = s * o``: the flat per-channel ADC step
    ``s * d_out`` (one value for a scalar scale) and ``v`` as (outer, channels, inner)."""
    per_channel = s.numel() > 1
    step = s * d_out if per_channel else torch.tensor([float(s) * d_out])
    return step.reshape(-1), _fused.channel_shape(v, channel_dim(v, op.channel_view(v.dim())), per_channel)


def quantize_input(
    x: torch.Tensor, r: torch.Tensor, p: Periphery, keep_codes: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``r * DAC(clamp(x, -r, r) / r)`` as a new tensor (same op order as aihwkit), and
    optionally the integer DAC codes, from which backward rebuilds it exactly."""
    rv = float(r)
    if keep_codes and p.d_in > 0 and (lib := _fused.usable(strided=x)) is not None:
        return _fused.dac_train(lib, x, rv, p.d_in, p.in_code_dtype)
    xq = torch.clamp(x, -rv, rv)
    codes = None
    if p.d_in > 0:
        xq.div_(r).div_(p.d_in).round_()
        if keep_codes:
            codes = xq.to(p.in_code_dtype)
        xq.mul_(p.d_in * rv)
    return xq, codes


def crossbar_output(
    v: torch.Tensor,
    s: torch.Tensor,
    p: Periphery,
    op: Op,
    noise: NoiseSource,
    keep_codes: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """In place on ``v`` (= ``s * o``): output noise, ADC, bound. Returns ``(y, aux)``.

    With ``keep_codes``, ``aux`` is what backward needs: the int16 ADC codes before
    saturation (they give both the saturation mask and ``y``), or, without an ADC, the
    float output before the bound clamp.
    """
    view = op.channel_view(v.dim())
    per_channel = s.numel() > 1
    sv = s.view(view) if per_channel else s
    if keep_codes and p.d_out > 0 and (lib := _fused.usable(v, s)) is not None:
        n = noise.standard_normal(v.numel(), v.dtype, v.device) if p.out_noise > 0 else None
        step, shape = fused_layout(v, s, op, p.d_out)
        return v, _fused.adc_train(lib, v, n, s.reshape(-1), step, shape, p.out_noise, p.half_levels_out)
    if p.out_noise > 0:
        n = noise.standard_normal(v.numel(), v.dtype, v.device).view(v.shape)
        if per_channel:
            v.addcmul_(n, sv, value=p.out_noise)
        else:
            v.add_(n, alpha=p.out_noise * float(s))
        del n
    aux: torch.Tensor | None = None
    if p.d_out > 0:
        step = sv * p.d_out if per_channel else float(s) * p.d_out
        lim = p.half_levels_out
        v.div_(step).round_()
        if keep_codes:
            # one code beyond the range marks saturation (no gradient), as in aihwkit
            aux = v.clamp_(-lim - 1, lim + 1).to(torch.int16)
        v.clamp_(-lim, lim).mul_(step)
        return v, aux
    if keep_codes:
        aux = v.clone()
    if p.out_bound > 0:
        if per_channel:
            bound = sv * p.out_bound
            torch.minimum(v, bound, out=v)
            torch.maximum(v, -bound, out=v)
        else:
            v.clamp_(-float(s) * p.out_bound, float(s) * p.out_bound)
    return v, aux


@dataclass(frozen=True)
class FastTile:
    """A tile prepared for the no-grad forward: weights pre-scaled to *output units*.

    With ``u = s * d_out`` (ADC step in logical units, per output) the tile computes
    ``u * clamp(round(conv(k, w_unit) + (out_noise / d_out) * n), +-L)`` where ``k`` are
    the integer DAC codes and ``w_unit = w * (r * d_in) / u``: the same numbers as the
    generic path with three fewer passes over the activations, and the noise std becomes
    one scalar. Without an ADC the unit is ``s`` itself.
    """

    w_unit: torch.Tensor
    unit: torch.Tensor
    """``(1,)`` or ``(out,)``: multiplies the result back to logical units."""
    r: float | None
    """Input range (None: no input processing)."""

    @classmethod
    def build(cls, w: torch.Tensor, r: torch.Tensor | None, s: torch.Tensor, p: Periphery) -> FastTile:
        unit = s * p.d_out if p.d_out > 0 else s
        rv = None if r is None else float(r)
        gain = (rv * p.d_in) if (rv is not None and p.d_in > 0) else 1.0
        shape = (-1,) + (1,) * (w.dim() - 1)
        w_unit = w * (gain / unit).view(shape) if unit.numel() > 1 else w * (gain / float(unit))
        return cls(w_unit, unit, rv)


def fast_tile_forward(x: torch.Tensor, tile: FastTile, p: Periphery, op: Op, noise: NoiseSource) -> torch.Tensor:
    """No-grad tile MVM on a ``FastTile`` (see there)."""
    lib = _fused.usable(tile.unit, strided=x) if p.d_out > 0 else None
    if lib is not None:
        return _fast_tile_fused(lib, x, tile, p, op, noise)
    if tile.r is None:
        xin = x
    elif p.d_in > 0:
        lim_in = round(1.0 / p.d_in)
        xin = torch.mul(x, 1.0 / (tile.r * p.d_in)).round_().clamp_(-lim_in, lim_in)
    else:
        xin = torch.clamp(x, -tile.r, tile.r)
    v = op.forward(xin, tile.w_unit)
    del xin
    if p.out_noise > 0:
        sigma = p.out_noise / p.d_out if p.d_out > 0 else p.out_noise
        v.add_(noise.standard_normal(v.numel(), v.dtype, v.device).view(v.shape), alpha=sigma)
    if p.d_out > 0:
        v.round_().clamp_(-p.half_levels_out, p.half_levels_out)
    elif p.out_bound > 0:
        v.clamp_(-p.out_bound, p.out_bound)
    if tile.unit.numel() > 1:
        return v.mul_(tile.unit.view(op.channel_view(v.dim())))
    return v.mul_(float(tile.unit))


def _fast_tile_fused(
    lib: Any, x: torch.Tensor, tile: FastTile, p: Periphery, op: Op, noise: NoiseSource
) -> torch.Tensor:
    """``fast_tile_forward`` with its DAC and ADC chains fused (bit-identical)."""
    if tile.r is None:
        xin = x
    elif p.d_in > 0:
        xin = _fused.dac_eval(lib, x, 1.0 / (tile.r * p.d_in), round(1.0 / p.d_in))
    else:
        xin = torch.clamp(x, -tile.r, tile.r)
    v = op.forward(xin, tile.w_unit)
    del xin
    n = None
    if p.out_noise > 0:
        n = noise.standard_normal(v.numel(), v.dtype, v.device)
    if not v.is_contiguous():
        v = v.contiguous()
    _, shape = fused_layout(v, tile.unit, op, p.d_out)
    return _fused.adc_eval(lib, v, n, tile.unit.reshape(-1), shape, p.out_noise / p.d_out, p.half_levels_out)
