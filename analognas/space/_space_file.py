"""Reading and validating search-space files (TOML) and dicts into a `SearchSpace`.

Every error names the file, the key and the reason, and every number is checked to be
finite and within `LIMITS` before any range is expanded into values.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Any

from analognas._errors import SpaceError
from analognas.space._cost import DEFAULT_TILE_SIZE

#: Largest stage widening factor a space may declare (widths are also capped by LIMITS).
from analognas.space._space import MAX_WIDEN, SPACES_DIR, Choice, Constraints, Domain, IntRange, SearchSpace
from analognas.space._spec import LIMITS, BlockType, Shortcut

# ------------------------------------------------------------------------------------
# Loading and validation
# ------------------------------------------------------------------------------------
_SCHEMA: dict[str, set[str]] = {
    "": {"name", "description", "task", "stem", "stages", "architecture", "constraints"},
    "task": {"input_shape", "num_classes"},
    "stem": {"width", "kernel"},
    "stages": {"count", "blocks", "branches", "block", "widen", "width_multiple"},
    "architecture": {"expansion", "shortcut"},
    "constraints": {"max_params", "max_macs", "max_tiles", "tile_size"},
}


class _Reader:
    """Collects every problem in a space file instead of stopping at the first."""

    def __init__(self, source: str, data: dict[str, Any]) -> None:
        self.source, self.data, self.errors = source, data, []

    def fail(self, key: str, reason: str) -> None:
        self.errors.append(f"{key}: {reason}")

    def table(self, key: str, required: bool = True) -> dict[str, Any]:
        value = self.data.get(key)
        if value is None:
            if required:
                self.fail(key, "missing section")
            return {}
        if not isinstance(value, dict):
            self.fail(key, f"must be a table, got {type(value).__name__}")
            return {}
        return value

    def unknown_keys(self) -> None:
        for key in sorted(set(self.data) - _SCHEMA[""]):
            self.fail(key, "unknown key")
        for section, allowed in _SCHEMA.items():
            sub = self.data.get(section) if section else None
            if isinstance(sub, dict):
                for key in sorted(set(sub) - allowed):
                    self.fail(f"{section}.{key}", "unknown key")

    def positive_int(self, key: str, value: Any, default: int | None = None, zero_ok: bool = False) -> int | None:
        if value is None:
            if default is None:
                self.fail(key, "missing")
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be an integer, got {type(value).__name__} {value!r}")
            return default
        if value < (0 if zero_ok else 1):
            self.fail(key, f"must be {'>= 0' if zero_ok else '>= 1'}, got {value}")
            return default
        return value

    def int_domain(
        self, key: str, value: Any, allowed: tuple[int, ...] | None = None, limit: int | None = None
    ) -> Domain | None:
        if value is None:
            self.fail(key, "missing")
            return None
        if isinstance(value, dict):
            extra = sorted(set(value) - {"min", "max", "step"})
            if extra:
                self.fail(key, f"unknown range key(s) {', '.join(extra)} (use min, max, step)")
                return None
            lo = self.positive_int(f"{key}.min", value.get("min"))
            hi = self.positive_int(f"{key}.max", value.get("max"))
            step = self.positive_int(f"{key}.step", value.get("step"), default=1)
            if lo is None or hi is None or step is None:
                return None
            if lo > hi:
                self.fail(key, f"inverted range: min {lo} > max {hi}")
                return None
            if limit is not None and hi > limit:
                self.fail(key, f"max {hi} exceeds the limit of {limit}")
                return None
            dom: Domain = IntRange(lo, hi, step)
        elif isinstance(value, list):
            if not value:
                self.fail(key, "empty list of choices")
                return None
            bad = [v for v in value if isinstance(v, bool) or not isinstance(v, int) or v < 1]
            if bad:
                self.fail(key, f"choices must be positive integers, got {bad[0]!r}")
                return None
            if len(set(value)) != len(value):
                self.fail(key, "duplicate choices")
                return None
            if limit is not None and max(value) > limit:
                self.fail(key, f"choice {max(value)} exceeds the limit of {limit}")
                return None
            dom = Choice(tuple(value))
        else:
            self.fail(key, f"must be a list of choices or a {{min, max, step}} table, got {value!r}")
            return None
        if allowed is not None:
            bad = [v for v in dom.values if v not in allowed]
            if bad:
                self.fail(key, f"bad choice {bad[0]!r} (allowed: {', '.join(map(str, allowed))})")
                return None
        return dom


def load_space(path: str | Path) -> SearchSpace:
    """Read and validate a space file; a bare name looks in the project's `search_spaces/`."""
    p = Path(path)
    if not p.exists() and p.suffix == "" and (SPACES_DIR / f"{p}.toml").exists():
        p = SPACES_DIR / f"{p}.toml"
    if not p.exists():
        raise SpaceError(f"{p}: search-space file not found")
    if p.is_dir():
        raise SpaceError(f"{p}: is a directory, not a search-space file")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpaceError(f"{p}: not valid TOML: {exc}") from None
    return space_from_dict(data, source=str(p))


