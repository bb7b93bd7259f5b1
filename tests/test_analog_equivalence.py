"""The fast path runs aihwkit's physics: compared against aihwkit's own torch tiles.

One small CNN is trained for a few seconds on a Fashion-MNIST subset. Its 784-input head
spans two tiles (392 + 392 rows), so tile mapping is part of every comparison. The
reference is ``aihwkit.nn.conversion.convert_to_analog`` with the
``TorchInferenceRPUConfig`` from ``to_aihwkit_rpu_config`` (same noise model, same
compensation, same mapping), driven by ``program_analog_weights`` /
``drift_analog_weights``.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from analognas.analog import (
    Compensation,
    DriftEvalConfig,
    PeripheryParameter,
    analog_inference,
    calibrate_input_ranges,
    drift_accuracy,
    get_recipe,
    to_aihwkit_model,
    to_analog,
)

aihwkit_conversion = pytest.importorskip("aihwkit.nn.conversion")


pytestmark = pytest.mark.slow

TIMES = (1.0, 3600.0, 86400.0, 2592000.0)
REPEATS = 8


def _net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 7 * 7, 10),
    )


@pytest.fixture(scope="module")
def trained():
    from analognas.data import iterate_batches, load_dataset

    ds = load_dataset("fashion-mnist", train_size=2000, test_size=1000, seed=0)
    torch.manual_seed(0)
    net = _net()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(4):
        for x, y in iterate_batches(ds.train, batch_size=64, shuffle=True, generator=g):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        acc = (net(ds.test.x).argmax(1) == ds.test.y).float().mean().item()
    assert acc > 0.7, f"digital accuracy {acc:.3f}: training failed"
    return net, ds


def _aihwkit_accuracy(ref: nn.Module, x: torch.Tensor, y: torch.Tensor, repeat: int) -> list[float]:
    accs = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1000 + repeat)
        ref.program_analog_weights()
        for t in TIMES:
            ref.drift_analog_weights(t)
            with torch.no_grad():
                accs.append((ref(x).argmax(1) == y).float().mean().item())
    return accs


def test_all_noise_off_equals_digital(trained):
    """(a) PCM noise, drift, read noise and periphery off: both paths reproduce digital."""
    net, ds = trained
    x = ds.test.x[:200]
    with torch.no_grad():
        digital = net(x)
    recipe = get_recipe("none")
    cfg = DriftEvalConfig(times=TIMES, repeats=1, prog_noise_scale=0.0, read_noise_scale=0.0, drift_scale=0.0)
    fast = to_analog(net, recipe)
    with analog_inference(fast, cfg) as session, torch.no_grad():
        for t in TIMES:
            session.drift_to(t)
            assert torch.allclose(fast(x), digital, atol=1e-5, rtol=0)
    ref = to_aihwkit_model(net, recipe, cfg)
    ref.program_analog_weights()
    for t in TIMES:
        ref.drift_analog_weights(t)
        with torch.no_grad():
            assert torch.allclose(ref(x), digital, atol=1e-5, rtol=0)


def test_deterministic_periphery_matches_aihwkit(trained):
    """Input ranges, 8-bit DAC and ADC on, every random effect off: same logits."""
    net, ds = trained
    recipe = get_recipe("hwa-v1").replace(
        periphery=PeripheryParameter(inp_bits=8, out_bits=8, out_bound=10.0, out_noise=0.0)
    )
    cfg = DriftEvalConfig(times=(3600.0,), repeats=1, prog_noise_scale=0.0, read_noise_scale=0.0, drift_scale=0.0)
    fast = to_analog(net, recipe)
    calibrate_input_ranges(fast, ds.train.x[:256])
    ref = to_aihwkit_model(net, recipe, cfg, ranges_from=fast)
    ref.program_analog_weights()
    ref.drift_analog_weights(3600.0)
    x = ds.test.x[:300]
    with torch.no_grad():
        expected = ref(x)
    with analog_inference(fast, cfg) as session, torch.no_grad():
        session.drift_to(3600.0)
        got = fast(x)
    diff = (got - expected).abs()
    # float summation order differs (conv vs unfold + matmul), so a value sitting on an
    # ADC rounding boundary may land one level apart; nothing else may differ
    assert (diff > 1e-5).float().mean() < 0.005
    assert diff.max() < 0.02 * expected.abs().max()


@pytest.mark.parametrize(
    "recipe_name, compensation, noise_scale",
    [
        ("hwa-v1", Compensation.GLOBAL, 1.0),
        ("hwa-v1", Compensation.GLOBAL_EXACT_REFERENCE, 1.0),
        ("hwa-v1", Compensation.NONE, 3.0),  # stressed: 3x programming and read noise, no compensation
        ("hwa-v2", Compensation.GLOBAL, 3.0),  # per-column mapping, stem digital, stressed noise
        ("hwa-v2-all-analog", Compensation.GLOBAL, 1.0),
    ],
)
def test_pcm_drift_accuracy_matches_aihwkit(trained, recipe_name, compensation, noise_scale):
    """(b) Full physics (PCM programming, drift, read noise, compensation, input ranges,
    DAC, ADC, output noise; per-tile and per-column mapping): mean accuracy per time
    agrees within 2 points."""
    net, ds = trained
    recipe = get_recipe(recipe_name)
    cfg = DriftEvalConfig(
        times=TIMES,
        repeats=REPEATS,
        compensation=compensation,
        seed=0,
        prog_noise_scale=noise_scale,
        read_noise_scale=noise_scale,
    )
    fast = to_analog(net, recipe)
    calibrate_input_ranges(fast, ds.train.x[:256])
    x, y = ds.test.x, ds.test.y

    ours = drift_accuracy(fast, cfg, x, y, batch_size=500)
    ref = to_aihwkit_model(net, recipe, cfg, ranges_from=fast)
    theirs = [_aihwkit_accuracy(ref, x, y, r) for r in range(REPEATS)]
    theirs_mean = [sum(row[k] for row in theirs) / REPEATS for k in range(len(TIMES))]
    theirs_sd = [
        math.sqrt(sum((row[k] - theirs_mean[k]) ** 2 for row in theirs) / (REPEATS - 1)) for k in range(len(TIMES))
    ]

    report = ", ".join(
        f"t={t:g}s fast {a:.3f}+-{sa:.3f} aihwkit {b:.3f}+-{sb:.3f}"
        for t, a, sa, b, sb in zip(TIMES, ours.mean, ours.std, theirs_mean, theirs_sd, strict=True)
    )
    print(f"[{recipe_name}, {compensation.value}, noise x{noise_scale:g}] {report}")
    for a, sa, b, sb in zip(ours.mean, ours.std, theirs_mean, theirs_sd, strict=True):
        # 2 points, or 3 standard errors of the difference of two means over REPEATS chips
        # when the chip-to-chip spread is larger than that allows
        tolerance = max(0.02, 3 * math.sqrt((sa**2 + sb**2) / REPEATS))
        assert math.isfinite(a) and abs(a - b) <= tolerance, report
