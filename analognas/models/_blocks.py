"""Network blocks built from a plain config dict, with torch as the only import.

This file is copied verbatim into every exported model (`analognas export`), so it must
not import analognas or anything but torch: the exported network then has exactly the
builder's parameter names and computes exactly the same function.

Config dict (what `ArchSpec.to_dict()` gives):
    {"stem": {"width": int, "kernel": int},
     "stages": [{"width": int, "blocks": int, "branches": int, "block": "basic"|"bottleneck"}, ...],
     "expansion": int, "shortcut": "projection"|"zero_pad"}
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)
    return conv, nn.BatchNorm2d(cout)


class BasicBranch(nn.Module):
    """3x3 conv (strided) -> BN -> ReLU -> 3x3 conv -> BN."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(cin, cout, 3, stride)
        self.conv2, self.bn2 = _conv_bn(cout, cout, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))


class BottleneckBranch(nn.Module):
    """1x1 reduce -> 3x3 (strided) -> 1x1 expand, BN after each, ReLU between."""

    def __init__(self, cin: int, cout: int, stride: int, mid: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = _conv_bn(cin, mid, 1)
        self.conv2, self.bn2 = _conv_bn(mid, mid, 3, stride)
        self.conv3, self.bn3 = _conv_bn(mid, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.bn3(self.conv3(x))


#: Branch modules by block type: ``(cin, cout, stride, expansion) -> nn.Module`` whose
#: convolutions are named as the block's ``LayerRow`` suffixes in ``analognas.space``.
BRANCHES = {
    "basic": lambda cin, cout, stride, expansion: BasicBranch(cin, cout, stride),
    "bottleneck": lambda cin, cout, stride, expansion: BottleneckBranch(cin, cout, stride, max(1, cout // expansion)),
}


class ProjectionShortcut(nn.Module):
    """1x1 strided conv + BN: He et al.'s option B."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv, self.bn = _conv_bn(cin, cout, 1, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class ZeroPadShortcut(nn.Module):
    """Subsample and zero-pad the new channels: He et al.'s parameter-free option A."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.stride, self.pad = stride, cout - cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        half = self.pad // 2
        return F.pad(x, (0, 0, 0, 0, half, self.pad - half))


class ResidualBlock(nn.Module):
    """ReLU(shortcut(x) + sum of parallel branches(x))."""

    def __init__(
        self, cin: int, cout: int, stride: int, block: str, branches: int, expansion: int, shortcut: str
    ) -> None:
        super().__init__()
        if block not in BRANCHES:
            raise ValueError(f"unknown block type {block!r}")
        self.branches = nn.ModuleList(BRANCHES[block](cin, cout, stride, expansion) for _ in range(branches))
        if cin == cout and stride == 1:
            self.shortcut: nn.Module = nn.Identity()
        elif shortcut == "projection":
            self.shortcut = ProjectionShortcut(cin, cout, stride)
        else:
            self.shortcut = ZeroPadShortcut(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.shortcut(x)
        for branch in self.branches:
            out = out + branch(x)
        return F.relu(out)


class Stem(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int) -> None:
        super().__init__()
        self.conv, self.bn = _conv_bn(cin, cout, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class SpecNet(nn.Module):
    """Stem -> stages of residual blocks (stride 2 entering every stage but the first)
    -> global average pool -> linear head."""

    def __init__(self, config: dict, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.config = config
        self.stem = Stem(in_channels, config["stem"]["width"], config["stem"]["kernel"])
        stages, cin = [], config["stem"]["width"]
        for i, st in enumerate(config["stages"]):
            blocks = []
            for j in range(st["blocks"]):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(
                    ResidualBlock(
                        cin,
                        st["width"],
                        stride,
                        st["block"],
                        st["branches"],
                        config["expansion"],
                        config["shortcut"],
                    )
                )
                cin = st["width"]
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
