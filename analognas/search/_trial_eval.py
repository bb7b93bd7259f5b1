"""Scoring a batch of feasible trials through an ``Evaluator`` (one call per batch).

The search does not know whether a number is predicted or measured: it asks an
``Evaluator`` for records (by default a ``SurrogateEvaluator``, one matrix product per
batch) and ranks ``Record.targets``. A real or cheaper fidelity (``PipelineEvaluator``
with its ``MeasureProtocol``) plugs in here; that is the seam for multi-fidelity search.
"""

from __future__ import annotations

import math
from typing import Any

from analognas.search._objectives import Objective
from analognas.space import ArchSpec, Constraints, SearchSpace
from analognas.surrogate import Evaluator, MeasureProtocol, Record, evaluate_many


class _BatchScorer:
    """Cheap constraint check, then one evaluator call for the feasible part of a batch."""

    def __init__(
        self,
        space: SearchSpace,
        constraints: Constraints,
        objectives: tuple[Objective, ...],
        evaluator: Evaluator,
        drift_time: float,
        protocol: MeasureProtocol | None = None,
    ) -> None:
        self.space, self.constraints, self.objectives = space, constraints, objectives
        self.evaluator, self.drift_time, self.protocol = evaluator, float(drift_time), protocol
        self.limits = {k: getattr(constraints, k) for k in ("max_params", "max_macs", "max_tiles")}
        self.limits = {k: v for k, v in self.limits.items() if v is not None}

    def constraint_values(self, cost: Any) -> dict[str, float]:
        """Optuna convention: <= 0 feasible; relative excess so the scales are comparable."""
        return {k: (getattr(cost, k.removeprefix("max_")) - lim) / lim for k, lim in self.limits.items()}

    def predict(self, specs: list[ArchSpec]) -> list[dict[str, tuple[float, float]] | str]:
        """Per spec: {target: (value, std)}, or an error message (that trial will FAIL)."""
        if not specs:
            return []
        try:
            records = evaluate_many(self.evaluator, specs, self.protocol)
            if len(records) != len(specs):
                raise ValueError(f"evaluator returned {len(records)} records for {len(specs)} specs")
            return [self._targets(r) for r in records]
        except Exception as exc:
            if len(specs) == 1:
                return [_message(exc)]
        return [self._one(s) for s in specs]  # isolate the failing architecture(s)

    def _one(self, spec: ArchSpec) -> dict[str, tuple[float, float]] | str:
        try:
            return self._targets(evaluate_many(self.evaluator, [spec], self.protocol)[0])
        except Exception as exc:
            return _message(exc)

    def _targets(self, record: Record) -> dict[str, tuple[float, float]] | str:
        try:
            values = record.targets(self.drift_time)
        except ValueError as exc:
            return f"{record.arch_id}: {exc}"
        for target, (m, s) in values.items():
            if not (math.isfinite(m) and math.isfinite(s)):
                return f"surrogate returned a non-finite {target} ({m}, {s})"
        return values

    def values(self, pred: dict[str, tuple[float, float]], cost: Any) -> list[float]:
        return [pred[o.target][0] if o.target else float(getattr(cost, o.name)) for o in self.objectives]


def _message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]
