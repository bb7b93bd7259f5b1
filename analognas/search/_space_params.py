"""The Optuna parameters a space declares, in one canonical order, with their distributions.

`SearchSpace.suggest` asks for them trial by trial; reports need them all at once (CSV
columns, and rebuilding a study from a CSV for importances), including the stage
parameters a shallow network never asked for.
"""

from __future__ import annotations

from typing import Any

from analognas.space import IntRange, SearchSpace


def _domains(space: SearchSpace) -> list[tuple[str, Any]]:
    return space.domains()


def all_param_names(space: SearchSpace) -> list[str]:
    return [name for name, _ in _domains(space)]


def distributions(space: SearchSpace) -> dict[str, Any]:
    """name -> Optuna distribution, exactly as `SearchSpace.suggest` declares it."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    out: dict[str, Any] = {}
    for name, dom in _domains(space):
        if isinstance(dom, IntRange):
            out[name] = IntDistribution(dom.min, dom.max, step=dom.step)
        else:
            out[name] = CategoricalDistribution(list(dom.to_toml()))
    return out


def stage_of(name: str) -> int | None:
    """0-based stage a parameter belongs to (`stage3_blocks` -> 2), None for global ones."""
    if name.startswith("stage") and "_" in name:
        head = name.split("_", 1)[0].removeprefix("stage")
        if head.isdigit():
            return int(head) - 1
    return None
