"""Shared test set-up: one thread per process, and no leakage from the user's own files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]


def load_benchmark(name: str):  # type: ignore[no-untyped-def]
    """The script ``benchmarks/NAME.py`` as a module: the benchmarks are scripts, not a
    package, and their tests call their functions."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(autouse=True)
def _isolated_user_zoo(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the user's registry file at a temp path so tests never read or write ~/.config."""
    monkeypatch.setenv("ANALOGNAS_ZOO", str(tmp_path_factory.mktemp("zoo") / "zoo.json"))


@pytest.fixture(scope="session")
def resnet_surrogate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A surrogate of `resnet_like` fitted on 80 records written here."""
    from analognas.space import load_space
    from tests.test_search_support import fit_and_save, write_records

    d = tmp_path_factory.mktemp("sur_resnet")
    space = load_space("resnet_like")
    rec = write_records(d / "records" / "resnet_like-fashion-mnist-synthetic.jsonl", space, 80, seed=1)
    return fit_and_save(rec, space, d / "resnet_like-test.json")


@pytest.fixture(scope="session")
def tiny_surrogate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A surrogate of `tiny` whose records carry the real fidelity/recipe/drift hashes of a
    very small smoke protocol, so `--verify` measurements join its cohort."""
    from analognas.space import load_space
    from tests.test_search_support import fit_and_save, verify_protocol, write_records

    d = tmp_path_factory.mktemp("sur_tiny")
    space = load_space("tiny")
    fid, recipe, drift = verify_protocol()
    rec = write_records(
        d / "records" / "tiny-fashion-mnist-smoke.jsonl", space, 40, seed=2, fidelity=fid, recipe=recipe, drift=drift
    )
    return fit_and_save(rec, space, d / "tiny-test.json")


def pytest_configure(config: pytest.Config) -> None:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
