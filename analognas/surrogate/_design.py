"""Which architectures to measure: a space-filling design stratified by parameter count.

Uniform samples of a macro space pile up where the space has most members, and every
measurement costs minutes, so the design must spend them where the search will look:

1. a scrambled, seeded Sobol sequence over every parameter of the space (one dimension
   per global choice and per per-stage choice of every possible stage; a stage's
   dimensions are read only when the stage exists), mapped onto the discrete choices;
2. the candidates that break the space's constraints are dropped, duplicates too;
3. candidates are binned by parameter count: `bins` log-spaced bins from `max / 20` to
   the largest size (for `resnet_like`, 50K..1M, the T100..T1M classes) plus one bin for
   everything smaller, so small nets are seen but do not eat the budget;
4. the design takes one candidate from each bin in turn, in Sobol order, skipping bins
   that run out.

The pool does not depend on `n`, so the design for `n` is a prefix of the design for any
larger `n`: raising `--n` later keeps every record already measured, and the first k
records of an interrupted run already cover every bin. Everything is a deterministic
function of (space content, n, seed, bins).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from analognas.space import ArchSpec, BlockType, SearchSpace
from analognas.surrogate._errors import SurrogateError

DEFAULT_POOL = 1 << 14
DEFAULT_BINS = 10
SMALL_FRACTION = 1 / 20


@dataclass(frozen=True)
class Design:
    """The ordered architectures to measure and how they cover the size range."""

    specs: tuple[ArchSpec, ...]
    params: tuple[int, ...]
    bin_edges: tuple[float, ...]
    """Parameter-count edges; bin 0 is everything below `bin_edges[0]`."""
    bin_counts: tuple[int, ...]
    """Designed architectures per bin (bin 0 = small, then the log-spaced bins)."""
    bin_available: tuple[int, ...]
    """Feasible distinct candidates per bin in the pool."""
    pool: int
    feasible: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {"n": len(self.specs), "seed": self.seed, "pool": self.pool, "feasible": self.feasible,
                "bin_edges": list(self.bin_edges), "bin_counts": list(self.bin_counts),
                "bin_available": list(self.bin_available)}


def _dimensions(space: SearchSpace) -> list[tuple[str, tuple[Any, ...]]]:
    """The space's parameters (``SearchSpace.domains``) with their values as plain data."""
    plain = lambda v: str(v) if isinstance(v, BlockType) else v
    return [(name, tuple(plain(v) for v in dom.values)) for name, dom in space.domains()]


def sobol_candidates(space: SearchSpace, pool: int, seed: int) -> list[ArchSpec]:
    """`pool` scrambled Sobol points mapped onto the space (unfiltered, may repeat)."""
    from scipy.stats import qmc

    dims = _dimensions(space)
    points = qmc.Sobol(len(dims), scramble=True, rng=np.random.default_rng(seed)).random(pool)
    specs = []
    for u in points:
        params = {name: values[min(int(x * len(values)), len(values) - 1)] for x, (name, values) in zip(u, dims)}
        specs.append(space.from_params(params))  # reads only the stages the network has
    return specs


def design_architectures(
    space: SearchSpace, n: int, seed: int = 0, *, bins: int = DEFAULT_BINS, pool: int = DEFAULT_POOL
) -> Design:
    """The first `n` architectures of the stratified design of `space` (see module doc)."""
    if n < 1:
        raise SurrogateError(f"--n must be >= 1, got {n}")
    if bins < 1:
        raise SurrogateError(f"bins must be >= 1, got {bins}")
    feasible: list[ArchSpec] = []
    sizes: list[int] = []
    seen: set[str] = set()
    for spec in sobol_candidates(space, pool, seed):
        if spec.arch_id in seen:
            continue
        seen.add(spec.arch_id)
        c = space.cost(spec)
        if space.constraints.violations(c):
            continue
        feasible.append(spec)
        sizes.append(c.params)
    if len(feasible) < n:
        raise SurrogateError(
            f"space {space.name} yields only {len(feasible)} distinct architectures within its constraints "
            f"from a design pool of {pool}; ask for --n <= {len(feasible)}"
        )
    top = max(sizes)
    lo = max(min(sizes), top * SMALL_FRACTION)
    edges = np.geomspace(lo, top, bins + 1) if top > lo else np.array([lo, lo + 1.0])
    # bin 0: below lo; bins 1..: log-spaced, the last one closed on the right
    which = np.searchsorted(edges, np.asarray(sizes, dtype=float), side="right")
    which = np.minimum(which, len(edges) - 1)
    queues: list[list[int]] = [[] for _ in range(len(edges))]
    for idx, b in enumerate(which):
        queues[int(b)].append(idx)
    order: list[int] = []
    heads = [0] * len(queues)
    while len(order) < n:
        for b, q in enumerate(queues):
            if heads[b] < len(q) and len(order) < n:
                order.append(q[heads[b]])
                heads[b] += 1
    counts = [0] * len(queues)
    for idx in order:
        counts[int(which[idx])] += 1
    return Design(
        specs=tuple(feasible[i] for i in order),
        params=tuple(sizes[i] for i in order),
        bin_edges=tuple(float(e) for e in edges),
        bin_counts=tuple(counts),
        bin_available=tuple(len(q) for q in queues),
        pool=pool,
        feasible=len(feasible),
        seed=seed,
    )


def bin_label(edges: tuple[float, ...], b: int) -> str:
    """`<50K`, `50K-67K`, ... for tables."""
    def k(v: float) -> str:
        return f"{v / 1e6:.2g}M" if v >= 1e6 else f"{v / 1e3:.3g}K" if v >= 1e3 else f"{v:.0f}"
    return f"<{k(edges[0])}" if b == 0 else f"{k(edges[b - 1])}-{k(edges[b])}"
