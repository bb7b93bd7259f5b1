"""Regressors with an uncertainty estimate, rebuilt from plain JSON.

Each model kind is a small class with `fit(X, y)`, `predict(X) -> (mean, raw_std)` and
`state()`: the learned numbers that must be stored so a refit on load reproduces the
saved model exactly (only the GP has any: its optimised kernel hyperparameters; trees
and boosting are refitted from the data with the same fixed `random_state`). Nothing is
pickled, so a surrogate file is inspectable JSON and cannot execute code when loaded.

Uncertainty per kind:
* `extra_trees`, `random_forest`: the spread of the individual trees' predictions;
* `gbm`: half the gap between the 16% and 84% quantile models (the median is the mean);
* `gp`: the posterior standard deviation.
The raw figures are then calibrated on out-of-fold residuals (see `_fit.calibrate`).
"""

from __future__ import annotations

import warnings
from typing import Any, Protocol

import numpy as np

from analognas.surrogate._errors import SurrogateError

MODEL_KINDS = ("extra_trees", "random_forest", "gbm", "gp")

DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "extra_trees": {"n_estimators": 100, "min_samples_leaf": 2, "max_features": 1.0},
    "random_forest": {"n_estimators": 100, "min_samples_leaf": 2, "max_features": 0.5},
    "gbm": {"max_iter": 60, "max_depth": 3, "learning_rate": 0.15, "min_samples_leaf": 5, "l2_regularization": 1.0},
    "gp": {"nu": 2.5, "n_restarts_optimizer": 0},
}


class Regressor(Protocol):
    def fit(self, X: np.ndarray, y: np.ndarray) -> Regressor: ...
    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...
    def state(self) -> dict[str, Any]: ...


class _Forest:
    def __init__(self, kind: str, params: dict[str, Any], seed: int) -> None:
        from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

        cls = ExtraTreesRegressor if kind == "extra_trees" else RandomForestRegressor
        self.model = cls(random_state=seed, n_jobs=1, **params)

    def fit(self, X: np.ndarray, y: np.ndarray) -> _Forest:
        self.model.fit(X, y)
        return self

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        per_tree = np.stack([t.predict(X) for t in self.model.estimators_])
        return per_tree.mean(axis=0), per_tree.std(axis=0)

    def state(self) -> dict[str, Any]:
        return {}


class _QuantileGBM:
    ALPHAS = (0.16, 0.5, 0.84)

    def __init__(self, params: dict[str, Any], seed: int) -> None:
        from sklearn.ensemble import HistGradientBoostingRegressor

        self.models = [HistGradientBoostingRegressor(loss="quantile", quantile=a, random_state=seed,
                                                     early_stopping=False, **params) for a in self.ALPHAS]

    def fit(self, X: np.ndarray, y: np.ndarray) -> _QuantileGBM:
        for m in self.models:
            m.fit(X, y)
        return self

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo, mid, hi = (m.predict(X) for m in self.models)
        return mid, np.abs(hi - lo) / 2.0

    def state(self) -> dict[str, Any]:
        return {}


class _GP:
    """Standardised inputs, ARD Matern kernel plus a learned noise term."""

    def __init__(self, params: dict[str, Any], seed: int, state: dict[str, Any] | None = None) -> None:
        self.params, self.seed, self.saved = dict(params), seed, state

    def _kernel(self, d: int) -> Any:
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        return (ConstantKernel(1.0, (1e-3, 1e3)) * Matern(np.ones(d), (1e-2, 1e3), nu=self.params["nu"])
                + WhiteKernel(0.1, (1e-6, 1e1)))

    def fit(self, X: np.ndarray, y: np.ndarray) -> _GP:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.gaussian_process import GaussianProcessRegressor

        self.mu = X.mean(axis=0)
        sd = X.std(axis=0)
        self.sd = np.where(sd > 0, sd, 1.0)
        Z = (X - self.mu) / self.sd
        kernel = self._kernel(X.shape[1])
        if self.saved is not None:
            kernel = kernel.clone_with_theta(np.asarray(self.saved["theta"], dtype=float))
            gp = GaussianProcessRegressor(kernel, normalize_y=True, optimizer=None, random_state=self.seed)
        else:
            gp = GaussianProcessRegressor(kernel, normalize_y=True, random_state=self.seed,
                                          n_restarts_optimizer=self.params["n_restarts_optimizer"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp.fit(Z, y)
        self.gp = gp
        return self

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, std = self.gp.predict((X - self.mu) / self.sd, return_std=True)
        return mean, std

    def state(self) -> dict[str, Any]:
        return {"theta": [float(v) for v in self.gp.kernel_.theta]}


def make_model(kind: str, seed: int, params: dict[str, Any] | None = None,
               state: dict[str, Any] | None = None) -> Regressor:
    """A fresh regressor of `kind` (with `state`, one that refits to a saved result)."""
    if kind not in MODEL_KINDS:
        raise SurrogateError(f"unknown model {kind!r}; choose from {', '.join(MODEL_KINDS)}")
    p = dict(DEFAULT_PARAMS[kind]) if params is None else dict(params)
    if kind in ("extra_trees", "random_forest"):
        return _Forest(kind, p, seed)
    if kind == "gbm":
        return _QuantileGBM(p, seed)
    return _GP(p, seed, state)
