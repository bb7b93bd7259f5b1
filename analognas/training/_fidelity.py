"""Training fidelity: how much data and how many epochs a measurement spends.

A fidelity is part of every result's identity: accuracy measured at 3 epochs on 4,000
images is a different quantity from accuracy at 30 epochs on 60,000, and the cache,
the surrogate records and the README all say which one they hold.
"""

from __future__ import annotations

import hashlib
import json
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
    """Peak SGD learning rate of the FP32 run (cosine schedule, 1 warm-up epoch fraction)."""
    hwa_lr: float = 0.01
    """Peak learning rate of HWA fine-tuning."""
    momentum: float = 0.9
    weight_decay: float = 5e-4
    eval_batch_size: int = 500

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
            if not getattr(self, f) > 0:
                raise ConfigError(f"{f} must be > 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fidelity:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def hash(self) -> str:
        """Identity of the training protocol; the display name is not part of it."""
        body = {k: v for k, v in self.to_dict().items() if k != "name"}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:10]

    def with_overrides(self, **overrides: Any) -> Fidelity:
        """Apply CLI flags (None = keep); a changed protocol is renamed `NAME+custom`."""
        changes = {k: v for k, v in overrides.items() if v is not None and getattr(self, k) != v}
        if not changes:
            return self
        return replace(self, name=f"{self.name}+custom", **changes)


FIDELITIES: dict[str, Fidelity] = {
    "smoke": Fidelity("smoke", train_size=512, test_size=256, epochs=1, hwa_epochs=1, batch_size=64),
    "low": Fidelity("low", train_size=3000, test_size=1000, epochs=3, hwa_epochs=1),
    "medium": Fidelity("medium", train_size=12000, test_size=2000, epochs=8, hwa_epochs=2),
    "high": Fidelity("high", train_size=None, test_size=None, epochs=30, hwa_epochs=10),
}


def get_fidelity(name: str) -> Fidelity:
    try:
        return FIDELITIES[name]
    except KeyError:
        raise ConfigError(f"unknown fidelity {name!r}; known: {', '.join(FIDELITIES)}") from None
