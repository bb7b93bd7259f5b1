"""`analognas search`: an Optuna study over a declared space, scored by a surrogate.

How one worker runs (several may share one study, on one machine or many):

1. Refuse bad input before any work: budget < 1, a surrogate fitted on another space, a
   constraint nothing in the space meets (`_probe`), a run name taken by another setup.
2. Sample in a private in-memory *mirror* of the study: the sampler (TPE by default,
   seeded) asks a small batch of trials there, each spec's params/MACs/tiles are checked
   against the hard constraints, infeasible ones are told PRUNED with their violation as
   Optuna constraint values (so TPE and NSGA-II learn to avoid them) and never reach the
   surrogate, and the feasible rest are predicted in ONE surrogate call.
3. Write the finished trials to the shared storage under the budget gate (`_storage`):
   count the finished trials, write at most `budget - count`. One journal line per trial
   (Optuna's ask/tell would write one per parameter), and no trial is ever RUNNING in the
   shared study, so a worker killed at any instant leaves nothing half-done behind.
4. Pull the other workers' new trials into the mirror, and repeat until the count is
   exactly the budget.

Exactness: every write happens inside the gate after a fresh count and never exceeds
`budget - count`, so the study never holds more than `budget` trials; a worker only
stops once it has seen `count == budget`, so it never holds fewer (unless every worker
is killed, and the next start resumes). A batch evaluated past the end is discarded,
never written.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import math
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analognas._errors import ConfigError
from analognas.search._objectives import Objective, parse_objectives
from analognas.search._probe import Probe, probe_constraints
from analognas.search._results import (
    ATTR_ARCH,
    ATTR_COST,
    ATTR_ERROR,
    ATTR_PRED,
    ATTR_VIOLATIONS,
    ATTR_WORKER,
    UID_KEY,
    Candidate,
    best_candidate,
    candidate_from_trial,
    pareto_axes,
    pareto_front,
    trials_csv,
)
from analognas.search._run import (
    DEFAULT_RUNS_DIR,
    RUN_FORMAT,
    RunFolder,
    check_run_name,
    write_json_atomic,
    write_text_atomic,
)
from analognas.search._storage import OpenedStorage, open_storage
from analognas.search._surrogate_link import SurrogateLink, link_surrogate
from analognas.space import ArchSpec, Constraints, SearchSpace, load_space

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


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """The library never prints: silence Optuna's INFO lines and expected warnings."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", message=".*constraint.*")
            yield
    finally:
        optuna.logging.set_verbosity(level)


