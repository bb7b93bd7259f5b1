"""analognas: neural-architecture search for analog in-memory-computing hardware.

Declare a search space, search it with Optuna guided by a surrogate that predicts
accuracy under PCM drift, train candidates with hardware-aware noise (aihwkit physics),
evaluate them after drift, and export winners as plain PyTorch modules.

Importing this package is cheap (no torch); subpackages load what they need.
"""

from __future__ import annotations

__version__ = "0.1.0"

from analognas._errors import (
    AnalogNASError,
    CheckpointError,
    ConfigError,
    DataError,
    OutputExistsError,
    SpaceError,
    SpecError,
    TrainingDivergedError,
    UnknownArchitectureError,
)

__all__ = [
    "AnalogNASError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "OutputExistsError",
    "SpaceError",
    "SpecError",
    "TrainingDivergedError",
    "UnknownArchitectureError",
    "__version__",
]
