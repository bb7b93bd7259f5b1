"""Does the seconds-cheap weight-noise probe rank architectures like the measurement does?

Every protocol-v2 record carries ``probe``: the loss increase of its FP32 network under
per-column weight noise (``analognas.analog.record_probe``). If that ranked architectures
like HWA accuracy after drift, a search could screen candidates with a short training and
the probe before it asks for an expensive measurement. No published work reports this
correlation for PCM drift, so it is measured here, on whatever records a fit uses, and
reported beside the surrogate's own figures. Signs are chosen so that a useful probe
scores positive: a smaller loss increase should mean higher accuracy and a smaller AVM.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from analognas.surrogate._records import ONE_MONTH, record_targets


def _real(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
    return float(value) if ok else None


def _probe(rec: dict[str, Any]) -> tuple[float, float] | None:
    """(eta, loss increase) of a record's probe, or None if it has no well-formed one."""
    probe = rec.get("probe")
    if not isinstance(probe, dict):
        return None
    eta, li = _real(probe.get("eta")), _real(probe.get("loss_increase"))
    return None if eta is None or li is None else (eta, li)


def probe_agreement(records: Sequence[dict[str, Any]], drift_time: float) -> dict[str, Any]:
    """Kendall tau of the probe against HWA accuracy at ``drift_time`` and at 1 month and
    against AVM, over architectures (seeds averaged); ``None`` with fewer than 3.

    Loss increases at different noise levels are not on one scale, so only the probes at
    the most common eta count; records without a well-formed probe are left out."""
    from collections import Counter

    from scipy.stats import kendalltau

    probes = [(r, p) for r in records if (p := _probe(r)) is not None]
    eta = Counter(e for _, (e, _) in probes).most_common(1)[0][0] if probes else None
    groups: dict[str, list[tuple[float, dict[str, float], dict[str, float] | str]]] = {}
    fp32: dict[str, list[float]] = {}
    for r, (e, li) in probes:
        at_t, at_month = record_targets(r, drift_time), record_targets(r, ONE_MONTH)
        if e != eta or not isinstance(at_t, dict):
            continue
        groups.setdefault(r["arch_id"], []).append((li, at_t, at_month))
        fp32.setdefault(r["arch_id"], []).append(_real(r.get("fp32_accuracy")) or np.nan)
    probe, acc, month, avm, base = [], [], [], [], []
    for arch, rows in groups.items():
        base.append(np.mean(fp32[arch]))
        probe.append(np.mean([li for li, _, _ in rows]))
        acc.append(np.mean([v["accuracy"] for _, v, _ in rows]))
        avm.append(np.mean([v["avm"] for _, v, _ in rows]))
        months = [m["accuracy"] for _, _, m in rows if isinstance(m, dict)]
        month.append(np.mean(months) if len(months) == len(rows) else np.nan)

    def tau(a: list[float], b: list[float]) -> float | None:
        a_, b_ = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        ok = np.isfinite(a_) & np.isfinite(b_)
        if ok.sum() < 3:
            return None
        value = kendalltau(a_[ok], b_[ok]).statistic
        return float(value) if np.isfinite(value) else None

    neg = [-p for p in probe]
    return {
        "n": len(probe),
        "eta": eta,
        "accuracy": tau(neg, acc),
        "accuracy_1mo": tau(neg, month),
        "avm": tau(probe, avm),
        # the baseline the probe must beat to earn its minute: FP32 accuracy, free with the checkpoint
        "fp32_baseline": {"accuracy": tau(base, acc), "accuracy_1mo": tau(base, month),
                          "avm": tau([-b for b in base], avm)},
    }


__all__ = ["probe_agreement"]
