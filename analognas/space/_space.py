"""Declared search spaces: loading, validation, sampling and Optuna mapping.

A space file (TOML) declares the AnalogNAS macro space: a stem, 1..M stages, and per
stage the residual blocks R, branches B, block type and channel widening factor, plus
global constraints. Every choice is validated when the file is read, and all problems
are reported at once with the file, key and reason, so a user fixes a file in one go.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from analognas._errors import SpaceError
from analognas._shipped import shipped_dir
from analognas.space._cost import DEFAULT_TILE_SIZE, Cost, cost
from analognas.space._spec import ArchSpec, BlockType, Shortcut, StageSpec

#: Largest stage widening factor a space may declare (widths are also capped by LIMITS).
MAX_WIDEN = 16.0

#: Where the project's own spaces live (next to the package, or installed data files).
SPACES_DIR = shipped_dir("search_spaces")


@dataclass(frozen=True)
class IntRange:
    """Integers min..max (inclusive) in steps of `step`."""

    min: int
    max: int
    step: int = 1

    @property
    def values(self) -> tuple[int, ...]:
        return tuple(range(self.min, self.max + 1, self.step))

    def to_toml(self) -> dict[str, int]:
        return {"min": self.min, "max": self.max, "step": self.step}


@dataclass(frozen=True)
class Choice:
    """An explicit list of allowed values."""

    options: tuple[Any, ...]

    @property
    def values(self) -> tuple[Any, ...]:
        return self.options

    def to_toml(self) -> list[Any]:
        return [str(o) if isinstance(o, BlockType) else o for o in self.options]


Domain = IntRange | Choice


@dataclass(frozen=True)
class Constraints:
    """Hard limits on the cheap hardware metrics (None = unconstrained)."""

    max_params: int | None = None
    max_macs: int | None = None
    max_tiles: int | None = None
    tile_size: tuple[int, int] = DEFAULT_TILE_SIZE

    def merged(self, **overrides: int | None) -> Constraints:
        """Tighter of the space's limits and the caller's (e.g. `--max-params`)."""
        values = {}
        for key in ("max_params", "max_macs", "max_tiles"):
            mine, theirs = getattr(self, key), overrides.get(key)
            values[key] = theirs if mine is None else (mine if theirs is None else min(mine, theirs))
        return Constraints(tile_size=self.tile_size, **values)

    def violations(self, c: Cost) -> list[str]:
        out = []
        for key, value in (("max_params", c.params), ("max_macs", c.macs), ("max_tiles", c.tiles)):
            limit = getattr(self, key)
            if limit is not None and value > limit:
                out.append(f"{key.removeprefix('max_')} {value:,} > {limit:,}")
        return out


class TrialLike(Protocol):
    """The part of `optuna.trial.Trial` a space needs (keeps Optuna out of this module)."""

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1) -> int: ...
    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


def param_name(field_name: str, stage: int | None = None) -> str:
    """The one place Optuna parameter names are made: `stem_width`, `stage2_blocks`, ..."""
    return field_name if stage is None else f"stage{stage + 1}_{field_name}"


@dataclass(frozen=True)
class SearchSpace:
    """A validated macro search space (see `search_spaces/resnet_like.toml`)."""

    name: str
    stem_width: Domain
    stem_kernel: Domain
    num_stages: Domain
    blocks: Domain
    branches: Domain
    block: Choice
    widen: Choice
    width_multiple: int = 4
    expansion: int = 4
    shortcut: Shortcut = Shortcut.PROJECTION
    input_shape: tuple[int, int, int] = (1, 28, 28)
    num_classes: int = 10
    constraints: Constraints = field(default_factory=Constraints)
    description: str = ""
    source: str = field(default="", compare=False)

    # --- identity ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Canonical content (what a surrogate must match), without the file path."""
        return {
            "name": self.name,
            "task": {"input_shape": list(self.input_shape), "num_classes": self.num_classes},
            "stem": {"width": self.stem_width.to_toml(), "kernel": self.stem_kernel.to_toml()},
            "stages": {
                "count": self.num_stages.to_toml(),
                "blocks": self.blocks.to_toml(),
                "branches": self.branches.to_toml(),
                "block": self.block.to_toml(),
                "widen": self.widen.to_toml(),
                "width_multiple": self.width_multiple,
            },
            "architecture": {"expansion": self.expansion, "shortcut": self.shortcut.value},
            "constraints": {
                k: v
                for k, v in (
                    ("max_params", self.constraints.max_params),
                    ("max_macs", self.constraints.max_macs),
                    ("max_tiles", self.constraints.max_tiles),
                    ("tile_size", list(self.constraints.tile_size)),
                )
                if v is not None
            },
        }

    @property
    def fingerprint(self) -> str:
        """Hash of the space's content; surrogates and runs record it to refuse mismatches."""
        blob = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def max_stages(self) -> int:
        return max(self.num_stages.values)

    def size(self) -> int:
        """Number of distinct parameter assignments (architectures before constraints)."""
        per_stage = len(self.blocks.values) * len(self.branches.values) * len(self.block.values)
        per_stage *= len(self.widen.values)
        stages = sum(per_stage**m for m in self.num_stages.values)
        return len(self.stem_width.values) * len(self.stem_kernel.values) * stages

    # --- spec construction ----------------------------------------------------------
    def stage_width(self, previous: int, widen: float) -> int:
        """Widths are rounded to `width_multiple` (hardware-friendly, and keeps ids stable)."""
        m = self.width_multiple
        return max(m, math.floor(previous * widen / m + 0.5) * m)

    def from_params(self, params: dict[str, Any]) -> ArchSpec:
        """Build a spec from a flat parameter dict (Optuna's `trial.params` form)."""
        try:
            stem = int(params[param_name("stem_width")])
            n = int(params[param_name("num_stages")])
            stages, width = [], stem
            for i in range(n):
                width = self.stage_width(width, float(params[param_name("widen", i)]))
                stages.append(
                    StageSpec(
                        width=width,
                        blocks=int(params[param_name("blocks", i)]),
                        branches=int(params[param_name("branches", i)]),
                        block=params[param_name("block", i)],
                    )
                )
            return ArchSpec(
                stem_width=stem,
                stem_kernel=int(params[param_name("stem_kernel")]),
                stages=tuple(stages),
                expansion=self.expansion,
                shortcut=self.shortcut,
            )
        except KeyError as exc:
            raise SpaceError(f"{self.name}: parameter {exc.args[0]!r} is missing") from None

    def to_params(self, spec: ArchSpec) -> dict[str, Any]:
        """Inverse of `from_params`; raises `SpaceError` if the spec is not in this space."""
        reasons = self.outside(spec)
        if reasons:
            raise SpaceError(f"{spec.label} is not in space {self.name}: {'; '.join(reasons)}")
        params: dict[str, Any] = {
            param_name("stem_width"): spec.stem_width,
            param_name("stem_kernel"): spec.stem_kernel,
            param_name("num_stages"): spec.num_stages,
        }
        width = spec.stem_width
        for i, st in enumerate(spec.stages):
            params[param_name("widen", i)] = self._widen_for(width, st.width)
            params[param_name("blocks", i)] = st.blocks
            params[param_name("branches", i)] = st.branches
            params[param_name("block", i)] = str(st.block)
            width = st.width
        return params

    def _widen_for(self, previous: int, width: int) -> float | None:
        for w in self.widen.values:
            if self.stage_width(previous, w) == width:
                return w
        return None

    def outside(self, spec: ArchSpec) -> list[str]:
        """Reasons why `spec` cannot be produced by this space (empty list: it can)."""
        reasons = []
        checks = [
            ("stem width", spec.stem_width, self.stem_width),
            ("stem kernel", spec.stem_kernel, self.stem_kernel),
            ("stages", spec.num_stages, self.num_stages),
        ]
        width = spec.stem_width
        for i, st in enumerate(spec.stages):
            checks += [
                (f"stage {i + 1} blocks", st.blocks, self.blocks),
                (f"stage {i + 1} branches", st.branches, self.branches),
                (f"stage {i + 1} block", st.block, self.block),
            ]
            if self._widen_for(width, st.width) is None:
                reasons.append(f"stage {i + 1} width {st.width} is no widen factor of {width}")
            width = st.width
        reasons += [f"{what} {value!r} not allowed" for what, value, dom in checks if value not in dom.values]
        if spec.expansion != self.expansion:
            reasons.append(f"expansion {spec.expansion} != {self.expansion}")
        if spec.shortcut is not self.shortcut:
            reasons.append(f"shortcut {spec.shortcut.value} != {self.shortcut.value}")
        return reasons

    # --- parameters ------------------------------------------------------------------
    def domains(self, stages: int | None = None) -> list[tuple[str, Domain]]:
        """The one list of this space's parameters and their domains, in canonical order:
        stem width, stem kernel and stage count, then blocks, branches, block type and
        widening of each stage (all ``max_stages`` stages, or the first ``stages``).
        Sampling, Optuna suggestions, the design, the probe and reports all walk it."""
        out: list[tuple[str, Domain]] = [
            (param_name("stem_width"), self.stem_width),
            (param_name("stem_kernel"), self.stem_kernel),
            (param_name("num_stages"), self.num_stages),
        ]
        for i in range(self.max_stages if stages is None else stages):
            out += [
                (param_name("blocks", i), self.blocks),
                (param_name("branches", i), self.branches),
                (param_name("block", i), self.block),
                (param_name("widen", i), self.widen),
            ]
        return out

    def _choose(self, pick: Any) -> dict[str, Any]:
        """Parameters chosen by ``pick(name, domain)``, in ``domains()`` order; stage
        parameters only for the stages the chosen stage count has."""
        params: dict[str, Any] = {name: pick(name, dom) for name, dom in self.domains(0)}
        for name, dom in self.domains(int(params[param_name("num_stages")]))[3:]:
            params[name] = pick(name, dom)
        return params

    # --- sampling ----------------------------------------------------------------------
    def sample_params(self, rng: np.random.Generator) -> dict[str, Any]:
        def pick(name: str, dom: Domain) -> Any:
            values = dom.values
            value = values[int(rng.integers(len(values)))]
            return str(value) if isinstance(value, BlockType) else value

        return self._choose(pick)

    def sample(
        self,
        rng: np.random.Generator,
        n: int = 1,
        *,
        constraints: Constraints | None = None,
        max_tries: int = 100_000,
    ) -> list[ArchSpec]:
        """`n` uniform samples that satisfy the constraints (the space's own by default)."""
        limits = self.constraints if constraints is None else constraints
        out: list[ArchSpec] = []
        for _ in range(max_tries):
            spec = self.from_params(self.sample_params(rng))
            if not limits.violations(self.cost(spec)):
                out.append(spec)
                if len(out) == n:
                    return out
        raise SpaceError(
            f"{self.name}: only {len(out)} of {n} samples met the constraints in {max_tries} tries;"
            " the constraints may be unsatisfiable"
        )

    def suggest(self, trial: TrialLike) -> ArchSpec:
        """Ask an Optuna trial for every parameter; later stages exist only if chosen."""

        def ask(name: str, dom: Domain) -> Any:
            if isinstance(dom, IntRange):
                return trial.suggest_int(name, dom.min, dom.max, step=dom.step)
            return trial.suggest_categorical(name, list(dom.to_toml()))

        return self.from_params(self._choose(ask))

    # --- cost -----------------------------------------------------------------------
    def cost(self, spec: ArchSpec) -> Cost:
        return cost(spec, self.input_shape, self.num_classes, self.constraints.tile_size)

    def summary(self, samples: int = 5, seed: int = 0) -> dict[str, Any]:
        """What ``space show`` reports: identity, size, the space itself and ``samples``
        seeded samples that meet its constraints, each with its cost."""
        specs = self.sample(np.random.default_rng(seed), samples) if samples else []
        rows = [{"arch_id": s.arch_id, "spec": s.to_dict(), **self.cost(s).__dict__} for s in specs]
        return {"name": self.name, "source": self.source, "fingerprint": self.fingerprint, "size": self.size(),
                "space": self.to_dict(), "samples": rows}
