"""The builder and the registry: every entry builds, runs and matches the cost model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from analognas import SpecError, UnknownArchitectureError
from analognas.models import build_model, create, get_spec, hardware_report, list_models, load_zoo_file, resolve_spec
from analognas.space import ArchSpec, BlockType, Shortcut, StageSpec, cost, load_space

SHAPES = [(3, 32, 32), (1, 28, 28)]


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("shape", SHAPES, ids=["cifar", "fmnist"])
def test_every_registry_entry_runs_forward_and_backward(name: str, shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    model = create(name, input_shape=shape, num_classes=10)
    x = torch.randn(2, *shape)
    out = model(x)
    assert out.shape == (2, 10)
    out.sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("shape", SHAPES, ids=["cifar", "fmnist"])
def test_cheap_cost_model_matches_torch_counters(name: str, shape: tuple[int, int, int]) -> None:
    spec = get_spec(name)
    report = hardware_report(spec, shape, 10)
    cheap = cost(spec, shape, 10)
    assert (report.params, report.macs, report.tiles, report.depth) == (
        cheap.params,
        cheap.macs,
        cheap.tiles,
        cheap.depth,
    )


def test_cost_model_matches_on_random_samples() -> None:
    space = load_space("resnet_like")
    for spec in space.sample(np.random.default_rng(3), 6):
        report = hardware_report(spec, space.input_shape, space.num_classes)
        cheap = space.cost(spec)
        assert (report.params, report.macs, report.tiles, report.depth) == (
            cheap.params,
            cheap.macs,
            cheap.tiles,
            cheap.depth,
        )


def test_paper_parameter_counts() -> None:
    assert hardware_report(get_spec("resnet32")).params == 464_154  # He et al.: 0.46M
    assert hardware_report(get_spec("resnet32-proj")).params == 466_906
    assert hardware_report(get_spec("resnet20")).params == 269_722  # He et al.: 0.27M
    assert hardware_report(get_spec("resnet56")).params == 853_018  # He et al.: 0.85M
    t500 = hardware_report(get_spec("T500"))
    assert abs(t500.params - 422_000) / 422_000 < 0.05
    assert t500.depth < hardware_report(get_spec("resnet32")).depth


def test_t500_docstring_says_reconstruction() -> None:
    from analognas.models import _zoo

    assert "RECONSTRUCTED" in (_zoo.__dict__.get("__doc__") or "") + open(_zoo.__file__).read()
    assert get_spec("T500").stages[0].branches == 2
    assert all(s.block is BlockType.BOTTLENECK for s in get_spec("T500").stages)


def test_stages_downsample() -> None:
    spec = ArchSpec(8, 3, (StageSpec(8, 1), StageSpec(16, 1), StageSpec(32, 1)))
    model = build_model(spec, (1, 28, 28), 10)
    sizes = []
    for stage in model.stages:
        stage.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[1:])))
    model(torch.zeros(1, 1, 28, 28))
    assert sizes == [(8, 28, 28), (16, 14, 14), (32, 7, 7)]


def test_branches_are_summed_with_shortcut() -> None:
    spec = ArchSpec(8, 3, (StageSpec(8, 1, branches=3, block=BlockType.BOTTLENECK),))
    torch.manual_seed(0)
    model = build_model(spec, (1, 8, 8), 2).eval()
    block = model.stages[0][0]
    assert len(block.branches) == 3 and isinstance(block.shortcut, torch.nn.Identity)
    x = torch.randn(2, 8, 8, 8, generator=torch.Generator().manual_seed(1))
    expected = torch.relu(x + sum(b(x) for b in block.branches))
    # float sums in another order differ by rounding: compare at float precision, not bitwise
    assert torch.allclose(block(x), expected, atol=1e-6)


def test_zero_pad_shortcut_has_no_parameters() -> None:
    a = build_model(ArchSpec(8, 3, (StageSpec(8, 1), StageSpec(16, 1)), shortcut=Shortcut.ZERO_PAD))
    b = build_model(ArchSpec(8, 3, (StageSpec(8, 1), StageSpec(16, 1)), shortcut=Shortcut.PROJECTION))
    n = lambda m: sum(p.numel() for p in m.parameters())
    assert n(b) - n(a) == 8 * 16 + 2 * 16


def test_unknown_name_suggests_closest() -> None:
    with pytest.raises(UnknownArchitectureError, match="Did you mean 'T500'") as err:
        get_spec("T501")
    assert "resnet32" in str(err.value)


def test_resolve_spec_from_json_and_file(tmp_path) -> None:
    spec = get_spec("T500")
    assert resolve_spec(spec.to_json()) == spec
    p = tmp_path / "s.json"
    p.write_text(spec.to_json())
    assert resolve_spec(str(p)) == spec
    with pytest.raises(SpecError):
        resolve_spec('{"stem": 3}')


def test_zoo_file_registers_winners(tmp_path) -> None:
    spec = ArchSpec(16, 3, (StageSpec(32, 1, 2, BlockType.BOTTLENECK),))
    p = tmp_path / "zoo.json"
    p.write_text(json.dumps({"entries": [{"name": "T100-test", "spec": spec.to_dict(), "description": "test"}]}))
    load_zoo_file(p)
    assert "T100-test" in list_models()
    assert create("t100-test", (1, 28, 28)).head.in_features == 32
