"""Trials of a study as plain rows, and the files a run leaves: CSV, best, Pareto front.

Everything downstream (the dashboard, `register`, `--verify`) reads these rows, not the
Optuna storage, so a run folder copied to a laptop without the database still works.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

from analognas.search._objectives import OBJECTIVES, Direction, Objective
from analognas.space import ArchSpec, SearchSpace

#: Trial user-attribute keys written by the search (kept short: they go into every journal line).
ATTR_ARCH = "arch_id"
ATTR_COST = "cost"
ATTR_PRED = "pred"
ATTR_VIOLATIONS = "violations"
ATTR_ERROR = "error"
ATTR_WORKER = "worker"
UID_KEY = "analognas:uid"


@dataclass(frozen=True)
class Candidate:
    """One evaluated architecture of a run, as best.json / pareto.json / the CSV hold it."""

    number: int
    state: str
    arch_id: str
    spec: ArchSpec | None
    cost: dict[str, int]
    values: dict[str, float] = field(default_factory=dict)
    """Objective values, by objective name (empty unless the trial completed)."""
    predicted: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Every surrogate target: (mean, std)."""
    violations: tuple[str, ...] = ()
    error: str | None = None
    worker: int | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        return not self.violations and self.state != "FAIL"

    @property
    def complete(self) -> bool:
        return self.state == "COMPLETE"

    def summary(self) -> str:
        """One line a human can read in a hover label or a table."""
        if self.spec is None:
            return self.arch_id
        from analognas.space import get_block

        stages = " | ".join(
            f"{s.blocks}x{get_block(s.block).short or s.block} w{s.width}"
            + (f" x{s.branches} branches" if s.branches > 1 else "")
            for s in self.spec.stages
        )
        return f"stem {self.spec.stem_width} k{self.spec.stem_kernel}; {stages}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "state": self.state,
            "arch_id": self.arch_id,
            "spec": self.spec.to_dict() if self.spec else None,
            "summary": self.summary(),
            "cost": dict(self.cost),
            "values": dict(self.values),
            "predicted": {k: {"mean": m, "std": s} for k, (m, s) in self.predicted.items()},
            "violations": list(self.violations),
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Candidate:
        spec = ArchSpec.from_dict(data["spec"]) if data.get("spec") else None
        return cls(
            number=int(data["number"]),
            state=str(data.get("state", "COMPLETE")),
            arch_id=str(data["arch_id"]),
            spec=spec,
            cost={k: int(v) for k, v in (data.get("cost") or {}).items()},
            values={k: float(v) for k, v in (data.get("values") or {}).items()},
            predicted={k: (float(v["mean"]), float(v["std"])) for k, v in (data.get("predicted") or {}).items()},
            violations=tuple(data.get("violations") or ()),
            error=data.get("error"),
        )


def candidate_from_trial(trial: Any, space: SearchSpace, objectives: tuple[Objective, ...]) -> Candidate:
    """A FrozenTrial written by the search -> Candidate."""
    attrs = trial.user_attrs
    try:
        spec: ArchSpec | None = space.from_params(trial.params)
    except Exception:
        spec = None
    values: dict[str, float] = {}
    if trial.state.name == "COMPLETE" and trial.values is not None:
        values = {o.name: float(v) for o, v in zip(objectives, trial.values)}
    pred = {k: (float(v[0]), float(v[1])) for k, v in (attrs.get(ATTR_PRED) or {}).items()}
    return Candidate(
        number=trial.number,
        state=trial.state.name,
        arch_id=str(attrs.get(ATTR_ARCH) or (spec.arch_id if spec else "")),
        spec=spec,
        cost={k: int(v) for k, v in (attrs.get(ATTR_COST) or {}).items()},
        values=values,
        predicted=pred,
        violations=tuple(attrs.get(ATTR_VIOLATIONS) or ()),
        error=attrs.get(ATTR_ERROR),
        worker=attrs.get(ATTR_WORKER),
        params=dict(trial.params),
    )


def _objective_value(c: Candidate, o: Objective) -> float | None:
    if o.name in c.values:
        return c.values[o.name]
    if o.target is not None:
        p = c.predicted.get(o.target)
        return p[0] if p else None
    v = c.cost.get(o.name)
    return float(v) if v is not None else None


def best_candidate(cands: list[Candidate], objectives: tuple[Objective, ...]) -> Candidate | None:
    """Best feasible completed trial by the first objective (ties: lower trial number)."""
    first = objectives[0]
    pool = [c for c in cands if c.complete and c.feasible and _objective_value(c, first) is not None]
    if not pool:
        return None
    sign = 1.0 if first.direction is Direction.MAXIMIZE else -1.0
    return max(pool, key=lambda c: (sign * float(_objective_value(c, first)), -c.number))  # type: ignore[arg-type]


