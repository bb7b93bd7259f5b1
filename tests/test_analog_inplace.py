"""An analog layer's output may be modified in place by the model (ReLU(inplace=True)
right after it): backward must not depend on that tensor."""

from __future__ import annotations

import torch
from torch import nn

from analognas.analog import calibrate_input_ranges, get_recipe, to_analog


def test_inplace_relu_after_an_analog_layer_trains() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(inplace=True), nn.Flatten(),
                        nn.Linear(8 * 6 * 6, 4, bias=False), nn.ReLU(inplace=True))
    analog = to_analog(net, get_recipe("hwa-v2-all-analog"), generator=torch.Generator().manual_seed(0))
    x = torch.randn(16, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    calibrate_input_ranges(analog, x)
    analog.train()
    analog(x).sum().backward()
    grads = [p.grad for p in analog.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(float(g.abs().sum()) > 0 for g in grads)
