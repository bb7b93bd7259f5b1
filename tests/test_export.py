"""Exported files need only torch and reproduce the builder exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from analognas import CheckpointError, OutputExistsError
from analognas.models import create, export_model, get_spec, list_models

# Runs in a fresh interpreter where importing analognas fails, whatever sys.path holds.
CHECK = r"""
import importlib.abc, json, sys, torch
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "analognas" or name.startswith("analognas."):
            raise ImportError("analognas must not be imported by an exported model")
sys.meta_path.insert(0, Block())
sys.path.insert(0, sys.argv[1])
import exported
model = exported.build_model().eval()
torch.manual_seed(1)
x = torch.randn(2, *exported.INPUT_SHAPE)
torch.save({"x": x, "y": model(x).detach(), "names": sorted(n for n, _ in model.named_parameters())}, sys.argv[2])
"""


def _run_isolated(folder: Path, out: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-I", "-c", CHECK, str(folder), str(out)], check=True, env=env, cwd=folder)
    return torch.load(out, weights_only=True)


@pytest.mark.parametrize("name", ["T500", "resnet20"])
def test_export_with_weights_matches_builder(tmp_path: Path, name: str) -> None:
    shape = (1, 28, 28)
    torch.manual_seed(0)
    model = create(name, shape, 10)
    for m in model.modules():  # non-trivial BN statistics, so eval outputs really depend on them
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    ckpt = tmp_path / "trained.pt"
    torch.save(model.state_dict(), ckpt)
    result = export_model(get_spec(name), tmp_path / "exported.py", input_shape=shape, weights=ckpt)
    assert result.weights_path and result.weights_path.exists()
    meta = json.loads(result.spec_path.read_text())
    assert meta["arch_id"] == get_spec(name).arch_id

    got = _run_isolated(tmp_path, tmp_path / "out.pt")
    model.eval()
    assert got["names"] == sorted(n for n, _ in model.named_parameters())
    assert torch.allclose(model(got["x"]), got["y"], atol=1e-6)


def test_exported_source_imports_only_torch() -> None:
    from analognas.models._export import export_source

    src = export_source(get_spec("T500"), (3, 32, 32), 10, None)
    imports = [line for line in src.splitlines() if line.startswith(("import ", "from "))]
    assert all("analognas" not in line for line in imports)
    assert {line.split()[1] for line in imports} <= {"__future__", "torch", "torch.nn.functional", "os"}


@pytest.mark.parametrize("name", list_models())
def test_every_entry_exports_same_parameters(tmp_path: Path, name: str) -> None:
    import importlib.util

    path = tmp_path / f"m_{name.replace('-', '_')}.py"
    export_model(get_spec(name), path)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    exported, built = mod.build_model(), create(name)
    assert [n for n, _ in exported.named_parameters()] == [n for n, _ in built.named_parameters()]
    exported.load_state_dict(built.state_dict())


def test_export_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "m.py"
    target.write_text("mine")
    with pytest.raises(OutputExistsError):
        export_model(get_spec("T500"), target)
    assert target.read_text() == "mine"
    assert not (tmp_path / "m.json").exists()
    export_model(get_spec("T500"), target, force=True)
    assert "build_model" in target.read_text()


def test_export_rejects_weights_of_another_architecture(tmp_path: Path) -> None:
    ckpt = tmp_path / "r20.pt"
    torch.save(create("resnet20").state_dict(), ckpt)
    with pytest.raises(CheckpointError, match="does not match"):
        export_model(get_spec("T500"), tmp_path / "m.py", weights=ckpt)
    assert not list(tmp_path.glob("m.*"))


def test_export_rejects_corrupt_weights(tmp_path: Path) -> None:
    ckpt = tmp_path / "bad.pt"
    torch.save(create("T500").state_dict(), ckpt)
    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # truncated
    with pytest.raises(CheckpointError):
        export_model(get_spec("T500"), tmp_path / "m.py", weights=ckpt)
    assert not list(tmp_path.glob("m.*"))
