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
    """Whether this CPU has oneDNN's bf16 kernels (AVX512 or AMX). Without them a bf16
    autocast runs through reference kernels: on an AVX2-only EPYC a ResNet32 training step
    took about 10x as long in bf16 as in FP32 (``benchmarks/train_speed.py``), where with
    them bf16 is the faster one."""
    import torch

    try:  # a private query of torch 2.13's oneDNN; a torch without it must still train
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return True


def slow_precision_warning(precision: str, device: object) -> str | None:
    """A one-line warning when ``precision`` will run far slower than FP32 on ``device``
    (bf16 on a CPU without native bf16 kernels), else None. The measurement is the same
    (the fidelity fixes its precision, and so its checkpoints and hashes); only its cost
    changes, which a user planning hours of training should know before, not after."""
    if precision != "bf16" or getattr(device, "type", str(device)) != "cpu" or native_bf16():
        return None
    import torch

    return (f"this CPU ({torch.backends.cpu.get_cpu_capability()}) has no native bf16 kernels: the fidelity's bf16 "
            "training runs about 10x slower here than in FP32 (benchmarks/train_speed.py); a CPU with AVX512 or "
            "AMX, or a GPU (--device cuda), runs it at full speed")
