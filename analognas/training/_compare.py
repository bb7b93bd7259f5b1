"""Side-by-side comparison of architectures under drift (`analognas compare`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from analognas._times import DEFAULT_TIMES, label_time
from analognas.space import ArchSpec
from analognas.training._pipeline import ONE_MONTH, ArchEvaluation, evaluate_architecture

COMPARE_TIMES = DEFAULT_TIMES
DIRECT_AT = 86_400.0


@dataclass
class Comparison:
    evaluations: list[ArchEvaluation]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "evaluations": [e.to_dict() for e in self.evaluations]}


def comparison_row(ev: ArchEvaluation) -> dict[str, Any]:
    row: dict[str, Any] = {
        "arch": ev.spec.label,
        "arch_id": ev.spec.arch_id,
        "params": ev.params,
        "macs": ev.macs,
        "tiles": ev.tiles,
        "fp32": ev.fp32_accuracy,
    }
    hwa = ev.curves.get("hwa")
    for t in COMPARE_TIMES:
        if hwa is not None:
            m, s = hwa.at(t)
            row[f"hwa {label_time(t)}"] = {"mean": m, "std": s}
    row["avm"] = hwa.avm if hwa is not None else None
    direct = ev.curves.get("direct")
    if direct is not None:
        m, s = direct.at(DIRECT_AT)
        row[f"direct {label_time(DIRECT_AT)}"] = {"mean": m, "std": s}
        row["direct avm"] = direct.avm
    row["train_seconds"] = sum(ev.train_seconds.values())
    return row


def compare_architectures(specs: list[ArchSpec], **kwargs: Any) -> Comparison:
    """Evaluate each spec with identical data, fidelity, recipe and drift settings."""
    drift = kwargs.pop("drift")
    times = tuple(sorted(set(drift.times) | set(COMPARE_TIMES) | {ONE_MONTH}))
    drift = dataclasses.replace(drift, times=times)
    evaluations = [evaluate_architecture(spec, drift=drift, **kwargs) for spec in specs]
    return Comparison(evaluations, [comparison_row(e) for e in evaluations])
