"""A block type defined only here: declared once in the space registry and once as a
torch module, it is buildable, costed (params and MACs equal torch's counters), encodable,
convertible to analog and searchable from a space file."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from analognas import SpecError
from analognas.space import (
    BLOCKS,
    ArchSpec,
    BlockDef,
    LayerRow,
    StageSpec,
    cost,
    depth,
    encode,
    get_block,
    iter_layers,
    register_block,
)


class InvertedResidual(nn.Module):
    """MobileNetV2's branch: 1x1 expand, 3x3 depthwise (strided), 1x1 project."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        mid = cin * 2
        self.conv1, self.bn1 = nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride=stride, padding=1, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3, self.bn3 = nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self.bn1(self.conv1(x)))
        x = F.relu6(self.bn2(self.conv2(x)))
        return self.bn3(self.conv3(x))


INVERTED = BlockDef(
    "inverted",
    depth=3,
    layers=lambda cin, cout, stride, expansion: (
        LayerRow("conv1", cin, 2 * cin, 1, at_input=True),
        LayerRow("conv2", 2 * cin, 2 * cin, 3, stride, groups=2 * cin),
        LayerRow("conv3", 2 * cin, cout, 1),
    ),
    short="inv",
)


@pytest.fixture()
def inverted():
    from analognas.models import register_branch
    from analognas.models._blocks import BRANCHES

    register_block(INVERTED)
    register_branch("inverted", InvertedResidual)
    yield
    BLOCKS.pop("inverted", None)
    BRANCHES.pop("inverted", None)


def _spec() -> ArchSpec:
    return ArchSpec(8, 3, (StageSpec(16, 2, 2, "inverted"), StageSpec(24, 1, 1, "bottleneck")), name="inv-net")


def test_every_registered_block_costs_what_torch_counts(inverted) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    from analognas.models import build_model

    for name in BLOCKS:
        spec = ArchSpec(8, 3, (StageSpec(16, 1, 2, name), StageSpec(32, 2, 1, name)))
        model = build_model(spec, (1, 28, 28), 10).eval()
        c = cost(spec, (1, 28, 28), 10)
        assert c.params == sum(p.numel() for p in model.parameters()), name
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(torch.zeros(1, 1, 28, 28))
        assert c.macs == counter.get_total_flops() // 2, name
        names = {n for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
        assert {layer.name for layer in iter_layers(spec, (1, 28, 28), 10)} == names, name
        assert c.depth == 2 + 3 * get_block(name).depth


def test_a_test_defined_block_is_encodable_analog_and_round_trips(inverted) -> None:
    from analognas.analog import DriftEvalConfig, analog_inference, calibrate_input_ranges, get_recipe, to_analog
    from analognas.models import build_model

    spec = _spec()
    assert ArchSpec.from_dict(spec.to_dict()) == spec and spec.stages[0].block == "inverted"
    assert depth(spec) == 2 + 2 * 3 + 3
    assert np.all(np.isfinite(encode(spec, 3, (1, 28, 28), 10)))
    model = build_model(spec, (1, 28, 28), 10)
    analog = to_analog(model, get_recipe("hwa-v2"))
    x = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    calibrate_input_ranges(analog, x)
    with analog_inference(analog, DriftEvalConfig(times=(3600.0,), repeats=1)) as session, torch.no_grad():
        session.drift_to(3600.0)
        assert torch.isfinite(analog(x)).all()


def test_the_surrogate_encoder_counts_a_registered_block_from_the_registry(inverted) -> None:
    """The fast encoder (the search's hot path) and the reference layer walk agree value for
    value on a block type neither knows by name, and its count goes where `counts_as` says."""
    from analognas.space import feature_names
    from analognas.surrogate import encode_fast

    stages = (StageSpec(16, 3, 2, "inverted"), StageSpec(24, 2, 1, "basic"), StageSpec(32, 1, 3, "bottleneck"))
    spec = ArchSpec(8, 3, stages)
    names = feature_names(4)
    ref = encode(spec, 4, (1, 28, 28), 10)
    fast = np.asarray(encode_fast(spec, 4, (1, 28, 28), 10))
    np.testing.assert_allclose(fast, ref, rtol=1e-12)
    row = dict(zip(names, fast))
    assert row["L1_bottleneck_blocks"] == 3 and row["L1_basic_blocks"] == 0  # INVERTED counts as bottleneck
    assert row["L2_basic_blocks"] == 2 and row["bottleneck_fraction"] == pytest.approx(4 / 6)
    assert 10 ** row["log10_params"] == pytest.approx(cost(spec, (1, 28, 28), 10).params)
    as_basic = BlockDef("inverted", 3, INVERTED.layers, counts_as="basic")
    register_block(as_basic)
    assert dict(zip(names, encode_fast(spec, 4, (1, 28, 28), 10)))["L1_basic_blocks"] == 3
    with pytest.raises(SpecError, match="counts_as must be one of"):
        register_block(BlockDef("odd", 2, INVERTED.layers, counts_as="depthwise"))


def test_a_space_file_can_search_a_registered_block(inverted, tmp_path) -> None:
    from analognas.space import load_space

    text = (REPO_SPACE.read_text().replace('block = ["basic", "bottleneck"]', 'block = ["basic", "inverted"]'))
    assert '"inverted"' in text
    path = tmp_path / "inv.toml"
    path.write_text(text)
    space = load_space(path)
    specs = space.sample(np.random.default_rng(0), 20)
    assert any(str(s.block) == "inverted" for sp in specs for s in sp.stages)
    for sp in specs:
        assert cost(sp, (1, 28, 28), 10).params > 0
    # and an Optuna study (real, in memory) proposes it: params per layer from the registry
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(30):
        trial = study.ask()
        spec = space.suggest(trial)
        seen |= {str(s.block) for s in spec.stages}
        study.tell(trial, float(cost(spec, (1, 28, 28), 10).params))
    assert "inverted" in seen


def test_unregistered_or_unexportable_blocks_are_refused(inverted, tmp_path) -> None:
    from analognas.models import export_model

    with pytest.raises(SpecError, match="block must be one of"):
        StageSpec(8, 1, 1, "ghost")
    with pytest.raises(SpecError, match="registered at run time"):
        export_model(_spec(), tmp_path / "m.py", input_shape=(1, 28, 28))
    assert list(tmp_path.iterdir()) == []


from pathlib import Path  # noqa: E402

REPO_SPACE = Path(__file__).resolve().parents[1] / "search_spaces" / "resnet_like.toml"
