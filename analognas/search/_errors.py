"""Typed errors of the search package (all exit code 2 through the CLI's one handler)."""

from __future__ import annotations

from analognas._errors import AnalogNASError


class SearchError(AnalogNASError):
    """The study's storage failed during a search (server gone, disk full); finished trials are kept."""
