"""How much a surrogate's cross-validated figures depend on luck and on data size.

One 5-fold split gives one Kendall tau; a different shuffle of the same records gives
another, and with a few hundred records the difference is a few hundredths, the size of
the gains a new feature or model claims. This module refits each target's chosen model
(the kind and feature set the fit picked) on other splits, on growing subsets of the
records (the learning curve: would more records help?), and checks the calibrated
uncertainty's coverage at one and two standard deviations (nominal 68 % and 95 %) on
those other splits, out of sample for the calibration.
It uses the surrogate's own feature matrix and targets, so it needs no record file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from analognas.surrogate._errors import SurrogateError
from analognas.surrogate._fit import cross_validate, fold_indices
from analognas.surrogate._surrogate import Surrogate

FRACTIONS = (0.25, 0.5, 0.75, 1.0)


def cv_stability(
    sur: Surrogate, *, splits: int = 5, fractions: Sequence[float] = FRACTIONS, seed: int | None = None
) -> dict[str, dict[str, Any]]:
    """Per target: ``split_kendall_tau`` (the chosen model on ``splits`` other seeded
    fold splits: values, mean, std), ``learning_curve`` (5-fold tau on seeded subsets of
    each fraction of the records) and ``coverage_1sd`` / ``coverage_2sd`` of the
    calibrated std on the other splits' out-of-fold predictions (on the fit's own split
    the calibration was fitted to them, so coverage there says nothing)."""
    if splits < 1:
        raise SurrogateError(f"splits must be >= 1, got {splits}")
    if not fractions or any(not 0 < f <= 1 for f in fractions):
        raise SurrogateError(f"fractions must be in (0, 1], got {list(fractions)}")
    folds = int(sur.meta.get("folds", 5))
    base = int(sur.meta.get("seed", 0)) if seed is None else seed
    X, names, n = sur.X, sur.feature_names, len(sur.X)
    out: dict[str, dict[str, Any]] = {}
    for target, mod in sur.models.items():
        y = np.asarray(sur.y[target], dtype=float)
        own = cross_validate(mod.kind, mod.feature_set, X, y, names, fold_indices(n, folds, base), mod.seed)
        a, b = mod.calibration["scale"], mod.calibration["floor"]
        others = [cross_validate(mod.kind, mod.feature_set, X, y, names, fold_indices(n, folds, base + 1 + k),
                                 mod.seed) for k in range(splits)]
        taus = [o.kendall_tau for o in others]
        finite = [t for t in taus if t is not None]
        # coverage on the other splits: the calibration was fitted to the fit split's residuals
        err = np.concatenate([np.abs(y - o.oof_mean) for o in others])
        std = np.concatenate([np.sqrt((a * o.oof_raw_std) ** 2 + b**2) for o in others])
        curve = []
        for f in fractions:
            m = max(folds * 2, round(f * n))
            if m > n:
                continue
            rows = np.sort(np.random.default_rng(base + 1000).permutation(n)[:m])
            score = cross_validate(mod.kind, mod.feature_set, X[rows], y[rows], names, fold_indices(m, folds, base),
                                   mod.seed)
            curve.append({"fraction": f, "n": m, "kendall_tau": score.kendall_tau})
        out[target] = {
            "model": mod.kind,
            "feature_set": mod.feature_set,
            "kendall_tau": own.kendall_tau,
            "split_kendall_tau": {
                "values": taus,
                "mean": float(np.mean(finite)) if finite else None,
                "std": float(np.std(finite, ddof=1)) if len(finite) > 1 else None,
            },
            "learning_curve": curve,
            "coverage_1sd": float(np.mean(err <= std)),
            "coverage_2sd": float(np.mean(err <= 2 * std)),
        }
    return out


def stability_markdown(figures: dict[str, dict[str, Any]]) -> str:
    """A README-ready table of ``cv_stability``'s figures."""
    def f(v: float | None, d: int = 3) -> str:
        return "-" if v is None else f"{v:.{d}f}"

    sizes = [c["n"] for c in next(iter(figures.values()))["learning_curve"]] if figures else []
    head = "| target | τ (fit split) | τ other splits (mean ± std) | " + " | ".join(f"τ at n={s}" for s in sizes)
    lines = [head + " | coverage 1 sd / 2 sd |", "|---|---:|---:|" + "---:|" * len(sizes) + "---:|"]
    for target, g in figures.items():
        st = g["split_kendall_tau"]
        curve = " | ".join(f(c["kendall_tau"]) for c in g["learning_curve"])
        lines.append(f"| {target} | {f(g['kendall_tau'])} | {f(st['mean'])} ± {f(st['std'])} | {curve} | "
                     f"{g['coverage_1sd']:.0%} / {g['coverage_2sd']:.0%} |")
    return "\n".join(lines) + "\n"