def pareto_axes(objectives: tuple[Objective, ...]) -> tuple[Objective, ...]:
    """The axes of the front a run reports: its objectives, or accuracy against params."""
    return objectives if len(objectives) > 1 else (objectives[0], OBJECTIVES["params"])


def pareto_front(cands: list[Candidate], axes: tuple[Objective, ...]) -> list[Candidate]:
    """Non-dominated feasible completed trials, one per architecture, best first-axis first."""
    pts: list[tuple[Candidate, list[float]]] = []
    seen: set[str] = set()
    for c in sorted(cands, key=lambda c: c.number):
        if not (c.complete and c.feasible) or c.arch_id in seen:
            continue
        vals = [_objective_value(c, o) for o in axes]
        if any(v is None or not math.isfinite(v) for v in vals):
            continue
        seen.add(c.arch_id)
        # minimise everything internally
        pts.append((c, [-v if o.direction is Direction.MAXIMIZE else v for o, v in zip(axes, vals)]))  # type: ignore[operator]
    front = []
    for c, v in pts:
        dominated = any(
            all(a <= b for a, b in zip(w, v)) and any(a < b for a, b in zip(w, v)) for _, w in pts if w is not v
        )
        if not dominated:
            front.append((c, v))
    front.sort(key=lambda cv: (cv[1][0], cv[1][1:], cv[0].number))
    return [c for c, _ in front]


def trials_csv(
    cands: list[Candidate], space: SearchSpace, objectives: tuple[Objective, ...], targets: list[str]
) -> str:
    """The trials table (one row per trial, objectives and every prediction by name)."""
    from analognas.search._space_params import all_param_names

    param_cols = all_param_names(space)
    header = ["number", "state", "feasible", "arch_id"]
    header += [f"value_{o.name}" for o in objectives]
    for t in targets:
        header += [f"pred_{t}", f"pred_{t}_std"]
    header += ["params", "macs", "tiles", "depth", "violations", "error", "worker", "spec"]
    header += [f"param_{p}" for p in param_cols]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for c in sorted(cands, key=lambda c: c.number):
        row: list[Any] = [c.number, c.state, int(c.feasible), c.arch_id]
        row += [_fmt(c.values.get(o.name)) for o in objectives]
        for t in targets:
            m, s = c.predicted.get(t, (None, None))
            row += [_fmt(m), _fmt(s)]
        row += [c.cost.get(k, "") for k in ("params", "macs", "tiles", "depth")]
        row += ["; ".join(c.violations), c.error or "", "" if c.worker is None else c.worker]
        row.append(
            json.dumps(c.spec.to_dict(include_name=False), sort_keys=True, separators=(",", ":")) if c.spec else ""
        )
        row += [c.params.get(p, "") for p in param_cols]
        w.writerow(row)
    return buf.getvalue()


def _fmt(v: float | None) -> str:
    return "" if v is None else repr(float(v))


def read_trials_csv(text: str) -> list[Candidate]:
    """Inverse of `trials_csv` (what the dashboard and `register` read)."""
    rows = list(csv.DictReader(io.StringIO(text)))
    out = []
    for r in rows:
        values = {k.removeprefix("value_"): float(v) for k, v in r.items() if k.startswith("value_") and v != ""}
        pred: dict[str, tuple[float, float]] = {}
        for k, v in r.items():
            if k.startswith("pred_") and not k.endswith("_std") and v != "":
                t = k.removeprefix("pred_")
                pred[t] = (float(v), float(r.get(f"pred_{t}_std") or "nan"))
        params: dict[str, Any] = {}
        for k, v in r.items():
            if k.startswith("param_") and v != "":
                params[k.removeprefix("param_")] = _param_value(v)
        out.append(
            Candidate(
                number=int(r["number"]),
                state=r["state"],
                arch_id=r["arch_id"],
                spec=ArchSpec.from_json(r["spec"]) if r.get("spec") else None,
                cost={k: int(r[k]) for k in ("params", "macs", "tiles", "depth") if r.get(k)},
                values=values,
                predicted=pred,
                violations=tuple(v for v in (r.get("violations") or "").split("; ") if v),
                error=r.get("error") or None,
                worker=int(r["worker"]) if r.get("worker") else None,
                params=params,
            )
        )
    return out


def _param_value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text
