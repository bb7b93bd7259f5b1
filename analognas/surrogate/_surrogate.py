"""The fitted surrogate: prediction API and JSON persistence.

The search asks "how accurate will this architecture be a day after programming, how
much will it lose over a month, and how much does that vary between chips?" thousands of
times a second. `Surrogate.predict` answers with a mean and a standard deviation per
target. Importing this module never imports torch.

A surrogate file is JSON: the feature schema (space name, fingerprint, encoding settings,
feature names), per target the chosen model, its hyperparameters, calibration and
cross-validated figures, the training features and targets, and the record keys and
hash they came from. Loading refits each model deterministically from those numbers and
checks that it reproduces the predictions saved at fit time, so a different library
version that would silently change the model is refused instead of trusted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from analognas._atomic import write_atomic
from analognas._errors import OutputExistsError
from analognas._shipped import shipped_dir
from analognas._times import time_flag
from analognas.space import ArchSpec, SearchSpace
from analognas.surrogate._errors import SurrogateError
from analognas.surrogate._features import FeatureSchema, feature_indices
from analognas.surrogate._models import Regressor, make_model

SURROGATE_FORMAT = "analognas.surrogate/1"
SURROGATES_DIR = Path("surrogates")
#: The surrogates shipped with the package, found from the package itself, so the README's
#: main command works from any folder; the user's own `./surrogates/` is searched first.
SHIPPED_SURROGATES_DIR = shipped_dir("surrogates")
CHECK_ROWS = 16


class Prediction(NamedTuple):
    """Per-architecture predicted mean and standard deviation (same units as the target)."""

    mean: np.ndarray
    std: np.ndarray


@dataclass
class TargetModel:
    """One target's chosen model, how it was chosen, and how sure it is."""

    target: str
    kind: str
    feature_set: str
    params: dict[str, Any]
    seed: int
    calibration: dict[str, float]
    """`std = sqrt((scale * raw_std)**2 + floor**2)`, fitted on out-of-fold residuals."""
    cv: dict[str, Any]
    candidates: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    columns: list[int] = field(default_factory=list)
    model: Regressor | None = None

    def fit(self, X: np.ndarray, y: np.ndarray, names: Sequence[str], restore: bool = False) -> TargetModel:
        self.columns = feature_indices(self.feature_set, names)
        self.model = make_model(self.kind, self.seed, self.params, self.state if restore else None)
        self.model.fit(X[:, self.columns], y)
        self.state = self.model.state()
        return self

    def predict(self, X: np.ndarray) -> Prediction:
        assert self.model is not None
        mean, raw = self.model.predict(X[:, self.columns])
        a, b = self.calibration["scale"], self.calibration["floor"]
        return Prediction(mean, np.sqrt((a * raw) ** 2 + b**2))

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.kind,
            "feature_set": self.feature_set,
            "params": self.params,
            "seed": self.seed,
            "calibration": self.calibration,
            "cv": self.cv,
            "candidates": self.candidates,
            "state": self.state,
        }

    @classmethod
    def from_dict(cls, target: str, d: dict[str, Any]) -> TargetModel:
        return cls(
            target=target,
            kind=d["model"],
            feature_set=d["feature_set"],
            params=dict(d["params"]),
            seed=int(d["seed"]),
            calibration={k: float(v) for k, v in d["calibration"].items()},
            cv=dict(d["cv"]),
            candidates=list(d.get("candidates", [])),
            state=dict(d.get("state", {})),
        )


