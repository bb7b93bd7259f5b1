"""Analog in-memory computing physics: HWA training and PCM drift evaluation, fast.

The only place in analognas that imports aihwkit. aihwkit's simulated tiles unfold
convolutions into matmuls (17x slower than digital on CPU); here the same physics runs on
native ``F.conv2d`` / ``F.linear``:

* ``to_analog(model, recipe)`` swaps ``nn.Conv2d`` / ``nn.Linear`` for subclasses with the
  same state_dict keys whose training forward applies the recipe (``HWARecipe``: weight
  noise, input ranges, DAC/ADC, output noise, 512x512 tiles) with aihwkit's gradients;
  ``clip_weights_`` after each optimizer step; ``to_digital`` to export.
* ``analog_inference(model, DriftEvalConfig(...), repeat=r)`` programs the weights with
  aihwkit's ``PCMLikeNoiseModel`` per tile, ``session.drift_to(t)`` applies drift, read
  noise and aihwkit's global drift compensation, and the model then runs natively.
* ``drift_accuracy`` does the whole evaluation loop.

Equal to aihwkit's ``TorchInferenceRPUConfig`` tiles (see ``to_aihwkit_rpu_config`` and
the tests) up to float summation order, except where documented: the output-noise
samples come from a reusable bank (``NoiseSource``: exact per tile output, reused across
outputs; ``noise_reuse=1`` for fresh samples), the per-copy clip term of the input-range
gradient of large conv inputs is an unbiased sampled estimate, and out-tiles reading the
same inputs share one input range. Every random draw comes from an explicit seed or
``torch.Generator``; aihwkit's own global-RNG calls run inside ``torch.random.fork_rng``.

Typical use::

    model = to_analog(model, get_recipe("hwa-v1"), generator=torch.Generator().manual_seed(0))
    ...train, calling clip_weights_(model) after each step...
    result = drift_accuracy(model, DriftEvalConfig(repeats=5), x_test, y_test)
"""

from __future__ import annotations

from analognas.analog._aihwkit_config import to_aihwkit_model, to_aihwkit_rpu_config
from analognas.analog._convert import (
    analog_layers,
    calibrate_input_ranges,
    clip_weights_,
    digital_layer_names,
    digital_state_dict,
    input_ranges_calibrated,
    noise_sources,
    set_noise_generator,
    to_analog,
    to_digital,
)
from analognas.analog._drift import (
    DriftResult,
    DriftSession,
    analog_inference,
    drift_accuracy,
    make_noise_model,
)
from analognas.analog._drift_config import DEFAULT_TIMES, Compensation, DriftEvalConfig
from analognas.analog._layers import AnalogConv2d, AnalogLinear
from analognas.analog._presets import RECIPES, get_recipe, resolve_recipe
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
from analognas.analog._sensitivity import PROBE_ETA, PROBE_IMAGES, Sensitivity, record_probe, weight_noise_sensitivity
from analognas.analog._tile_forward import tile_abs_max
from analognas.analog._tiles import split_sizes

__all__ = [
    "DEFAULT_TIMES",
    "PROBE_ETA",
    "PROBE_IMAGES",
    "RECIPES",
    "AnalogConv2d",
    "AnalogLinear",
    "CalibrationRule",
    "Compensation",
    "DriftEvalConfig",
    "DriftResult",
    "DriftSession",
    "FineTuneParameter",
    "HWARecipe",
    "InputRangeParameter",
    "LayerPolicy",
    "MappingParameter",
    "PeripheryParameter",
    "Sensitivity",
    "WeightClipParameter",
    "WeightClipType",
    "WeightNoiseParameter",
    "WeightNoiseType",
    "WeightScaling",
    "analog_inference",
    "analog_layers",
    "calibrate_input_ranges",
    "clip_weights_",
    "digital_layer_names",
    "digital_state_dict",
    "drift_accuracy",
    "get_recipe",
    "input_ranges_calibrated",
    "make_noise_model",
    "noise_sources",
    "record_probe",
    "resolve_recipe",
    "set_noise_generator",
    "split_sizes",
    "tile_abs_max",
    "to_aihwkit_model",
    "to_aihwkit_rpu_config",
    "to_analog",
    "to_digital",
    "weight_noise_sensitivity",
]
