"""The fused C kernels of the tile MVM against the torch expressions they replace.

Forward passes must be bit-identical (stored drift rows were measured with the torch
expressions, and a chip must not change with the code path); backward sums may differ by
float rounding only.
"""

from __future__ import annotations

import copy
import shutil

import pytest
import torch
from torch import nn

from analognas.analog import (
    DriftEvalConfig,
    _fused,
    analog_inference,
    calibrate_input_ranges,
    get_recipe,
    to_analog,
)
from analognas.analog._noise import NoiseSource
from analognas.analog._periphery import ConvOp, FastTile, LinearOp, Periphery, crossbar_output, fast_tile_forward
from analognas.analog._periphery import quantize_input as quantize

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler: the torch expressions run")


def _periphery(**changes) -> Periphery:
    p = Periphery.from_recipe(get_recipe("hwa-v2"))
    fields = {f: getattr(p, f) for f in p.__dataclass_fields__}
    fields.update(changes)
    return Periphery(**fields)


def _hard_input(shape: tuple[int, ...], r: float, p: Periphery, seed: int) -> torch.Tensor:
    """Values on every boundary the kernels decide on: +-r exactly, half DAC steps, NaN."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=gen) * r
    flat = x.view(-1)
    flat[:7] = torch.tensor([r, -r, 0.0, -0.0, 1.5 * r, -1.5 * r, float("nan")])
    steps = torch.arange(8, 64, dtype=torch.float32)
    flat[7 : 7 + steps.numel()] = (steps + 0.5) * (p.d_in * r)  # ties to even
    return x


def test_the_library_builds_and_is_cached(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ANALOGNAS_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setattr(_fused, "_tried", False)
    monkeypatch.setattr(_fused, "_lib", None)
    assert _fused.library() is not None
    (built,) = tmp_path.glob("analognas-kernels-*.so")
    stamp = built.stat().st_mtime_ns
    monkeypatch.setattr(_fused, "_tried", False)
    assert _fused.library() is not None
    assert built.stat().st_mtime_ns == stamp  # reused, not rebuilt


def test_without_a_compiler_the_torch_expressions_run(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ANALOGNAS_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setattr(_fused, "_tried", False)
    monkeypatch.setattr(_fused, "_lib", None)
    assert _fused.library() is None
    p = _periphery()
    x = _hard_input((4, 3, 5, 5), 1.3, p, 0)
    xq, codes = quantize(x, torch.tensor([1.3]), p, keep_codes=True)
    assert codes is not None and codes.dtype == torch.int8 and xq.shape == x.shape


def test_switched_off_by_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("ANALOGNAS_FUSED", "0")
    assert _fused.library() is None


@pytest.mark.parametrize("levels", [254, 1000])  # int8 and int16 DAC codes
@pytest.mark.parametrize("sliced", [False, True])
def test_dac_is_bit_identical(levels: int, sliced: bool) -> None:
    p = _periphery(d_in=2.0 / levels, in_code_dtype=torch.int8 if levels // 2 <= 127 else torch.int16)
    r = torch.tensor([0.7])
    x = _hard_input((6, 9, 7, 7), 0.7, p, levels)
    x = x[:, 2:7] if sliced else x
    assert _fused.usable(strided=x) is not None
    fused = quantize(x, r, p, keep_codes=True)
    with _fused.disabled():
        ref = quantize(x, r, p, keep_codes=True)
    assert torch.equal(fused[0].nan_to_num(), ref[0].nan_to_num()) and fused[0].isnan().equal(ref[0].isnan())
    finite = ~x.isnan()
    assert torch.equal(fused[1][finite], ref[1][finite])


@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("noise", [0.04, 0.0])
@pytest.mark.parametrize("op", ["conv", "linear"])
def test_adc_is_bit_identical(per_channel: bool, noise: float, op: str) -> None:
    p = _periphery(out_noise=noise)
    gen = torch.Generator().manual_seed(3)
    # large enough that a single rounding different from torch's (a multiply-add done in
    # two steps, say) flips some ADC codes
    if op == "conv":
        v, the_op, c = torch.randn(64, 12, 32, 32, generator=gen) * 3, ConvOp((1, 1), (1, 1), (1, 1), 1), 12
    else:
        v, the_op, c = torch.randn(65536, 12, generator=gen) * 3, LinearOp(), 12
    v.view(-1)[:4] = torch.tensor([1e6, -1e6, 0.5 * 0.0787, float("nan")])  # saturation both ways, a tie
    s = torch.rand(c, generator=gen) + 0.2 if per_channel else torch.tensor([0.9])
    outs = []
    for ctx in (_fused.disabled, None):
        noise_src = NoiseSource(torch.Generator().manual_seed(11))
        if ctx is None:
            outs.append(crossbar_output(v.clone(), s, p, the_op, noise_src, keep_codes=True))
        else:
            with ctx():
                outs.append(crossbar_output(v.clone(), s, p, the_op, noise_src, keep_codes=True))
    (y0, a0), (y1, a1) = outs
    assert torch.equal(y0.nan_to_num(), y1.nan_to_num())
    finite = ~v.isnan()
    assert a0 is not None and a1 is not None and torch.equal(a0[finite], a1[finite])


@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("sliced", [False, True])
def test_eval_tile_is_bit_identical(per_channel: bool, sliced: bool) -> None:
    p = _periphery()
    gen = torch.Generator().manual_seed(5)
    x = _hard_input((4, 10, 8, 8), 1.1, p, 5).nan_to_num()
    x = x[:, 3:8] if sliced else x
    w = torch.randn(7, x.shape[1], 3, 3, generator=gen) * 0.2
    s = torch.rand(7, generator=gen) + 0.5 if per_channel else torch.tensor([0.8])
    tile = FastTile.build(w, torch.tensor([1.1]), s, p)
    op = ConvOp((1, 1), (1, 1), (1, 1), 1)
    y1 = fast_tile_forward(x, tile, p, op, NoiseSource(torch.Generator().manual_seed(2)))
    with _fused.disabled():
        y0 = fast_tile_forward(x, tile, p, op, NoiseSource(torch.Generator().manual_seed(2)))
    assert torch.equal(y0, y1)


def _net() -> nn.Module:
    torch.manual_seed(0)
    # 40 channels * 9 = 360 inputs: with max_input_size 512 one tile; 64 * 9 = 576: two
    return nn.Sequential(
        nn.Conv2d(3, 40, 3, padding=1), nn.ReLU(), nn.Conv2d(40, 64, 3, padding=1), nn.ReLU(),
        nn.Conv2d(64, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 64, 10),
    )


@pytest.mark.parametrize("recipe", ["hwa-v2", "hwa-v1", "hwa-v2-all-analog"])
def test_a_network_gives_the_same_chip_and_the_same_gradients(recipe: str) -> None:
    x = torch.randn(16, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 10, (16,), generator=torch.Generator().manual_seed(2))
    base = to_analog(_net(), get_recipe(recipe), generator=torch.Generator().manual_seed(0))
    calibrate_input_ranges(base, x)
    results = {}
    for fused in (True, False):
        m = copy.deepcopy(base)
        with (_fused.disabled() if not fused else torch.enable_grad()):
            with analog_inference(m.eval(), DriftEvalConfig(repeats=1), repeat=0) as session, torch.no_grad():
                session.drift_to(86400.0)
                chip = m(x)
            m.train()
            out = m(x)
            nn.functional.cross_entropy(out, y).backward()
        grads = {k: q.grad.clone() for k, q in m.named_parameters() if q.grad is not None}
        results[fused] = (chip, out.detach(), grads)
    (chip1, out1, g1), (chip0, out0, g0) = results[True], results[False]
    assert torch.equal(chip1, chip0) and torch.equal(out1, out0)
    assert sorted(g1) == sorted(g0) and any("input_range" in k for k in g0)
    for k in g0:
        scale = float(g0[k].abs().max())
        assert float((g1[k] - g0[k]).abs().max()) <= 1e-3 * scale + 1e-7, k


def test_row_layout_reads_channel_slices_and_refuses_the_rest() -> None:
    x = torch.zeros(4, 6, 5, 5)
    assert _fused.row_layout(x) == (1, 600, 600)
    assert _fused.row_layout(x[:, 1:4]) == (4, 75, 150)
    assert _fused.row_layout(x[:, 1:4], batch_dims=1) == (4, 75, 150)
    assert _fused.row_layout(torch.zeros(3, 4, 10)[..., 2:5]) == (12, 3, 10)
    assert _fused.row_layout(x[:, :, 1:3]) == (24, 10, 25)
    assert _fused.row_layout(x.permute(0, 2, 3, 1)[..., ::2]) is None
    assert _fused.usable(strided=x.to(torch.float64)) is None
