"""The feature schema a surrogate is fitted on, and a fast encoder for it.

A surrogate is only meaningful on the space it was fitted on, so it carries the schema:
the space's name and fingerprint, the encoding's parameters (stages, input shape, classes,
tile size) and the feature names. Loading never needs the space file.

`analognas.space.encode` walks every layer of the network (thousands of small objects for
a deep spec), which alone caps a search at about 13,000 architectures per second on the
project machine. Within one stage every block after the first is identical, so the same
features follow from a few closed-form terms per stage. `encode_fast` computes them; the
tests check it against `analognas.space.encode` value for value on random specs of every
shipped space, so the fast path cannot drift from the reference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analognas.space import ArchSpec, LayerRow, SearchSpace, Shortcut, feature_names, get_block
from analognas.surrogate._errors import SpaceMismatchError, SurrogateError


@dataclass(frozen=True)
class FeatureSchema:
    """What a feature vector means: the space it came from and the encoding's settings."""

    space_name: str
    space_fingerprint: str
    max_stages: int
    input_shape: tuple[int, int, int]
    num_classes: int
    tile_size: tuple[int, int]
    names: tuple[str, ...]

    @classmethod
    def from_space(cls, space: SearchSpace) -> FeatureSchema:
        return cls(
            space_name=space.name,
            space_fingerprint=space.fingerprint,
            max_stages=space.max_stages,
            input_shape=tuple(space.input_shape),  # type: ignore[arg-type]
            num_classes=space.num_classes,
            tile_size=tuple(space.constraints.tile_size),  # type: ignore[arg-type]
            names=feature_names(space.max_stages),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "space_name": self.space_name,
            "space_fingerprint": self.space_fingerprint,
            "max_stages": self.max_stages,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "tile_size": list(self.tile_size),
            "names": list(self.names),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSchema:
        try:
            schema = cls(
                space_name=str(data["space_name"]),
                space_fingerprint=str(data["space_fingerprint"]),
                max_stages=int(data["max_stages"]),
                input_shape=tuple(int(v) for v in data["input_shape"]),  # type: ignore[arg-type]
                num_classes=int(data["num_classes"]),
                tile_size=tuple(int(v) for v in data["tile_size"]),  # type: ignore[arg-type]
                names=tuple(str(n) for n in data["names"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SurrogateError(f"feature schema is malformed ({exc!r})") from None
        if schema.names != feature_names(schema.max_stages):
            raise SurrogateError(
                "feature schema names differ from this version's encoding of "
                f"{schema.max_stages} stages; refit the surrogate with this version"
            )
        return schema

    def check_space(self, space: SearchSpace) -> None:
        """Raise `SpaceMismatchError` unless `space` is the one this schema was made from."""
        if space.fingerprint != self.space_fingerprint:
            raise SpaceMismatchError(
                f"surrogate was fitted on space {self.space_name!r} (fingerprint {self.space_fingerprint}), "
                f"not on {space.name!r} (fingerprint {space.fingerprint}); fit one on this space's records"
            )

    def encode(self, specs: Sequence[ArchSpec]) -> np.ndarray:
        """Specs -> (n, len(names)) float64 matrix, identical to `analognas.space.encode_many`."""
        out = np.empty((len(specs), len(self.names)), dtype=np.float64)
        for i, spec in enumerate(specs):
            out[i] = encode_fast(spec, self.max_stages, self.input_shape, self.num_classes, self.tile_size)
        return out


def _conv(cin: int, k: int, cout: int, pixels: int, t0: int, t1: int, groups: int = 1) -> tuple[int, int, int]:
    """(params incl. BatchNorm, MACs, tiles) of one conv layer."""
    rows = cin // groups * k * k
    return rows * cout + 2 * cout, rows * cout * pixels, -(-rows // t0) * -(-cout // t1)


def _branch(rows: Sequence[LayerRow], pix_in: int, pix: int, t0: int, t1: int) -> list[tuple[int, int, int]]:
    return [_conv(r.cin, r.kernel, r.cout, pix_in if r.at_input else pix, t0, t1, r.groups) for r in rows]


def encode_fast(
    spec: ArchSpec,
    max_stages: int,
    input_shape: tuple[int, int, int],
    num_classes: int,
    tile_size: tuple[int, int] = (512, 512),
) -> list[float]:
    """`analognas.space.encode` in closed form per stage (see the module docstring).

    Layer rows come from the block registry, so a registered block type is encoded exactly
    as the reference walk encodes it (tested for a block type defined only in a test)."""
    if spec.num_stages > max_stages:
        raise SurrogateError(f"spec has {spec.num_stages} stages, the surrogate's space allows {max_stages}")
    t0, t1 = tile_size
    c, h, w = input_shape
    params, macs, tiles = _conv(c, spec.stem_kernel, spec.stem_width, h * w, t0, t1)
    project = spec.shortcut is Shortcut.PROJECTION
    cin = spec.stem_width
    level_params: list[int] = []
    level_basic: list[int] = []
    blocks_total = bottlenecks = branch_total = depth = 0
    for i, st in enumerate(spec.stages):
        width, nb, br = st.width, st.blocks, st.branches
        stride = 2 if i > 0 else 1
        ho, wo = -(-h // stride), -(-w // stride)
        pix_in, pix = h * w, ho * wo
        block = get_block(st.block)
        first = _branch(block.layers(cin, width, stride, spec.expansion), pix_in, pix, t0, t1)
        rest = _branch(block.layers(width, width, 1, spec.expansion), pix, pix, t0, t1) if nb > 1 else []
        depth += block.depth * nb
        basic = nb if block.counts_as == "basic" else 0
        bottlenecks += nb - basic
        level_basic.append(basic)
        sp = sm = stl = 0
        for p, m, t in first:
            sp, sm, stl = sp + br * p, sm + br * m, stl + br * t
        for p, m, t in rest:
            k = br * (nb - 1)
            sp, sm, stl = sp + k * p, sm + k * m, stl + k * t
        if project and (cin != width or stride != 1):
            p, m, t = _conv(cin, 1, width, pix, t0, t1)
            sp, sm, stl = sp + p, sm + m, stl + t
        level_params.append(sp)
        params, macs, tiles = params + sp, macs + sm, tiles + stl
        blocks_total += nb
        branch_total += nb * br
        cin, h, w = width, ho, wo
    head_rows = cin
    params += head_rows * num_classes + num_classes
    macs += head_rows * num_classes
    tiles += -(-head_rows // t0) * -(-num_classes // t1)

    final_log2 = math.log2(spec.stages[-1].width)
    out = [
        float(spec.num_stages),
        math.log2(spec.stem_width),
        float(spec.stem_kernel),
        float(2 + depth),
        float(blocks_total),
        float(branch_total),
        bottlenecks / blocks_total,
        final_log2,
        math.log10(params),
        math.log10(max(macs, 1)),
        float(tiles),
    ]
    for lvl in range(max_stages):
        if lvl < spec.num_stages:
            st = spec.stages[lvl]
            basic = level_basic[lvl]
            out += [basic, st.blocks - basic, st.blocks * st.branches, math.log2(st.width),
                    math.log10(1 + level_params[lvl])]
        else:
            out += [0.0, 0.0, 0.0, final_log2, 0.0]
    return out


def global_feature_indices(names: Sequence[str]) -> list[int]:
    """Columns that describe the whole network (not one resolution level `L<k>_...`)."""
    return [i for i, n in enumerate(names) if not (n[:1] == "L" and n.split("_", 1)[0][1:].isdigit())]


FEATURE_SETS = ("full", "global")
"""`full`: the whole encoding; `global`: only whole-network features (fewer, coarser)."""


def feature_indices(feature_set: str, names: Sequence[str]) -> list[int]:
    if feature_set == "full":
        return list(range(len(names)))
    if feature_set == "global":
        return global_feature_indices(names)
    raise SurrogateError(f"unknown feature set {feature_set!r}; choose from {', '.join(FEATURE_SETS)}")