class Surrogate:
    """Predicts drift accuracy, AVM and spread of architectures of one search space.

    Typical use by a search::

        sur = load_surrogate("resnet_like-fashion-mnist-low")
        sur.check_space(space)                  # SpaceMismatchError if fitted elsewhere
        pred = sur.predict(specs)               # {"accuracy": (mean, std), "avm": ..., "spread": ...}
        best = specs[int(np.argmax(pred["accuracy"].mean))]
    """

    def __init__(
        self,
        schema: FeatureSchema,
        drift_time: float,
        X: np.ndarray,
        y: dict[str, np.ndarray],
        models: dict[str, TargetModel],
        meta: dict[str, Any],
    ) -> None:
        self.schema, self.drift_time, self.X, self.y = schema, float(drift_time), X, y
        self.models, self.meta = models, meta
        self.path: Path | None = None

    # --- identity -------------------------------------------------------------------
    @property
    def space_name(self) -> str:
        return self.schema.space_name

    @property
    def space_fingerprint(self) -> str:
        return self.schema.space_fingerprint

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.schema.names

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(self.models)

    @property
    def n_records(self) -> int:
        return int(self.meta["n_records"])

    @property
    def fidelity(self) -> dict[str, Any]:
        return dict(self.meta["fidelity"])

    @property
    def cv(self) -> dict[str, dict[str, Any]]:
        """Per target: `kendall_tau`, `spearman`, `mae` (pooled out-of-fold), and more."""
        return {t: dict(m.cv) for t, m in self.models.items()}

    def check_space(self, space: SearchSpace) -> None:
        """Raise `SpaceMismatchError` unless this surrogate was fitted on `space`."""
        self.schema.check_space(space)

    # --- prediction -----------------------------------------------------------------
    def encode(self, specs: Sequence[ArchSpec]) -> np.ndarray:
        return self.schema.encode(specs)

    def predict_features(self, X: np.ndarray) -> dict[str, Prediction]:
        """Predictions for already encoded architectures (rows of `encode`)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.schema.names):
            raise SurrogateError(f"expected features of shape (n, {len(self.schema.names)}), got {X.shape}")
        return {t: m.predict(X) for t, m in self.models.items()}

    def predict(self, specs: Sequence[ArchSpec]) -> dict[str, Prediction]:
        """Mean and std per target for each spec (specs are not checked against the space)."""
        if not len(specs):
            empty = np.zeros(0)
            return {t: Prediction(empty, empty) for t in self.models}
        return self.predict_features(self.encode(specs))

    # --- persistence ----------------------------------------------------------------
    def _check_predictions(self) -> dict[str, Any]:
        rows = self.X[: min(CHECK_ROWS, len(self.X))]
        return {t: {"mean": p.mean.tolist(), "std": p.std.tolist()} for t, p in self.predict_features(rows).items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": SURROGATE_FORMAT,
            "schema": self.schema.to_dict(),
            "drift_time": self.drift_time,
            "meta": self.meta,
            "targets": {t: m.to_dict() for t, m in self.models.items()},
            "data": {"X": self.X.tolist(), "y": {t: v.tolist() for t, v in self.y.items()}},
            "check": self._check_predictions(),
        }

    def summary(self) -> dict[str, Any]:
        """What `analognas surrogate show --json` prints (no training data)."""
        m = self.meta
        return {
            "path": str(self.path) if self.path else None,
            "space": {"name": self.space_name, "fingerprint": self.space_fingerprint},
            "n_records": self.n_records,
            "n_architectures": m["n_architectures"],
            "fidelity": m["fidelity"],
            "dataset": m["dataset"],
            "recipe": m["recipe"],
            "drift_time": self.drift_time,
            "records": m["records"],
            "records_hash": m["records_hash"],
            "folds": m["folds"],
            "created": m["created"],
            "versions": m["versions"],
            "targets": {
                t: {"model": mod.kind, "feature_set": mod.feature_set, **mod.cv} for t, mod in self.models.items()
            },
            "repeatability": m.get("repeatability", {}),
            "probe_agreement": m.get("probe_agreement"),
            "seed_agreement": m.get("seed_agreement"),
            "noise_ceiling": m.get("noise_ceiling"),
        }


def surrogate_from_dict(doc: dict[str, Any], *, verify: bool = True, source: str = "<dict>") -> Surrogate:
    """Rebuild (refit) a surrogate from its JSON document."""
    if not isinstance(doc, dict) or doc.get("format") != SURROGATE_FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise SurrogateError(f"{source}: not a surrogate file (format {found!r}, expected {SURROGATE_FORMAT})")
    try:
        schema = FeatureSchema.from_dict(doc["schema"])
        X = np.asarray(doc["data"]["X"], dtype=np.float64)
        y = {t: np.asarray(v, dtype=np.float64) for t, v in doc["data"]["y"].items()}
        models = {t: TargetModel.from_dict(t, d) for t, d in doc["targets"].items()}
        sur = Surrogate(schema, float(doc["drift_time"]), X, y, models, dict(doc["meta"]))
        if X.ndim != 2 or X.shape[1] != len(schema.names) or any(len(v) != len(X) for v in y.values()):
            raise ValueError("training data shape does not match the schema")
        for t, m in models.items():
            m.fit(X, y[t], schema.names, restore=True)
    except SurrogateError as exc:
        raise SurrogateError(f"{source}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise SurrogateError(f"{source}: malformed surrogate file ({exc!r})") from None
    if verify:
        saved, now = doc.get("check", {}), sur._check_predictions()
        for t in models:
            for what in ("mean", "std"):
                a, b = np.asarray(saved.get(t, {}).get(what, [])), np.asarray(now[t][what])
                if a.shape != b.shape or not np.allclose(a, b, rtol=1e-9, atol=1e-12):
                    was = doc.get("meta", {}).get("versions", {}).get("scikit-learn", "?")
                    raise SurrogateError(
                        f"{source}: refitting does not reproduce the saved {t} predictions (fitted with "
                        f"scikit-learn {was}, this is {_sklearn_version()}); refit with `analognas surrogate fit`"
                    )
    return sur


def _sklearn_version() -> str:
    import sklearn

    return str(sklearn.__version__)


def surrogate_path(name_or_path: str | Path) -> Path:
    """`NAME` -> `surrogates/NAME.json`; a path gets `.json` appended if it has none."""
    p = Path(name_or_path)
    if p.suffix == ".json":
        return p
    if len(p.parts) == 1:
        local = SURROGATES_DIR / f"{p.name}.json"
        shipped = SHIPPED_SURROGATES_DIR / f"{p.name}.json"
        return shipped if not local.exists() and shipped.is_file() else local
    return p.with_name(p.name + ".json")


def default_surrogate_path(
    name: str | Path | None = None, *, space_fingerprint: str | None = None, drift_time: float | None = None
) -> Path:
    """Where `name` lives; without a name, the most recently fitted surrogate in `surrogates/`.

    "Most recent" is the `created` time written into the file, not the file's mtime: a
    fresh clone gives every file the same checkout time. With `space_fingerprint`, only
    surrogates fitted on that space qualify, so a second space's surrogate lying beside
    the default one is never picked for the wrong space. With `drift_time`, only those
    predicting accuracy that long after programming: a 1-day and a 1-month surrogate of
    one space can lie side by side, and `search --drift 1mo` takes the second.
    """
    if name is not None:
        return surrogate_path(name)
    found: list[tuple[int, str, str, Path, float]] = []
    dirs = [SURROGATES_DIR] + ([SHIPPED_SURROGATES_DIR] if SHIPPED_SURROGATES_DIR != SURROGATES_DIR.resolve() else [])
    for rank, d in enumerate(dirs):
        found.extend(_surrogates_in(d, space_fingerprint, rank))
    which = "" if space_fingerprint is None else f" fitted on this space ({space_fingerprint})"
    if not found:
        raise SurrogateError(f"no surrogate{which} in {SURROGATES_DIR}/ or shipped with analognas; fit one with"
                             " `analognas surrogate fit`")
    if drift_time is not None:
        at = [f for f in found if math.isclose(f[4], drift_time, rel_tol=1e-9)]
        if not at:
            there = [time_flag(t) for t in sorted({f[4] for f in found})]
            shipped = any(f[0] < 0 for f in found)  # the shipped folder's rank is -1
            where = f"{SURROGATES_DIR}/" + (" or shipped with analognas" if shipped else "")
            raise SurrogateError(
                f"no surrogate{which} in {where} predicts accuracy {time_flag(drift_time)} after"
                f" programming (those there predict {', '.join(there)}); use --drift {there[0]} or fit one with"
                f" `analognas surrogate fit --drift {time_flag(drift_time)}`"
            )
        found = at
    # the user's own folder wins over the shipped one; within a folder, the newest fit
    return max(found)[3]


def _surrogates_in(folder: Path, space_fingerprint: str | None, rank: int) -> list[tuple[int, str, str, Path, float]]:
    found = []
    for p in folder.glob("*.json"):
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
            fp = str(doc["schema"]["space_fingerprint"])
            created = str(doc.get("meta", {}).get("created", ""))
            drift_time = float(doc["drift_time"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a surrogate file; loading it by name reports why
        if space_fingerprint is None or fp == space_fingerprint:
            found.append((-rank, created, p.name, p, drift_time))
    return found


def save_surrogate(sur: Surrogate, path: str | Path, *, force: bool = False) -> Path:
    """Write the JSON file atomically; refuse to replace one unless `force`."""
    target = surrogate_path(path)
    if target.exists() and not force:
        raise OutputExistsError(f"{target} already exists; use --force to overwrite")
    text = json.dumps(sur.to_dict(), indent=1, sort_keys=True, allow_nan=False) + "\n"
    write_atomic(target, text, mode=None)
    sur.path = target
    return target


def load_surrogate(name_or_path: str | Path | None = None, *, verify: bool = True) -> Surrogate:
    """Load and refit a surrogate file (a name resolves under `surrogates/`)."""
    path = default_surrogate_path(name_or_path)
    if not path.is_file():
        raise SurrogateError(f"{path}: surrogate file not found")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SurrogateError(f"{path}: not valid JSON ({exc})") from None
    sur = surrogate_from_dict(doc, verify=verify, source=str(path))
    sur.path = path
    return sur
