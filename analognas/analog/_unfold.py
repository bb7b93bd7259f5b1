"""Statistics over a tile's *unfolded* input without unfolding it.

aihwkit feeds a conv tile the ``F.unfold`` patch matrix, so its input-range statistics
(``std`` for the data initialisation, the fraction of clipped inputs for the decay) are
taken over patches: a pixel counts once per patch that reads it, and zero padding counts
as inputs. ``M[c, h, w]`` = how many (patch, kernel offset of this tile) pairs read pixel
``(c, h, w)``; then any sum over the unfolded matrix is a sum over pixels weighted by
``M``, and padding contributes zeros plus its count. ``M`` is the input gradient of
``sum(conv(ones, kernel_mask))``, which gets strides, dilation and padding right for free.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SAMPLE_PIXELS = 1 << 14
"""Pixels per conv tile and step used to estimate the per-copy clip gradient."""


def _segment_clip(prod: torch.Tensor, sg: torch.Tensor, out_tile: torch.Tensor | None, n_out: int) -> torch.Tensor:
    """``prod[row, co] = g_v * w`` of one copy and one output; per out-tile sum, then
    aihwkit's ``min(g * sign, 0)`` per (copy, out-tile), summed."""
    if n_out == 1:
        ge = prod.sum(1)
        return (ge * sg).clamp_(max=0.0).sum()
    assert out_tile is not None
    ge = torch.zeros(prod.shape[0], n_out, dtype=prod.dtype, device=prod.device).scatter_add_(1, out_tile, prod)
    return (ge * sg[:, None]).clamp_(max=0.0).sum()


class LinearUnfold:
    """Linear layers: the tile input is the feature slice itself."""

    sample_dims = 1
    """Trailing dimensions of one sample of the tile input."""

    def __init__(self, out_index: torch.Tensor | None = None) -> None:
        self.out_index = out_index
        """Out-tile of each output (None: a single out-tile)."""

    def clip_sum(
        self,
        sign: torch.Tensor,
        g_xq: torch.Tensor,
        g_v: torch.Tensor,
        w: torch.Tensor,
        generator: torch.Generator,
        dense: float | None = None,
    ) -> torch.Tensor:
        """``sum over clipped inputs and out-tiles of min(g * sign, 0)`` (exact). ``dense``:
        that sum for a single out-tile, already taken (the fused backward pass)."""
        if self.out_index is None:
            if dense is not None:
                return torch.tensor(dense, dtype=g_xq.dtype)
            return (sign * g_xq).clamp_(max=0.0).sum()
        s2 = sign.reshape(-1, sign.shape[-1])
        n, c = s2.nonzero().unbind(1)
        if n.numel() == 0:
            return torch.zeros((), dtype=g_xq.dtype, device=g_xq.device)
        prod = g_v.reshape(-1, g_v.shape[-1])[n] * w[:, c].T
        n_out = int(self.out_index.max()) + 1
        out_index = self.out_index.to(prod.device)
        return _segment_clip(prod, s2[n, c], out_index[None, :].expand_as(prod), n_out)

    def count(self, mask: torch.Tensor) -> float:
        return float(mask.sum())

    def count_positions(self, counts: torch.Tensor) -> float:
        """``count`` from the clipped count of each feature over the batch."""
        return float(counts.sum())

    def total(self, x: torch.Tensor) -> float:
        return float(x.numel())

    def std(self, x: torch.Tensor) -> float:
        return float(x.std()) if x.numel() > 1 else 0.0


