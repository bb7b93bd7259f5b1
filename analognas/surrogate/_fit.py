"""Fitting: cross-validated model choice per target, calibration, and the fitted surrogate.

For each target every (model kind x feature set) candidate is scored by k-fold
cross-validation on the same folds. The search ranks architectures, so candidates are
compared by Kendall tau of the pooled out-of-fold predictions (MAE breaks ties), and the
figures of every candidate are kept in the file, not only the winner's. Choosing the best
of a few candidates on the same folds that report its score flatters it slightly; with a
handful of candidates the effect is small, and the other candidates' figures show it.

The raw uncertainty of each model (tree spread, quantile gap, GP std) is not in target
units of error, so it is calibrated on the out-of-fold residuals: the std is
`sqrt((a * raw)**2 + b**2)` with `a, b` maximising the Gaussian likelihood of the
residuals. `b > 0` keeps every std positive, also where all trees agree.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from analognas._errors import SpaceError
from analognas.space import SearchSpace, load_space
from analognas.surrogate._errors import SurrogateError
from analognas.surrogate._features import FEATURE_SETS, FeatureSchema, feature_indices
from analognas.surrogate._models import DEFAULT_PARAMS, MODEL_KINDS, make_model
from analognas.surrogate._probe_agreement import probe_agreement
from analognas.surrogate._records import (
    ONE_DAY,
    TARGETS,
    RecordSet,
    load_records,
    per_architecture,
    utc_now,
)
from analognas.surrogate._repeatability import noise_ceiling, repeatability, seed_agreement
from analognas.surrogate._surrogate import Surrogate, TargetModel

#: progress(done, total, description)
Progress = Callable[[int, int, str], None]


@dataclass
class CVScore:
    """Pooled out-of-fold figures of one candidate on one target."""

    model: str
    feature_set: str
    kendall_tau: float | None
    spearman: float | None
    mae: float
    fold_kendall_tau: list[float | None]
    oof_mean: np.ndarray = field(repr=False)
    oof_raw_std: np.ndarray = field(repr=False)

    def key(self) -> tuple[float, float]:
        return (self.kendall_tau if self.kendall_tau is not None else -math.inf, -self.mae)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "feature_set": self.feature_set, "kendall_tau": self.kendall_tau,
                "spearman": self.spearman, "mae": self.mae}


def _finite(v: float) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None


def rank_agreement(a: np.ndarray, b: np.ndarray) -> tuple[float | None, float | None]:
    """(Kendall tau, Spearman rho); None where undefined (fewer than 2 points, a constant)."""
    from scipy.stats import kendalltau, spearmanr

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None, None
    return _finite(kendalltau(a, b).statistic), _finite(spearmanr(a, b).statistic)


def fold_indices(n: int, folds: int, seed: int) -> list[np.ndarray]:
    """Test indices of each fold: a seeded shuffle cut into `folds` near-equal parts."""
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(order, folds)]


def cross_validate(kind: str, feature_set: str, X: np.ndarray, y: np.ndarray, names: Sequence[str],
                   folds: list[np.ndarray], seed: int) -> CVScore:
    cols = feature_indices(feature_set, names)
    mean, raw = np.zeros(len(y)), np.zeros(len(y))
    taus: list[float | None] = []
    for test in folds:
        train = np.setdiff1d(np.arange(len(y)), test)
        model = make_model(kind, seed).fit(X[np.ix_(train, cols)], y[train])
        m, s = model.predict(X[np.ix_(test, cols)])
        mean[test], raw[test] = m, s
        taus.append(rank_agreement(y[test], m)[0])
    tau, rho = rank_agreement(y, mean)
    return CVScore(kind, feature_set, tau, rho, float(np.mean(np.abs(y - mean))), taus, mean, raw)


def calibrate(residuals: np.ndarray, raw_std: np.ndarray) -> dict[str, float]:
    """`scale`, `floor` maximising the Gaussian likelihood of the residuals (see module doc)."""
    from scipy.optimize import minimize

    r2 = np.asarray(residuals, dtype=float) ** 2
    s2 = np.asarray(raw_std, dtype=float) ** 2
    tiny = 1e-9 * (1.0 + float(np.sqrt(r2.mean())))

    def nll(p: np.ndarray) -> float:
        var = math.exp(2 * p[0]) * s2 + math.exp(2 * p[1]) + tiny**2
        return float(np.sum(np.log(var) + r2 / var))

    start = np.array([0.0, math.log(math.sqrt(float(np.median(r2))) + tiny)])
    best = minimize(nll, start, method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-9, "maxiter": 2000})
    a, b = (math.exp(float(v)) for v in np.clip(best.x, -30, 30))
    return {"scale": a, "floor": max(b, tiny)}


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("analognas", "scikit-learn", "numpy", "scipy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "absent"
    return out


@dataclass
class FitResult:
    """The surrogate, the records it used, and lines for the user (drops, bad lines)."""

    surrogate: Surrogate
    records: RecordSet
    messages: list[str]


def resolve_records_space(records: RecordSet, space: SearchSpace | None) -> SearchSpace:
    """The space the records were measured on: the given one, or the project's file by name."""
    if space is not None:
        return space
    c = records.cohort
    try:
        found = load_space(c.space)
    except SpaceError as exc:
        raise SurrogateError(f"records were measured on space {c.space!r}, which cannot be loaded by name ({exc}); "
                             "pass --space FILE") from None
    if found.fingerprint != c.space_fingerprint:
        raise SurrogateError(
            f"records were measured on space {c.space!r} with fingerprint {c.space_fingerprint}, but "
            f"{found.source} now has {found.fingerprint}; pass --space with the file they were measured on"
        )
    return found