def make_sampler(kind: str, seed: int, n_objectives: int, budget: int) -> Any:
    """Univariate TPE for one objective, NSGA-II for several; see `SAMPLERS` for the others."""
    import optuna

    if kind == "auto":
        kind = "tpe" if n_objectives == 1 else "nsga2"
    if kind == "tpe":
        # 128 EI candidates instead of Optuna's 24: on the shipped surrogate the median best of 5
        # seeds at budget 200 rose from 70.3 to 73.5 (benchmarks/search_quality.py); the surrogate
        # is cheap, so a sharper proposal per trial is worth its ~10 ms.
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(2, budget // 10)),
                                          n_ei_candidates=128)
    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=int(min(50, max(8, budget // 10))))
    return optuna.samplers.RandomSampler(seed=seed)


def _worker_seed(seed: int, worker: int) -> int:
    """Worker 0 uses `--seed` itself; others get independent streams (no duplicate startups)."""
    if worker == 0:
        return seed
    return int(np.random.SeedSequence([seed, worker]).generate_state(1)[0])


class _Evaluator:
    """Cheap constraint check, then one surrogate call for the feasible part of a batch."""

    def __init__(
        self,
        space: SearchSpace,
        constraints: Constraints,
        objectives: tuple[Objective, ...],
        link: SurrogateLink,
    ) -> None:
        self.space, self.constraints, self.objectives, self.link = space, constraints, objectives, link
        self.limits = {k: getattr(constraints, k) for k in ("max_params", "max_macs", "max_tiles")}
        self.limits = {k: v for k, v in self.limits.items() if v is not None}

    def constraint_values(self, cost: Any) -> dict[str, float]:
        """Optuna convention: <= 0 feasible; relative excess so the scales are comparable."""
        return {k: (getattr(cost, k.removeprefix("max_")) - lim) / lim for k, lim in self.limits.items()}

    def predict(self, specs: list[ArchSpec]) -> list[dict[str, tuple[float, float]] | str]:
        """Per spec: {target: (mean, std)}, or an error message (that trial will FAIL)."""
        if not specs:
            return []
        try:
            return self._checked(self.link.predict(specs), len(specs))
        except Exception as exc:
            if len(specs) == 1:
                return [_message(exc)]
        return [self._one(s) for s in specs]  # isolate the failing architecture(s)

    def _one(self, spec: ArchSpec) -> dict[str, tuple[float, float]] | str:
        try:
            return self._checked(self.link.predict([spec]), 1)[0]
        except Exception as exc:
            return _message(exc)

    def _checked(self, out: dict[str, tuple[Any, Any]], n: int) -> list[dict[str, tuple[float, float]] | str]:
        rows: list[dict[str, tuple[float, float]] | str] = [{} for _ in range(n)]
        for target, (mean, std) in out.items():
            m, s = np.asarray(mean, dtype=float).reshape(-1), np.asarray(std, dtype=float).reshape(-1)
            if m.shape[0] != n or s.shape[0] != n:
                raise ValueError(f"surrogate returned {m.shape[0]} predictions of {target!r} for {n} specs")
            for i in range(n):
                row = rows[i]
                if isinstance(row, str):
                    continue
                if not (math.isfinite(m[i]) and math.isfinite(s[i])):
                    rows[i] = f"surrogate returned a non-finite {target} ({m[i]}, {s[i]})"
                else:
                    row[target] = (float(m[i]), float(s[i]))
        return rows

    def values(self, pred: dict[str, tuple[float, float]], cost: Any) -> list[float]:
        return [pred[o.target][0] if o.target else float(getattr(cost, o.name)) for o in self.objectives]


def _message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]


def _prepare(config: SearchConfig, link: SurrogateLink | None, surrogate: Any) -> tuple[Any, ...]:
    config = config.validated()
    objectives = parse_objectives(config.objectives)
    space = load_space(config.space)
    constraints = space.constraints.merged(
        max_params=config.max_params, max_macs=config.max_macs, max_tiles=config.max_tiles
    )
    probe = probe_constraints(space, constraints, seed=config.seed)  # cheap: before any model is loaded
    if link is None:
        link = link_surrogate(config.surrogate if surrogate is None else surrogate, space, config.drift)
    missing = [o.target for o in objectives if o.target and o.target not in link.targets]
    if missing:
        raise ConfigError(
            f"surrogate {link.display} predicts {', '.join(link.targets)}; objective {missing[0]!r} needs"
            f" target {missing[0]!r}"
        )
    identity = {
        "space": {"name": space.name, "fingerprint": space.fingerprint},
        "surrogate": {"hash": link.hash, "space_fingerprint": link.space_fingerprint},
        "objectives": [f"{o.name}:{o.direction.value}" for o in objectives],
        "constraints": {
            "max_params": constraints.max_params,
            "max_macs": constraints.max_macs,
            "max_tiles": constraints.max_tiles,
            "tile_size": list(constraints.tile_size),
        },
        "drift": float(config.drift),
    }
    name = config.name or default_run_name(space, objectives, config.seed, constraints)
    return config, objectives, space, constraints, probe, link, identity, name


def run_search(
    config: SearchConfig,
    *,
    surrogate: Any = None,
    progress: ProgressFn | None = None,
) -> SearchResult:
    """Run (or resume) a search to exactly `config.budget` finished trials; see the module doc.

    `surrogate` may be an already-loaded surrogate object (tests, notebooks); otherwise
    `config.surrogate` (or the shipped default) is loaded.
    """
    t0 = time.perf_counter()
    config, objectives, space, constraints, probe, link, identity, name = _prepare(config, None, surrogate)
    folder = RunFolder(Path(config.runs_dir) / name)
    folder.claim(identity, config.force)
    opened = open_storage(config.storage, folder.path)
    sampler_kind = config.sampler if config.sampler != "auto" else ("tpe" if len(objectives) == 1 else "nsga2")
    with _quiet_optuna():
        gate = opened.gate(name)
        try:
            shared, worker = _open_study(opened, gate, name, objectives, identity, config.force)
            _write_run_info(folder, config, name, identity, link, opened, probe, sampler_kind, space, None)
            loop = _Loop(
                config, name, shared, gate, space, constraints, objectives, link, worker, sampler_kind, progress
            )
            failure: BaseException | None = None
            try:
                loop.run()
            except BaseException as exc:  # Ctrl-C included: what is finished is exported below
                failure = exc
            try:
                cands = [candidate_from_trial(t, space, objectives) for t in shared.get_trials(deepcopy=False)]
                files = export_run(folder, cands, space, objectives, link.targets, name, identity, link)
                _write_run_info(folder, config, name, identity, link, opened, probe, sampler_kind, space, cands)
            except Exception as exc:
                if failure is None:
                    failure = exc
            if failure is not None:
                raise _storage_failure(failure, opened, loop.written) from None
        finally:
            gate.close()
    best = best_candidate(cands, objectives)
    front = pareto_front(cands, pareto_axes(objectives))
    return SearchResult(
        name=name,
        run_dir=folder.path,
        n_trials=sum(1 for c in cands if c.state in ("COMPLETE", "PRUNED", "FAIL")),
        n_written=loop.written,
        n_feasible=sum(1 for c in cands if c.complete and c.feasible),
        n_infeasible=sum(1 for c in cands if c.violations),
        n_failed=sum(1 for c in cands if c.state == "FAIL"),
        resumed_from=loop.start_count,
        best=best,
        pareto=front,
        objectives=objectives,
        identity=identity,
        storage=opened.display,
        sampler=sampler_kind,
        wall_seconds=time.perf_counter() - t0,
        probe=probe,
        worker=worker,
        files=files,
    )


def _storage_failure(exc: BaseException, opened: OpenedStorage, written: int) -> BaseException:
    """A database or disk failure mid-search -> one clear line; anything else unchanged."""
    from optuna.exceptions import StorageInternalError

    from analognas.search._errors import SearchError
    from analognas.search._storage import _first_line

    failed = isinstance(exc, (StorageInternalError, OSError))
    if not failed and opened.kind == "rdb":
        from sqlalchemy.exc import SQLAlchemyError

        failed = isinstance(exc, SQLAlchemyError)
    if not failed:
        return exc
    return SearchError(
        f"storage {opened.display} failed during the search ({_first_line(exc)}); the {written} trial(s) this"
        " process finished are saved; run the same command again to resume"
    )


def _open_study(
    opened: OpenedStorage, gate: Any, name: str, objectives: tuple[Objective, ...], identity: dict, force: bool
) -> tuple[Any, int]:
    """Create or load the shared study; check its identity; claim a worker number."""
    import optuna

    from analognas._errors import OutputExistsError
    from analognas.search._run import identity_diff

    directions = [o.direction.value for o in objectives]
    with gate:
        try:
            study = optuna.create_study(
                storage=opened.storage, study_name=name, directions=directions, load_if_exists=True
            )
            existing = study.user_attrs.get(IDENTITY_KEY)
            if existing is not None and identity_diff(existing, identity):
                if not force:
                    diff = "; ".join(identity_diff(existing, identity))
                    raise OutputExistsError(
                        f"study {name!r} in {opened.display} exists with a different setup: {diff};"
                        " use --force to start it over or choose another --name"
                    )
                optuna.delete_study(study_name=name, storage=opened.storage)
                study = optuna.create_study(storage=opened.storage, study_name=name, directions=directions)
                existing = None
            if existing is None:
                study.set_user_attr(IDENTITY_KEY, identity)
            worker = int(study.user_attrs.get(WORKERS_KEY, 0))
            study.set_user_attr(WORKERS_KEY, worker + 1)
        except (OutputExistsError, ConfigError):
            raise
        except Exception as exc:  # storage went away between open and use
            from analognas.search._storage import _first_line

            raise ConfigError(f"storage {opened.display}: {_first_line(exc)}") from None
    return study, worker


class _Loop:
    """One worker's sample -> check -> predict -> write cycle (see the module doc)."""

    def __init__(
        self,
        config: SearchConfig,
        name: str,
        shared: Any,
        gate: Any,
        space: SearchSpace,
        constraints: Constraints,
        objectives: tuple[Objective, ...],
        link: SurrogateLink,
        worker: int,
        sampler_kind: str,
        progress: ProgressFn | None,
    ) -> None:
        import optuna

        self.config, self.shared, self.gate, self.space = config, shared, gate, space
        self.objectives, self.worker, self.progress = objectives, worker, progress
        self.eval = _Evaluator(space, constraints, objectives, link)
        sampler = make_sampler(sampler_kind, _worker_seed(config.seed, worker), len(objectives), config.budget)
        self.mirror = optuna.create_study(directions=[o.direction.value for o in objectives], sampler=sampler)
        self.seen: set[int] = set()
        self.own: set[str] = set()
        self.written = 0
        self.local = 0
        self.start_count = 0
        self.best: float | None = None
        self.name = name
        self.finished_states = (
            optuna.trial.TrialState.COMPLETE,
            optuna.trial.TrialState.PRUNED,
            optuna.trial.TrialState.FAIL,
        )

    # --- shared study -----------------------------------------------------------------
    def _count(self) -> int:
        return len(self.shared.get_trials(deepcopy=False, states=self.finished_states))

    def _sync(self) -> int:
        """Mirror the other workers' (and earlier runs') trials; return the finished count."""
        n = 0
        for t in self.shared.get_trials(deepcopy=False):
            if t.state in self.finished_states:
                n += 1
            if t.number in self.seen or not t.state.is_finished():
                continue
            self.seen.add(t.number)
            self._note_best(t)
            if t.system_attrs.get(UID_KEY) not in self.own:
                self.mirror.add_trial(t)
        return n

    def _note_best(self, t: Any) -> None:
        if t.state.name != "COMPLETE" or not t.values or t.user_attrs.get(ATTR_VIOLATIONS):
            return
        v, o = float(t.values[0]), self.objectives[0]
        if self.best is None or o.better(v, self.best):
            self.best = v

    def _report(self, done: int) -> None:
        if self.progress is not None:
            self.progress(SearchProgress(done, self.config.budget, self.best, self.objectives[0].name, self.name))

    # --- one batch ---------------------------------------------------------------------
    def _batch(self, size: int) -> list[Any]:
        from optuna.trial import TrialState

        asked = []
        for _ in range(size):
            trial = self.mirror.ask()
            try:
                spec = self.space.suggest(trial)
                cost = self.space.cost(spec)
            except Exception as exc:
                asked.append((trial, None, None, f"{type(exc).__name__}: {exc}"))
                continue
            trial.set_user_attr(ATTR_ARCH, spec.arch_id)
            trial.set_user_attr(
                ATTR_COST, {"params": cost.params, "macs": cost.macs, "tiles": cost.tiles, "depth": cost.depth}
            )
            trial.set_user_attr(ATTR_WORKER, self.worker)
            for key, value in self.eval.constraint_values(cost).items():
                trial.set_constraint(key, value)
            asked.append((trial, spec, cost, None))
        feasible = [(t, s, c) for t, s, c, err in asked if err is None and not self.eval.constraints.violations(c)]
        preds = dict(zip((t.number for t, _, _ in feasible), self.eval.predict([s for _, s, _ in feasible])))
        done = []
        for trial, _spec, cost, err in asked:
            if err is None:
                violations = self.eval.constraints.violations(cost)
                if violations:
                    trial.set_user_attr(ATTR_VIOLATIONS, violations)
                    done.append(self.mirror.tell(trial, state=TrialState.PRUNED))
                    continue
                pred = preds[trial.number]
                if isinstance(pred, dict):
                    trial.set_user_attr(ATTR_PRED, {k: [m, s] for k, (m, s) in pred.items()})
                    done.append(self.mirror.tell(trial, self.eval.values(pred, cost)))
                    continue
                err = pred
            trial.set_user_attr(ATTR_ERROR, err)
            done.append(self.mirror.tell(trial, state=TrialState.FAIL))
        return done

    def _write(self, finished: list[Any]) -> int:
        """Write what still fits in the budget; return how many were written."""
        with self.gate:
            room = self.config.budget - self._count()
            for ft in finished[: max(room, 0)]:
                uid = f"{self.worker}:{self.local}"
                self.local += 1
                out = copy.copy(ft)
                out.system_attrs = {**ft.system_attrs, UID_KEY: uid}
                self.shared.add_trial(out)
                self.own.add(uid)
                self.written += 1
        return min(max(room, 0), len(finished))

    def run(self) -> None:
        done = self.start_count = self._sync()
        self._report(done)
        while done < self.config.budget:
            size = min(self.config.batch_size, self.config.budget - done)
            finished = self._batch(size)
            for ft in finished:
                self._note_best(ft)
            wrote = self._write(finished)
            done = self._sync()
            self._report(done)
            if wrote < len(finished):
                break  # others filled the budget first; our surplus is discarded, never written


def _write_run_info(
    folder: RunFolder,
    config: SearchConfig,
    name: str,
    identity: dict[str, Any],
    link: SurrogateLink,
    opened: OpenedStorage,
    probe: Probe,
    sampler_kind: str,
    space: SearchSpace,
    cands: list[Candidate] | None,
) -> None:
    import optuna

    import analognas

    previous = folder.read_info() if folder.run_file.exists() else None
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    info: dict[str, Any] = {
        "format": RUN_FORMAT,
        "name": name,
        "identity": identity,
        "space": {"name": space.name, "path": str(space.source), "fingerprint": space.fingerprint},
        "surrogate": link.to_dict(),
        "objectives": [{"name": o.name, "direction": o.direction.value, "label": o.label} for o in _objs(identity)],
        "drift": float(config.drift),
        "storage": {"kind": opened.kind, "url": opened.display},
        "study_name": name,
        "budget": config.budget,
        "seed": config.seed,
        "sampler": sampler_kind,
        "batch_size": config.batch_size,
        "probe": probe.to_dict(),
        "created": (previous or {}).get("created", now),
        "updated": now,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "versions": {"analognas": getattr(analognas, "__version__", "0"), "optuna": optuna.__version__},
    }
    if cands is not None:
        info["n_trials"] = len(cands)
        info["states"] = {s: sum(1 for c in cands if c.state == s) for s in ("COMPLETE", "PRUNED", "FAIL")}
    write_json_atomic(folder.run_file, info)


def _objs(identity: dict[str, Any]) -> list[Objective]:
    from analognas.search._objectives import OBJECTIVES

    return [OBJECTIVES[item.split(":")[0]] for item in identity["objectives"]]


def export_run(
    folder: RunFolder,
    cands: list[Candidate],
    space: SearchSpace,
    objectives: tuple[Objective, ...],
    targets: tuple[str, ...],
    name: str,
    identity: dict[str, Any],
    link: SurrogateLink,
) -> dict[str, str]:
    """trials.csv, best.json and pareto.json from the study's trials (atomic writes)."""
    axes = pareto_axes(objectives)
    best = best_candidate(cands, objectives)
    front = pareto_front(cands, axes)
    header = {
        "run": name,
        "objectives": [{"name": o.name, "direction": o.direction.value} for o in objectives],
        "drift": identity["drift"],
        "surrogate": link.to_dict(),
        "space": identity["space"],
    }
    write_text_atomic(folder.trials_file, trials_csv(cands, space, objectives, list(targets)))
    if best is not None:
        write_json_atomic(folder.best_file, {**header, **best.to_dict()})
    write_json_atomic(
        folder.pareto_file,
        {
            **header,
            "axes": [{"name": o.name, "direction": o.direction.value} for o in axes],
            "candidates": [c.to_dict() for c in front],
        },
    )
    files = {"trials": str(folder.trials_file), "pareto": str(folder.pareto_file), "run": str(folder.run_file)}
    if best is not None:
        files["best"] = str(folder.best_file)
    return files


__all__ = [
    "SAMPLERS",
    "SearchConfig",
    "SearchProgress",
    "SearchResult",
    "default_run_name",
    "export_run",
    "make_sampler",
    "run_search",
]
