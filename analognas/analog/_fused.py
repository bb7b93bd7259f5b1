"""Fused elementwise passes of the tile MVM: one C loop where torch makes five to eight.

Around each crossbar convolution the analog layer runs a chain of elementwise ops: clamp,
two divisions, rounding, integer codes and a rescale for the DAC; noise, division,
rounding, codes, clamp and rescale for the ADC; and in backward the rebuilt DAC input,
the ``y`` term and the clip statistics of the range gradient. On CPU each op is one pass
over an activation-sized tensor, so at ResNet32 size they cost about as much as the
convolutions themselves (the training step was 1.5-1.65x digital). ``_kernels.c`` does
each chain in one pass.

The forward kernels are *bit-identical* to the torch expressions they replace (same float
operations in the same order, torch's fused multiply-adds kept as ``fmaf``, nothing else
contracted), so a chip measured with them equals the chip measured without them, and the
drift rows already stored stay valid; tests compare both paths bit for bit. Backward sums
are accumulated differently (float partial sums added in double), which moves the range
gradient by float rounding only.

The library is compiled on first use with the system C compiler (``$CC``, default ``cc``)
into a cache folder keyed by the source, the flags and the CPU (``-march=native``):
``$ANALOGNAS_KERNEL_CACHE``, else ``$XDG_CACHE_HOME/analognas/kernels`` or
``~/.cache/analognas/kernels``. Without a compiler, or with ``ANALOGNAS_FUSED=0``, the
torch expressions run instead (same numbers, slower). Only contiguous float32 CPU tensors
take the fused path (tile inputs may be channel slices); CUDA, bf16 and other layouts
take torch's.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("_kernels.c")
FLAGS = ("-O3", "-march=native", "-fno-fast-math", "-ffp-contract=off", "-fopenmp-simd", "-std=gnu11", "-fPIC")

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_tried = False
_force_off = 0

_P = ctypes.c_void_p
_I64, _F32, _INT = ctypes.c_int64, ctypes.c_float, ctypes.c_int
_SIGNATURES: dict[str, tuple[list[type], type | None]] = {
    "dac_train_i8": ([_P, _P, _P, _I64, _I64, _I64, _F32, _F32, _F32], None),
    "dac_train_i16": ([_P, _P, _P, _I64, _I64, _I64, _F32, _F32, _F32], None),
    "dac_decode_i8": ([_P, _P, _I64, _F32], None),
    "dac_decode_i16": ([_P, _P, _I64, _F32], None),
    "adc_train": ([_P, _P, _P, _I64, _I64, _I64, _P, _P, _INT, _F32, _F32], None),
    "dac_eval": ([_P, _P, _I64, _I64, _I64, _F32, _F32], None),
    "adc_eval": ([_P, _P, _I64, _I64, _I64, _P, _INT, _F32, _F32], None),
    "adc_y_term": ([_P, _P, _I64, _I64, _I64, _P, _F32], ctypes.c_double),
    "range_backward": ([_P, _P, _P, _P, _I64, _I64, _I64, _F32, _INT, _P], None),
}


def _cache_dir() -> Path:
    explicit = os.environ.get("ANALOGNAS_KERNEL_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "analognas" / "kernels"


def _cpu_id() -> bytes:
    """What ``-march=native`` depends on: the CPU's model and flags."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return os.uname().machine.encode()
    keep = [ln for ln in text.splitlines() if ln.startswith(("model name", "flags", "Features", "CPU part"))]
    return "\n".join(sorted(set(keep))).encode()


def _build(cc: str) -> Path:
    digest = hashlib.sha256(SOURCE.read_bytes() + repr((cc, FLAGS)).encode() + _cpu_id()).hexdigest()[:16]
    target = _cache_dir() / f"analognas-kernels-{digest}.so"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".so.tmp")
    os.close(fd)
    try:
        cmd = [cc, *FLAGS, "-shared", "-o", tmp, str(SOURCE), "-lm"]
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)
        os.replace(tmp, target)  # atomic: concurrent first uses each build, one wins
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return target


