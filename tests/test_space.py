"""Search-space files, specs, sampling, encoding and the Optuna mapping (no torch)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest

from analognas import SpaceError, SpecError
from analognas.space import (
    ArchSpec,
    BlockType,
    Shortcut,
    StageSpec,
    encode,
    feature_names,
    load_space,
    param_name,
)

from .conftest import REPO

SPACES = sorted((REPO / "search_spaces").glob("*.toml"))


@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.stem)
def test_shipped_spaces_load_and_sample(path: Path) -> None:
    space = load_space(path)
    specs = space.sample(np.random.default_rng(0), 20)
    assert len({s.arch_id for s in specs}) > 10
    for s in specs:
        assert not space.outside(s)
        assert not space.constraints.violations(space.cost(s))
        assert space.from_params(space.to_params(s)) == s


def test_space_by_name_and_size() -> None:
    tiny = load_space("tiny")
    # stem 2 widths x 2 kernels x sum_{m=1,2} (2 blocks * 2 branches * 2 types * 2 widen)^m
    assert tiny.size() == 2 * 2 * (16 + 16**2)


def test_sampling_is_seeded() -> None:
    space = load_space("resnet_like")
    a = space.sample(np.random.default_rng(7), 5)
    b = space.sample(np.random.default_rng(7), 5)
    c = space.sample(np.random.default_rng(8), 5)
    assert a == b
    assert a != c


def test_t500_is_in_resnet_like_space() -> None:
    from analognas.models import get_spec

    space = load_space("resnet_like")
    assert space.outside(get_spec("T500")) == []
    assert space.outside(get_spec("resnet32"))  # zero-pad shortcuts: not in a projection space


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "space.toml"
    p.write_text(text)
    return p


GOOD = (REPO / "search_spaces" / "tiny.toml").read_text()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("kernel = [3, 5]", "kernel = [3, 4]", "stem.kernel: bad choice 4"),
        ("count = { min = 1, max = 2 }", "count = { min = 3, max = 2 }", "stages.count: inverted range"),
        ("widen = [1.0, 2.0]", "widen = []", "stages.widen"),
        ('block = ["basic", "bottleneck"]', 'block = ["basic", "dense"]', "bad choice 'dense'"),
        ("max_params = 20_000", "max_params = 20_000\nmax_watts = 3", "constraints.max_watts: unknown key"),
        ("blocks = { min = 1, max = 2 }", 'blocks = "two"', "stages.blocks: must be a list"),
        (
            "branches = { min = 1, max = 2 }",
            "branches = { min = 1.5, max = 2 }",
            "stages.branches.min: must be an integer",
        ),
        ('name = "tiny"', "", "name: missing"),
    ],
)
def test_bad_space_files_name_file_key_and_reason(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(SpaceError) as err:
        load_space(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_all_errors_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("kernel = [3, 5]", "kernel = [2]").replace("widen = [1.0, 2.0]", "widen = [0]")
    with pytest.raises(SpaceError) as err:
        load_space(_write(tmp_path, text))
    assert "stem.kernel" in str(err.value) and "stages.widen" in str(err.value)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(SpaceError, match="not found"):
        load_space(tmp_path / "nope.toml")
    with pytest.raises(SpaceError, match="not valid TOML"):
        load_space(_write(tmp_path, "name = [unclosed"))


def test_unsatisfiable_constraints_are_reported(tmp_path: Path) -> None:
    space = load_space(_write(tmp_path, GOOD.replace("max_params = 20_000", "max_params = 10")))
    with pytest.raises(SpaceError, match="unsatisfiable"):
        space.sample(np.random.default_rng(0), 1, max_tries=200)


def test_spec_json_round_trip_and_stable_id() -> None:
    spec = ArchSpec(16, 5, (StageSpec(32, 2, 3, BlockType.BOTTLENECK), StageSpec(64, 1)), name="x")
    again = ArchSpec.from_json(spec.to_json())
    assert again == spec and again.arch_id == spec.arch_id and again.name == "x"
    # the name is not part of the identity; every structural field is
    assert spec.with_name("y").arch_id == spec.arch_id
    assert ArchSpec(16, 5, (StageSpec(32, 2, 2, "bottleneck"), StageSpec(64, 1))).arch_id != spec.arch_id
    # the id is a fixed function of the content (guards against accidental format changes)
    assert (
        ArchSpec(16, 3, (StageSpec(16, 1),)).arch_id
        == ArchSpec.from_dict({"stem": {"width": 16, "kernel": 3}, "stages": [{"width": 16, "blocks": 1}]}).arch_id
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"stem": {"width": 16, "kernel": 3}, "stages": []}, "non-empty"),
        ({"stem": {"width": 16, "kernel": 3}, "stages": [{"width": 0, "blocks": 1}]}, "stages\\[0\\]: stage width"),
        ({"stem": {"width": 16, "kernel": 4}, "stages": [{"width": 8, "blocks": 1}]}, "stem_kernel"),
        ({"stem": {"width": 16, "kernel": 3}, "stages": [{"width": 8, "blocks": 1, "block": "x"}]}, "block must be"),
        ({"stem": {"width": 16, "kernel": 3}, "stages": [{"width": 8, "blocks": 1}], "colour": 1}, "unknown spec key"),
        ([1, 2], "JSON object"),
    ],
)
def test_invalid_specs(data: object, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        ArchSpec.from_dict(data)


def test_invalid_json_text() -> None:
    with pytest.raises(SpecError, match="invalid JSON"):
        ArchSpec.from_json("{not json")


def test_zero_pad_needs_growing_widths() -> None:
    with pytest.raises(SpecError, match="non-decreasing"):
        ArchSpec(32, 3, (StageSpec(16, 1),), shortcut=Shortcut.ZERO_PAD)


def test_encoding_has_fixed_length_and_no_placeholder_widths() -> None:
    space = load_space("resnet_like")
    names = feature_names(space.max_stages)
    one = ArchSpec(16, 3, (StageSpec(64, 2, 2, BlockType.BASIC),))
    three = ArchSpec(16, 3, (StageSpec(32, 1), StageSpec(64, 1), StageSpec(128, 1)))
    for spec in (one, three):
        vec = encode(spec, space.max_stages, space.input_shape, space.num_classes)
        assert vec.shape == (len(names),)
        assert np.isfinite(vec).all()
    vec = dict(zip(names, encode(one, space.max_stages, space.input_shape, space.num_classes)))
    # levels the 1-stage net never reaches hold zero blocks and zero parameters (true counts) ...
    assert vec["L2_basic_blocks"] == 0 and vec["L5_log10_1p_params"] == 0
    # ... but carry the real width the head receives, never a zero-channel "stage"
    assert vec["L5_log2_width"] == vec["L1_log2_width"] == 6.0
    assert vec["L1_branch_instances"] == 4


def test_optuna_mapping_round_trips() -> None:
    space = load_space("resnet_like")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        spec = space.suggest(trial)
        assert space.from_params(trial.params) == spec
        assert not space.outside(spec)
        assert len([k for k in trial.params if k.startswith(f"stage{spec.num_stages + 1}_")]) == 0
        study.tell(trial, 0.0)
    assert param_name("blocks", 1) == "stage2_blocks"


def test_space_and_spec_modules_do_not_import_torch() -> None:
    code = (
        "import sys, analognas.space, analognas.models; "
        "import numpy as np; s = analognas.space.load_space('resnet_like'); s.sample(np.random.default_rng(0), 3); "
        "analognas.models.get_spec('T500'); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "False"


def test_spec_is_hashable_and_frozen() -> None:
    spec = ArchSpec(16, 3, (StageSpec(16, 1),))
    assert {spec: 1}[ArchSpec(16, 3, (StageSpec(16, 1),))] == 1
    with pytest.raises(AttributeError):
        spec.stem_width = 8  # type: ignore[misc]
    assert json.loads(spec.to_json())["stages"][0]["block"] == "basic"
