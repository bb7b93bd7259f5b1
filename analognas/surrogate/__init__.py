"""Surrogate models of accuracy under PCM drift, and the records they learn from.

The search must be cheap, so it asks a surrogate, not a training run, how well an
architecture will hold its accuracy under drift. The measurements behind it are real:
`collect` runs this project's HWA training and PCM drift evaluation and appends one
record per architecture to an append-only store; `fit_surrogate` cross-validates a few
models per target and keeps the best with its figures; `load_surrogate` rebuilds it from
JSON (no pickle). Importing this package, loading and predicting never import torch.

Prediction API for the search::

    from analognas.surrogate import load_surrogate
    sur = load_surrogate("resnet_like-fashion-mnist-low")   # or a path
    sur.check_space(space)                                   # SpaceMismatchError otherwise
    sur.targets        # ("accuracy", "avm", "spread")
    sur.drift_time     # seconds after programming the accuracy target refers to
    pred = sur.predict(specs)           # {target: Prediction(mean, std)}, arrays of len(specs)
    pred = sur.predict_features(X)      # same, from rows of sur.encode(specs)
"""

from __future__ import annotations

from analognas.surrogate._cohort import Cohort
from analognas.surrogate._collect import CollectEvent, CollectPlan, CollectResult, collect, plan_collection
from analognas.surrogate._design import Design, bin_label, design_architectures
from analognas.surrogate._errors import SpaceMismatchError, SurrogateError
from analognas.surrogate._evaluator import Evaluator, MeasureProtocol, PipelineEvaluator, Record, evaluate_many
from analognas.surrogate._features import FEATURE_SETS, FeatureSchema, encode_fast
from analognas.surrogate._fit import FitResult, calibrate, cross_validate, fit_surrogate, rank_agreement
from analognas.surrogate._models import MODEL_KINDS
from analognas.surrogate._queue import DesignQueue, QueueSettings
from analognas.surrogate._records import (
    TARGETS,
    RecordSet,
    default_records_path,
    fitted_records,
    load_records,
    record_key,
    record_targets,
)
from analognas.surrogate._report import Agreement, fidelity_agreement, markdown_report
from analognas.surrogate._stability import cv_stability, stability_markdown
from analognas.surrogate._store import BadLine, RecordStore, StoreContents, failed_path, work_through
from analognas.surrogate._surrogate import (
    Prediction,
    Surrogate,
    default_surrogate_path,
    load_surrogate,
    save_surrogate,
    surrogate_path,
)
from analognas.surrogate._surrogate_evaluator import PREDICTION_FORMAT, SurrogateEvaluator

__all__ = [
    "FEATURE_SETS",
    "MODEL_KINDS",
    "PREDICTION_FORMAT",
    "TARGETS",
    "Agreement",
    "BadLine",
    "Cohort",
    "CollectEvent",
    "CollectPlan",
    "CollectResult",
    "Design",
    "DesignQueue",
    "Evaluator",
    "FeatureSchema",
    "FitResult",
    "MeasureProtocol",
    "PipelineEvaluator",
    "Prediction",
    "QueueSettings",
    "Record",
    "RecordSet",
    "RecordStore",
    "SpaceMismatchError",
    "StoreContents",
    "Surrogate",
    "SurrogateError",
    "SurrogateEvaluator",
    "bin_label",
    "calibrate",
    "collect",
    "cross_validate",
    "cv_stability",
    "default_records_path",
    "default_surrogate_path",
    "design_architectures",
    "encode_fast",
    "evaluate_many",
    "failed_path",
    "fidelity_agreement",
    "fit_surrogate",
    "fitted_records",
    "load_records",
    "load_surrogate",
    "markdown_report",
    "plan_collection",
    "rank_agreement",
    "record_key",
    "record_targets",
    "save_surrogate",
    "stability_markdown",
    "surrogate_path",
    "work_through",
]
