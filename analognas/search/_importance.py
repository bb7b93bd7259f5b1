"""Parameter importances of a search (fANOVA, seeded), conditional parameters included.

A stage parameter exists only in networks that have the stage, and Optuna's evaluators
keep only parameters present in *every* trial, which would hide all but stage 1. Here each
absent stage parameter takes an explicit extra value (`absent`, or one step below the
integer range), so every parameter is scored, and a stage's importance includes whether
the stage exists at all. The dashboard only draws the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analognas.search._objectives import Objective
from analognas.search._results import Candidate
from analognas.search._space_params import distributions

ABSENT = "absent"


def param_importances(pool: Sequence[Candidate], space: Any, objective: Objective, seed: int = 0) -> dict[str, float]:
    """fANOVA importance of every space parameter over ``pool`` (completed, feasible
    trials that have ``objective``), largest first."""
    import optuna
    from optuna.distributions import CategoricalDistribution, IntDistribution

    dists: dict[str, Any] = {}
    for name, d in distributions(space).items():
        if isinstance(d, IntDistribution):
            dists[name] = IntDistribution(d.low - d.step, d.high, step=d.step)
        else:
            dists[name] = CategoricalDistribution([*d.choices, ABSENT])
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(direction=objective.direction.value)
        for c in pool:
            params = {
                name: c.params.get(name, d.low if isinstance(d, IntDistribution) else ABSENT)
                for name, d in dists.items()
            }
            study.add_trial(
                optuna.trial.create_trial(params=params, distributions=dists, value=c.values[objective.name])
            )
        imp = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed)
        )
    finally:
        optuna.logging.set_verbosity(level)
    return {str(k): float(v) for k, v in imp.items()}
