"""Hardware-aware training recipes: what the analog forward pass does while training.

A recipe is a frozen tree of small dataclasses (aihwkit style: one dataclass per concern,
enums for choices) so that it can be hashed, stored next to a checkpoint, and compared.
The fields mirror aihwkit's ``TorchInferenceRPUConfig`` parameters one to one (see
``to_aihwkit_rpu_config``), restricted to the subset the fast path implements exactly:

* weight noise injection (``WeightModifierType.ADD_NORMAL``, ``rel_to_actual_wmax``),
* weight clipping (``WeightClipType.LAYER_GAUSSIAN``),
* learned / calibrated input ranges (``InputRangeParameter``),
* DAC and ADC quantisation, ADC bound and additive output noise (``IOParameters`` with
  noise and bound management off, since the input range replaces them),
* tile mapping (``MappingParameter.max_input_size`` / ``max_output_size``) with one digital
  scale per tile (v1: ``weight_scaling_omega=1``, ``LAYERWISE_SYMMETRIC`` remap) or per
  output column (v2: ``weight_scaling_columnwise=True``, ``CHANNELWISE_SYMMETRIC`` remap,
  per-column output scale, as in aihwkit's ``StandardHWATrainingPreset``),
* which layers are analog at all (``LayerPolicy``; v2).

Fields introduced with version 2 carry ``metadata={"since": 2}``: they enter ``to_dict``
(and so the hash) only when set away from their default, so every version-1 recipe keeps
the hash its checkpoints and records were stored under.

Everything in the periphery is expressed in *normalised tile units*: each tile's weights
(v2: each column of a tile) are divided by their absolute maximum (the value mapped to ``g_max``) and inputs by the
tile's input range, exactly as aihwkit does, so ``out_noise=0.04`` means 4% of the output
produced by one fully-on input row of maximal weights.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass, field
from typing import Any, TypeVar

from analognas._errors import ConfigError
from analognas.analog._plain import _from_plain, _to_plain, stable_hash

_T = TypeVar("_T")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


class WeightNoiseType(enum.StrEnum):
    """How weights are perturbed in each training forward pass."""

    NONE = "none"
    ADD_NORMAL = "add_normal"
    """Gaussian noise with std ``std_dev * max|W_tile|`` (aihwkit ``ADD_NORMAL`` with
    ``rel_to_actual_wmax=True``), resampled every forward, straight-through gradient."""


class WeightClipType(enum.StrEnum):
    """How weights are clipped after each optimizer step (``clip_weights_``)."""

    NONE = "none"
    LAYER_GAUSSIAN = "layer_gaussian"
    """Clip each tile to ``+-sigma * std(W_tile)`` (aihwkit ``LAYER_GAUSSIAN``)."""
    COLUMN_GAUSSIAN = "column_gaussian"
    """Clip each output column of each tile to ``+-sigma * std(column)``: the same rule at
    the granularity of per-column mapping, where each column's ``max|w|`` sets its own
    conductance scale (aihwkit has no column-wise Gaussian clip; it is a training step
    only and plays no part in inference)."""


class WeightScaling(enum.StrEnum):
    """Which weights share one conductance scale (the weight mapped to ``g_max``)."""

    TILE = "tile"
    """One scale per tile, ``max|W_tile|`` (aihwkit ``weight_scaling_columnwise=False``,
    ``LAYERWISE_SYMMETRIC`` remap): recipe v1."""
    COLUMN = "column"
    """One scale per output column of each tile (aihwkit ``weight_scaling_columnwise=True``,
    ``CHANNELWISE_SYMMETRIC`` remap, column-wise output scale): every column uses the full
    conductance range, so a column of small weights is not drowned in programming noise
    set by another column's largest weight."""


class LayerPolicy(enum.StrEnum):
    """Which convolutions / linear layers are mapped onto analog tiles."""

    ALL_ANALOG = "all_analog"
    """Every ``nn.Conv2d`` and ``nn.Linear``."""
    FIRST_DIGITAL = "first_digital"
    """All but the first layer in module order (the stem convolution), which stays digital:
    it has few rows (9 for a 1-channel 3x3 input), so its outputs average almost no
    programming noise, and it is a tiny fraction of the MACs."""
    LAST_DIGITAL = "last_digital"
    """All but the last ``nn.Linear`` (the classifier)."""
    FIRST_LAST_DIGITAL = "first_last_digital"
    """Both the first layer and the classifier digital."""


class CalibrationRule(enum.StrEnum):
    """How ``calibrate_input_ranges`` sets each tile's input range from data (direct
    mapping, and the starting point of HWA fine-tuning)."""

    STD = "std"
    """``init_std_alpha * std`` of the tile input, averaged over batches (aihwkit's data
    initialisation): recipe v1."""
    MAX = "max"
    """``max|x|`` over all calibration batches: nothing clips, at the cost of DAC steps."""
    PERCENTILE = "percentile"
    """The ``calibration_percentile`` of ``|x|`` over all calibration batches."""


