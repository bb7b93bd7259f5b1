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

import copy
import time
from pathlib import Path
from typing import Any

from analognas._errors import ConfigError
from analognas._storage import OpenedStorage, open_storage
from analognas.search._objectives import Objective, parse_objectives
from analognas.search._probe import probe_constraints
from analognas.search._results import (
    ATTR_ARCH,
    ATTR_COST,
    ATTR_ERROR,
    ATTR_PRED,
    ATTR_VIOLATIONS,
    ATTR_WORKER,
    UID_KEY,
    best_candidate,
    candidate_from_trial,
    pareto_axes,
    pareto_front,
)
from analognas.search._run import (
    RunFolder,
)
from analognas.search._run_export import _write_run_info, export_run
from analognas.search._sampler import _quiet_optuna, _worker_seed, make_sampler
from analognas.search._search_config import (
    IDENTITY_KEY,
    SAMPLERS,
    WORKERS_KEY,
    ProgressFn,
    SearchConfig,
    SearchProgress,
    SearchResult,
    default_run_name,
)
from analognas.search._surrogate_link import SurrogateLink, link_surrogate
from analognas.search._trial_eval import _BatchScorer
from analognas.space import Constraints, SearchSpace, load_space


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
                files = export_run(folder, cands, space, objectives, link.targets, name, identity, link,
                                   report=failure is None)
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

    from analognas._storage import _first_line
    from analognas.search._errors import SearchError

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
            from analognas._storage import _first_line

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
        self.eval = _BatchScorer(space, constraints, objectives, link.evaluator(), link.drift_time)
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
