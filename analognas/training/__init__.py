"""Training, checkpoints and drift evaluation of architectures."""

from __future__ import annotations

from analognas._times import DEFAULT_TIMES, label_time, parse_time
from analognas.training._compare import (
    MAX_SEEDS,
    Comparison,
    compare_architectures,
    comparison_row,
    mean_interval,
    paired_difference,
)
from analognas.training._evaluation import ArchEvaluation, DriftCurve, evaluation_summary
from analognas.training._fidelity import FIDELITIES, Fidelity, get_fidelity
from analognas.training._loop import TrainResult, accuracy, train_model
from analognas.training._pipeline import (
    DATA_SEED,
    MODES,
    checkpoint_key,
    drift_curve,
    ensure_fp32,
    ensure_hwa,
    evaluate_architecture,
    with_avm_times,
)
from analognas.training._store import CheckpointKey, CheckpointStore, default_cache_dir, package_versions
from analognas.training._train_one import TrainSummary, train_architecture

__all__ = [
    "DATA_SEED",
    "DEFAULT_TIMES",
    "FIDELITIES",
    "MAX_SEEDS",
    "MODES",
    "ArchEvaluation",
    "CheckpointKey",
    "CheckpointStore",
    "Comparison",
    "DriftCurve",
    "Fidelity",
    "TrainResult",
    "TrainSummary",
    "accuracy",
    "checkpoint_key",
    "compare_architectures",
    "comparison_row",
    "default_cache_dir",
    "drift_curve",
    "ensure_fp32",
    "ensure_hwa",
    "evaluate_architecture",
    "evaluation_summary",
    "get_fidelity",
    "label_time",
    "mean_interval",
    "package_versions",
    "paired_difference",
    "parse_time",
    "train_architecture",
    "train_model",
    "with_avm_times",
]