@dataclass(frozen=True)
class WeightNoiseParameter:
    """Weight-noise injection during training."""

    type: WeightNoiseType = WeightNoiseType.NONE
    """Noise model; ``NONE`` trains on the exact weights."""
    std_dev: float = 0.0
    """Noise std relative to the tile's current ``max|w|``: relative because the PCM
    conductance range is always spent on the tile's largest weight."""

    def __post_init__(self) -> None:
        _check(self.std_dev >= 0 and math.isfinite(self.std_dev), "weight_noise.std_dev must be >= 0")


@dataclass(frozen=True)
class WeightClipParameter:
    """Weight clipping after each optimizer step."""

    type: WeightClipType = WeightClipType.NONE
    """Clipping rule; ``NONE`` never clips."""
    sigma: float = 2.5
    """Clip at ``sigma`` standard deviations of the tile's weights: outliers would
    otherwise set ``max|w|`` and squeeze every other weight into few conductance levels."""

    def __post_init__(self) -> None:
        _check(self.sigma > 0 and math.isfinite(self.sigma), "clip.sigma must be > 0")


@dataclass(frozen=True)
class InputRangeParameter:
    """Per-tile input range ``r``: inputs are clipped to ``[-r, r]`` and divided by ``r``
    before the DAC, and the output is multiplied back by ``r`` (aihwkit semantics)."""

    enable: bool = False
    """Whether tiles have an input range at all (needed by any non-ideal periphery)."""
    learn: bool = True
    """Learn ``r`` by gradient descent (aihwkit's clip gradient); if False it is only
    initialised from data / calibrated and then frozen."""
    init_value: float = 3.0
    """Value before any data was seen."""
    init_from_data: int = 100
    """Number of training batches whose ``init_std_alpha * std(x)`` are averaged to
    initialise ``r`` (0 = off)."""
    init_std_alpha: float = 3.0
    """Multiple of the input std used for data initialisation and calibration."""
    decay: float = 0.001
    """Shrinks ``r`` (gradient ``decay * r``) while fewer than ``1 - input_min_percentage``
    of the inputs clip, so ranges do not stay wider than needed."""
    input_min_percentage: float = 0.95
    """Fraction of unclipped inputs above which the decay applies."""
    gradient_scale: float = 1.0
    """Scale of the clip gradient (applied with ``gradient_relative`` only, as in aihwkit)."""
    gradient_relative: bool = True
    """Multiply the clip gradient by ``r`` so that ``r`` learns at a relative rate."""
    calibration: CalibrationRule = field(default=CalibrationRule.STD, metadata={"since": 2})
    """Rule of ``calibrate_input_ranges`` (see ``CalibrationRule``)."""
    calibration_percentile: float = field(default=99.99, metadata={"since": 2})
    """Percentile of ``|x|`` used by ``CalibrationRule.PERCENTILE``, in (0, 100]."""

    def __post_init__(self) -> None:
        _check(
            math.isfinite(self.calibration_percentile) and 0 < self.calibration_percentile <= 100,
            "input_range.calibration_percentile must be in (0, 100]",
        )
        _check(self.init_value > 0 and math.isfinite(self.init_value), "input_range.init_value must be > 0")
        _check(self.init_from_data >= 0, "input_range.init_from_data must be >= 0")
        _check(self.init_std_alpha > 0, "input_range.init_std_alpha must be > 0")
        _check(self.decay >= 0, "input_range.decay must be >= 0")
        _check(0 <= self.input_min_percentage <= 1, "input_range.input_min_percentage must be in [0, 1]")
        _check(self.gradient_scale >= 0, "input_range.gradient_scale must be >= 0")


@dataclass(frozen=True)
class PeripheryParameter:
    """DAC / ADC of each tile, in normalised tile units (aihwkit ``IOParameters``)."""

    inp_bits: int = 0
    """DAC resolution: ``2**bits - 2`` levels over ``[-1, 1]`` (aihwkit ``inp_res``);
    0 = ideal (no quantisation)."""
    out_bits: int = 0
    """ADC resolution: ``2**bits - 2`` levels over ``[-out_bound, out_bound]``; 0 = ideal."""
    out_bound: float = 0.0
    """ADC saturation level; 0 = unbounded."""
    out_noise: float = 0.0
    """Std of the additive Gaussian noise on every tile output, every forward."""

    def __post_init__(self) -> None:
        _check(self.inp_bits in range(17) and self.inp_bits != 1, "periphery.inp_bits must be 0 or 2..16")
        _check(self.out_bits in range(17) and self.out_bits != 1, "periphery.out_bits must be 0 or 2..16")
        _check(self.out_bound >= 0 and math.isfinite(self.out_bound), "periphery.out_bound must be >= 0")
        _check(self.out_noise >= 0 and math.isfinite(self.out_noise), "periphery.out_noise must be >= 0")
        _check(self.out_bits == 0 or self.out_bound > 0, "periphery.out_bits > 0 needs out_bound > 0")

    @property
    def is_perfect(self) -> bool:
        """True when the periphery is an exact matmul (aihwkit ``is_perfect``)."""
        return self.inp_bits == 0 and self.out_bits == 0 and self.out_bound == 0 and self.out_noise == 0

    @property
    def inp_levels(self) -> int:
        """Number of DAC steps over ``[-1, 1]`` (0 = ideal)."""
        return 2**self.inp_bits - 2 if self.inp_bits else 0

    @property
    def out_levels(self) -> int:
        """Number of ADC steps over ``[-out_bound, out_bound]`` (0 = ideal)."""
        return 2**self.out_bits - 2 if self.out_bits else 0


