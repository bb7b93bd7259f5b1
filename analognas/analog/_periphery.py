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

Gradients are aihwkit's, derived from its autograd graph: straight-through through both
quantisers, zero where the ADC or the input clip saturates, and for the input range
``r`` the sum of (a) aihwkit's ``InputRangeForward`` clip gradient (with ``decay``), and
(b) the autograd terms of the division by ``r`` before the DAC and the multiplication by
``r`` after the ADC. They are checked against aihwkit's tiles to float precision in
``tests/test_analog_layers.py``. To save memory the fused function keeps the conv input
(which the previous layer keeps anyway), the weights, and integer DAC (int8) and ADC
(int16) codes from which backward rebuilds everything else exactly.

Two documented differences, both in the ``r`` gradient only: (1) aihwkit clamps the clip
gradient per *unfolded copy* of a pixel; we do the same, but for conv inputs with more
than ``_unfold.SAMPLE_PIXELS`` pixels from an unbiased sample of the clipped pixels
(see ``ConvUnfold.clip_sum``); (2) layers with more than ``max_output_size`` outputs tie
the ranges of the out-tiles that read the same inputs (aihwkit keeps one per tile); the
tied gradient is the exact sum of aihwkit's per-tile gradients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

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


@dataclass(frozen=True)
class RangeGrad:
    """What the ``r`` gradient needs besides tensors (from ``InputRangeParameter``)."""

    gradient_relative: bool
    gradient_scale: float
    decay: float
    input_min_percentage: float
    n_out_tiles: int = 1


def quantize_input(
    x: torch.Tensor, r: torch.Tensor, p: Periphery, keep_codes: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``r * DAC(clamp(x, -r, r) / r)`` as a new tensor (same op order as aihwkit), and
    optionally the integer DAC codes, from which backward rebuilds it exactly."""
    rv = float(r)
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


class TileMVM(torch.autograd.Function):
    """The tile MVM with aihwkit's gradients (see module docstring)."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: torch.Tensor,
        w: torch.Tensor,
        r: torch.Tensor,
        s: torch.Tensor,
        p: Periphery,
        op: Op,
        noise: NoiseSource,
        rgrad: RangeGrad,
        unfold: Any,
    ) -> torch.Tensor:
        with torch.no_grad():
            xq, in_codes = quantize_input(x, r, p, keep_codes=True)
            v = op.forward(xq, w)
            del xq
            codes = None
            if p.touches_output:
                v, codes = crossbar_output(v, s, p, op, noise, keep_codes=True)
        ctx.p, ctx.op, ctx.rgrad, ctx.unfold, ctx.generator = p, op, rgrad, unfold, noise.generator
        empty = torch.empty(0)
        ctx.save_for_backward(
            x, w, r, s, codes if codes is not None else empty, in_codes if in_codes is not None else empty
        )
        ctx.has_aux, ctx.has_in_codes = codes is not None, in_codes is not None
        return v

    @staticmethod
    def backward(ctx: Any, g_y: torch.Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        x, w, r, s, aux, in_codes = ctx.saved_tensors
        p: Periphery = ctx.p
        op: Op = ctx.op
        need_x, need_w, need_r = ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2]
        rv = float(r)
        per_channel = s.numel() > 1
        sv = s.view(op.channel_view(g_y.dim())) if per_channel else float(s)

        # y is needed for the "* r after the ADC" term of the r gradient.
        y: torch.Tensor | None = None
        g_v = g_y
        if ctx.has_aux and p.d_out > 0:
            lim = p.half_levels_out
            lo, hi = torch.aminmax(aux)
            if int(lo) < -lim or int(hi) > lim:  # saturation is rare: mask only when present
                g_v = g_y * (aux.abs() <= lim)
            if need_r:
                y = aux.clamp(-lim, lim).to(g_y.dtype).mul_(sv * p.d_out)
        elif ctx.has_aux:
            if p.out_bound > 0:
                bound = sv * p.out_bound
                g_v = g_y.masked_fill(aux.abs() > bound, 0.0)
                if need_r:
                    y = torch.minimum(torch.maximum(aux, -bound), bound) if per_channel else aux.clamp(-bound, bound)
            elif need_r:
                y = aux

        if ctx.has_in_codes:
            xq = in_codes.to(g_y.dtype).mul_(p.d_in * rv)
        else:
            xq = quantize_input(x, r, p)[0]
        g_xq, g_w = op.backward(g_v, xq, w, need_x or need_r, need_w)

        g_r = None
        g_x = None
        if need_r:
            if y is None:
                # No output processing: y = conv(xq, w), and sum(g_y * y) = sum(g_xq * xq)
                # (adjoint of the conv), which avoids keeping y at all.
                y_term = torch.dot(g_xq.reshape(-1), xq.reshape(-1))
            else:
                y_term = torch.dot(g_y.reshape(-1), y.reshape(-1))
            del xq, y
            g_r, clipped = _range_grad(x, r, rv, g_xq, g_v, w, y_term, ctx.rgrad, ctx.unfold, ctx.generator)
            if need_x:
                g_x = g_xq.addcmul_(g_xq, clipped, value=-1.0)  # clamp(x, -r, r): no gradient outside
        elif need_x:
            del xq, y
            g_x = g_xq.mul_(x.abs() <= rv)
        return g_x, g_w, g_r, None, None, None, None, None, None


def _range_grad(
    x: torch.Tensor,
    r: torch.Tensor,
    rv: float,
    g_xq: torch.Tensor,
    g_v: torch.Tensor,
    w: torch.Tensor,
    y_term: torch.Tensor,
    rg: RangeGrad,
    unfold: Any,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """d loss / d r: aihwkit's InputRangeForward rule plus the autograd terms of
    ``x / r`` (before the DAC) and ``* r`` (after the ADC). Also returns the 0/1 float
    mask of clipped inputs (``|x| > r``) for the input gradient.

    ``g_xq`` is the gradient w.r.t. the (r-scaled) DAC output, i.e. aihwkit's gradient
    at the clipped input; ``y_term`` is ``sum(g_y * y)``. Float arithmetic instead of
    boolean masks: torch's CPU bool kernels are several times slower.
    """
    work = torch.clamp(x, -rv, rv)
    # autograd part (exact under unfolding: both sums are linear in the copies)
    grad = (y_term - torch.dot(g_xq.reshape(-1), work.reshape(-1))) / rv
    # sign of the clipping: +1 where x > r, -1 where x < -r, 0 inside
    sign = torch.sub(x, work, out=work).sign_()
    clipped = sign.abs()
    # InputRangeForward: sum_{x>=r} min(g, 0) - sum_{x<=-r} max(g, 0)
    #                  = sum over clipped (unfolded) inputs of min(g * sign(x), 0)
    clip = unfold.clip_sum(sign, g_xq, g_v, w, generator)
    del sign, work
    if rg.gradient_relative:
        clip = clip * (rv * rg.gradient_scale)
    grad = grad + clip
    if rg.decay > 0:
        percentage = 1.0 - unfold.count(clipped) / unfold.total(x)
        if percentage > rg.input_min_percentage:
            # once per (tied) out-tile, as aihwkit's per-tile ranges would get it
            grad = grad + rg.decay * rv * rg.n_out_tiles
    return grad.reshape(1).to(r.dtype), clipped
