"""bf16 autocast convolutions on CPUs without bf16 kernels, at FP32 speed.

Protocol v2 trains its FP32 run under bf16 autocast: every convolution takes bf16
operands, accumulates in FP32 and returns a bf16 result. oneDNN does this in hardware on
CPUs with AVX512-BF16 or AMX. Without them (an AVX2-only EPYC), torch falls back to its
reference convolution (``_slow_conv2d_*``), which made a ResNet32 training step about 10x
slower than in FP32; a profile of one step (``benchmarks/bf16_emulation.py --profile``)
put 98 % of its CPU time in those two kernels, while bf16 batch norm, ReLU and additions
ran as fast as in FP32.

The emulation computes the same arithmetic with FP32 kernels: the operands are rounded to
bf16 and widened back (so every product is exact in FP32, as in the bf16 kernels), the
convolution accumulates in FP32 and its result is rounded to bf16. Autograd then rounds the
input and weight gradients to bf16 exactly where the bf16 kernels' backward returns bf16
tensors. What differs is the order of the FP32 accumulation (and denormal flushing, which
bf16 hardware may do), as it already differs between CPUs, thread counts and oneDNN
versions: runs on different kernels do not follow bit-identical trajectories, but they are
draws of the same measurement, so the fidelity's hash is the same.
``benchmarks/bf16_emulation.py`` measures the agreement with ideal bf16 arithmetic (and
that of this CPU's own bf16 kernels); ``benchmarks/train_speed.py`` the speed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from analognas import _device


def emulated_bf16_conv2d(
    input: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: object = 1,
    padding: object = 0,
    dilation: object = 1,
    groups: int = 1,
) -> torch.Tensor:
    """``F.conv2d`` as bf16 autocast computes it (bf16 operands, FP32 accumulation, bf16
    result), through FP32 kernels. Differentiable: the casts carry the gradients' rounding."""
    bf16, fp32 = torch.bfloat16, torch.float32
    with torch.autocast("cpu", enabled=False):
        out = F.conv2d(
            input.to(bf16).to(fp32),
            weight.to(bf16).to(fp32),
            None if bias is None else bias.to(bf16).to(fp32),
            stride,
            padding,
            dilation,
            groups,
        )
    return out.to(bf16)


class _EmulateBf16Convolutions(TorchFunctionMode):
    """Routes ``conv2d`` calls on CPU tensors under an active CPU bf16 autocast to
    `emulated_bf16_conv2d`; every other call passes through unchanged."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        first = args[0] if args else kwargs.get("input")
        if (
            func is F.conv2d
            and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == torch.bfloat16
            and isinstance(first, torch.Tensor)
            and first.device.type == "cpu"
        ):
            return emulated_bf16_conv2d(*args, **kwargs)
        return func(*args, **kwargs)


def needs_bf16_emulation(precision: str, device: torch.device) -> bool:
    """Whether a training at ``precision`` on ``device`` should emulate its bf16
    convolutions: bf16 on a CPU without native bf16 kernels."""
    return precision == "bf16" and device.type == "cpu" and not _device.native_bf16()


@contextlib.contextmanager
def bf16_convolutions(emulate: bool) -> Iterator[None]:
    """Within the block, CPU bf16-autocast convolutions run emulated when ``emulate``."""
    if not emulate:
        yield
        return
    with _EmulateBf16Convolutions():
        yield
