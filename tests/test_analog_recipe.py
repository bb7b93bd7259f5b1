"""Recipes and drift configs: presets, serialisation, hashing, validation."""

from __future__ import annotations

import json
import math

import pytest

from analognas import ConfigError
from analognas.analog import (
    RECIPES,
    Compensation,
    DriftEvalConfig,
    HWARecipe,
    InputRangeParameter,
    PeripheryParameter,
    WeightNoiseParameter,
    WeightNoiseType,
    get_recipe,
)


def test_presets() -> None:
    assert set(RECIPES) == {"hwa-v1", "hwa-v2", "hwa-v2-all-analog", "none"}
    hwa = get_recipe("hwa-v1")
    assert hwa.weight_noise.type is WeightNoiseType.ADD_NORMAL and hwa.weight_noise.std_dev > 0
    assert hwa.periphery.inp_levels == 254 and hwa.periphery.out_levels == 254
    assert hwa.input_range.enable and hwa.mapping.max_input_size == 512
    assert hwa.trains_analog
    none = get_recipe("none")
    assert not none.trains_analog and none.periphery.is_perfect
    with pytest.raises(ConfigError, match="hwa-v1"):
        get_recipe("hwa-v3")


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_round_trip_and_hash(name: str) -> None:
    recipe = get_recipe(name)
    data = recipe.to_dict()
    json.dumps(data)  # plain JSON
    assert HWARecipe.from_dict(data) == recipe
    assert HWARecipe.from_dict(json.loads(json.dumps(data))).hash() == recipe.hash()
    assert len(recipe.hash()) == 12
    changed = recipe.replace(weight_noise=WeightNoiseParameter(WeightNoiseType.ADD_NORMAL, 0.01))
    assert changed.hash() != recipe.hash()


def test_recipe_from_dict_rejects_bad_input() -> None:
    data = get_recipe("hwa-v1").to_dict()
    with pytest.raises(ConfigError, match="unknown key"):
        HWARecipe.from_dict({**data, "colour": "red"})
    bad = json.loads(json.dumps(data))
    bad["periphery"]["inp_bits"] = "eight"
    with pytest.raises(ConfigError, match="inp_bits"):
        HWARecipe.from_dict(bad)
    bad = json.loads(json.dumps(data))
    bad["weight_noise"]["type"] = "gaussian"
    with pytest.raises(ConfigError, match="add_normal"):
        HWARecipe.from_dict(bad)


def test_recipe_validation() -> None:
    with pytest.raises(ConfigError, match="input_range"):
        HWARecipe(name="x", periphery=PeripheryParameter(inp_bits=8))
    with pytest.raises(ConfigError, match="out_bound"):
        PeripheryParameter(out_bits=8, out_bound=0.0)
    with pytest.raises(ConfigError, match="std_dev"):
        WeightNoiseParameter(WeightNoiseType.ADD_NORMAL, -0.1)
    with pytest.raises(ConfigError, match="init_value"):
        InputRangeParameter(enable=True, init_value=0.0)


def test_drift_config_defaults_and_round_trip() -> None:
    cfg = DriftEvalConfig()
    assert cfg.times == (1.0, 3600.0, 86400.0, 2592000.0)
    assert cfg.g_max == 25.0 and cfg.repeats >= 1
    assert isinstance(cfg.compensation, Compensation)
    assert DriftEvalConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert cfg.hash() == DriftEvalConfig().hash() != DriftEvalConfig(seed=1).hash()
    assert DriftEvalConfig(times=[10, 20]).times == (10.0, 20.0)


@pytest.mark.parametrize(
    "times", [(0.0,), (-1.0,), (math.inf,), (math.nan,), (), ("soon",), (1.0, 0.0)]
)
def test_drift_config_rejects_bad_times(times) -> None:
    with pytest.raises(ConfigError) as info:
        DriftEvalConfig(times=times)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("repeats", [0, -3, 1.5, True])
def test_drift_config_rejects_bad_repeats(repeats) -> None:
    with pytest.raises(ConfigError, match="repeats") as info:
        DriftEvalConfig(repeats=repeats)
    assert "\n" not in str(info.value)


def test_drift_config_rejects_bad_physics() -> None:
    with pytest.raises(ConfigError, match="g_max"):
        DriftEvalConfig(g_max=0.0)
    with pytest.raises(ConfigError, match="drift_scale"):
        DriftEvalConfig(drift_scale=-1.0)
    with pytest.raises(ConfigError, match="noise_reuse"):
        DriftEvalConfig(noise_reuse=0)
    with pytest.raises(ConfigError, match="compensation"):
        DriftEvalConfig(compensation="bogus")
    assert DriftEvalConfig(compensation="global_exact_reference").compensation is Compensation.GLOBAL_EXACT_REFERENCE
