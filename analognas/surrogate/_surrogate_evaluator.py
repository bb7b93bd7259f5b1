"""A surrogate behind the ``Evaluator`` seam: it predicts records instead of measuring them.

The search scores trials through an ``Evaluator`` and reads ``Record.targets``; this is
the evaluator it uses by default. A prediction record says what predicted it (the
surrogate's identity) and for which time after programming, so it is never mistaken for a
measurement: it carries ``predicted`` instead of a measured accuracy curve.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from analognas.space import ArchSpec
from analognas.surrogate._errors import SurrogateError
from analognas.surrogate._evaluator import MeasureProtocol, Record

PREDICTION_FORMAT = "analognas.prediction/1"


class SurrogateEvaluator:
    """``evaluate(spec, protocol) -> Record`` by prediction; ``evaluate_many`` in one call.

    A surrogate answers for the protocol of the records it was fitted on, so a protocol
    given here must ask for the surrogate's own drift time (the one thing a search passes)."""

    def __init__(self, surrogate: Any, identity: str = "") -> None:
        self.surrogate = surrogate
        self.identity = identity or str(getattr(surrogate, "path", "") or f"surrogate-{id(surrogate):x}")
        self.drift_time = float(surrogate.drift_time)

    def evaluate(self, spec: ArchSpec, protocol: MeasureProtocol | None = None) -> Record:
        return self.evaluate_many([spec], protocol)[0]

    def evaluate_many(self, specs: Sequence[ArchSpec], protocol: MeasureProtocol | None = None) -> list[Record]:
        if protocol is not None:
            times = tuple(float(t) for t in protocol.drift.times)
            if not any(np.isclose(t, self.drift_time, rtol=1e-9) for t in times):
                raise SurrogateError(
                    f"surrogate predicts accuracy {self.drift_time:g} s after programming; the protocol asks for"
                    f" {', '.join(f'{t:g}' for t in times)} s"
                )
        specs = list(specs)
        if not specs:
            return []
        out = self.surrogate.predict(specs)
        n = len(specs)
        columns: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for target, (mean, std) in out.items():
            m, s = np.asarray(mean, dtype=float).reshape(-1), np.asarray(std, dtype=float).reshape(-1)
            if m.shape[0] != n or s.shape[0] != n:
                raise SurrogateError(f"surrogate returned {m.shape[0]} predictions of {target!r} for {n} specs")
            columns[target] = (m, s)
        return [
            Record.from_dict(
                {
                    "format": PREDICTION_FORMAT,
                    "key": f"{spec.arch_id}@{self.identity}",
                    "arch_id": spec.arch_id,
                    "surrogate": self.identity,
                    "drift_time": self.drift_time,
                    "predicted": {t: (float(m[i]), float(s[i])) for t, (m, s) in columns.items()},
                }
            )
            for i, spec in enumerate(specs)
        ]
