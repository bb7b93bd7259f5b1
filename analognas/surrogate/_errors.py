"""Typed errors of the surrogate package.

Both subclass `AnalogNASError`, so the CLI turns them into one stderr line and exit code 2
without knowing about them. (They live here rather than in `analognas/_errors.py` only
because that file has another owner; moving them there changes no behaviour.)
"""

from __future__ import annotations

from analognas._errors import AnalogNASError


class SurrogateError(AnalogNASError):
    """Records cannot be used as given (too few, ambiguous mix, no target), or a surrogate
    file is missing, malformed, or does not reproduce its saved predictions."""


class SpaceMismatchError(SurrogateError):
    """A surrogate was fitted on another search space than the one being searched."""
