"""What a surrogate and its records are worth, as data and as README-ready text.

`fidelity_agreement` answers the question that decides whether cheap measurements may
stand in for expensive ones: do low- and high-fidelity runs rank the same architectures
the same way? `markdown_report` turns a surrogate's stored CV figures into a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analognas._times import label_time
from analognas.surrogate._errors import SurrogateError
from analognas.surrogate._fit import rank_agreement
from analognas.surrogate._records import ONE_DAY, load_records, per_architecture
from analognas.surrogate._surrogate import Surrogate

TARGET_LABELS = {
    "accuracy": "HWA accuracy at {t} (%)",
    "avm": "AVM, 1 s - 1 month (points)",
    "spread": "spread over programmings at {t} (points)",
}


def _fmt(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def markdown_report(sur: Surrogate) -> str:
    """A Markdown paragraph and table of the surrogate's cross-validated figures."""
    m = sur.meta
    t = label_time(sur.drift_time)
    fid = m["fidelity"]
    lines = [
        f"Surrogate `{sur.path.stem if sur.path else 'unsaved'}`: space `{sur.space_name}` "
        f"(`{sur.space_fingerprint}`), {m['dataset']}, fidelity `{fid.get('name')}` "
        f"({fid.get('train_size') or 'all'} training / {fid.get('test_size') or 'all'} test images, "
        f"{fid.get('epochs')}+{fid.get('hwa_epochs')} epochs), recipe `{m['recipe']['name']}`; "
        f"{sur.n_records} records of {m['n_architectures']} architectures (records hash `{m['records_hash']}`), "
        f"{m['folds']}-fold cross-validation, pooled out-of-fold predictions.",
        "",
        "| target | model | features | Kendall τ | Spearman ρ | MAE | n | τ between 2 programmings |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    rep = m.get("repeatability") or {}
    for target, mod in sur.models.items():
        cv = mod.cv
        lines.append(
            f"| {TARGET_LABELS.get(target, target).format(t=t)} | {mod.kind} | {mod.feature_set} | "
            f"{_fmt(cv['kendall_tau'])} | {_fmt(cv['spearman'])} | {_fmt(cv['mae'], 2)} | {cv['n']} | "
            f"{_fmt(rep.get(target, {}).get('kendall_tau'))} |"
        )
    if any(v.get("kendall_tau") is not None for v in rep.values()):
        k = max(int(v.get("repeats", 0)) for v in rep.values())
        lines += [
            "",
            f"The last column is the Kendall τ between two single programmings of the same trained networks "
            f"(mean over the pairs of the {k} measured per record): how far measurement noise alone keeps the "
            f"measured ranking from itself. The target is the mean of {k} programmings, which is less noisy, so "
            "a perfect predictor scores somewhat above that figure against it, and well below 1.",
        ]
    seeds = m.get("seed_agreement") or {}
    if (seeds.get("accuracy") or {}).get("kendall_tau") is not None:
        lines += [
            "",
            f"Two training seeds of the same {seeds['accuracy']['n']} architectures agree at Kendall τ "
            f"{_fmt(seeds['accuracy']['kendall_tau'])} on HWA accuracy at {t} and "
            f"{_fmt((seeds.get('avm') or {}).get('kendall_tau'))} on AVM: the part of the measurement noise that "
            "more programmings cannot remove, and the ceiling a surrogate of one-seed records is judged against.",
        ]
    ceiling = m.get("noise_ceiling") or {}
    acc_c, avm_c = ceiling.get("accuracy") or {}, ceiling.get("avm") or {}
    if acc_c.get("kendall_tau") is not None:
        part = (f"chips and training seed (training sd {acc_c['training_sd']:.2f} points from "
                f"{acc_c['pairs']} two-seed architectures)" if acc_c.get("includes_training")
                else "chips only (no two-seed architectures, so training noise is left out and the ceiling is an "
                     "upper bound)")
        lines += [
            "",
            f"Noise ceiling: a perfect predictor of each architecture's expected value would reach Kendall τ "
            f"{_fmt(acc_c['kendall_tau'])} against these records on HWA accuracy at {t} and "
            f"{_fmt(avm_c.get('kendall_tau'))} on AVM, given their measured noise: {part}. A CV τ near it is "
            "limited by the measurements, not by the model.",
        ]
    probe = m.get("probe_agreement") or {}
    if probe.get("n", 0) >= 3:
        lines += [
            "",
            f"Weight-noise probe (loss increase of the FP32 network under per-column noise, eta "
            f"{probe['eta']:g}; no model fitted), Kendall τ over {probe['n']} "
            f"architectures: against HWA accuracy at {t} {_fmt(probe['accuracy'])}, at 1 month "
            f"{_fmt(probe['accuracy_1mo'])}, against AVM {_fmt(probe['avm'])} (signed so that a useful probe "
            "scores positive); FP32 accuracy alone, the baseline it must beat: "
            + ", ".join(_fmt((probe.get("fp32_baseline") or {}).get(k)) for k in ("accuracy", "accuracy_1mo", "avm"))
            + ".",
        ]
    return "\n".join(lines) + "\n"


@dataclass
class Agreement:
    """Rank agreement of two fidelities on the architectures both measured."""

    low: dict[str, Any]
    high: dict[str, Any]
    n_common: int
    drift_time: float
    metrics: dict[str, dict[str, Any]]
    messages: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "low": self.low,
            "high": self.high,
            "n_common": self.n_common,
            "drift_time": self.drift_time,
            "metrics": self.metrics,
        }


