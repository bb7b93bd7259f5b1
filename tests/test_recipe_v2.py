"""Recipe v2: per-column mapping, layer policies, calibration rules, versioned hashes.

The physics is compared against aihwkit's own torch tiles configured column-wise
(``weight_scaling_columnwise``, ``CHANNELWISE_SYMMETRIC`` remap, column-wise out scaling).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from analognas import ConfigError
from analognas.analog import (
    AnalogConv2d,
    CalibrationRule,
    DriftEvalConfig,
    HWARecipe,
    LayerPolicy,
    PeripheryParameter,
    WeightClipType,
    WeightScaling,
    analog_inference,
    analog_layers,
    calibrate_input_ranges,
    clip_weights_,
    digital_layer_names,
    get_recipe,
    tile_abs_max,
    to_aihwkit_model,
    to_analog,
)

aihwkit_conversion = pytest.importorskip("aihwkit.nn.conversion")

V2 = get_recipe("hwa-v2")
NOISE_OFF = DriftEvalConfig(times=(3600.0,), repeats=1, prog_noise_scale=0.0, read_noise_scale=0.0, drift_scale=0.0)


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 12, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(12 * 7 * 7, 10),  # 588 inputs: two tiles of 294 rows
    ).eval()


def test_v1_hashes_are_unchanged_and_v2_drops_fine_tune() -> None:
    assert get_recipe("hwa-v1").hash() == "b868994101a3"
    assert get_recipe("none").hash() == "4750bfe49d67"
    d = V2.to_dict()
    assert "fine_tune" not in d and d["version"] == 2
    assert d["mapping"]["weight_scaling"] == "column" and d["layers"] == "first_digital"
    assert HWARecipe.from_dict(d) == V2 and HWARecipe.from_dict(d).hash() == V2.hash()
    assert "fine_tune" in get_recipe("hwa-v1").to_dict()


def test_v2_settings_are_refused_where_they_do_not_belong() -> None:
    d = V2.to_dict()
    with pytest.raises(ConfigError, match="fine_tune was dropped"):
        HWARecipe.from_dict({**d, "fine_tune": {"from_fp32": True, "fp32_fraction": 0.5}})
    with pytest.raises(ConfigError, match="need recipe version >= 2"):
        HWARecipe.from_dict({**d, "version": 1})
    with pytest.raises(ConfigError, match=r"layers: 'stem_digital' is not one of \['all_analog'"):
        HWARecipe.from_dict({**d, "layers": "stem_digital"})
    with pytest.raises(ConfigError, match="weight_scaling: 'row'"):
        HWARecipe.from_dict({**d, "mapping": {**d["mapping"], "weight_scaling": "row"}})
    with pytest.raises(ConfigError, match="calibration_percentile"):
        HWARecipe.from_dict({**d, "input_range": {**d["input_range"], "calibration_percentile": 0}})


@pytest.mark.parametrize("policy", list(LayerPolicy))
def test_layer_policy_keeps_the_named_layers_digital(policy: LayerPolicy) -> None:
    net = _net()
    recipe = V2.replace(layers=policy)
    model = to_analog(net, recipe)
    expected = {
        LayerPolicy.ALL_ANALOG: [],
        LayerPolicy.FIRST_DIGITAL: ["0"],
        LayerPolicy.LAST_DIGITAL: ["6"],
        LayerPolicy.FIRST_LAST_DIGITAL: ["0", "6"],
    }[policy]
    assert digital_layer_names(net, recipe) == expected
    for name in expected:
        assert type(model.get_submodule(name)) in (nn.Conv2d, nn.Linear)
    assert {n for n, _ in analog_layers(model)} == {"0", "2", "6"} - set(expected)
    assert not any(k.startswith(tuple(f"{n}.input" for n in expected)) for k in model.state_dict())
    # re-converting an analog model with the policy converts the kept layers back
    again = to_analog(to_analog(net, V2.replace(layers=LayerPolicy.ALL_ANALOG)), recipe)
    assert {n for n, _ in analog_layers(again)} == {n for n, _ in analog_layers(model)}


def test_column_scale_is_each_columns_max() -> None:
    model = to_analog(_net(), V2.replace(layers=LayerPolicy.ALL_ANALOG))
    head = model[6]
    tm = tile_abs_max(head)
    w = head.weight.detach().abs()
    assert tm.shape == (2, 10)
    assert torch.equal(tm[0], w[:, :294].amax(1)) and torch.equal(tm[1], w[:, 294:].amax(1))
    per_tile = to_analog(_net(), get_recipe("hwa-v1"))[6]
    assert tile_abs_max(per_tile).shape == (2, 1)


def test_weight_noise_is_relative_to_each_columns_max() -> None:
    model = to_analog(_net(), V2.replace(layers=LayerPolicy.ALL_ANALOG))
    conv: AnalogConv2d = model[2]
    with torch.no_grad():  # make the column maxima differ by 100x
        conv.weight.mul_(torch.logspace(-2, 0, 12).view(-1, 1, 1, 1))
    from analognas.analog._tile_forward import _weight_noise

    tm = tile_abs_max(conv)
    draws = torch.stack([_weight_noise(conv, tm) for _ in range(200)])
    rel = draws.reshape(200, 12, -1).std(dim=(0, 2)) / tm[0]
    assert torch.allclose(rel, torch.full_like(rel, V2.weight_noise.std_dev), rtol=0.05)


def test_column_gaussian_clip_bounds_each_column() -> None:
    model = to_analog(_net(), V2.replace(layers=LayerPolicy.ALL_ANALOG))
    assert V2.clip.type is WeightClipType.COLUMN_GAUSSIAN
    head = model[6]
    with torch.no_grad():
        head.weight[3, 7] = 50.0  # an outlier in column 3, first tile
        before = head.weight.detach().clone()
    clip_weights_(model)
    w = head.weight.detach()
    block = before[:, :294]
    alpha = block.std(dim=1, keepdim=True) * V2.clip.sigma
    assert torch.equal(w[:, :294], torch.minimum(torch.maximum(block, -alpha), alpha))
    assert float(w[3, 7]) == pytest.approx(float(alpha[3]))
    assert not torch.equal(w[3], before[3]) and torch.equal(w[4], torch.clamp(before[4], -alpha[4], alpha[4]))


@pytest.mark.parametrize(
    "rule, pct, expect",
    [
        (CalibrationRule.MAX, 99.99, lambda x: x.abs().max()),
        (CalibrationRule.PERCENTILE, 50.0, lambda x: x.abs().flatten().kthvalue((x.numel() + 1) // 2).values),
    ],
)
def test_calibration_rules(rule: CalibrationRule, pct: float, expect) -> None:
    ir = dataclasses.replace(V2.input_range, calibration=rule, calibration_percentile=pct)
    model = to_analog(_net(), V2.replace(input_range=ir, layers=LayerPolicy.ALL_ANALOG))
    x = torch.randn(16, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    calibrate_input_ranges(model, x)
    assert float(model[0].input_range.detach()[0]) == pytest.approx(float(expect(x)), rel=1e-6)


def test_noise_off_equals_digital_column_wise() -> None:
    """Perfect periphery, PCM off, nothing clipped: outputs equal digital to 1e-5."""
    net = _net()
    x = torch.randn(32, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    ir = dataclasses.replace(V2.input_range, calibration=CalibrationRule.MAX)
    recipe = V2.replace(periphery=PeripheryParameter(), input_range=ir, layers=LayerPolicy.ALL_ANALOG)
    fast = to_analog(net, recipe)
    calibrate_input_ranges(fast, torch.cat([x, -x]))
    with torch.no_grad():
        digital = net(x)
    with analog_inference(fast, NOISE_OFF) as session, torch.no_grad():
        session.drift_to(3600.0)
        assert torch.allclose(fast(x), digital, atol=1e-5, rtol=0)


@pytest.mark.parametrize("policy", [LayerPolicy.ALL_ANALOG, LayerPolicy.FIRST_DIGITAL])
def test_column_wise_periphery_matches_aihwkit(policy: LayerPolicy) -> None:
    """8-bit DAC and ADC, input ranges, column-wise scales, random effects off: the
    programmed chip gives aihwkit's logits (to ADC-boundary rounding)."""
    net = _net()
    recipe = V2.replace(
        periphery=PeripheryParameter(inp_bits=8, out_bits=8, out_bound=10.0, out_noise=0.0), layers=policy
    )
    assert recipe.mapping.weight_scaling is WeightScaling.COLUMN
    x = torch.randn(64, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    fast = to_analog(net, recipe)
    calibrate_input_ranges(fast, x)
    ref = to_aihwkit_model(net, recipe, NOISE_OFF, ranges_from=fast)
    ref.program_analog_weights()
    ref.drift_analog_weights(3600.0)
    with torch.no_grad():
        expected = ref(x)
    with analog_inference(fast, NOISE_OFF) as session, torch.no_grad():
        session.drift_to(3600.0)
        got = fast(x)
    diff = (got - expected).abs()
    assert (diff > 1e-5).float().mean() < 0.005
    assert diff.max() < 0.02 * expected.abs().max()
    # and column-wise differs from per-tile mapping on the same weights
    per_tile = dataclasses.replace(recipe.mapping, weight_scaling=WeightScaling.TILE)
    tile = to_analog(net, recipe.replace(mapping=per_tile))
    calibrate_input_ranges(tile, x)
    with analog_inference(tile, NOISE_OFF) as session, torch.no_grad():
        session.drift_to(3600.0)
        assert not torch.allclose(tile(x), got, atol=1e-4)


def test_a_recipe_file_with_an_unknown_layer_policy_is_one_line(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from analognas.cli import app

    bad = {**V2.to_dict(), "layers": "stem_only"}
    path = tmp_path / "r.json"
    path.write_text(json.dumps(bad))
    res = CliRunner().invoke(app, ["evaluate", "T500", "--recipe", str(path), "--cache-dir", str(tmp_path / "c")])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert "layers: 'stem_only' is not one of" in lines[0] and str(path) in lines[0]
    assert not (tmp_path / "c").exists()
    good = tmp_path / "all.json"
    good.write_text(json.dumps(get_recipe("hwa-v2-all-analog").to_dict()))
    from analognas.analog import resolve_recipe

    assert resolve_recipe(str(good)) == get_recipe("hwa-v2-all-analog")
