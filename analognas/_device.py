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