def fidelity_agreement(
    low: Sequence[str | Path], high: Sequence[str | Path], *, drift_time: float = ONE_DAY
) -> Agreement:
    """Kendall tau / Spearman rho between low- and high-fidelity measurements.

    Architectures are matched by `arch_id` (seeds averaged); compared are the HWA accuracy
    at `drift_time`, AVM, spread, and FP32 accuracy.
    """
    lo, hi = load_records(low, drift_time=drift_time), load_records(high, drift_time=drift_time)
    if lo.cohort.space_fingerprint != hi.cohort.space_fingerprint:
        raise SurrogateError(
            f"low-fidelity records are from space {lo.cohort.space} and high-fidelity ones from "
            f"{hi.cohort.space}; agreement needs the same space"
        )
    rows_lo = {s.arch_id: v for s, v, _ in per_architecture(lo.records, drift_time)}
    rows_hi = {s.arch_id: v for s, v, _ in per_architecture(hi.records, drift_time)}
    fp32_lo, fp32_hi = _fp32(lo.records), _fp32(hi.records)
    common = sorted(set(rows_lo) & set(rows_hi))
    if len(common) < 3:
        raise SurrogateError(f"only {len(common)} architecture(s) were measured at both fidelities; need at least 3")
    metrics = {}
    for target in ("accuracy", "avm", "spread"):
        a = np.array([rows_lo[k][target] for k in common])
        b = np.array([rows_hi[k][target] for k in common])
        tau, rho = rank_agreement(a, b)
        metrics[target] = {"kendall_tau": tau, "spearman": rho, "n": len(common)}
    both = [k for k in common if k in fp32_lo and k in fp32_hi]
    tau, rho = rank_agreement(np.array([fp32_lo[k] for k in both]), np.array([fp32_hi[k] for k in both]))
    metrics["fp32_accuracy"] = {"kendall_tau": tau, "spearman": rho, "n": len(both)}

    def side(rs: Any) -> dict[str, Any]:
        return {
            "fidelity": rs.cohort.fidelity,
            "fidelity_hash": rs.cohort.fidelity_hash,
            "records": rs.paths,
            "n_records": len(rs.records),
        }

    return Agreement(side(lo), side(hi), len(common), drift_time, metrics, lo.messages() + hi.messages())


def _fp32(records: Sequence[dict[str, Any]]) -> dict[str, float]:
    acc: dict[str, list[float]] = {}
    for r in records:
        if isinstance(r.get("fp32_accuracy"), (int, float)):
            acc.setdefault(r["arch_id"], []).append(float(r["fp32_accuracy"]))
    return {k: sum(v) / len(v) for k, v in acc.items()}
