"""What one measurement of an architecture returns: drift curves and the evaluation record.

Kept apart from the pipeline that produces them so that readers of results (compare,
collect, the CLI's renderers) depend on plain data, not on the training machinery.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from analognas._times import time_key
from analognas.analog import DriftEvalConfig, HWARecipe
from analognas.space import ArchSpec
from analognas.training._fidelity import Fidelity

ONE_SECOND, ONE_MONTH = 1.0, 2_592_000.0


@dataclass(frozen=True)
class DriftCurve:
    """Accuracy (%) after programming at each time, over independent programmings."""

    times: tuple[float, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    per_repeat: tuple[tuple[float, ...], ...]  # [repeat][time]

    def at(self, t: float) -> tuple[float, float]:
        for i, ti in enumerate(self.times):
            if math.isclose(ti, t, rel_tol=1e-9):
                return self.mean[i], self.std[i]
        raise KeyError(t)

    @property
    def avm(self) -> float | None:
        """Accuracy variation over a month: accuracy at 1 s minus accuracy at 1 month."""
        try:
            return self.at(ONE_SECOND)[0] - self.at(ONE_MONTH)[0]
        except KeyError:
            return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "times": list(self.times),
            "mean": list(self.mean),
            "std": list(self.std),
            "per_repeat": [list(r) for r in self.per_repeat],
            "avm": self.avm,
        }


@dataclass
class ArchEvaluation:
    spec: ArchSpec
    dataset: dict[str, Any]
    fidelity: Fidelity
    recipe: HWARecipe
    drift: DriftEvalConfig
    seed: int
    fp32_accuracy: float
    params: int
    macs: int
    tiles: int
    curves: dict[str, DriftCurve] = field(default_factory=dict)
    hwa_digital_accuracy: float | None = None
    train_seconds: dict[str, float] = field(default_factory=dict)
    eval_seconds: float = 0.0
    cached: dict[str, bool] = field(default_factory=dict)
    device: str = "cpu"
    probe: dict[str, float] | None = None
    """Weight-noise sensitivity of the FP32 network, where it was asked for."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch_id": self.spec.arch_id,
            "name": self.spec.label,
            "spec": self.spec.to_dict(),
            "dataset": self.dataset,
            "fidelity": self.fidelity.to_dict(),
            "fidelity_hash": self.fidelity.hash(),
            "recipe": self.recipe.to_dict(),
            "recipe_hash": self.recipe.hash(),
            "drift": self.drift.to_dict(),
            "seed": self.seed,
            "params": self.params,
            "macs": self.macs,
            "tiles": self.tiles,
            "fp32_accuracy": self.fp32_accuracy,
            "hwa_digital_accuracy": self.hwa_digital_accuracy,
            "curves": {m: c.to_dict() for m, c in self.curves.items()},
            "train_seconds": self.train_seconds,
            "eval_seconds": self.eval_seconds,
            "cached": self.cached,
            "device": self.device,
            **({"probe": self.probe} if self.probe is not None else {}),
        }


def evaluation_summary(ev: ArchEvaluation, times: tuple[float, ...]) -> dict[str, Any]:
    """Per mode and per requested time: mean and std (the `--json` shape of `evaluate`)."""
    out: dict[str, Any] = {
        "arch": ev.spec.label,
        "arch_id": ev.spec.arch_id,
        "params": ev.params,
        "macs": ev.macs,
        "tiles": ev.tiles,
        "dataset": ev.dataset["name"],
        "fidelity": ev.fidelity.to_dict(),
        "recipe": ev.recipe.to_dict(),
        "recipe_hash": ev.recipe.hash(),
        "drift_config": ev.drift.to_dict(),
        "seed": ev.seed,
        "train_seconds": ev.train_seconds,
        "eval_seconds": ev.eval_seconds,
        "cached": ev.cached,
        "modes": {"fp32": {time_key(t): {"mean": ev.fp32_accuracy, "std": 0.0} for t in times}},
        "avm": {},
    }
    for mode, curve in ev.curves.items():
        out["modes"][mode] = {time_key(t): dict(zip(("mean", "std"), curve.at(t))) for t in times}
        out["avm"][mode] = curve.avm
    return out


__all__ = ["ONE_MONTH", "ONE_SECOND", "ArchEvaluation", "DriftCurve", "evaluation_summary"]
