"""Architecture specs: the pure-data description of one network.

A spec is a frozen dataclass, so it can be hashed, compared, cached and sent across
processes without torch. The builder (`analognas.models.build_model`) is the only place
a spec becomes a module. Specs have a variable number of stages: a 3-stage network has
exactly three `StageSpec`s, never five with two "disabled" (IBM's analog-nas padded
unused stages with zeros, which leaked into models and features).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any

from analognas._errors import SpecError

SPEC_FORMAT_VERSION = 1


class BlockType(StrEnum):
    """Residual block type of a stage."""

    BASIC = "basic"
    """Two 3x3 convolutions (He et al. 2016)."""
    BOTTLENECK = "bottleneck"
    """1x1 reduce -> 3x3 -> 1x1 expand; the inner width is `width // expansion`."""


class Shortcut(StrEnum):
    """How a block's input is carried to its output when shapes change."""

    PROJECTION = "projection"
    """1x1 convolution + BN when channels or resolution change (He et al. option B)."""
    ZERO_PAD = "zero_pad"
    """Parameter-free: subsample and pad new channels with zeros (option A, the CIFAR ResNets)."""


#: Documented size limits, checked before anything is built or costed: beyond them a spec
#: is no network this tool can train, and costing it would hang or exhaust memory.
LIMITS: dict[str, int] = {
    "params": 50_000_000,
    "width": 65536,
    "blocks": 64,
    "branches": 16,
    "stages": 8,
    "expansion": 64,
}


def check_limit(what: str, value: int, limit_key: str) -> None:
    if value > LIMITS[limit_key]:
        raise SpecError(f"{what} {value} exceeds the limit of {LIMITS[limit_key]}")


