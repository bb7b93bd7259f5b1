"""Typed errors raised by library code.

Library functions never print or exit: they raise one of these, and only the CLI turns
them into a one-line message and an exit code. Every subclass of `AnalogNASError` is a
user-facing problem (bad input, missing files, refused overwrite) and maps to exit code 2.
"""

from __future__ import annotations


class AnalogNASError(Exception):
    """Base class of every error that means "the user's input cannot be used as given"."""


class SpaceError(AnalogNASError):
    """A search-space file is missing, malformed or inconsistent."""


class SpecError(AnalogNASError):
    """An architecture spec (JSON or dataclass) is invalid."""


class UnknownArchitectureError(AnalogNASError):
    """A name is not in the registry; the message lists names and the closest match."""


class DataError(AnalogNASError):
    """A dataset is unknown, or its files are missing or corrupt."""


class CheckpointError(AnalogNASError):
    """A checkpoint is missing, truncated, corrupt, or belongs to another architecture."""


class TrainingDivergedError(AnalogNASError):
    """Training produced a non-finite loss; the message names the epoch and step."""


class OutputExistsError(AnalogNASError):
    """A file or folder the command would write already exists (use --force to replace)."""


class ConfigError(AnalogNASError):
    """An option value is out of range (drift time <= 0, repeats < 1, budget < 1, ...)."""