class ConvUnfold:
    """Conv tiles: pixel statistics weighted by patch multiplicity ``M``."""

    sample_dims = 3
    """Trailing dimensions of one sample of the tile input ``(C, H, W)``."""

    def __init__(
        self,
        kernel_mask: torch.Tensor,
        stride: tuple[int, int],
        padding: tuple[int, int],
        dilation: tuple[int, int],
        groups: int = 1,
        out_index: torch.Tensor | None = None,
    ) -> None:
        self.out_index = out_index
        """Out-tile of each output channel (None: a single out-tile)."""
        self.kernel_mask = kernel_mask  # (c_span, kh, kw) 0/1 float
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.partial = bool((kernel_mask == 0).any())
        self._kmask_flat = kernel_mask.reshape(kernel_mask.shape[0], -1) > 0
        self._offset_cache: dict[tuple[int, int, int, int, str], tuple[torch.Tensor, torch.Tensor]] = {}
        self._cache: dict[tuple[int, int, str], tuple[torch.Tensor, float]] = {}

    def _map(self, x: torch.Tensor) -> tuple[torch.Tensor, float]:
        key = (int(x.shape[-2]), int(x.shape[-1]), str(x.device))
        hit = self._cache.get(key)
        if hit is None:
            c_span = self.kernel_mask.shape[0]
            ones = torch.ones(1, c_span, *key[:2], dtype=torch.float64, requires_grad=True)
            with torch.enable_grad():
                out = F.conv2d(
                    ones, self.kernel_mask[None].double(), None, self.stride, self.padding, self.dilation
                )
                out.sum().backward()
            assert ones.grad is not None
            per_sample = float(out.shape[-2] * out.shape[-1]) * float(self.kernel_mask.sum())
            hit = (ones.grad[0].to(device=x.device, dtype=torch.float32), per_sample)
            self._cache[key] = hit
        return hit

    @staticmethod
    def _batch(x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(0) if x.dim() == 3 else x

    def count(self, mask: torch.Tensor) -> float:
        m, _ = self._map(mask)
        per_pixel = self._batch(mask).sum(0, dtype=torch.float32)
        return float(torch.dot(per_pixel.reshape(-1), m.reshape(-1)))

    def count_positions(self, counts: torch.Tensor) -> float:
        """``count`` from the clipped count of each pixel over the batch."""
        m, _ = self._map(counts)
        return float(torch.dot(counts.reshape(-1).to(torch.float32), m.reshape(-1)))

    def total(self, x: torch.Tensor) -> float:
        _, per_sample = self._map(x)
        return self._batch(x).shape[0] * per_sample

    def clip_sum(
        self,
        sign: torch.Tensor,
        g_xq: torch.Tensor,
        g_v: torch.Tensor,
        w: torch.Tensor,
        generator: torch.Generator,
        dense: float | None = None,
    ) -> torch.Tensor:
        """``sum over unfolded copies e of clipped pixels of min(g_e * sign, 0)``
        (``dense`` is for the linear case and ignored here: copies need ``g_v`` and ``w``).

        aihwkit clamps the clip gradient per patch entry, and the copies of one pixel
        have different gradients ``g_e = sum_o g_v[o] * w[o, c, k]`` (``k`` the kernel
        offset, ``o`` the outputs of the patch). With several out-tiles the clamp applies
        per out-tile (aihwkit has one range per tile; ours are tied, so gradients add).

        Computing every copy costs as much as a second input-gradient convolution
        (aihwkit's range decay keeps ~5% of the inputs clipped), so for inputs larger
        than ``SAMPLE_PIXELS`` pixels this returns the unbiased Monte-Carlo estimate from
        that many pixels drawn uniformly with replacement (relative std ~3.4% at 5%
        clipping, small next to the minibatch noise of the gradient); smaller inputs are summed exactly.
        """
        sign_b = self._batch(sign)
        g_vb = g_v.unsqueeze(0) if g_v.dim() == 3 else g_v
        n_b, c_in, h_in, w_in = sign_b.shape
        _, c_out, h_out, w_out = g_vb.shape
        total_pixels = sign_b.numel()
        if total_pixels <= SAMPLE_PIXELS:
            flat, scale = sign_b.reshape(-1).nonzero().squeeze(1), 1.0
        else:
            # drawn on the CPU generator, so the sample does not depend on the device
            flat = torch.randint(0, total_pixels, (SAMPLE_PIXELS,), generator=generator).to(sign_b.device)
            flat, scale = flat[sign_b.reshape(-1)[flat] != 0], total_pixels / SAMPLE_PIXELS
        if flat.numel() == 0:
            return torch.zeros((), dtype=g_v.dtype, device=g_v.device)
        hw_in = h_in * w_in
        n, c, hw = flat // (c_in * hw_in), (flat // hw_in) % c_in, flat % hw_in
        out_pos, valid = self._offsets(h_in, w_in, h_out, w_out, sign_b.device)  # (hw_in, K) each
        valid = valid[hw]
        if self.partial:
            valid = valid & self._kmask_flat.to(valid.device)[c]
        row, k = valid.nonzero().unbind(1)
        n, c, hw = n[row], c[row], hw[row]
        knum = self.kernel_mask[0].numel()
        cig = c_in // self.groups
        cog = c_out // self.groups
        grp, cl = c // cig, c % cig
        gv = g_vb.reshape(n_b, self.groups, cog, h_out * w_out)
        wk = w.reshape(self.groups, cog, cig, knum)
        prod = gv[n, grp, :, out_pos[hw, k]] * wk[grp, :, cl, k]
        device = prod.device
        tiles = None
        n_out = 1 if self.out_index is None else int(self.out_index.max()) + 1
        if n_out > 1:
            assert self.out_index is not None
            tiles = self.out_index.to(device)[grp[:, None] * cog + torch.arange(cog, device=device)[None, :]]
        return _segment_clip(prod, sign_b.reshape(-1)[flat[row]], tiles, n_out) * scale

    def _offsets(
        self, h_in: int, w_in: int, h_out: int, w_out: int, device: torch.device | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """For every input pixel and kernel offset: the flat output position that reads the
        pixel through that offset, and whether one exists (cached per geometry and device)."""
        key = (h_in, w_in, h_out, w_out, str(device))
        hit = self._offset_cache.get(key)
        if hit is None:
            kh, kw = self.kernel_mask.shape[1], self.kernel_mask.shape[2]
            (sh, sw), (ph, pw), (dh, dw) = self.stride, self.padding, self.dilation
            hh = torch.arange(h_in).repeat_interleave(w_in)[:, None]
            ww = torch.arange(w_in).repeat(h_in)[:, None]
            ks_h = torch.arange(kh).repeat_interleave(kw)[None, :]
            ks_w = torch.arange(kw).repeat(kh)[None, :]
            oh_num, ow_num = hh + ph - ks_h * dh, ww + pw - ks_w * dw
            oh, ow = oh_num.div(sh, rounding_mode="floor"), ow_num.div(sw, rounding_mode="floor")
            valid = (oh_num >= 0) & (ow_num >= 0) & (oh * sh == oh_num) & (ow * sw == ow_num)
            valid &= (oh < h_out) & (ow < w_out)
            hit = ((oh * w_out + ow).clamp_(0, h_out * w_out - 1).to(device), valid.to(device))
            self._offset_cache[key] = hit
        return hit

    def std(self, x: torch.Tensor) -> float:
        m, per_sample = self._map(x)
        xb = self._batch(x)
        n = xb.shape[0] * per_sample
        if n < 2:
            return 0.0
        mf = m.reshape(-1).double()
        s1 = float(torch.dot(xb.sum(0, dtype=torch.float64).reshape(-1), mf))
        s2 = float(torch.dot((xb * xb).sum(0, dtype=torch.float64).reshape(-1), mf))
        var = (s2 - s1 * s1 / n) / (n - 1)
        return max(var, 0.0) ** 0.5


def kernel_mask_for(c_span: int, kernel: tuple[int, int], mask: torch.Tensor | None) -> torch.Tensor:
    """The tile's (c_span, kh, kw) 0/1 kernel mask (all ones when it covers whole channels)."""
    if mask is not None:
        return mask.float()
    return torch.ones(c_span, *kernel)