@dataclass(frozen=True)
class StageSpec:
    """One stage: `blocks` residual blocks at one resolution.

    The first block of every stage but the first downsamples by 2 (stride on its 3x3 conv
    and its shortcut). Every block sums `branches` parallel branches and its shortcut.
    """

    width: int
    """Output channels of every block in the stage."""
    blocks: int
    """Number of residual blocks (R in AnalogNAS)."""
    branches: int = 1
    """Parallel branches per block, summed (B in AnalogNAS)."""
    block: BlockType | str = BlockType.BASIC
    """A registered block type (``analognas.space.BLOCKS``): the built-in ones are
    ``BlockType`` members, others (``register_block``) their name."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "block", _block_type(self.block))
        for name in ("width", "blocks", "branches"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SpecError(f"stage {name} must be a positive integer, got {value!r}")
            check_limit(f"stage {name}", value, name)


@dataclass(frozen=True)
class ArchSpec:
    """A whole network: stem convolution, stages, global average pool and linear head."""

    stem_width: int
    stem_kernel: int
    stages: tuple[StageSpec, ...]
    expansion: int = 4
    """Bottleneck expansion: inner width of a bottleneck branch is `width // expansion`."""
    shortcut: Shortcut = Shortcut.PROJECTION
    name: str | None = field(default=None, compare=False)
    """Display name only; not part of the identity (`arch_id`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "shortcut", _enum(Shortcut, self.shortcut, "shortcut"))
        stages = tuple(self.stages)
        object.__setattr__(self, "stages", stages)
        if not stages:
            raise SpecError("a spec needs at least one stage")
        if not all(isinstance(s, StageSpec) for s in stages):
            raise SpecError("stages must be StageSpec instances")
        for name in ("stem_width", "expansion"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SpecError(f"{name} must be a positive integer, got {value!r}")
        check_limit("stem_width", self.stem_width, "width")
        check_limit("expansion", self.expansion, "expansion")
        check_limit("number of stages", len(stages), "stages")
        if self.stem_kernel not in (1, 3, 5, 7):
            raise SpecError(f"stem_kernel must be 1, 3, 5 or 7, got {self.stem_kernel!r}")
        if self.shortcut is Shortcut.ZERO_PAD:
            widths = [self.stem_width] + [s.width for s in stages]
            if any(b < a for a, b in itertools.pairwise(widths)):
                raise SpecError("zero_pad shortcuts need non-decreasing widths")

    # --- identity -------------------------------------------------------------------
    @property
    def arch_id(self) -> str:
        """Stable short id: a hash of the canonical JSON (the name is not part of it)."""
        canonical = json.dumps(self.to_dict(include_name=False), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        return self.name or self.arch_id

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    # --- serialisation --------------------------------------------------------------
    def to_dict(self, include_name: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": SPEC_FORMAT_VERSION,
            "stem": {"width": self.stem_width, "kernel": self.stem_kernel},
            "stages": [
                {"width": s.width, "blocks": s.blocks, "branches": s.branches, "block": str(s.block)}
                for s in self.stages
            ],
            "expansion": self.expansion,
            "shortcut": self.shortcut.value,
        }
        if include_name and self.name:
            out["name"] = self.name
        return out

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any) -> ArchSpec:
        """Parse a spec dict, raising `SpecError` with the offending key on any problem."""
        if not isinstance(data, dict):
            raise SpecError(f"a spec must be a JSON object, got {type(data).__name__}")
        allowed = {"format", "stem", "stages", "expansion", "shortcut", "name", "arch_id"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise SpecError(f"unknown spec key(s): {', '.join(unknown)}")
        fmt = data.get("format", SPEC_FORMAT_VERSION)
        if fmt != SPEC_FORMAT_VERSION:
            raise SpecError(f"unsupported spec format {fmt!r} (this version reads {SPEC_FORMAT_VERSION})")
        stem = data.get("stem")
        if not isinstance(stem, dict) or set(stem) != {"width", "kernel"}:
            raise SpecError("spec key 'stem' must be an object with exactly 'width' and 'kernel'")
        stages_raw = data.get("stages")
        if not isinstance(stages_raw, list) or not stages_raw:
            raise SpecError("spec key 'stages' must be a non-empty list")
        stages = []
        for i, st in enumerate(stages_raw):
            if not isinstance(st, dict):
                raise SpecError(f"stages[{i}] must be an object")
            bad = sorted(set(st) - {"width", "blocks", "branches", "block"})
            if bad:
                raise SpecError(f"stages[{i}]: unknown key(s) {', '.join(bad)}")
            missing = sorted({"width", "blocks"} - set(st))
            if missing:
                raise SpecError(f"stages[{i}]: missing key(s) {', '.join(missing)}")
            try:
                stages.append(StageSpec(**st))
            except SpecError as exc:
                raise SpecError(f"stages[{i}]: {exc}") from None
        spec = cls(
            stem_width=stem["width"],
            stem_kernel=stem["kernel"],
            stages=tuple(stages),
            expansion=data.get("expansion", 4),
            shortcut=data.get("shortcut", Shortcut.PROJECTION.value),
            name=data.get("name"),
        )
        claimed = data.get("arch_id")
        if claimed is not None and claimed != spec.arch_id:
            raise SpecError(f"arch_id {claimed!r} does not match the spec's content ({spec.arch_id})")
        return spec

    @classmethod
    def from_json(cls, text: str) -> ArchSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(f"invalid JSON spec: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        return cls.from_dict(data)

    def with_name(self, name: str | None) -> ArchSpec:
        return ArchSpec(self.stem_width, self.stem_kernel, self.stages, self.expansion, self.shortcut, name)


def _block_type(value: Any) -> BlockType | str:
    if isinstance(value, BlockType):
        return value
    try:
        return BlockType(value)
    except ValueError:
        pass
    from analognas.space._blocks import get_block

    return get_block(value).name


def _enum(kind: type[Enum], value: Any, what: str) -> Any:
    if isinstance(value, kind):
        return value
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(repr(m.value) for m in kind)  # type: ignore[attr-defined]
        raise SpecError(f"{what} must be one of {choices}, got {value!r}") from None
