"""Side-by-side comparison of architectures under drift (`analognas compare`).

Each architecture is trained with the same training seeds and programmed with the same
programming indices. Accuracy is pooled over (training seed, programming) samples, and
every architecture is compared with a baseline by *paired* differences: sample ``(s, r)``
of one architecture is paired with sample ``(s, r)`` of the other (same training seed,
same noise seeds; two different networks cannot share one chip, so the pairing removes the
seed-to-seed part of the variance, not the device noise). The 95 % interval is Student's t
over those pairs, so it is conditional on the trained networks: it covers programming
noise, not training-seed variance. ``between_seeds`` gives the interval that a claim about
the *architectures* needs: Student's t over the per-seed mean differences (n_seeds - 1
degrees of freedom), which is wide with few seeds, as it should be.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from analognas._errors import ConfigError
from analognas._times import DEFAULT_TIMES, label_time
from analognas.space import ArchSpec
from analognas.training._evaluation import ONE_MONTH, ArchEvaluation
from analognas.training._pipeline import evaluate_architecture

COMPARE_TIMES = DEFAULT_TIMES
DIRECT_AT = 86_400.0
MAX_SEEDS = 20


@dataclass
class Comparison:
    evaluations: list[ArchEvaluation]
    """One per (architecture, training seed), architectures in the order given."""
    rows: list[dict[str, Any]] = field(default_factory=list)
    """One per architecture, pooled over training seeds and programmings."""
    differences: list[dict[str, Any]] = field(default_factory=list)
    """Paired differences of each architecture against the baseline."""
    baseline: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "baseline": self.baseline,
            "differences": self.differences,
            "evaluations": [e.to_dict() for e in self.evaluations],
        }


def _pooled(evs: list[ArchEvaluation], mode: str, t: float) -> list[float]:
    out = []
    for ev in evs:
        curve = ev.curves.get(mode)
        if curve is None:
            return []
        k = _time_index(curve.times, t)
        out += [row[k] for row in curve.per_repeat]
    return out


def _time_index(times: tuple[float, ...], t: float) -> int:
    for i, ti in enumerate(times):
        if math.isclose(ti, t, rel_tol=1e-9):
            return i
    raise KeyError(t)


def _mean_std(values: list[float]) -> dict[str, float]:
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "std": std}


def comparison_row(evs: list[ArchEvaluation] | ArchEvaluation) -> dict[str, Any]:
    """Table row of one architecture: FP32 over seeds, HWA / direct over (seed, programming)."""
    evs = [evs] if isinstance(evs, ArchEvaluation) else evs
    ev = evs[0]
    fp32 = [e.fp32_accuracy for e in evs]
    row: dict[str, Any] = {
        "arch": ev.spec.label,
        "arch_id": ev.spec.arch_id,
        "params": ev.params,
        "macs": ev.macs,
        "tiles": ev.tiles,
        "seeds": [e.seed for e in evs],
        "fp32": fp32[0] if len(fp32) == 1 else _mean_std(fp32),
    }
    if "hwa" in ev.curves:
        for t in COMPARE_TIMES:
            row[f"hwa {label_time(t)}"] = _mean_std(_pooled(evs, "hwa", t))
        row["avm"] = sum(e.curves["hwa"].avm or 0.0 for e in evs) / len(evs)
    else:
        row["avm"] = None
    if "direct" in ev.curves:
        # beside HWA the table shows direct mapping at one day; alone, at every time
        for t in (DIRECT_AT,) if "hwa" in ev.curves else COMPARE_TIMES:
            row[f"direct {label_time(t)}"] = _mean_std(_pooled(evs, "direct", t))
        row["direct avm"] = sum(e.curves["direct"].avm or 0.0 for e in evs) / len(evs)
    row["train_seconds"] = sum(sum(e.train_seconds.values()) for e in evs)
    return row


def paired_difference(a: list[float], b: list[float]) -> dict[str, Any]:
    """Mean of ``a[i] - b[i]`` with a Student-t 95 % interval (n - 1 degrees of freedom)."""
    if len(a) != len(b) or not a:
        raise ConfigError("paired samples must have the same, non-zero length")
    return mean_interval([x - y for x, y in zip(a, b, strict=True)])


def mean_interval(d: list[float]) -> dict[str, Any]:
    """Mean, std and Student-t 95 % interval of independent values (None below two)."""
    n = len(d)
    ms = _mean_std(d)
    if n < 2:
        return {**ms, "n": n, "ci95": None}
    from scipy.stats import t as student_t

    half = float(student_t.ppf(0.975, n - 1)) * ms["std"] / math.sqrt(n)
    return {**ms, "n": n, "ci95": [ms["mean"] - half, ms["mean"] + half]}


def _differences(by_arch: list[list[ArchEvaluation]], base: int) -> list[dict[str, Any]]:
    out = []
    ref = by_arch[base]
    for k, evs in enumerate(by_arch):
        if k == base:
            continue
        entry: dict[str, Any] = {"arch": evs[0].spec.label, "baseline": ref[0].spec.label, "modes": {}}
        fp32 = [e.fp32_accuracy - r.fp32_accuracy for e, r in zip(evs, ref, strict=True)]
        entry["fp32_per_seed"] = fp32
        for mode in ("hwa", "direct"):
            if mode not in evs[0].curves:
                continue
            per_time = {}
            for t in COMPARE_TIMES:
                diff = paired_difference(_pooled(evs, mode, t), _pooled(ref, mode, t))
                diff["per_seed"] = [
                    _mean_std(_pooled([e], mode, t))["mean"] - _mean_std(_pooled([r], mode, t))["mean"]
                    for e, r in zip(evs, ref, strict=True)
                ]
                diff["between_seeds"] = mean_interval(diff["per_seed"])
                per_time[label_time(t)] = diff
            entry["modes"][mode] = per_time
        out.append(entry)
    return out


def compare_architectures(
    specs: list[ArchSpec], *, seeds: tuple[int, ...] = (0,), baseline: int = -1, **kwargs: Any
) -> Comparison:
    """Evaluate each spec at each training seed with identical data, fidelity, recipe and
    drift settings; rows pool the seeds, ``differences`` pair each spec with ``baseline``
    (an index into ``specs``; default the last). ``drift.seed`` is the chip seed of
    ``seeds[0]`` (the CLI passes ``--seed`` for both), later seeds count up from it."""
    if not specs:
        raise ConfigError("compare needs at least one architecture")
    if not seeds or len(seeds) > MAX_SEEDS or len(set(seeds)) != len(seeds):
        raise ConfigError(f"seeds must be 1 to {MAX_SEEDS} distinct integers, got {list(seeds)}")
    if not -len(specs) <= baseline < len(specs):
        raise ConfigError(f"baseline index {baseline} is outside the {len(specs)} architectures")
    kwargs.pop("seed", None)
    drift = kwargs.pop("drift")
    times = tuple(sorted(set(drift.times) | set(COMPARE_TIMES) | {ONE_MONTH}))
    drift = dataclasses.replace(drift, times=times)
    # Training seed s is programmed with drift seed ``drift.seed + (s - seeds[0])``: the same
    # chips for every architecture (the pairing), fresh chips per training seed, and each
    # seed's row is exactly what ``evaluate --seed s`` measures (and caches).
    by_arch = [
        [evaluate_architecture(spec, drift=dataclasses.replace(drift, seed=drift.seed + s - seeds[0]), seed=s, **kwargs)
         for s in seeds]
        for spec in specs
    ]
    base = baseline % len(specs)
    return Comparison(
        [e for evs in by_arch for e in evs],
        [comparison_row(evs) for evs in by_arch],
        _differences(by_arch, base) if len(specs) > 1 else [],
        specs[base].label,
    )
