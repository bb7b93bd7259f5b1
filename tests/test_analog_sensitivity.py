"""The weight-noise sensitivity feature: seeded, restoring, policy-aware, growing with noise."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from analognas.analog import get_recipe, weight_noise_sensitivity


def _trained_net(seed: int = 0) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small conv net fitted to a separable synthetic task (a trained net, so noise hurts)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(400, 1, 8, 8, generator=g)
    y = (x[:, 0, :4].mean((1, 2)) > x[:, 0, 4:].mean((1, 2))).long()
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(8 * 64, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return net.eval(), x, y


def test_restores_weights_is_seeded_and_grows_with_eta() -> None:
    net, x, y = _trained_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    recipe = get_recipe("hwa-v2")
    small = weight_noise_sensitivity(net, x, y, recipe, eta=0.02, draws=4, seed=1)
    big = weight_noise_sensitivity(net, x, y, recipe, eta=0.3, draws=4, seed=1)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert small.clean_accuracy > 90 and small.images == 400 and small.draws == 4
    assert 0 < small.loss_increase < big.loss_increase and big.accuracy_drop > small.accuracy_drop
    assert weight_noise_sensitivity(net, x, y, recipe, eta=0.02, draws=4, seed=1) == small
    assert weight_noise_sensitivity(net, x, y, recipe, eta=0.02, draws=4, seed=2) != small


def test_only_pcm_mapped_layers_are_perturbed() -> None:
    """A lone layer is the stem: first_digital keeps it digital, so nothing moves."""
    torch.manual_seed(0)
    lone = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()
    x, y = torch.randn(50, 1, 4, 4), torch.randint(0, 3, (50,))
    kept = weight_noise_sensitivity(lone, x, y, get_recipe("hwa-v2"), eta=0.5)
    assert kept.loss_increase == 0.0 and kept.accuracy_drop == 0.0
    moved = weight_noise_sensitivity(lone, x, y, get_recipe("hwa-v2-all-analog"), eta=0.5)
    assert moved.loss_increase != 0.0


@pytest.mark.parametrize("kw", [{"eta": 0.0}, {"draws": 0}])
def test_bad_settings_are_refused(kw: dict) -> None:
    net, x, y = _trained_net()
    with pytest.raises(ValueError, match="eta > 0"):
        weight_noise_sensitivity(net, x, y, get_recipe("hwa-v2"), **kw)
