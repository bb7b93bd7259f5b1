"""Analog layers: conversion, state_dict compatibility, training physics and gradients.

Gradients are compared against aihwkit's own ``TorchInferenceTile`` (unfold-based) on
small layers: input, weight and input-range gradients must agree to float precision.
"""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch import nn

from analognas import ConfigError
from analognas.analog import (
    AnalogConv2d,
    AnalogLinear,
    HWARecipe,
    InputRangeParameter,
    MappingParameter,
    PeripheryParameter,
    WeightClipParameter,
    WeightClipType,
    WeightNoiseParameter,
    WeightNoiseType,
    analog_layers,
    calibrate_input_ranges,
    clip_weights_,
    digital_state_dict,
    get_recipe,
    input_ranges_calibrated,
    split_sizes,
    to_aihwkit_rpu_config,
    to_analog,
    to_digital,
)

aihwkit_conversion = pytest.importorskip("aihwkit.nn.conversion")

# deterministic periphery (no output noise) so aihwkit and we can be compared exactly
EXACT = get_recipe("hwa-v1").replace(
    weight_noise=WeightNoiseParameter(),
    clip=WeightClipParameter(),
    input_range=InputRangeParameter(enable=True, init_from_data=0, decay=0.01, input_min_percentage=0.5),
    periphery=PeripheryParameter(inp_bits=8, out_bits=8, out_bound=3.0, out_noise=0.0),
)


def _small_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 5),
    )


def test_state_dict_keys_unchanged() -> None:
    net = _small_net()
    keys = set(net.state_dict())
    assert set(to_analog(net, get_recipe("none")).state_dict()) == keys
    analog = to_analog(net, get_recipe("hwa-v1"))
    extra = set(analog.state_dict()) - keys
    assert keys <= set(analog.state_dict())
    assert extra == {f"{n}.{s}" for n in ("0", "3", "6") for s in ("input_range", "input_range_init_count")}
    assert [type(m) for _, m in analog_layers(analog)] == [AnalogConv2d, AnalogConv2d, AnalogLinear]
    assert isinstance(analog[0], nn.Conv2d) and isinstance(analog[6], nn.Linear)


def test_checkpoints_load_both_ways() -> None:
    torch.manual_seed(0)
    net = _small_net()
    analog = to_analog(_small_net(), get_recipe("hwa-v1"))
    x = torch.randn(4, 3, 8, 8)
    calibrate_input_ranges(analog, x)
    assert input_ranges_calibrated(analog)
    # digital checkpoint -> analog model: strict load works, ranges become uncalibrated
    analog.load_state_dict(net.state_dict())
    assert not input_ranges_calibrated(analog)
    assert float(analog[0].input_range.detach()[0]) == get_recipe("hwa-v1").input_range.init_value
    # analog model -> digital model: strict load of the digital part
    fresh = _small_net()
    fresh.load_state_dict(digital_state_dict(analog))
    net.eval(), fresh.eval()
    assert torch.equal(net(x), fresh(x))
    # analog checkpoint with ranges -> analog model keeps the ranges
    calibrate_input_ranges(analog, x)
    other = to_analog(_small_net(), get_recipe("hwa-v1"))
    other.load_state_dict(analog.state_dict())
    assert torch.equal(other[3].input_range, analog[3].input_range) and input_ranges_calibrated(other)


