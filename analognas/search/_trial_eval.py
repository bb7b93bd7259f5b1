"""Scoring a batch of feasible trials with the surrogate (one call per batch)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from analognas.search._objectives import Objective
from analognas.search._surrogate_link import SurrogateLink
from analognas.space import ArchSpec, Constraints, SearchSpace


class _BatchScorer:
    """Cheap constraint check, then one surrogate call for the feasible part of a batch."""

    def __init__(
        self,
        space: SearchSpace,
        constraints: Constraints,
        objectives: tuple[Objective, ...],
        link: SurrogateLink,
    ) -> None:
        self.space, self.constraints, self.objectives, self.link = space, constraints, objectives, link
        self.limits = {k: getattr(constraints, k) for k in ("max_params", "max_macs", "max_tiles")}
        self.limits = {k: v for k, v in self.limits.items() if v is not None}

    def constraint_values(self, cost: Any) -> dict[str, float]:
        """Optuna convention: <= 0 feasible; relative excess so the scales are comparable."""
        return {k: (getattr(cost, k.removeprefix("max_")) - lim) / lim for k, lim in self.limits.items()}

    def predict(self, specs: list[ArchSpec]) -> list[dict[str, tuple[float, float]] | str]:
        """Per spec: {target: (mean, std)}, or an error message (that trial will FAIL)."""
        if not specs:
            return []
        try:
            return self._checked(self.link.predict(specs), len(specs))
        except Exception as exc:
            if len(specs) == 1:
                return [_message(exc)]
        return [self._one(s) for s in specs]  # isolate the failing architecture(s)

    def _one(self, spec: ArchSpec) -> dict[str, tuple[float, float]] | str:
        try:
            return self._checked(self.link.predict([spec]), 1)[0]
        except Exception as exc:
            return _message(exc)

    def _checked(self, out: dict[str, tuple[Any, Any]], n: int) -> list[dict[str, tuple[float, float]] | str]:
        rows: list[dict[str, tuple[float, float]] | str] = [{} for _ in range(n)]
        for target, (mean, std) in out.items():
            m, s = np.asarray(mean, dtype=float).reshape(-1), np.asarray(std, dtype=float).reshape(-1)
            if m.shape[0] != n or s.shape[0] != n:
                raise ValueError(f"surrogate returned {m.shape[0]} predictions of {target!r} for {n} specs")
            for i in range(n):
                row = rows[i]
                if isinstance(row, str):
                    continue
                if not (math.isfinite(m[i]) and math.isfinite(s[i])):
                    rows[i] = f"surrogate returned a non-finite {target} ({m[i]}, {s[i]})"
                else:
                    row[target] = (float(m[i]), float(s[i]))
        return rows

    def values(self, pred: dict[str, tuple[float, float]], cost: Any) -> list[float]:
        return [pred[o.target][0] if o.target else float(getattr(cost, o.name)) for o in self.objectives]


def _message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]
