"""Which torch device a command computes on (`--device auto|cpu|cuda`)."""

from __future__ import annotations

from analognas._errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto"):  # -> torch.device
    """``auto``: CUDA when torch sees a GPU, else the CPU; ``cuda`` without one is refused
    with one line, before any work starts. ``cuda:N`` picks a GPU by index."""
    import torch

    text = str(name).strip().lower()
    base = text.split(":", 1)[0]
    if base not in DEVICES or (":" in text and (base != "cuda" or not text.split(":", 1)[1].isdigit())):
        raise ConfigError(f"unknown device {name!r}; choose auto, cpu, cuda or cuda:N")
    if base == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if base == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
        raise ConfigError(f"--device {name}: no CUDA device is available (torch {torch.__version__}, {build})")
    device = torch.device(text)
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) are available")
    return device


def native_bf16() -> bool:
    """Whether this CPU has oneDNN's bf16 kernels (AVX512 or AMX). Without them torch runs
    bf16 convolutions through reference kernels about 10x slower than FP32 ones, so the
    training loop emulates them with FP32 kernels (``analognas.training._bf16``)."""
    import torch

    try:  # a private query of torch 2.13's oneDNN; a torch without it must still train
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return True
