"""Drift sessions: restoration, reproducibility, drift physics, validation."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from analognas import ConfigError
from analognas.analog import (
    Compensation,
    DriftEvalConfig,
    analog_inference,
    calibrate_input_ranges,
    drift_accuracy,
    get_recipe,
    to_analog,
)
from analognas.analog._noise import NoiseSource

T0 = 20.0  # PCMLikeNoiseModel.t_0


def _model(recipe: str = "hwa-v1") -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 6 * 6, 4)
    )
    x = torch.randn(64, 2, 6, 6)
    with torch.no_grad():  # a "trained" net: labels are its own digital predictions
        net.eval()
        y = net(x).argmax(1)
    model = to_analog(net, get_recipe(recipe))
    calibrate_input_ranges(model, x)
    return model, x, y


def test_session_restores_weights_and_modes_exactly() -> None:
    model, x, _ = _model()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with analog_inference(model, DriftEvalConfig(repeats=1)) as session:
        assert not model.training
        session.drift_to(86400.0)
        with torch.no_grad():
            drifted = model(x)
    with pytest.raises(RuntimeError, match="boom"):
        with analog_inference(model, DriftEvalConfig(repeats=1)) as session:
            session.drift_to(1.0)
            raise RuntimeError("boom")
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    with torch.no_grad():
        assert not torch.allclose(model(x), drifted)  # back to the unprogrammed weights


def test_same_seed_same_result_other_seed_or_chip_differs() -> None:
    model, x, y = _model()
    cfg = DriftEvalConfig(times=(3600.0, 2592000.0), repeats=2, seed=7)
    a = drift_accuracy(model, cfg, x, y)
    b = drift_accuracy(model, cfg, x, y)
    assert a == b
    c = drift_accuracy(model, DriftEvalConfig(times=cfg.times, repeats=2, seed=8), x, y)
    assert c.accuracy != a.accuracy
    assert a.accuracy[0] != a.accuracy[1]  # two chips differ
    assert len(a.mean) == len(a.std) == 2 and all(0 <= v <= 1 for v in a.mean)
    assert a.to_dict()["config_hash"] == cfg.hash()
    # drift times can be visited in any order: same weights for the same (seed, repeat, t)
    with analog_inference(model, cfg) as session:
        session.drift_to(3600.0)
        w1 = session.effective_weight("4")
        session.drift_to(60.0)
        session.drift_to(3600.0)
        assert torch.equal(session.effective_weight("4"), w1)


def test_drift_lowers_conductance_as_t_to_the_minus_nu() -> None:
    """Without programming/read noise and compensation each device decays as
    ``((t + t0) / t0) ** -nu`` with its own, fixed ``nu`` in PCM's 0.05..0.1 range."""
    model, _, _ = _model("none")
    cfg = DriftEvalConfig(
        repeats=1, prog_noise_scale=0.0, read_noise_scale=0.0, compensation=Compensation.NONE
    )
    with analog_inference(model, cfg) as session:
        w0 = session.effective_weight("0")
        ratios = {}
        for t in (60.0, 3600.0, 2592000.0):
            session.drift_to(t)
            ratios[t] = session.effective_weight("0") / w0
    nz = w0.abs() > 1e-3 * w0.abs().max()
    for t, ratio in ratios.items():
        assert (ratio[nz] > 0).all() and (ratio[nz] < 1).all()
        nu = -torch.log(ratio[nz]) / math.log((t + T0) / T0)
        assert 0.04 < float(nu.mean()) < 0.12
        # the same nu at every time: exact power law per device
        nu_1 = -torch.log(ratios[60.0][nz]) / math.log((60.0 + T0) / T0)
        assert torch.allclose(nu, nu_1, rtol=1e-3, atol=1e-4)
    # on average the conductance keeps falling
    assert ratios[2592000.0][nz].mean() < ratios[3600.0][nz].mean() < ratios[60.0][nz].mean()


def test_global_compensation_restores_output_scale() -> None:
    model, x, _ = _model()
    scale = {}
    for comp in (Compensation.NONE, Compensation.GLOBAL, Compensation.GLOBAL_EXACT_REFERENCE):
        cfg = DriftEvalConfig(repeats=1, compensation=comp)
        with analog_inference(model, cfg) as session, torch.no_grad():
            session.drift_to(1.0)
            early = model(x).abs().mean()
            session.drift_to(2592000.0)
            scale[comp] = float(model(x).abs().mean() / early)
    assert scale[Compensation.NONE] < 0.8
    assert abs(scale[Compensation.GLOBAL] - 1) < 0.1
    assert abs(scale[Compensation.GLOBAL_EXACT_REFERENCE] - 1) < 0.1