def library() -> ctypes.CDLL | None:
    """The compiled kernels, or None (disabled, no compiler, or the build failed)."""
    global _lib, _tried
    if _force_off or os.environ.get("ANALOGNAS_FUSED", "1") == "0":
        return None
    if _tried:
        return _lib
    with _lock:
        if _tried:
            return _lib
        cc = shutil.which(os.environ.get("CC", "cc"))
        if cc is not None:
            try:
                lib = ctypes.CDLL(str(_build(cc)))
                for name, (args, res) in _SIGNATURES.items():
                    fn = getattr(lib, name)
                    fn.argtypes, fn.restype = args, res
                _lib = lib
            except (OSError, subprocess.SubprocessError, AttributeError) as exc:
                detail = getattr(exc, "stderr", "") or exc
                warnings.warn(f"analognas: fused analog kernels unavailable, using torch ops ({detail})", stacklevel=2)
        _tried = True
    return _lib


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Run the torch expressions instead (the reference the tests compare against)."""
    global _force_off
    _force_off += 1
    try:
        yield
    finally:
        _force_off -= 1


def usable(*tensors: torch.Tensor, strided: torch.Tensor | None = None) -> ctypes.CDLL | None:
    """The library when every tensor can go through it: contiguous float32/int on CPU, and
    ``strided`` (a tile's channel slice of its input) float32 on CPU with rows as
    ``row_layout`` reads them."""
    lib = library()
    if lib is None:
        return None
    for t in tensors:
        if t.device.type != "cpu" or not t.is_contiguous() or t.dtype not in (torch.float32, torch.int8, torch.int16):
            return None
    if strided is not None and (
        strided.device.type != "cpu" or strided.dtype != torch.float32 or row_layout(strided) is None
    ):
        return None
    return lib


def row_layout(x: torch.Tensor, batch_dims: int | None = None) -> tuple[int, int, int] | None:
    """``(rows, per, stride)``: ``x`` as rows of ``per`` contiguous values ``stride``
    apart, the rows being the first ``batch_dims`` dimensions (default: the fewest that
    work). A channel slice ``x[:, a:b]`` of a contiguous tensor has this form; None if
    ``x`` has not."""
    choices = range(x.dim() + 1) if batch_dims is None else (batch_dims,)
    shape, strides = x.shape, x.stride()
    for bd in choices:
        per, expect, ok = 1, 1, True
        for d in range(x.dim() - 1, bd - 1, -1):
            if shape[d] != 1 and strides[d] != expect:
                ok = False
                break
            expect *= shape[d]
            per *= shape[d]
        if not ok:
            continue
        rows, stride = 1, per
        if bd > 0:
            stride = strides[bd - 1] if shape[bd - 1] != 1 else per
            expect = stride
            for d in range(bd - 1, -1, -1):
                if shape[d] != 1 and strides[d] != expect:
                    ok = False
                    break
                expect *= shape[d]
                rows *= shape[d]
        if ok:
            return rows, per, stride
    return None


def _ptr(t: torch.Tensor) -> int:
    return t.data_ptr()


def channel_shape(v: torch.Tensor, channel_dim: int, per_channel: bool) -> tuple[int, int, int]:
    """``(outer, channels, inner)`` of a contiguous tensor for a per-channel value along
    ``channel_dim`` (a scalar: one channel)."""
    if not per_channel:
        return 1, 1, v.numel()
    dim = channel_dim % v.dim()
    outer = 1
    for s in v.shape[:dim]:
        outer *= s
    inner = 1
    for s in v.shape[dim + 1 :]:
        inner *= s
    return outer, v.shape[dim], inner


# ------------------------------------------------------------------------------ forward


def dac_train(lib: ctypes.CDLL, x: torch.Tensor, rv: float, d_in: float, code_dtype: torch.dtype) -> tuple:
    """``quantize_input(keep_codes=True)``: the r-scaled DAC output and its codes."""
    layout = row_layout(x)
    assert layout is not None, "checked by usable(strided=x)"
    xq = torch.empty(x.shape, dtype=x.dtype)
    codes = torch.empty(x.shape, dtype=code_dtype)
    fn = lib.dac_train_i8 if code_dtype == torch.int8 else lib.dac_train_i16
    fn(_ptr(x), _ptr(xq), _ptr(codes), *layout, rv, d_in, d_in * rv)
    return xq, codes


def dac_decode(lib: ctypes.CDLL, codes: torch.Tensor, gain: float) -> torch.Tensor:
    """``codes.float() * gain`` in one pass (backward's rebuilt DAC output)."""
    xq = torch.empty(codes.shape, dtype=torch.float32)
    fn = lib.dac_decode_i8 if codes.dtype == torch.int8 else lib.dac_decode_i16
    fn(_ptr(codes), _ptr(xq), codes.numel(), gain)
    return xq


def adc_train(
    lib: ctypes.CDLL,
    v: torch.Tensor,
    noise: torch.Tensor | None,
    s: torch.Tensor,
    step: torch.Tensor,
    shape: tuple[int, int, int],
    out_noise: float,
    lim: int,
) -> torch.Tensor:
    """``crossbar_output(keep_codes=True)`` with an ADC, in place on ``v``; returns the
    int16 codes. ``s`` and ``step`` hold one value per channel of ``shape`` (or one)."""
    aux = torch.empty(v.shape, dtype=torch.int16)
    if noise is None:
        mode, coef, noise_ptr = 0, 0.0, _ptr(v)
    elif s.numel() > 1:
        mode, coef, noise_ptr = 1, out_noise, _ptr(noise)
    else:
        mode, coef, noise_ptr = 2, out_noise * float(s), _ptr(noise)
    lib.adc_train(_ptr(v), noise_ptr, _ptr(aux), *shape, _ptr(s), _ptr(step), mode, coef, float(lim))
    return aux


def dac_eval(lib: ctypes.CDLL, x: torch.Tensor, inv: float, lim: int) -> torch.Tensor:
    layout = row_layout(x)
    assert layout is not None, "checked by usable(strided=x)"
    out = torch.empty(x.shape, dtype=x.dtype)
    lib.dac_eval(_ptr(x), _ptr(out), *layout, inv, float(lim))
    return out


def adc_eval(
    lib: ctypes.CDLL,
    v: torch.Tensor,
    noise: torch.Tensor | None,
    unit: torch.Tensor,
    shape: tuple[int, int, int],
    sigma: float,
    lim: int,
) -> torch.Tensor:
    lib.adc_eval(
        _ptr(v), _ptr(noise if noise is not None else v), *shape, _ptr(unit), int(noise is not None), sigma, float(lim)
    )
    return v


# ------------------------------------------------------------------------------ backward


def adc_y_term(
    lib: ctypes.CDLL, g: torch.Tensor, aux: torch.Tensor, step: torch.Tensor, shape: tuple[int, int, int], lim: int
) -> float:
    """``sum(g * clamp(aux, +-lim) * step)`` without building ``y``."""
    return float(lib.adc_y_term(_ptr(g), _ptr(aux), *shape, _ptr(step), float(lim)))


def range_backward(
    lib: ctypes.CDLL, x: torch.Tensor, g: torch.Tensor, rv: float, batch_dims: int, mask_grad: bool
) -> tuple[float, float, torch.Tensor, torch.Tensor] | None:
    """``(sum(g * clamp(x)), sum(min(g * sign, 0)), sign (int8), clipped count per
    position of one sample)``, and ``g`` zeroed where clipped when ``mask_grad``; None
    (nothing done) when ``x`` is not row-strided over its ``batch_dims``."""
    layout = row_layout(x, batch_dims)
    if layout is None:
        return None
    sign = torch.empty(x.shape, dtype=torch.int8)
    counts = torch.zeros(x.shape[batch_dims:], dtype=torch.int32)
    out = (ctypes.c_double * 2)()
    lib.range_backward(_ptr(x), _ptr(g), _ptr(sign), _ptr(counts), *layout, rv, int(mask_grad), out)
    return out[0], out[1], sign, counts
