"""The collection design (Sobol, stratified by size) and the surrogate's fast encoder."""

from __future__ import annotations

import numpy as np
import pytest

from analognas.space import ArchSpec, BlockType, Shortcut, StageSpec, encode_many, load_space
from analognas.surrogate import FeatureSchema, SurrogateError, design_architectures

from .conftest import REPO

POOL = 4096  # smaller than the default pool, to keep the tests fast


@pytest.fixture(scope="module")
def resnet_like():
    return load_space("resnet_like")


@pytest.mark.slow
def test_design_is_deterministic_and_seeded(resnet_like) -> None:
    a = design_architectures(resnet_like, 40, seed=3, pool=POOL)
    b = design_architectures(resnet_like, 40, seed=3, pool=POOL)
    c = design_architectures(resnet_like, 40, seed=4, pool=POOL)
    ids = [s.arch_id for s in a.specs]
    assert ids == [s.arch_id for s in b.specs]
    assert ids != [s.arch_id for s in c.specs]
    assert len(set(ids)) == len(ids)


def test_design_respects_constraints_and_space(resnet_like) -> None:
    d = design_architectures(resnet_like, 60, seed=0, pool=POOL)
    for spec, params in zip(d.specs, d.params):
        c = resnet_like.cost(spec)
        assert not resnet_like.constraints.violations(c)
        assert c.params == params
        assert resnet_like.outside(spec) == []
    assert len({s.num_stages for s in d.specs}) >= 4  # conditional stages are explored


def test_design_covers_the_size_bins_evenly(resnet_like) -> None:
    bins = 10
    d = design_architectures(resnet_like, 110, seed=0, bins=bins, pool=POOL)
    edges = d.bin_edges
    assert len(d.bin_counts) == bins + 1
    # the log-spaced bins span max/20 .. max: 50K .. 1M for this space (T100 .. T1M)
    assert 45_000 < edges[0] < 55_000 and 900_000 < edges[-1] <= 1_000_000
    share = 110 // (bins + 1)
    for count, available in zip(d.bin_counts, d.bin_available):
        assert count >= min(share, available)
    inside = sum(edges[0] <= p for p in d.params)
    assert inside >= 0.85 * len(d.params)  # most of the budget goes where the search looks
    # uniform sampling would put far fewer in the top decade than the stratified design
    rng = np.random.default_rng(0)
    uniform = [resnet_like.cost(s).params for s in resnet_like.sample(rng, 200)]
    assert np.mean(np.array(d.params) > 300_000) > 1.5 * np.mean(np.array(uniform) > 300_000)


def test_design_prefixes_are_stable(resnet_like) -> None:
    small = design_architectures(resnet_like, 15, seed=1, pool=POOL)
    big = design_architectures(resnet_like, 45, seed=1, pool=POOL)
    assert [s.arch_id for s in small.specs] == [s.arch_id for s in big.specs[:15]]


def test_design_refuses_more_than_the_space_holds() -> None:
    tiny = load_space("tiny")
    with pytest.raises(SurrogateError, match="distinct architectures"):
        design_architectures(tiny, 5000, pool=POOL)
    with pytest.raises(SurrogateError):
        design_architectures(tiny, 0)


@pytest.mark.parametrize("space_file", sorted((REPO / "search_spaces").glob("*.toml")), ids=lambda p: p.stem)
def test_fast_encoding_equals_reference(space_file) -> None:
    space = load_space(space_file)
    rng = np.random.default_rng(7)
    specs = [space.from_params(space.sample_params(rng)) for _ in range(400)]  # constraints ignored: wider
    specs += [
        ArchSpec(8, 3, (StageSpec(8, 2, 1, BlockType.BASIC), StageSpec(16, 1, 3, BlockType.BOTTLENECK)),
                 shortcut=Shortcut.ZERO_PAD),
        ArchSpec(16, 7, (StageSpec(64, 3, 2, BlockType.BOTTLENECK), StageSpec(64, 2, 1, BlockType.BASIC)),
                 expansion=8),
    ]
    schema = FeatureSchema.from_space(space)
    ref = encode_many(specs, space.max_stages, space.input_shape, space.num_classes, space.constraints.tile_size)
    assert np.array_equal(schema.encode(specs), ref)
