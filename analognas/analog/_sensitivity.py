"""A cheap robustness feature: how much a trained FP32 network suffers from weight noise.

PCM programming noise and drift act on each analog layer's weights, roughly as noise
proportional to each output column's largest weight (the per-column mapping of protocol
v2). A network whose loss barely moves under such noise is expected to keep more accuracy
after drift, and measuring that takes seconds, where HWA training and drift evaluation
take minutes. Whether the feature ranks architectures like the real measurement does is an
empirical question (no published work reports its correlation with PCM drift), so it is
recorded beside the measurements of the fidelity study, which reports its Kendall tau.

Only the layers that the recipe's layer policy maps to PCM are perturbed; the model is
restored bit for bit afterwards.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from analognas.analog._convert import _convertible, _kept_digital
from analognas.analog._recipe import HWARecipe

PROBE_ETA = 0.03
"""Noise of the recorded probe: of the two levels in the fidelity study (0.03, 0.1), the
one whose loss increase ranked 1-month HWA accuracy best at ``quick``."""
PROBE_IMAGES = 2000
"""Training images the recorded probe is measured on (the first ones of the split)."""


@dataclass(frozen=True)
class Sensitivity:
    eta: float
    """Noise std as a fraction of each output column's largest |weight|."""
    draws: int
    images: int
    clean_loss: float
    clean_accuracy: float
    loss_increase: float
    """Mean over draws of (noisy loss - clean loss), in nats."""
    accuracy_drop: float
    """Mean over draws of (clean - noisy) top-1 accuracy, in points."""

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def record_probe(model: nn.Module, x: torch.Tensor, y: torch.Tensor, recipe: HWARecipe, seed: int) -> dict[str, float]:
    """The probe every protocol-v2 measurement records: ``weight_noise_sensitivity`` at
    ``PROBE_ETA`` on the first ``PROBE_IMAGES`` of ``(x, y)``, with the seconds it took."""
    t0 = time.perf_counter()
    device = next(model.parameters()).device
    sens = weight_noise_sensitivity(model, x[:PROBE_IMAGES].to(device), y[:PROBE_IMAGES].to(device), recipe,
                                    eta=PROBE_ETA, seed=seed)
    # a diverged network gives inf/NaN: stored as null, so the record (strict JSON) survives
    values = {k: (v if math.isfinite(v) else None) for k, v in sens.to_dict().items()}
    return {**values, "seconds": time.perf_counter() - t0}


@torch.no_grad()
def _loss_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int) -> tuple[float, float]:
    loss, correct = 0.0, 0
    for i in range(0, len(x), batch):
        logits = model(x[i : i + batch]).float()
        loss += float(F.cross_entropy(logits, y[i : i + batch], reduction="sum"))
        correct += int((logits.argmax(1) == y[i : i + batch]).sum())
    return loss / len(x), 100.0 * correct / len(x)


@torch.no_grad()
def weight_noise_sensitivity(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    recipe: HWARecipe,
    *,
    eta: float = 0.05,
    draws: int = 4,
    seed: int = 0,
    batch_size: int = 500,
) -> Sensitivity:
    """Loss increase and accuracy drop of ``model`` (eval mode) on ``(x, y)`` when every
    PCM-mapped weight gets Gaussian noise of std ``eta * max|W|`` of its output column."""
    if eta <= 0 or draws < 1 or len(x) == 0:
        raise ValueError("weight_noise_sensitivity needs eta > 0, draws >= 1 and at least one image")
    was_training = model.training
    model.eval()
    digital = _kept_digital(model, recipe.layers)
    weights = [m.weight for m in model.modules() if _convertible(m) and id(m) not in digital]
    saved = [w.detach().clone() for w in weights]
    gen = torch.Generator(device="cpu").manual_seed(seed)
    clean_loss, clean_acc = _loss_accuracy(model, x, y, batch_size)
    d_loss = d_acc = 0.0
    try:
        for _ in range(draws):
            for w, w0 in zip(weights, saved, strict=True):
                col = w0.abs().flatten(1).amax(1).view(-1, *([1] * (w0.dim() - 1)))
                noise = torch.randn(w0.shape, generator=gen, dtype=w0.dtype).to(w0.device)
                w.copy_(w0 + eta * col * noise)
            loss, acc = _loss_accuracy(model, x, y, batch_size)
            d_loss += loss - clean_loss
            d_acc += clean_acc - acc
    finally:
        for w, w0 in zip(weights, saved, strict=True):
            w.copy_(w0)
        model.train(was_training)
    return Sensitivity(eta, draws, len(x), clean_loss, clean_acc, d_loss / draws, d_acc / draws)
