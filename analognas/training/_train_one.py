"""`analognas train` as a library call: one architecture trained (or found in the cache)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from analognas._errors import ConfigError
from analognas.analog import HWARecipe
from analognas.data import load_dataset
from analognas.space import ArchSpec
from analognas.training._fidelity import Fidelity
from analognas.training._loop import Progress
from analognas.training._pipeline import DATA_SEED, checkpoint_key, ensure_fp32, ensure_hwa
from analognas.training._store import CheckpointStore


@dataclass(frozen=True)
class TrainSummary:
    arch: str
    arch_id: str
    mode: str
    dataset: str
    cached: bool
    checkpoint: str
    fidelity: dict[str, Any]
    device: str
    metrics: dict[str, Any]

    @property
    def accuracy(self) -> float:
        """Test accuracy (%): FP32, or HWA on the clean weights."""
        m = self.metrics
        return float(m.get("test_accuracy", m.get("test_accuracy_noise_free")))

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def train_architecture(
    spec: ArchSpec,
    *,
    mode: str,
    dataset: str,
    data_dir: str | None,
    fidelity: Fidelity,
    recipe: HWARecipe,
    seed: int,
    store: CheckpointStore,
    device: Any = "cpu",
    progress: Progress | None = None,
) -> TrainSummary:
    """FP32 training, and for ``mode="hwa"`` HWA fine-tuning from it; cached by key."""
    if mode not in ("fp32", "hwa"):
        raise ConfigError(f"--mode must be fp32 or hwa, got {mode!r}")
    ds = load_dataset(dataset, data_dir=data_dir, train_size=fidelity.train_size, test_size=fidelity.test_size,
                      seed=DATA_SEED)
    model, meta, cached = ensure_fp32(spec, ds, fidelity, seed, store, progress, device)
    if mode == "hwa":
        model, meta, cached = ensure_hwa(spec, ds, fidelity, recipe, seed, store, model, progress)
    weights = store.paths(checkpoint_key(spec, ds.name, mode, recipe, fidelity, seed))[0]
    return TrainSummary(spec.label, spec.arch_id, mode, ds.name, cached, str(weights), fidelity.to_dict(),
                        str(device), meta["metrics"])
