"""Built-in architectures: the CIFAR ResNets of He et al. and a reconstruction of T500."""

from __future__ import annotations

from analognas.space import ArchSpec, BlockType, Shortcut, StageSpec


def cifar_resnet(n: int, shortcut: Shortcut = Shortcut.ZERO_PAD) -> ArchSpec:
    """He et al. (2016), Sec. 4.2: 6n+2 layers, 3 stages of n basic blocks, 16/32/64 channels.

    The paper's CIFAR nets use parameter-free (zero-padding) shortcuts, which give
    ResNet32 its 0.46M (464,154) parameters; 1x1 projection shortcuts give 466,906.
    """
    return ArchSpec(
        stem_width=16,
        stem_kernel=3,
        stages=tuple(StageSpec(width=w, blocks=n, branches=1, block=BlockType.BASIC) for w in (16, 32, 64)),
        shortcut=shortcut,
    )


T500_SPEC = ArchSpec(
    stem_width=56,
    stem_kernel=3,
    stages=(
        StageSpec(width=112, blocks=1, branches=2, block=BlockType.BOTTLENECK),
        StageSpec(width=224, blocks=1, branches=2, block=BlockType.BOTTLENECK),
        StageSpec(width=224, blocks=2, branches=2, block=BlockType.BOTTLENECK),
    ),
    expansion=4,
    shortcut=Shortcut.PROJECTION,
)
"""AnalogNAS-T500, RECONSTRUCTED: its exact configuration is not public.

Built from the published description (Benmeziane et al., 2023, AnalogNAS, and its
T500-vs-ResNet32 figure): one stem convolution; three stages, shallower and wider than
ResNet32's; two parallel branches per block summed with the shortcut; bottleneck blocks;
global pooling and a linear head; 422K parameters. Within that description we chose the
widths as stem 56 widened x2, x2, x1 (the `resnet_like` space's widening factors) and
1/1/2 blocks, which gives 422,082 parameters for a 3x32x32 input and 10 classes
(0.02% from the paper's 422K), depth 14 against ResNet32's 32, and 29 analog tiles
against 41. It is a member of `search_spaces/resnet_like.toml`.
"""

BUILTINS: tuple[tuple[str, ArchSpec, str], ...] = (
    ("resnet20", cifar_resnet(3), "He et al. CIFAR ResNet-20 (3x3 basic blocks, zero-pad shortcuts)"),
    ("resnet32", cifar_resnet(5), "He et al. CIFAR ResNet-32 (3x5 basic blocks, zero-pad shortcuts), 0.46M params"),
    ("resnet56", cifar_resnet(9), "He et al. CIFAR ResNet-56 (3x9 basic blocks, zero-pad shortcuts)"),
    (
        "resnet32-proj",
        cifar_resnet(5, Shortcut.PROJECTION),
        "ResNet-32 with 1x1 projection shortcuts (option B), 467K params",
    ),
    (
        "T500",
        T500_SPEC,
        "AnalogNAS-T500 reconstructed from its published description (exact config not public); 422K params",
    ),
)
"""The built-in architectures as plain data; the registry registers them (this module
imports nothing from it, so the two form no import cycle)."""
