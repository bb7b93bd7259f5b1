"""How far the measurements themselves agree: the ceiling any surrogate is judged against.

A surrogate's cross-validated Kendall tau compares its predictions with *measured* values,
and a measurement is the mean over a few independent programmings of one trained network.
Two single programmings of the same networks do not rank them identically, so even a
perfect predictor of the true mean cannot reach tau = 1 against the measured mean. This
module measures that disagreement directly from the records: for every pair of repeats
(i, j) it ranks the architectures by programming i and by programming j, takes Kendall
tau, and averages over pairs. It is a lower bound on the measurement's own reliability
(the mean of k programmings is less noisy than one) and says how much of a low CV tau is
the model's fault. Training-seed noise is not in it: each record trains once.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from analognas.surrogate._records import ONE_MONTH, ONE_SECOND


def _column(rec: dict[str, Any], t: float) -> int | None:
    times = (rec.get("accuracy") or {}).get("times") or ()
    for i, ti in enumerate(times):
        if math.isclose(float(ti), t, rel_tol=1e-9):
            return i
    return None


def _per_repeat(rec: dict[str, Any], target: str, drift_time: float) -> list[float] | None:
    """One value per programming: accuracy at `drift_time`, or AVM (1 s minus 1 month)."""
    rows = (rec.get("accuracy") or {}).get("per_repeat")
    if not rows:
        return None
    try:
        if target == "accuracy":
            i = _column(rec, drift_time)
            return None if i is None else [float(r[i]) for r in rows]
        if target == "avm":
            a, b = _column(rec, ONE_SECOND), _column(rec, ONE_MONTH)
            return None if a is None or b is None else [float(r[a]) - float(r[b]) for r in rows]
    except (TypeError, ValueError, IndexError):
        return None
    return None


def repeatability(records: Sequence[dict[str, Any]], drift_time: float) -> dict[str, dict[str, Any]]:
    """Per target: mean Kendall tau between single programmings, over all repeat pairs.

    Uses one record per architecture (the first) and only the architectures whose record
    has the most common repeat count, so every pair compares the same networks.
    """
    from scipy.stats import kendalltau

    seen: set[str] = set()
    first = []
    for r in records:
        if r.get("arch_id") not in seen:
            seen.add(r.get("arch_id"))
            first.append(r)
    out: dict[str, dict[str, Any]] = {}
    for target in ("accuracy", "avm"):
        values = [v for v in (_per_repeat(r, target, drift_time) for r in first) if v]
        counts = [len(v) for v in values]
        k = max(set(counts), key=counts.count) if counts else 0
        M = np.array([v for v in values if len(v) == k], dtype=np.float64)
        if k < 2 or len(M) < 3:
            out[target] = {"kendall_tau": None, "repeats": k, "n": len(M)}
            continue
        taus = []
        for i, j in itertools.combinations(range(k), 2):
            tau = kendalltau(M[:, i], M[:, j]).statistic
            if np.isfinite(tau):
                taus.append(float(tau))
        out[target] = {"kendall_tau": float(np.mean(taus)) if taus else None, "repeats": k, "n": len(M)}
    return out


def seed_agreement(records: Sequence[dict[str, Any]], drift_time: float) -> dict[str, dict[str, Any]]:
    """Per target: Kendall tau between two training seeds of the same architectures.

    Training-seed noise is what `repeatability` cannot see, and for a surrogate it is the
    larger part: a second seed of some design points (``collect --seed 1 --n K``) measures
    it. Uses the pair of seeds most architectures share; ``None`` below 3 such architectures.
    """
    from scipy.stats import kendalltau

    from analognas.surrogate._records import record_targets

    by_arch: dict[str, dict[int, dict[str, float]]] = {}
    for r in records:
        values = record_targets(r, drift_time)
        seed = r.get("seed")
        if isinstance(values, dict) and isinstance(seed, int) and not isinstance(seed, bool):
            by_arch.setdefault(str(r.get("arch_id")), {}).setdefault(seed, values)
    # One fixed pair of seeds (the one most architectures have), so every pair is alike.
    pair_counts = Counter(p for v in by_arch.values() for p in itertools.combinations(sorted(v), 2))
    seed_pair = min(pair_counts, key=lambda p: (-pair_counts[p], p)) if pair_counts else None
    pairs = [(v[seed_pair[0]], v[seed_pair[1]]) for v in by_arch.values()
             if seed_pair and seed_pair[0] in v and seed_pair[1] in v]
    out: dict[str, dict[str, Any]] = {}
    for target in ("accuracy", "avm"):
        x = np.array([p[0][target] for p in pairs], dtype=np.float64)
        y = np.array([p[1][target] for p in pairs], dtype=np.float64)
        tau = float(kendalltau(x, y).statistic) if len(pairs) >= 3 else math.nan
        out[target] = {"kendall_tau": tau if math.isfinite(tau) else None, "n": len(pairs),
                       "seeds": list(seed_pair) if seed_pair else None}
    return out


CEILING_DRAWS = 200


def noise_ceiling(records: Sequence[dict[str, Any]], drift_time: float) -> dict[str, dict[str, Any]]:
    """Per target (accuracy, AVM): the Kendall tau a perfect predictor of each
    architecture's expected value would reach against these records' targets.

    The fit's targets are per-architecture means over training seeds of per-record means
    over chips, so each carries (a) its chips' standard error, measured per record from
    its programmings (a test subset per chip is in it too) and (b) the training seed's
    variance, measured from the architectures with two seeds (``seed_agreement``'s pair)
    as half the variance of their difference less the chips' part. Noise of that size is
    added to the targets themselves (``CEILING_DRAWS`` seeded draws) and the tau with the
    noise-free values averaged. Without two-seed architectures the training part is
    unknown and left out (``includes_training`` false): the figure is then an upper bound.
    The measured targets stand in for the truth, and their spread holds the noise too, so
    the ceiling is if anything optimistic. A CV tau near it is limited by the
    measurements, not by the model.
    """
    from scipy.stats import kendalltau

    from analognas.surrogate._records import record_targets

    by_arch: dict[str, dict[int, tuple[dict[str, float], dict[str, float]]]] = {}
    for r in records:
        values = record_targets(r, drift_time)
        seed = r.get("seed")
        if not isinstance(values, dict) or not isinstance(seed, int) or isinstance(seed, bool):
            continue
        se2 = {}
        for target in ("accuracy", "avm"):
            chips = _per_repeat(r, target, drift_time)
            se2[target] = float(np.var(chips, ddof=1)) / len(chips) if chips and len(chips) > 1 else math.nan
        by_arch.setdefault(str(r.get("arch_id")), {}).setdefault(seed, (values, se2))
    pair_counts = Counter(p for v in by_arch.values() for p in itertools.combinations(sorted(v), 2))
    seed_pair = min(pair_counts, key=lambda p: (-pair_counts[p], p)) if pair_counts else None
    out: dict[str, dict[str, Any]] = {}
    for target in ("accuracy", "avm"):
        archs = [v for v in by_arch.values() if all(math.isfinite(s[1][target]) for s in v.values())]
        if len(archs) < 5:
            out[target] = {"kendall_tau": None, "n": len(archs)}
            continue
        train_var, includes_training = 0.0, False
        pairs = [(v[seed_pair[0]], v[seed_pair[1]]) for v in archs
                 if seed_pair and seed_pair[0] in v and seed_pair[1] in v]
        if len(pairs) >= 3:
            diffs = [a[0][target] - b[0][target] for a, b in pairs]
            chip_part = float(np.mean([(a[1][target] + b[1][target]) / 2 for a, b in pairs]))
            train_var, includes_training = max(0.0, float(np.var(diffs, ddof=1)) / 2 - chip_part), True
        truth = np.array([np.mean([s[0][target] for s in v.values()]) for v in archs])
        sd = np.array([math.sqrt((train_var + np.mean([s[1][target] for s in v.values()])) / len(v))
                       for v in archs])
        rng = np.random.default_rng(0)
        taus = [kendalltau(truth, truth + rng.normal(0.0, sd)).statistic for _ in range(CEILING_DRAWS)]
        out[target] = {"kendall_tau": float(np.nanmean(taus)), "n": len(archs),
                       "includes_training": includes_training, "training_sd": math.sqrt(train_var),
                       "pairs": len(pairs)}
    return out