def test_to_digital_and_recipe_none_are_exact() -> None:
    torch.manual_seed(0)
    net = _small_net()
    x = torch.randn(4, 3, 8, 8)
    plain = to_analog(net, get_recipe("none"))
    for mode in (True, False):
        net.train(mode), plain.train(mode)
        assert torch.equal(plain(x), net(x))
    back = to_digital(to_analog(net, get_recipe("hwa-v1")))
    assert all(type(m) in (nn.Conv2d, nn.Linear) for m in back.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    assert set(back.state_dict()) == set(net.state_dict())
    back.eval(), net.eval()
    assert torch.equal(back(x), net(x))


def test_conversion_shares_parameters_inplace_and_copies_otherwise() -> None:
    net = _small_net()
    weight = net[0].weight
    copied = to_analog(net, get_recipe("hwa-v1"))
    assert copied[0].weight is not weight and net[0].__class__ is nn.Conv2d
    same = to_analog(net, get_recipe("hwa-v1"), inplace=True)
    assert same is net and net[0].weight is weight and isinstance(net[0], AnalogConv2d)
    # picklable / deep-copyable (the noise bank is a cache and is dropped)
    clone = pickle.loads(pickle.dumps(copy.deepcopy(same)))
    assert isinstance(clone[0], AnalogConv2d)


def test_tile_split_matches_aihwkit() -> None:
    from aihwkit.simulator.tiles.array import TileModuleArray

    for size in (27, 512, 513, 576, 784, 1025, 2304):
        assert split_sizes(size, 512) == TileModuleArray.get_split_sizes(None, size, 512)
    conv = to_analog(nn.Conv2d(57, 8, 3), get_recipe("hwa-v1"))
    layout = conv._analog.layout
    assert [t.size for t in layout.in_tiles] == [257, 256]
    assert (layout.in_tiles[0].c_lo, layout.in_tiles[0].c_hi, layout.in_tiles[1].c_lo) == (0, 29, 28)
    assert layout.in_tiles[0].mask is not None and layout.in_tiles[1].mask is not None


def test_weight_noise_is_add_normal_relative_to_tile_max() -> None:
    """ADD_NORMAL: std = std_dev * max|W_tile| for every tile, resampled per forward."""
    recipe = HWARecipe(
        name="noise-only",
        weight_noise=WeightNoiseParameter(WeightNoiseType.ADD_NORMAL, 0.1),
        mapping=MappingParameter(max_input_size=300, max_output_size=200),
    )
    lin = nn.Linear(600, 400, bias=False)
    with torch.no_grad():  # make every tile's max|w| different
        for i, (a, b) in enumerate([(0, 200), (200, 400)]):
            for j, (c, d) in enumerate([(0, 300), (300, 600)]):
                lin.weight[a:b, c:d] *= 1 + i + 2 * j
    analog = to_analog(lin, recipe, generator=torch.Generator().manual_seed(1))
    eye = torch.eye(600)
    samples = torch.stack([analog(eye).T - lin.weight.detach() for _ in range(20)])
    assert not torch.equal(samples[0], samples[1])
    for a, b in [(0, 200), (200, 400)]:
        for c, d in [(0, 300), (300, 600)]:
            expected = 0.1 * lin.weight[a:b, c:d].abs().max()
            measured = samples[:, a:b, c:d].std()
            assert abs(measured / expected - 1) < 0.02
    analog.eval()
    assert torch.allclose(analog(eye).T, lin.weight, atol=1e-6)  # no noise in eval


def test_clipping_is_layer_gaussian_per_tile() -> None:
    recipe = get_recipe("hwa-v1").replace(clip=WeightClipParameter(WeightClipType.LAYER_GAUSSIAN, sigma=1.5))
    lin = nn.Linear(700, 3, bias=False)  # two input tiles of 350
    with torch.no_grad():
        lin.weight[:, 350:] *= 10
    analog = to_analog(lin, recipe)
    before = analog.weight.detach().clone()
    assert clip_weights_(analog) == 2
    for a, b in [(0, 350), (350, 700)]:
        limit = 1.5 * before[:, a:b].std()
        assert torch.allclose(analog.weight[:, a:b], before[:, a:b].clamp(-limit, limit))
        assert (before[:, a:b].abs() > limit).any()
    assert clip_weights_(to_analog(lin, get_recipe("none"))) == 0


def test_grouped_conv_beyond_one_tile_is_refused() -> None:
    with pytest.raises(ConfigError, match="grouped conv"):
        to_analog(nn.Conv2d(128, 128, 3, groups=2), get_recipe("hwa-v1"))
    depthwise = to_analog(nn.Conv2d(16, 16, 3, groups=16, padding=1), get_recipe("hwa-v1"))
    calibrate_input_ranges(depthwise, torch.randn(2, 16, 6, 6))
    depthwise.train()
    depthwise(torch.randn(2, 16, 6, 6)).sum().backward()
    assert depthwise.weight.grad is not None and depthwise.input_range.grad is not None


def _pair(layer: nn.Module, recipe: HWARecipe = EXACT):
    net = nn.Sequential(layer)
    ours = to_analog(net, recipe)
    ref = aihwkit_conversion.convert_to_analog(copy.deepcopy(net), to_aihwkit_rpu_config(recipe))
    module = ref[0].analog_module
    rows = module.array if hasattr(module, "array") else [[module]]
    with torch.no_grad():
        for i, row in enumerate(rows):
            ours[0].input_range[i] = 1.3 + 0.1 * i
            for tile in row:
                tile.set_input_range(1.3 + 0.1 * i)
        ours[0].input_range_init_count.fill_(1.0)
    return ours, ref, rows


@pytest.mark.parametrize(
    "layer, shape",
    [
        (nn.Linear(40, 7), (8, 40)),
        (nn.Linear(700, 9), (6, 700)),  # two input tiles
        (nn.Linear(30, 600), (5, 30)),  # two output tiles (tied input range)
        (nn.Conv2d(6, 5, 1), (4, 6, 5, 5)),
        (nn.Conv2d(6, 5, 3, padding=1), (4, 6, 5, 5)),
        (nn.Conv2d(6, 5, 3, stride=2, padding=1), (4, 6, 7, 7)),
        (nn.Conv2d(6, 5, 3, padding=2, dilation=2), (3, 6, 7, 7)),
        (nn.Conv2d(57, 8, 3, padding=1), (3, 57, 5, 5)),  # split inside a channel's kernel
    ],
)
def test_forward_and_gradients_match_aihwkit(layer: nn.Module, shape: tuple[int, ...]) -> None:
    # the parametrized layers are built at collection time from an unseeded RNG: re-draw
    # their weights here, so every run compares the same numbers (a value that lands on an
    # ADC rounding boundary would otherwise make the comparison pass or fail by chance)
    torch.manual_seed(0)
    layer = copy.deepcopy(layer)
    layer.reset_parameters()
    ours, ref, rows = _pair(layer)
    x = torch.randn(*shape)
    ours.train(), ref.train()
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = ours(xa), ref(xb)
    assert torch.allclose(ya, yb, atol=1e-5, rtol=0)
    g = torch.randn_like(ya)
    (ya * g).sum().backward()
    (yb * g).sum().backward()
    assert torch.allclose(xa.grad, xb.grad, atol=1e-5, rtol=1e-5)
    # aihwkit's tile weight is W / max|W_tile| and its hook divides the gradient by the
    # squared scale, so dL/dW = hooked gradient * scale
    w_ref = torch.cat(
        [torch.cat([t.tile.weight.grad * t.get_scales().view(-1, 1) for t in row], 0) for row in rows], 1
    )
    assert torch.allclose(ours[0].weight.grad.reshape(w_ref.shape), w_ref, atol=1e-4, rtol=1e-5)
    r_ref = torch.tensor([sum(float(t.input_range.grad) for t in row) for row in rows])
    assert torch.allclose(ours[0].input_range.grad, r_ref, rtol=1e-4, atol=1e-4)


def test_sampled_clip_gradient_is_unbiased(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above ``SAMPLE_PIXELS`` the per-copy clip term is a Monte-Carlo estimate."""
    import analognas.analog._unfold as unfold

    torch.manual_seed(0)
    layer = nn.Conv2d(4, 6, 3, padding=1)
    x = torch.randn(8, 4, 12, 12)
    grads = {}
    for label, pixels in [("exact", 1 << 30), ("sampled", 1024)]:
        monkeypatch.setattr(unfold, "SAMPLE_PIXELS", pixels)
        estimates = []
        for seed in range(20):
            ours, _, _ = _pair(copy.deepcopy(layer))
            ours[0]._analog.noise.generator.manual_seed(seed)
            ours.train()
            (ours(x) * torch.linspace(-1, 1, 6).view(1, -1, 1, 1)).sum().backward()
            estimates.append(float(ours[0].input_range.grad))
        grads[label] = torch.tensor(estimates)
    assert grads["exact"].std() < 1e-5 * grads["exact"].abs().mean()  # deterministic up to float order
    assert grads["sampled"].std() > 1e-3 * grads["exact"].abs().mean()
    assert abs(grads["sampled"].mean() - grads["exact"][0]) < 0.05 * abs(grads["exact"][0])


def test_input_range_init_from_data_matches_aihwkit() -> None:
    recipe = EXACT.replace(input_range=InputRangeParameter(enable=True, init_from_data=2))
    torch.manual_seed(0)
    for layer, x in [
        (nn.Conv2d(57, 8, 3, padding=1, stride=2), torch.randn(6, 57, 9, 9)),
        (nn.Linear(700, 9), torch.randn(6, 700)),
    ]:
        net = nn.Sequential(layer)
        ours = to_analog(net, recipe)
        ref = aihwkit_conversion.convert_to_analog(copy.deepcopy(net), to_aihwkit_rpu_config(recipe))
        ours.train(), ref.train()
        for k in range(3):  # the third batch must not change the ranges any more
            ours(x * (1 + k))
            ref(x * (1 + k))
        expected = [row[0].input_range.item() for row in ref[0].analog_module.array]
        assert torch.allclose(ours[0].input_range.detach(), torch.tensor(expected), rtol=1e-5)
        assert ours[0].input_range_init_count.tolist() == [2.0, 2.0]


def test_calibration_uses_digital_activations_and_marks_ranges() -> None:
    torch.manual_seed(0)
    lin = nn.Linear(10, 4)
    analog = to_analog(lin, get_recipe("hwa-v1"))
    batches = [torch.randn(32, 10), 2 * torch.randn(32, 10)]
    assert calibrate_input_ranges(analog, batches) == 2
    expected = 3.0 * (batches[0].std() + batches[1].std()) / 2
    assert torch.allclose(analog.input_range, expected.view(1))
    assert analog.input_range_init_count.item() == get_recipe("hwa-v1").input_range.init_from_data
    with pytest.raises(ConfigError):
        calibrate_input_ranges(analog, [])


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_non_zero_padding_modes_and_same_padding() -> None:
    torch.manual_seed(0)
    recipe = EXACT.replace(periphery=PeripheryParameter(), input_range=InputRangeParameter(enable=True))
    x = torch.randn(2, 3, 7, 7)
    for conv in (
        nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"),
        nn.Conv2d(3, 4, 5, padding="same"),
        nn.Conv2d(3, 4, (3, 4), padding="same", dilation=(1, 1)),
        nn.Conv2d(3, 4, 3, padding="valid"),
    ):
        analog = to_analog(conv, recipe)
        with torch.no_grad():
            analog.input_range.fill_(100.0)  # nothing clips: ideal periphery == digital
        analog.eval()
        assert torch.allclose(analog(x), conv(x), atol=1e-5)
