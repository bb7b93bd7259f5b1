"""Search settings and results as data: `SearchConfig`, `SearchProgress`, `SearchResult`."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analognas._errors import ConfigError
from analognas.search._objectives import Objective, parse_objectives
from analognas.search._probe import Probe
from analognas.search._results import (
    Candidate,
)
from analognas.search._run import (
    DEFAULT_RUNS_DIR,
    check_run_name,
)
from analognas.space import Constraints, SearchSpace

IDENTITY_KEY = "analognas_identity"
WORKERS_KEY = "analognas_workers"
SAMPLERS = ("auto", "tpe", "nsga2", "random")
ONE_DAY = 86_400.0

ProgressFn = Callable[["SearchProgress"], None]


@dataclass(frozen=True)
class SearchConfig:
    """Everything `analognas search` takes; `run_search(config)` runs it."""

    name: str | None = None
    """Run name (folder `runs_dir/NAME`, study name); default from space, objectives, seed."""
    space: str | Path = "resnet_like"
    surrogate: str | Path | None = None
    """Path or name of a fitted surrogate; None = the shipped default."""
    objectives: tuple[str, ...] = ("accuracy",)
    drift: float = ONE_DAY
    """Seconds after programming the accuracy is predicted at."""
    budget: int = 200
    seed: int = 0
    max_params: int | None = None
    max_macs: int | None = None
    max_tiles: int | None = None
    storage: str | None = None
    """Optuna RDB URL, 'memory', or None for a journal file in the run folder."""
    runs_dir: Path = DEFAULT_RUNS_DIR
    sampler: str = "auto"
    batch_size: int = 8
    """Trials sampled, predicted and written together (one surrogate call per batch)."""
    force: bool = False

    def validated(self) -> SearchConfig:
        if isinstance(self.budget, bool) or not isinstance(self.budget, int) or self.budget < 1:
            raise ConfigError(f"--budget must be an integer >= 1, got {self.budget!r}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if not (isinstance(self.drift, (int, float)) and math.isfinite(self.drift) and self.drift > 0):
            raise ConfigError(f"--drift must be a finite number of seconds > 0, got {self.drift!r}")
        for key in ("max_params", "max_macs", "max_tiles"):
            v = getattr(self, key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ConfigError(f"--{key.replace('_', '-')} must be a positive integer, got {v!r}")
        if self.name is not None:
            check_run_name(self.name)
        parse_objectives(self.objectives)
        return self

    def load_space(self) -> Any:  # -> SearchSpace
        """The space this search runs on (a file path or a shipped space's name)."""
        from analognas.space import load_space

        return load_space(self.space)


@dataclass(frozen=True)
class SearchProgress:
    done: int
    """Finished trials in the study (all workers)."""
    total: int
    best: float | None
    """Best value of the first objective so far (feasible trials only)."""
    objective: str
    name: str = ""


@dataclass
class SearchResult:
    name: str
    run_dir: Path
    n_trials: int
    """Finished trials in the study (== budget unless interrupted)."""
    n_written: int
    """Trials this worker wrote (the others were written by other workers or earlier runs)."""
    n_feasible: int
    n_infeasible: int
    n_failed: int
    resumed_from: int
    best: Candidate | None
    pareto: list[Candidate]
    objectives: tuple[Objective, ...]
    identity: dict[str, Any]
    storage: str
    sampler: str
    wall_seconds: float
    probe: Probe
    worker: int = 0
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "run_dir": str(self.run_dir),
            "n_trials": self.n_trials,
            "n_written": self.n_written,
            "n_feasible": self.n_feasible,
            "n_infeasible": self.n_infeasible,
            "n_failed": self.n_failed,
            "resumed_from": self.resumed_from,
            "best": self.best.to_dict() if self.best else None,
            "pareto_size": len(self.pareto),
            "objectives": [{"name": o.name, "direction": o.direction.value} for o in self.objectives],
            "identity": self.identity,
            "storage": self.storage,
            "sampler": self.sampler,
            "worker": self.worker,
            "wall_seconds": self.wall_seconds,
            "feasible_fraction_of_space": self.probe.feasible_fraction,
            "files": self.files,
        }


def default_run_name(space: SearchSpace, objectives: tuple[Objective, ...], seed: int, constraints: Constraints) -> str:
    """Same command, same name: that is what makes a second invocation resume."""
    parts = [space.name, "+".join(o.name for o in objectives), f"s{seed}"]
    for key, tag in (("max_params", "p"), ("max_macs", "m"), ("max_tiles", "t")):
        v = getattr(constraints, key)
        if v is not None and v != getattr(space.constraints, key):
            parts.append(f"{tag}{v}")
    return "-".join(parts)
