"""Training fidelity: how much data and how many epochs a measurement spends.

A fidelity is part of every result's identity: accuracy measured at 3 epochs on 4,000
images is a different quantity from accuracy at 30 epochs on 60,000, and the cache,
the surrogate records and the README all say which one they hold.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from analognas._errors import ConfigError


@dataclass(frozen=True)
class Fidelity:
    name: str
    train_size: int | None
    """Training images (class-balanced subset); None = the whole training set."""
    test_size: int | None
    """Test images used for every accuracy; None = the whole test set."""
    epochs: int
    """FP32 training epochs (from scratch)."""
    hwa_epochs: int
    """Hardware-aware fine-tuning epochs, starting from the FP32 weights (Rasch et al. 2023)."""
    batch_size: int = 128
    lr: float = 0.05
    """Peak SGD learning rate of the FP32 run (linear warm-up over `warmup_epochs`, then cosine to 0)."""
    hwa_lr: float = 0.01
    """Peak learning rate of HWA fine-tuning (warm-up over half of `warmup_epochs`, capped at
    `hwa_epochs`, then cosine to 0)."""
    momentum: float = 0.9
    weight_decay: float = 5e-4
    eval_batch_size: int = 500
    warmup_epochs: float = 0.0
    """Linear learning-rate warm-up, in epochs, at the start of each run (v1 presets: none)."""
    label_smoothing: float = 0.0
    """Cross-entropy label smoothing of the FP32 run (HWA fine-tuning uses plain cross-entropy)."""
    precision: str = "fp32"
    """FP32 training arithmetic: "fp32", or "bf16" autocast (weights, optimiser state, loss
    and every accuracy stay FP32). Its effect on final accuracy is not yet measured. On a CPU
    without bf16 kernels the training loop emulates bf16 convolutions with FP32 kernels: the
    same arithmetic, so the same fidelity (``analognas.training._bf16``)."""
    channels_last: bool = False
    """Train the FP32 run in channels-last memory format (faster convolutions on CPU)."""

    def __post_init__(self) -> None:
        for f in ("epochs", "hwa_epochs", "batch_size", "eval_batch_size"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < (0 if f == "hwa_epochs" else 1):
                raise ConfigError(f"fidelity {f} must be a positive integer, got {v!r}")
        for f in ("train_size", "test_size"):
            v = getattr(self, f)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ConfigError(f"{f.replace('_', '-')} must be a positive integer, got {v!r}")
        for f in ("lr", "hwa_lr"):
            v = getattr(self, f)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ConfigError(f"{f} must be a finite number > 0, got {v!r}")
        if not (math.isfinite(self.warmup_epochs) and 0 <= self.warmup_epochs <= self.epochs):
            raise ConfigError(f"warmup_epochs must be in [0, epochs], got {self.warmup_epochs!r}")
        if not (math.isfinite(self.label_smoothing) and 0 <= self.label_smoothing < 1):
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"unknown precision {self.precision!r}; known: {', '.join(PRECISIONS)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fidelity:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def _body(self, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
        # Fields added after v1 enter the hash only when set away from their v1 default,
        # so every v1 fidelity keeps the hash its records and checkpoints were stored under.
        body = {}
        for k, v in self.to_dict().items():
            if k == "name" or (keys is not None and k not in keys):
                continue
            if k in _LATER_FIELDS and v == _LATER_FIELDS[k]:
                continue
            body[k] = v
        return body

    def hash(self) -> str:
        """Identity of the training protocol; the display name is not part of it."""
        return hashlib.sha256(json.dumps(self._body(), sort_keys=True).encode()).hexdigest()[:10]

    def fp32_hash(self) -> str:
        """Identity of the FP32 run alone: HWA fields do not change the FP32 weights, so
        fidelities that differ only in HWA fine-tuning share one FP32 checkpoint."""
        return (
            self.hash()
            if not self.is_v2
            else hashlib.sha256(json.dumps(self._body(_FP32_FIELDS), sort_keys=True).encode()).hexdigest()[:10]
        )

    @property
    def is_v2(self) -> bool:
        """Whether this fidelity uses any training setting introduced with protocol v2."""
        return any(getattr(self, k) != v for k, v in _LATER_FIELDS.items())

    def with_overrides(self, **overrides: Any) -> Fidelity:
        """Apply CLI flags (None = keep); a changed protocol is renamed `NAME+custom`."""
        changes = {k: v for k, v in overrides.items() if v is not None and getattr(self, k) != v}
        if not changes:
            return self
        return replace(self, name=f"{self.name}+custom", **changes)


PRECISIONS = ("fp32", "bf16")
_LATER_FIELDS: dict[str, Any] = {
    "warmup_epochs": 0.0,
    "label_smoothing": 0.0,
    "precision": "fp32",
    "channels_last": False,
}
_FP32_FIELDS = (
    "train_size",
    "test_size",
    "epochs",
    "batch_size",
    "lr",
    "momentum",
    "weight_decay",
    "eval_batch_size",
    *_LATER_FIELDS,
)

FIDELITIES: dict[str, Fidelity] = {
    "smoke": Fidelity("smoke", train_size=512, test_size=256, epochs=1, hwa_epochs=1, batch_size=64),
    "low": Fidelity("low", train_size=3000, test_size=1000, epochs=3, hwa_epochs=1),
    "medium": Fidelity("medium", train_size=12000, test_size=2000, epochs=8, hwa_epochs=2),
    "high": Fidelity("high", train_size=None, test_size=None, epochs=30, hwa_epochs=10),
    # protocol v2 preset: warm-up + cosine, label smoothing, bf16 autocast and channels-last
    # for the FP32 run (ResNet32 seed 0: 93.73 % FP32, see the README).
    "standard": Fidelity(
        "standard",
        train_size=None,
        test_size=None,
        epochs=20,
        hwa_epochs=3,
        lr=0.1,
        hwa_lr=0.01,
        warmup_epochs=1.0,
        label_smoothing=0.1,
        precision="bf16",
        channels_last=True,
    ),
}

# protocol v2's cheap preset: `standard`'s training recipe on a third of the training set,
# 4 epochs, 1 HWA epoch (README: cost here)
FIDELITIES["quick"] = replace(
    FIDELITIES["standard"], name="quick", train_size=20000, test_size=5000, epochs=4, hwa_epochs=1, warmup_epochs=0.5
)


def get_fidelity(name: str) -> Fidelity:
    try:
        return FIDELITIES[name]
    except KeyError:
        raise ConfigError(f"unknown fidelity {name!r}; known: {', '.join(FIDELITIES)}") from None