def test_bad_times_and_repeats_raise_config_error() -> None:
    model, _, _ = _model()
    for bad in (0.0, -5.0, math.inf, math.nan):
        with pytest.raises(ConfigError, match="drift time"):
            with analog_inference(model, DriftEvalConfig(repeats=1)) as session:
                session.drift_to(bad)
    with pytest.raises(ConfigError, match="repeat"):
        with analog_inference(model, DriftEvalConfig(), repeat=-1):
            pass
    with pytest.raises(ConfigError, match="repeats"):
        DriftEvalConfig(repeats=0)


def test_session_refuses_unconverted_or_uncalibrated_models() -> None:
    with pytest.raises(ConfigError, match="to_analog"):
        with analog_inference(nn.Linear(3, 2), DriftEvalConfig()):
            pass
    fresh = to_analog(nn.Linear(3, 2), get_recipe("hwa-v1"))
    with pytest.raises(ConfigError, match="calibrate_input_ranges"):
        with analog_inference(fresh, DriftEvalConfig()):
            pass


def test_noise_bank_windows_are_iid_and_reproducible() -> None:
    src = NoiseSource(torch.Generator().manual_seed(3), reuse=4)
    a = src.standard_normal(100_000)
    bank = src._bank
    assert bank is not None
    # one request = one contiguous window of distinct bank entries (iid within the request)
    offset = a.storage_offset() - bank.storage_offset()
    assert a.untyped_storage().data_ptr() == bank.untyped_storage().data_ptr()
    assert torch.equal(a, bank[offset : offset + a.numel()])
    assert abs(float(a.mean())) < 0.02 and abs(float(a.std()) - 1) < 0.02
    again = NoiseSource(torch.Generator().manual_seed(3), reuse=4).standard_normal(100_000)
    assert torch.equal(a, again)
    fresh = NoiseSource(torch.Generator().manual_seed(3), reuse=1)
    b, c = fresh.standard_normal(1000), fresh.standard_normal(1000)
    assert not torch.equal(b, c)


def test_images_per_chip_reads_each_chip_on_its_own_seeded_subset() -> None:
    """Each chip is read on its own subset (the same at every time of that chip), which is
    what the whole-set reading of that chip gives on those images; the setting joins the
    hash only when it is set, so older drift rows and records keep their keys."""
    from analognas.data import Split
    from analognas.training import drift_curve

    model, x, y = _model()
    assert DriftEvalConfig().hash() == "bfe8802417fb"  # the hash every committed row was keyed by
    cfg = DriftEvalConfig(times=(1.0, 86400.0), repeats=3, seed=5, images_per_chip=16)
    assert cfg.hash() != DriftEvalConfig(times=cfg.times, repeats=3, seed=5).hash()
    assert DriftEvalConfig.from_dict(cfg.to_dict()) == cfg
    picks = [cfg.chip_images(r, len(x)) for r in range(3)]
    assert all(len(p) == 16 == len(set(p)) and p == sorted(p) for p in picks)
    assert picks[0] != picks[1] != picks[2] and picks[0] == cfg.chip_images(0, len(x))  # seeded per chip
    assert cfg.chip_images(0, 16) is None and DriftEvalConfig().chip_images(0, 64) is None
    sub = drift_accuracy(model, cfg, x, y)
    for r, pick in enumerate(picks):  # chip r alone, on exactly its images, through the whole-set path
        whole = DriftEvalConfig(times=cfg.times, repeats=3, seed=5)
        want = drift_accuracy(model, whole, x[pick], y[pick], repeats=[r])
        assert sub.accuracy[r] == want.accuracy[0]
    curve = drift_curve(model, Split(x, y), cfg, batch_size=256)  # the pipeline's path agrees
    assert [tuple(round(v / 100, 9) for v in row) for row in curve.per_repeat] == \
        [tuple(round(v, 9) for v in row) for row in sub.accuracy]
    for bad in (0, -3, True, 2.5):
        with pytest.raises(ConfigError, match="images_per_chip must be an integer >= 1 or None"):
            DriftEvalConfig(images_per_chip=bad)
