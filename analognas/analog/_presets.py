"""The named recipes (presets are just configs) and how a name or a file becomes one."""

from __future__ import annotations

import dataclasses
import json

from analognas._errors import ConfigError
from analognas.analog._recipe import (
    CalibrationRule,
    FineTuneParameter,
    HWARecipe,
    InputRangeParameter,
    LayerPolicy,
    MappingParameter,
    PeripheryParameter,
    WeightClipParameter,
    WeightClipType,
    WeightNoiseParameter,
    WeightNoiseType,
    WeightScaling,
)

# 6% of max|w|: slightly above the PCM programming noise at g_max (1.06 uS of 25 uS = 4.2%),
# so that the trained net tolerates programming plus read noise.
_WEIGHT_NOISE = WeightNoiseParameter(type=WeightNoiseType.ADD_NORMAL, std_dev=0.06)
# StandardHWATrainingPreset's input-range learning, verbatim.
_INPUT_RANGE = InputRangeParameter(
    enable=True,
    learn=True,
    init_value=3.0,
    init_from_data=100,
    init_std_alpha=3.0,
    decay=0.001,
    input_min_percentage=0.95,
    gradient_scale=1.0,
    gradient_relative=True,
)
# 8-bit DAC and ADC (254 levels); ADC bound and output noise of StandardHWATrainingPreset
# (out_bound=10, out_noise=0.04).
_PERIPHERY = PeripheryParameter(inp_bits=8, out_bits=8, out_bound=10.0, out_noise=0.04)

RECIPES: dict[str, HWARecipe] = {
    "hwa-v1": HWARecipe(
        name="hwa-v1",
        version=1,
        weight_noise=_WEIGHT_NOISE,
        clip=WeightClipParameter(type=WeightClipType.LAYER_GAUSSIAN, sigma=2.5),
        input_range=_INPUT_RANGE,
        periphery=_PERIPHERY,
        mapping=MappingParameter(max_input_size=512, max_output_size=512),
        # Rasch et al. (2023) fine-tune FP32-pretrained nets. The epoch split comes from
        # the Fidelity (low: 3 FP32 + 1 HWA); fp32_fraction is recorded, not read.
        fine_tune=FineTuneParameter(from_fp32=True, fp32_fraction=0.5),
    ),
    "hwa-v2": HWARecipe(
        name="hwa-v2",
        version=2,
        # Same noise level and periphery as v1 (StandardHWATrainingPreset's ADC bound, output
        # noise and 8-bit converters), mapped per output column as that preset does.
        weight_noise=_WEIGHT_NOISE,
        clip=WeightClipParameter(type=WeightClipType.COLUMN_GAUSSIAN, sigma=2.5),
        input_range=dataclasses.replace(
            _INPUT_RANGE, calibration=CalibrationRule.PERCENTILE, calibration_percentile=99.99
        ),
        periphery=_PERIPHERY,
        mapping=MappingParameter(max_input_size=512, max_output_size=512, weight_scaling=WeightScaling.COLUMN),
        layers=LayerPolicy.FIRST_DIGITAL,
    ),
    "none": HWARecipe(name="none", version=1),
}
# the all-analog variant of hwa-v2, reported beside it (README, "Protocol v2")
RECIPES["hwa-v2-all-analog"] = RECIPES["hwa-v2"].replace(name="hwa-v2-all-analog", layers=LayerPolicy.ALL_ANALOG)
"""Named presets. ``none`` trains digitally; converted with it, a model is evaluated by
programming its FP32 weights directly (PCM physics only, ideal periphery). ``hwa-v2`` is
protocol v2's recipe; its layer policy and calibration rule were chosen by measurement
(README, "Protocol v2")."""


def resolve_recipe(ref: str) -> HWARecipe:
    """A preset name, or the path of a recipe JSON file (``HWARecipe.to_dict()`` format)."""
    from pathlib import Path

    if ref in RECIPES or not str(ref).endswith(".json"):
        return get_recipe(ref)
    path = Path(ref)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: recipe file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable recipe JSON file ({exc})") from None
    try:
        return HWARecipe.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def get_recipe(name: str) -> HWARecipe:
    """Preset by name; unknown names raise ``ConfigError`` listing the valid ones."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ConfigError(f"unknown recipe {name!r}; choose one of {sorted(RECIPES)}") from None
