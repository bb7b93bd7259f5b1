"""Is any architecture of the space within the constraints? Answered before searching.

A search whose every trial is infeasible burns its whole budget and reports nothing, so
an unsatisfiable `--max-params 10` must be refused up front, in well under a second.

Two cheap looks: the space's "corners" (smallest stem, fewest stages, blocks and
branches, every block type and widening factor), which hold the minimum of params, MACs
and tiles whenever widening never shrinks a stage (all widen factors >= 1, as in the
shipped spaces), plus a few hundred uniform samples for any other space. The samples
also estimate the fraction of the space that is feasible, which the run records.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from analognas._errors import ConfigError
from analognas.space import ArchSpec, Constraints, SearchSpace, param_name

MAX_CORNERS = 4096


@dataclass(frozen=True)
class Probe:
    samples: int
    feasible_fraction: float
    """Fraction of uniform samples of the space that met the constraints."""
    min_params: int
    min_macs: int
    min_tiles: int
    example: ArchSpec | None
    """A feasible architecture (None if none was found)."""

    def to_dict(self) -> dict[str, object]:
        return {
            "samples": self.samples,
            "feasible_fraction": self.feasible_fraction,
            "min_params": self.min_params,
            "min_macs": self.min_macs,
            "min_tiles": self.min_tiles,
        }


def _corners(space: SearchSpace) -> list[ArchSpec]:
    m = min(space.num_stages.values)
    per_stage = list(itertools.product(space.block.values, space.widen.values))
    if len(per_stage) ** m > MAX_CORNERS:
        return []
    out = []
    for combo in itertools.product(per_stage, repeat=m):
        # the smallest value of every numeric parameter (SearchSpace.domains), then the combo
        params = {name: min(dom.values) for name, dom in space.domains(m) if not name.endswith(("_block", "_widen"))}
        params[param_name("num_stages")] = m
        for i, (block, widen) in enumerate(combo):
            params[param_name("block", i)] = str(block)
            params[param_name("widen", i)] = widen
        out.append(space.from_params(params))
    return out


def probe_constraints(space: SearchSpace, constraints: Constraints, seed: int = 0, samples: int = 400) -> Probe:
    """Look for feasible architectures; raise `ConfigError` naming the limits if there are none."""
    rng = np.random.default_rng(seed)
    best = {"params": None, "macs": None, "tiles": None}
    example: ArchSpec | None = None
    hits = 0
    sampled = [space.from_params(space.sample_params(rng)) for _ in range(samples)]
    corners = _corners(space)
    for i, spec in enumerate(corners + sampled):
        c = space.cost(spec)
        for k in best:
            v = getattr(c, k)
            best[k] = v if best[k] is None or v < best[k] else best[k]
        if not constraints.violations(c):
            example = example or spec
            hits += i >= len(corners)  # only uniform samples estimate the feasible fraction
    if example is None:
        limits = ", ".join(
            f"{k}={getattr(constraints, k):,}"
            for k in ("max_params", "max_macs", "max_tiles")
            if getattr(constraints, k) is not None
        )
        raise ConfigError(
            f"no architecture of space {space.name!r} meets {limits}: the smallest found has "
            f"{best['params']:,} params, {best['macs']:,} MACs and {best['tiles']} tiles; relax the limits"
        )
    return Probe(
        samples=samples,
        feasible_fraction=hits / samples,
        min_params=int(best["params"] or 0),
        min_macs=int(best["macs"] or 0),
        min_tiles=int(best["tiles"] or 0),
        example=example,
    )
