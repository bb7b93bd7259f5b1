"""Model-level helpers: convert, clip, calibrate, convert back."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from analognas._errors import ConfigError
from analognas.analog._layers import (
    EXTRA_STATE_SUFFIXES,
    AnalogConv2d,
    AnalogLinear,
    apply_clip,
    is_analog,
)
from analognas.analog._noise import NoiseSource
from analognas.analog._recipe import CalibrationRule, HWARecipe, LayerPolicy


def to_analog(
    model: nn.Module,
    recipe: HWARecipe,
    *,
    generator: torch.Generator | None = None,
    noise_reuse: int = 4,
    inplace: bool = False,
) -> nn.Module:
    """Replace every ``nn.Conv2d`` / ``nn.Linear`` (exact types) by its analog subclass.

    Parameter names and state_dict keys are unchanged (plus ``*.input_range`` and
    ``*.input_range_init_count`` when the recipe has input ranges). All layers share
    ``generator`` for weight and output noise; None means a fresh one seeded with 0, so
    training noise is reproducible and never comes from torch's global RNG.
    ``noise_reuse`` is the output-noise bank's reuse factor (``NoiseSource``; 1 = fresh
    samples every tile call). Layers that are already analog are re-configured with
    ``recipe``. The recipe's ``layers`` policy keeps the first layer and/or the classifier
    as plain digital layers (an analog one is converted back). Returns a converted copy
    unless ``inplace``.
    """
    if not isinstance(recipe, HWARecipe):
        raise ConfigError(f"recipe must be an HWARecipe, got {type(recipe).__name__}")
    if isinstance(noise_reuse, bool) or not isinstance(noise_reuse, int) or noise_reuse < 1:
        raise ConfigError(f"noise_reuse must be an integer >= 1, got {noise_reuse!r}")
    noise = NoiseSource(generator if generator is not None else torch.Generator().manual_seed(0), noise_reuse)
    root = model if inplace else copy.deepcopy(model)
    digital = _kept_digital(root, recipe.layers)
    if _convertible(root):
        return _convert_one(root, recipe, noise, digital)
    for parent in list(root.modules()):
        for name, child in list(parent.named_children()):
            if _convertible(child):
                setattr(parent, name, _convert_one(child, recipe, noise, digital))
    return root


def digital_layer_names(model: nn.Module, recipe: HWARecipe) -> list[str]:
    """Qualified names of the layers ``recipe``'s layer policy keeps digital (for
    ``aihwkit.nn.conversion.convert_to_analog(..., exclude_modules=...)``)."""
    keep = _kept_digital(model, recipe.layers)
    return [name for name, m in model.named_modules() if id(m) in keep]


def _kept_digital(root: nn.Module, policy: LayerPolicy) -> set[int]:
    """``id``s of the layers the recipe's layer policy keeps digital: the first
    convertible layer in module order (the stem) and/or the last ``nn.Linear``."""
    layers = [m for m in root.modules() if _convertible(m)]
    keep: set[int] = set()
    if not layers:
        return keep
    if policy in (LayerPolicy.FIRST_DIGITAL, LayerPolicy.FIRST_LAST_DIGITAL):
        keep.add(id(layers[0]))
    if policy in (LayerPolicy.LAST_DIGITAL, LayerPolicy.FIRST_LAST_DIGITAL):
        linears = [m for m in layers if isinstance(m, nn.Linear)]
        if linears:
            keep.add(id(linears[-1]))
    return keep


def _convertible(m: nn.Module) -> bool:
    return type(m) in (nn.Conv2d, nn.Linear) or is_analog(m)


def _convert_one(m: nn.Module, recipe: HWARecipe, noise: NoiseSource, digital: set[int]) -> nn.Module:
    keep = id(m) in digital
    if is_analog(m):
        m = m.to_digital()  # type: ignore[operator]
    if keep:
        return m
    if isinstance(m, nn.Conv2d):
        return AnalogConv2d.from_digital(m, recipe, noise)
    assert isinstance(m, nn.Linear)
    return AnalogLinear.from_digital(m, recipe, noise)


def to_digital(model: nn.Module, *, inplace: bool = False) -> nn.Module:
    """Plain-PyTorch model with the current weights (input ranges dropped), for export."""
    root = model if inplace else copy.deepcopy(model)
    if is_analog(root):
        return root.to_digital()  # type: ignore[operator]
    for parent in list(root.modules()):
        for name, child in list(parent.named_children()):
            if is_analog(child):
                setattr(parent, name, child.to_digital())  # type: ignore[operator]
    return root


def analog_layers(model: nn.Module) -> list[tuple[str, AnalogConv2d | AnalogLinear]]:
    """``(qualified name, layer)`` of every analog layer, in ``named_modules`` order."""
    return [(name, m) for name, m in model.named_modules() if is_analog(m)]  # type: ignore[misc]


def digital_state_dict(model_or_state: nn.Module | dict[str, Any]) -> dict[str, Any]:
    """State dict without the analog extras: loads strictly into the digital model."""
    state = model_or_state.state_dict() if isinstance(model_or_state, nn.Module) else model_or_state
    return {
        k: v for k, v in state.items() if not any(k == s or k.endswith("." + s) for s in EXTRA_STATE_SUFFIXES)
    }


def clip_weights_(model: nn.Module) -> int:
    """Apply every analog layer's weight clipping in place; returns the tiles clipped.

    Call after each optimizer step (aihwkit does this in ``post_update_step``), e.g.
    ``optimizer.register_step_post_hook(lambda *_: clip_weights_(model))``.
    """
    return sum(apply_clip(layer) for _, layer in analog_layers(model))


def noise_sources(model: nn.Module) -> list[NoiseSource]:
    """The distinct noise sources of ``model``'s analog layers, in layer order (one for a
    model from ``to_analog``): their ``state_dict`` is the whole training-noise state."""
    seen: dict[int, NoiseSource] = {}
    for _, layer in analog_layers(model):
        seen.setdefault(id(layer._analog.noise), layer._analog.noise)
    return list(seen.values())


def set_noise_generator(model: nn.Module, generator: torch.Generator, noise_reuse: int = 4) -> None:
    """Use ``generator`` (one shared ``NoiseSource``) for all training-time noise."""
    noise = NoiseSource(generator, noise_reuse)
    for _, layer in analog_layers(model):
        layer._analog.noise = noise


def _range_from(ir: Any, stats: list[Any]) -> float | None:
    """The range a calibration rule gives from per-batch statistics (None: no signal)."""
    if ir.calibration is CalibrationRule.STD:
        good = [s for s in stats if s > 0]
        return ir.init_std_alpha * sum(good) / len(good) if good else None
    if ir.calibration is CalibrationRule.MAX:
        top = max(stats, default=0.0)
        return top if top > 0 else None
    sample = torch.cat(stats) if stats else torch.empty(0)
    if sample.numel() == 0:
        return None
    k = max(1, min(sample.numel(), math.ceil(ir.calibration_percentile / 100 * sample.numel())))
    value = float(sample.kthvalue(k).values)
    return value if value > 0 else None


def input_ranges_calibrated(model: nn.Module) -> bool:
    """True when every layer that has input ranges has seen data (training or calibration)."""
    for _, layer in analog_layers(model):
        counts = getattr(layer, "input_range_init_count", None)
        if counts is not None and bool((counts == 0).any()):
            return False
    return True


@torch.no_grad()
def calibrate_input_ranges(model: nn.Module, batches: torch.Tensor | Iterable[torch.Tensor]) -> int:
    """Set every input range from its tile's input over ``batches`` (one tensor = one
    batch), by the recipe's ``input_range.calibration`` rule: ``init_std_alpha * std``
    averaged over batches (exactly aihwkit's data initialisation; recipe v1), ``max|x|``,
    or a percentile of ``|x|``. Runs the *digital* forward, so that a checkpoint without
    ranges (e.g. FP32) can be evaluated. Marks the ranges initialised. Returns the number
    of batches used.
    """
    layers = [(n, m) for n, m in analog_layers(model) if getattr(m, "input_range", None) is not None]
    if not layers:
        return 0
    if isinstance(batches, torch.Tensor):
        batches = [batches]
    modes = [(m, m.training) for m in model.modules()]
    for _, layer in layers:
        layer._analog.calibration = [[] for _ in layer._analog.layout.in_tiles]
    used = 0
    try:
        model.eval()
        device = next(model.parameters()).device
        for x in batches:
            model(x.to(device))
            used += 1
        if used == 0:
            raise ConfigError("calibrate_input_ranges needs at least one batch")
        for _, layer in layers:
            ir = layer._analog.recipe.input_range
            assert layer._analog.calibration is not None
            for i, stats in enumerate(layer._analog.calibration):
                value = _range_from(ir, stats)
                if value is not None:
                    layer.input_range.data[i] = value
            layer.input_range_init_count.fill_(float(max(used, ir.init_from_data)))
    finally:
        for _, layer in layers:
            layer._analog.calibration = None
        for m, mode in modes:
            m.training = mode
    return used
