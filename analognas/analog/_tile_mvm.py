"""The tile MVM as an autograd function, with aihwkit's gradients.

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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from analognas.analog import _fused
from analognas.analog._noise import NoiseSource
from analognas.analog._periphery import Op, Periphery, crossbar_output, fused_layout, quantize_input


@dataclass(frozen=True)
class RangeGrad:
    """What the ``r`` gradient needs besides tensors (from ``InputRangeParameter``)."""

    gradient_relative: bool
    gradient_scale: float
    decay: float
    input_min_percentage: float
    n_out_tiles: int = 1


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
        lib = _fused.usable(g_y, s, strided=x)
        y: torch.Tensor | None = None
        y_term: torch.Tensor | float | None = None
        g_v = g_y
        if ctx.has_aux and p.d_out > 0:
            lim = p.half_levels_out
            lo, hi = torch.aminmax(aux)
            if int(lo) < -lim or int(hi) > lim:  # saturation is rare: mask only when present
                g_v = g_y * (aux.abs() <= lim)
            if need_r and lib is not None:
                step, shape = fused_layout(g_y, s, op, p.d_out)
                y_term = _fused.adc_y_term(lib, g_y, aux, step, shape, lim)
            elif need_r:
                y = aux.clamp(-lim, lim).to(g_y.dtype).mul_(sv * p.d_out)
        elif ctx.has_aux:
            if p.out_bound > 0:
                bound = sv * p.out_bound
                g_v = g_y.masked_fill(aux.abs() > bound, 0.0)
                if need_r:
                    y = torch.minimum(torch.maximum(aux, -bound), bound) if per_channel else aux.clamp(-bound, bound)
            elif need_r:
                y = aux

        if ctx.has_in_codes and lib is not None:
            xq = _fused.dac_decode(lib, in_codes, p.d_in * rv)
        elif ctx.has_in_codes:
            xq = in_codes.to(g_y.dtype).mul_(p.d_in * rv)
        else:
            xq = quantize_input(x, r, p)[0]
        g_xq, g_w = op.backward(g_v, xq, w, need_x or need_r, need_w)

        g_r = None
        g_x = None
        if need_r:
            if y_term is None and y is None:
                # No output processing: y = conv(xq, w), and sum(g_y * y) = sum(g_xq * xq)
                # (adjoint of the conv), which avoids keeping y at all.
                y_term = torch.dot(g_xq.reshape(-1), xq.reshape(-1))
            elif y_term is None:
                assert y is not None
                y_term = torch.dot(g_y.reshape(-1), y.reshape(-1))
            del xq, y
            if lib is not None and g_xq.is_contiguous():
                g_r = _range_grad_fused(
                    lib, x, r, rv, g_xq, g_v, w, y_term, ctx.rgrad, ctx.unfold, ctx.generator, need_x
                )
                g_x = g_xq if need_x else None  # zeroed where clipped, in the same pass
            else:
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
    grad = _add_clip_and_decay(grad, clip, lambda: unfold.count(clipped), unfold.total(x), rv, rg)
    return grad.reshape(1).to(r.dtype), clipped


def _add_clip_and_decay(
    grad: Any, clip: torch.Tensor, clipped: Callable[[], float], total: float, rv: float, rg: RangeGrad
) -> Any:
    """The autograd term plus aihwkit's clip gradient (relative if so set) and its decay,
    which needs the count of clipped (unfolded) inputs only when the decay is on."""
    if rg.gradient_relative:
        clip = clip * (rv * rg.gradient_scale)
    grad = grad + clip
    if rg.decay > 0:
        percentage = 1.0 - clipped() / total
        if percentage > rg.input_min_percentage:
            # once per (tied) out-tile, as aihwkit's per-tile ranges would get it
            grad = grad + rg.decay * rv * rg.n_out_tiles
    return grad


def _range_grad_fused(
    lib: Any,
    x: torch.Tensor,
    r: torch.Tensor,
    rv: float,
    g_xq: torch.Tensor,
    g_v: torch.Tensor,
    w: torch.Tensor,
    y_term: torch.Tensor | float,
    rg: RangeGrad,
    unfold: Any,
    generator: torch.Generator,
    mask_grad: bool,
) -> torch.Tensor:
    """``_range_grad`` with its passes over the tile input fused into one
    (``_fused.range_backward``), which also zeroes ``g_xq`` where the input was clipped
    when ``mask_grad``; the same terms, summed in another order."""
    stats = _fused.range_backward(lib, x, g_xq, rv, x.dim() - unfold.sample_dims, mask_grad)
    if stats is None:  # the tile input's rows are not the batch (an unusual slice)
        g_r, clipped = _range_grad(x, r, rv, g_xq, g_v, w, y_term, rg, unfold, generator)
        if mask_grad:
            g_xq.addcmul_(g_xq, clipped, value=-1.0)
        return g_r
    dot, dense_clip, sign, counts = stats
    grad = (float(y_term) - dot) / rv
    clip = unfold.clip_sum(sign, g_xq, g_v, w, generator, dense=dense_clip)
    grad = _add_clip_and_decay(grad, clip, lambda: unfold.count_positions(counts), unfold.total(x), rv, rg)
    return torch.as_tensor(grad, dtype=r.dtype).reshape(1)
