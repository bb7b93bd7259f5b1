"""The aihwkit ``TorchInferenceRPUConfig`` that a recipe + drift config stand for.

This is the written-down correspondence between our settings and aihwkit's: the
equivalence tests convert a model with ``aihwkit.nn.conversion.convert_to_analog`` and
this config and compare against the fast path. Only aihwkit's pure-PyTorch tiles are used
(its C++ tiles fail under torch 2.13).
"""

from __future__ import annotations

import copy
from typing import Any

from analognas.analog._convert import digital_layer_names
from analognas.analog._drift import make_compensation, make_noise_model
from analognas.analog._drift_config import DriftEvalConfig
from analognas.analog._recipe import HWARecipe, WeightClipType, WeightNoiseType, WeightScaling


def to_aihwkit_rpu_config(recipe: HWARecipe, drift: DriftEvalConfig | None = None) -> Any:
    """Build the equivalent ``TorchInferenceRPUConfig`` (drift defaults if ``drift`` is None).

    The recipe's layer policy is not part of an rpu config: convert with
    ``aihwkit_exclusions(model, recipe)`` excluded to keep the same layers digital."""
    from aihwkit.simulator.configs import TorchInferenceRPUConfig
    from aihwkit.simulator.parameters import (
        InputRangeParameter,
        IOParameters,
        MappingParameter,
        PrePostProcessingParameter,
        WeightClipParameter,
        WeightModifierParameter,
        WeightRemapParameter,
    )
    from aihwkit.simulator.parameters.enums import (
        BoundManagementType,
        NoiseManagementType,
        WeightModifierType,
        WeightRemapType,
    )
    from aihwkit.simulator.parameters.enums import WeightClipType as AihwClip

    drift = drift or DriftEvalConfig()
    p = recipe.periphery
    ir = recipe.input_range
    rpu = TorchInferenceRPUConfig()
    columns = recipe.mapping.weight_scaling is WeightScaling.COLUMN
    # one digital scale per tile = max|W_tile| (v1), or per output column of each tile as in
    # StandardHWATrainingPreset (v2), renormalised after every update
    rpu.mapping = MappingParameter(
        digital_bias=True,
        weight_scaling_omega=1.0,
        weight_scaling_columnwise=columns,
        learn_out_scaling=columns,
        out_scaling_columnwise=columns,
        max_input_size=recipe.mapping.max_input_size,
        max_output_size=recipe.mapping.max_output_size,
    )
    rpu.remap = WeightRemapParameter(
        type=WeightRemapType.CHANNELWISE_SYMMETRIC if columns else WeightRemapType.LAYERWISE_SYMMETRIC
    )
    rpu.forward = IOParameters(
        is_perfect=p.is_perfect,
        inp_bound=1.0,
        inp_res=1.0 / p.inp_levels if p.inp_levels else -1.0,
        inp_noise=0.0,
        out_res=1.0 / p.out_levels if p.out_levels else -1.0,
        out_bound=p.out_bound if p.out_bound > 0 else -1.0,
        out_noise=p.out_noise,
        out_noise_std=0.0,
        bound_management=BoundManagementType.NONE,
        noise_management=NoiseManagementType.NONE,
    )
    rpu.pre_post = PrePostProcessingParameter(
        input_range=InputRangeParameter(
            enable=ir.enable,
            learn_input_range=ir.learn,
            init_value=ir.init_value,
            init_from_data=ir.init_from_data,
            init_std_alpha=ir.init_std_alpha,
            decay=ir.decay,
            input_min_percentage=ir.input_min_percentage,
            manage_output_clipping=False,
            gradient_scale=ir.gradient_scale,
            gradient_relative=ir.gradient_relative,
        )
    )
    # COLUMN_GAUSSIAN has no aihwkit counterpart; clipping is a training step and this
    # config serves inference comparisons, so it maps to no clipping
    if recipe.clip.type is WeightClipType.LAYER_GAUSSIAN:
        rpu.clip = WeightClipParameter(type=AihwClip.LAYER_GAUSSIAN, sigma=recipe.clip.sigma)
    else:
        rpu.clip = WeightClipParameter(type=AihwClip.NONE)
    if recipe.weight_noise.type is WeightNoiseType.ADD_NORMAL:
        rpu.modifier = WeightModifierParameter(
            type=WeightModifierType.ADD_NORMAL, std_dev=recipe.weight_noise.std_dev, rel_to_actual_wmax=True
        )
    else:
        rpu.modifier = WeightModifierParameter(type=WeightModifierType.NONE)
    rpu.noise_model = make_noise_model(drift)
    rpu.drift_compensation = make_compensation(drift.compensation)
    return rpu


def to_aihwkit_model(
    net: Any, recipe: HWARecipe, drift: DriftEvalConfig | None = None, *, ranges_from: Any = None
) -> Any:
    """aihwkit's own analog copy of the digital ``net``: ``convert_to_analog`` with
    ``to_aihwkit_rpu_config``, the layers the recipe's policy keeps digital excluded, and,
    given ``ranges_from`` (our ``to_analog`` copy of ``net``), its calibrated input ranges
    set on every tile, so both simulators start from the same numbers. In eval mode."""
    from aihwkit.nn.conversion import convert_to_analog

    ref = convert_to_analog(
        copy.deepcopy(net), to_aihwkit_rpu_config(recipe, drift), exclude_modules=digital_layer_names(net, recipe)
    )
    if ranges_from is not None:
        ours = dict(ranges_from.named_modules())
        for name, module in ref.named_modules():
            layer = ours.get(name)
            if getattr(layer, "input_range", None) is None or not hasattr(module, "analog_module"):
                continue
            am = module.analog_module
            rows = am.array if hasattr(am, "array") else [[am]]
            for i, row in enumerate(rows):
                for tile in row:
                    tile.set_input_range(float(layer.input_range.detach()[i]))
    return ref.eval()

