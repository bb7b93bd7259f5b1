"""Hardware metrics of a built network: params, MACs, depth and analog tiles.

These are measured on the module itself with library counters: parameter `numel`,
`torch.utils.flop_counter.FlopCounterMode` for MACs (a multiply-accumulate is 2 FLOPs),
and a `torch.fx` trace for depth. The pure-Python `analognas.space.cost` used by the
search is checked against these in the tests.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from analognas.models._builder import build_model
from analognas.space import DEFAULT_TILE_SIZE, ArchSpec


@dataclass(frozen=True)
class LayerReport:
    """One conv/linear layer mapped onto crossbar tiles (rows = in*k*k, cols = out)."""

    name: str
    kind: str
    rows: int
    cols: int
    params: int
    macs: int
    tiles: int
    utilisation: float


@dataclass(frozen=True)
class StageReport:
    name: str
    params: int
    macs: int
    tiles: int
    layers: int
    description: str


@dataclass(frozen=True)
class HardwareReport:
    name: str
    arch_id: str | None
    params: int
    macs: int
    tiles: int
    depth: int
    tile_size: tuple[int, int]
    input_shape: tuple[int, int, int]
    num_classes: int
    mean_utilisation: float
    layers: tuple[LayerReport, ...]
    stages: tuple[StageReport, ...]

    def to_dict(self, layers: bool = True) -> dict[str, Any]:
        out = asdict(self)
        if not layers:
            out.pop("layers")
        return out


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _flops_per_module(model: nn.Module, input_shape: tuple[int, int, int]) -> tuple[int, dict[str, int]]:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *input_shape))
    finally:
        model.train(was_training)
    root = type(model).__name__ + "."
    per_module = {
        name.removeprefix(root): int(sum(ops.values()))
        for name, ops in counter.get_flop_counts().items()
        if name.startswith(root)
    }
    return int(counter.get_total_flops()), per_module


def count_macs(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """MACs for one input of shape (C, H, W), from torch's FLOP counter."""
    return _flops_per_module(model, input_shape)[0] // 2


def weight_depth(model: nn.Module) -> int:
    """Longest chain of conv/linear layers from input to output in the traced graph."""
    import torch.fx as fx

    graph = fx.symbolic_trace(model).graph
    modules = dict(model.named_modules())
    depth: dict[fx.Node, int] = {}
    for node in graph.nodes:
        here = max((depth[a] for a in node.all_input_nodes), default=0)
        if node.op == "call_module" and isinstance(modules.get(str(node.target)), (nn.Conv2d, nn.Linear)):
            here += 1
        depth[node] = here
    return max(depth.values(), default=0)


def hardware_report(
    model_or_spec: nn.Module | ArchSpec,
    input_shape: tuple[int, int, int] = (3, 32, 32),
    num_classes: int = 10,
    tile_size: tuple[int, int] = DEFAULT_TILE_SIZE,
) -> HardwareReport:
    """Params, MACs, depth and tile mapping (with per-layer utilisation) of a spec or module."""
    if isinstance(model_or_spec, ArchSpec):
        spec: ArchSpec | None = model_or_spec
        model = build_model(model_or_spec, input_shape, num_classes)
    else:
        spec, model = None, model_or_spec
    total_flops, per_module = _flops_per_module(model, input_shape)
    layers = []
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Conv2d):
            rows = mod.in_channels // mod.groups * math.prod(mod.kernel_size)
            cols = mod.out_channels
        elif isinstance(mod, nn.Linear):
            rows, cols = mod.in_features, mod.out_features
        else:
            continue
        tiles = math.ceil(rows / tile_size[0]) * math.ceil(cols / tile_size[1])
        layers.append(
            LayerReport(
                name=name,
                kind="conv" if isinstance(mod, nn.Conv2d) else "linear",
                rows=rows,
                cols=cols,
                params=sum(p.numel() for p in mod.parameters(recurse=False)),
                macs=per_module.get(name, 0) // 2,
                tiles=tiles,
                utilisation=rows * cols / (tiles * tile_size[0] * tile_size[1]),
            )
        )
    n_tiles = sum(layer.tiles for layer in layers)
    used = sum(layer.rows * layer.cols for layer in layers)
    return HardwareReport(
        name=(spec.label if spec else type(model).__name__),
        arch_id=spec.arch_id if spec else None,
        params=count_parameters(model),
        macs=total_flops // 2,
        tiles=n_tiles,
        depth=weight_depth(model),
        tile_size=tuple(tile_size),  # type: ignore[arg-type]
        input_shape=tuple(input_shape),  # type: ignore[arg-type]
        num_classes=num_classes,
        mean_utilisation=used / (n_tiles * tile_size[0] * tile_size[1]) if n_tiles else 0.0,
        layers=tuple(layers),
        stages=_stage_reports(model, spec, layers, per_module),
    )


def _stage_reports(
    model: nn.Module, spec: ArchSpec | None, layers: list[LayerReport], per_module: dict[str, int]
) -> tuple[StageReport, ...]:
    groups = ["stem"] + [f"stages.{i}" for i in range(len(spec.stages))] + ["head"] if spec else []
    reports = []
    for g in groups:
        mine = [layer for layer in layers if layer.name == g or layer.name.startswith(g + ".")]
        params = sum(p.numel() for n, p in model.named_parameters() if n.startswith(g + ".") or n == g)
        if g.startswith("stages.") and spec is not None:
            st = spec.stages[int(g.split(".")[1])]
            desc = f"{st.blocks} x {st.block}, {st.branches} branch(es), width {st.width}"
        elif g == "stem" and spec is not None:
            desc = f"{spec.stem_kernel}x{spec.stem_kernel} conv, width {spec.stem_width}"
        else:
            desc = "global average pool + linear"
        reports.append(
            StageReport(
                name=g,
                params=params,
                macs=per_module.get(g, 0) // 2,
                tiles=sum(layer.tiles for layer in mine),
                layers=len(mine),
                description=desc,
            )
        )
    return tuple(reports)