def space_from_dict(data: dict[str, Any], source: str = "<dict>") -> SearchSpace:
    r = _Reader(source, data)
    r.unknown_keys()
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        r.fail("name", "missing or not a non-empty string")
    description = data.get("description", "")
    if not isinstance(description, str):
        r.fail("description", "must be a string")
        description = ""
    task, stem, stages = r.table("task", required=False), r.table("stem"), r.table("stages")
    arch, limits = r.table("architecture", required=False), r.table("constraints", required=False)

    input_shape: tuple[int, int, int] = (1, 28, 28)
    shape = task.get("input_shape", list(input_shape))
    if (
        not isinstance(shape, list)
        or len(shape) != 3
        or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in shape)
    ):
        r.fail("task.input_shape", f"must be three positive integers [C, H, W], got {shape!r}")
    else:
        input_shape = (shape[0], shape[1], shape[2])
    num_classes = r.positive_int("task.num_classes", task.get("num_classes"), default=10) or 10

    stem_width = r.int_domain("stem.width", stem.get("width"), limit=LIMITS["width"])
    stem_kernel = r.int_domain("stem.kernel", stem.get("kernel"), allowed=(1, 3, 5, 7))
    count = r.int_domain("stages.count", stages.get("count"))
    if count is not None and max(count.values) > 8:
        r.fail("stages.count", f"at most 8 stages (each halves the resolution), got {max(count.values)}")
    blocks = r.int_domain("stages.blocks", stages.get("blocks"), limit=LIMITS["blocks"])
    branches = r.int_domain("stages.branches", stages.get("branches"), limit=LIMITS["branches"])

    block_raw = stages.get("block")
    block: Choice | None = None
    if not isinstance(block_raw, list) or not block_raw:
        r.fail("stages.block", f"must be a non-empty list of block types, got {block_raw!r}")
    else:
        from analognas.space._blocks import BLOCKS

        bad = next((v for v in block_raw if not isinstance(v, str) or v not in BLOCKS), None)
        if bad is not None:
            r.fail("stages.block", f"bad choice {bad!r} (allowed: {', '.join(map(repr, BLOCKS))})")
        else:
            block = Choice(tuple(BlockType(v) if v in BlockType._value2member_map_ else v for v in block_raw))

    widen_raw = stages.get("widen")
    widen: Choice | None = None
    if not isinstance(widen_raw, list) or not widen_raw:
        r.fail("stages.widen", f"must be a non-empty list of numbers, got {widen_raw!r}")
    elif any(isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 for v in widen_raw):
        r.fail("stages.widen", "choices must be positive numbers")
    elif any(not math.isfinite(v) or v > MAX_WIDEN for v in widen_raw):
        r.fail("stages.widen", f"choices must be finite and at most {MAX_WIDEN}, got {max(widen_raw)!r}")
    elif len(set(widen_raw)) != len(widen_raw):
        r.fail("stages.widen", "duplicate choices")
    else:
        widen = Choice(tuple(float(v) for v in widen_raw))
    width_multiple = r.positive_int("stages.width_multiple", stages.get("width_multiple"), default=4) or 4

    expansion = r.positive_int("architecture.expansion", arch.get("expansion"), default=4) or 4
    shortcut = Shortcut.PROJECTION
    try:
        shortcut = Shortcut(arch.get("shortcut", "projection"))
    except ValueError:
        r.fail("architecture.shortcut", f"bad choice {arch.get('shortcut')!r} (allowed: 'projection', 'zero_pad')")

    cons = {}
    for key in ("max_params", "max_macs", "max_tiles"):
        if key in limits:
            cons[key] = r.positive_int(f"constraints.{key}", limits[key], default=None)
    tile = limits.get("tile_size", list(DEFAULT_TILE_SIZE))
    tile_size = DEFAULT_TILE_SIZE
    if (
        not isinstance(tile, list)
        or len(tile) != 2
        or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in tile)
    ):
        r.fail("constraints.tile_size", f"must be two positive integers [rows, cols], got {tile!r}")
    else:
        tile_size = (tile[0], tile[1])

    if r.errors:
        raise SpaceError(f"{source}: " + "; ".join(r.errors))
    assert stem_width and stem_kernel and count and blocks and branches and block and widen
    return SearchSpace(
        name=name.strip(),  # type: ignore[union-attr]
        description=description,
        stem_width=stem_width,
        stem_kernel=stem_kernel,
        num_stages=count,
        blocks=blocks,
        branches=branches,
        block=block,
        widen=widen,
        width_multiple=width_multiple,
        expansion=expansion,
        shortcut=shortcut,
        input_shape=input_shape,
        num_classes=num_classes,
        constraints=Constraints(tile_size=tile_size, **cons),
        source=source,
    )
