"""Shared test set-up: one thread per process, and no leakage from the user's own files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_user_zoo(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the user's registry file at a temp path so tests never read or write ~/.config."""
    monkeypatch.setenv("ANALOGNAS_ZOO", str(tmp_path_factory.mktemp("zoo") / "zoo.json"))


def pytest_configure(config: pytest.Config) -> None:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