def fit_surrogate(
    records: Sequence[str | Path] | RecordSet,
    *,
    space: SearchSpace | None = None,
    fidelity: str | None = None,
    drift_time: float = ONE_DAY,
    folds: int = 5,
    seed: int = 0,
    models: Sequence[str] = MODEL_KINDS,
    feature_sets: Sequence[str] = FEATURE_SETS,
    progress: Progress | None = None,
) -> FitResult:
    """Fit accuracy, AVM and spread models on one cohort of records (see module doc)."""
    if folds < 2:
        raise SurrogateError(f"--folds must be >= 2, got {folds}")
    for k in models:
        make_model(k, seed)  # unknown kinds fail before any work
    if not models or not feature_sets:
        raise SurrogateError("at least one model kind and one feature set are needed")
    rs = records if isinstance(records, RecordSet) else load_records(
        records, space=space, fidelity=fidelity, drift_time=drift_time)
    sp = resolve_records_space(rs, space)
    schema = FeatureSchema.from_space(sp)
    for fs in feature_sets:
        feature_indices(fs, schema.names)
    rows = per_architecture(rs.records, drift_time)
    if len(rows) < folds:
        raise SurrogateError(
            f"only {len(rows)} architecture(s) with records ({len(rs.records)} record(s)) for {folds}-fold "
            f"cross-validation; collect at least {folds} or lower --folds"
        )
    X = schema.encode([spec for spec, _, _ in rows])
    y = {t: np.array([v[t] for _, v, _ in rows]) for t in TARGETS}
    fitted = fit_targets(schema, X, y, folds=folds, seed=seed, models=models, feature_sets=feature_sets,
                         progress=progress)
    meta = {
        "n_records": len(rs.records),
        "n_architectures": len(rows),
        "arch_ids": [spec.arch_id for spec, _, _ in rows],
        "record_keys": sorted(k for _, _, keys in rows for k in keys),
        "records": rs.paths,
        "records_hash": rs.records_hash,
        "dropped": rs.dropped,
        "bad_lines": len(rs.bad_lines),
        "dataset": rs.cohort.dataset,
        "fidelity": rs.fidelity,
        "fidelity_hash": rs.cohort.fidelity_hash,
        "recipe": {"name": rs.cohort.recipe, "hash": rs.cohort.recipe_hash},
        # the chips' seed follows each record's training seed, so it is no setting of the cohort
        "drift": {k: v for k, v in rs.drift.items() if k != "seed"},
        "drift_seeds": sorted({int((r.get("drift") or {}).get("seed", 0)) for r in rs.records}),
        "folds": folds,
        "seed": seed,
        "repeatability": repeatability(rs.records, drift_time),
        "probe_agreement": probe_agreement(rs.records, drift_time),
        "seed_agreement": seed_agreement(rs.records, drift_time),
        "noise_ceiling": noise_ceiling(rs.records, drift_time),
        "created": utc_now(),
        "versions": _versions(),
    }
    return FitResult(Surrogate(schema, drift_time, X, y, fitted, meta), rs, rs.messages())


def fit_targets(
    schema: FeatureSchema,
    X: np.ndarray,
    y: dict[str, np.ndarray],
    *,
    folds: int = 5,
    seed: int = 0,
    models: Sequence[str] = MODEL_KINDS,
    feature_sets: Sequence[str] = FEATURE_SETS,
    progress: Progress | None = None,
) -> dict[str, TargetModel]:
    """Per target: cross-validate every candidate, keep the best, calibrate, refit on all."""
    split = fold_indices(len(X), folds, seed)
    total, done = len(y) * len(models) * len(feature_sets), 0
    fitted: dict[str, TargetModel] = {}
    for t, yt in y.items():
        scores = []
        for kind in models:
            for fs in feature_sets:
                if progress is not None:
                    progress(done, total, f"{t}: cross-validating {kind} on {fs} features")
                scores.append(cross_validate(kind, fs, X, yt, schema.names, split, seed))
                done += 1
        best = max(scores, key=CVScore.key)
        cal = calibrate(yt - best.oof_mean, best.oof_raw_std)
        std = np.sqrt((cal["scale"] * best.oof_raw_std) ** 2 + cal["floor"] ** 2)
        cv = {
            "kendall_tau": best.kendall_tau,
            "spearman": best.spearman,
            "mae": best.mae,
            "folds": folds,
            "n": len(yt),
            "fold_kendall_tau": best.fold_kendall_tau,
            "coverage_1sd": float(np.mean(np.abs(yt - best.oof_mean) <= std)),
            "target_std": float(np.std(yt)),
        }
        fitted[t] = TargetModel(t, best.model, best.feature_set, dict(DEFAULT_PARAMS[best.model]), seed, cal, cv,
                                [sc.to_dict() for sc in scores]).fit(X, yt, schema.names)
    if progress is not None:
        progress(total, total, "fitted")
    return fitted