@dataclass(frozen=True)
class MappingParameter:
    """How a layer's weight matrix (out x in*k*k) is cut into crossbar tiles."""

    max_input_size: int = 512
    """Crossbar rows: inputs (``in*k*k``) per tile; larger layers are split into equal
    parts along the input axis (aihwkit ``TileModuleArray``)."""
    max_output_size: int = 512
    """Crossbar columns: outputs per tile."""
    weight_scaling: WeightScaling = field(default=WeightScaling.TILE, metadata={"since": 2})
    """Granularity of the weight-to-conductance scale (see ``WeightScaling``)."""

    def __post_init__(self) -> None:
        _check(self.max_input_size >= 1, "mapping.max_input_size must be >= 1")
        _check(self.max_output_size >= 1, "mapping.max_output_size must be >= 1")


@dataclass(frozen=True)
class FineTuneParameter:
    """Recipe v1 only: never read by the training loop, which always fine-tunes the FP32
    checkpoint for the fidelity's ``hwa_epochs``. It stays in v1 recipes because it is part
    of their hash; version 2 drops it (``fine_tune=None``)."""

    from_fp32: bool = False
    """Train digitally first, then convert (``to_analog``) and continue hardware-aware."""
    fp32_fraction: float = 0.0
    """Informational only: the training loop takes the FP32 and HWA epochs from the
    ``Fidelity`` (``epochs`` + ``hwa_epochs``), which is where the split is chosen per
    budget. Kept because it is part of ``hwa-v1``'s hash, which identifies every stored
    record; a ``hwa-v2`` should drop it."""

    def __post_init__(self) -> None:
        _check(0 <= self.fp32_fraction < 1, "fine_tune.fp32_fraction must be in [0, 1)")
        _check(self.from_fp32 or self.fp32_fraction == 0, "fine_tune.fp32_fraction needs from_fp32=True")


@dataclass(frozen=True)
class HWARecipe:
    """A named, versioned hardware-aware training recipe."""

    name: str
    """Preset name (``RECIPES`` key) or a user label."""
    version: int = 1
    """Bumped whenever a preset's values change, so stored results stay attributable."""
    weight_noise: WeightNoiseParameter = field(default_factory=WeightNoiseParameter)
    clip: WeightClipParameter = field(default_factory=WeightClipParameter)
    input_range: InputRangeParameter = field(default_factory=InputRangeParameter)
    periphery: PeripheryParameter = field(default_factory=PeripheryParameter)
    mapping: MappingParameter = field(default_factory=MappingParameter)
    fine_tune: FineTuneParameter | None = field(default=None, metadata={"since": 2})
    """Version 1 only (dead fields kept for the v1 hashes); must be None from version 2."""
    layers: LayerPolicy = field(default=LayerPolicy.ALL_ANALOG, metadata={"since": 2})
    """Which layers are analog (see ``LayerPolicy``)."""

    def __post_init__(self) -> None:
        _check(bool(self.name), "recipe name must not be empty")
        _check(self.version >= 1, "recipe version must be >= 1")
        if self.version == 1 and self.fine_tune is None:
            object.__setattr__(self, "fine_tune", FineTuneParameter())
        _check(
            self.version == 1 or self.fine_tune is None,
            "fine_tune was dropped in recipe version 2 (it was never read: HWA always fine-tunes"
            " the FP32 checkpoint for the fidelity's hwa_epochs)",
        )
        _check(
            self.version >= 2
            or (
                self.layers is LayerPolicy.ALL_ANALOG
                and self.mapping.weight_scaling is WeightScaling.TILE
                and self.input_range.calibration is CalibrationRule.STD
                and self.clip.type is not WeightClipType.COLUMN_GAUSSIAN
            ),
            "layer policies, per-column mapping and calibration rules need recipe version >= 2",
        )
        _check(
            self.periphery.is_perfect or self.input_range.enable,
            "a non-ideal periphery needs input_range.enable=True (inputs must be scaled into the DAC range)",
        )

    @property
    def trains_analog(self) -> bool:
        """Whether the training forward differs from the digital one at all."""
        return (
            self.weight_noise.type is not WeightNoiseType.NONE
            or self.input_range.enable
            or not self.periphery.is_perfect
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (enums as their string values)."""
        return _to_plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HWARecipe:
        """Inverse of ``to_dict``; unknown or mistyped keys raise ``ConfigError``."""
        return _from_plain(cls, data, "recipe")

    def hash(self) -> str:
        """Short stable hash of the canonical JSON (12 hex chars)."""
        return stable_hash(self.to_dict())

    def replace(self, **changes: Any) -> HWARecipe:
        """Copy with top-level fields replaced (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)
