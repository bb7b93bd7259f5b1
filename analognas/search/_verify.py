"""`--verify K`: train the top candidates for real and compare with the surrogate.

The surrogate is a model of measurements; the only test of a search's winners is to
measure them. Each of the top K architectures is trained with the project's pipeline
(FP32, then HWA fine-tuning with the surrogate's own recipe) and drift-evaluated with the
surrogate's own drift settings, so every measurement is comparable with the records the
surrogate learned from. The measurement is appended to the records store as an ordinary
record: the next `--refit` learns from the architectures users actually search for.

This is the only part of the search package that imports torch (inside `verify_run`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from analognas._errors import ConfigError
from analognas.search._load import SearchRun, load_run
from analognas.search._results import Candidate, pareto_axes, pareto_front
from analognas.search._run import DEFAULT_RUNS_DIR, write_json_atomic

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Verification:
    arch_id: str
    number: int
    spec: dict[str, Any]
    predicted: dict[str, tuple[float, float]]
    measured: dict[str, tuple[float, float | None]]
    """accuracy: (mean, std over programmings) at the drift time; avm: (points, None);
    spread: (std over programmings, None)."""
    fidelity: str
    seed: int
    params: int
    tiles: int
    wall_seconds: float
    record_key: str
    cached: bool

    @property
    def predicted_accuracy(self) -> tuple[float, float]:
        return self.predicted.get("accuracy", (float("nan"), float("nan")))

    @property
    def measured_accuracy(self) -> tuple[float, float]:
        m, s = self.measured["accuracy"]
        return m, float(s or 0.0)

    @property
    def predicted_avm(self) -> float | None:
        p = self.predicted.get("avm")
        return p[0] if p else None

    @property
    def measured_avm(self) -> float | None:
        m = self.measured.get("avm")
        return m[0] if m else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "arch_id": self.arch_id,
            "number": self.number,
            "spec": self.spec,
            "predicted": {k: {"mean": m, "std": s} for k, (m, s) in self.predicted.items()},
            "measured": {k: {"mean": m, "std": s} for k, (m, s) in self.measured.items()},
            "fidelity": self.fidelity,
            "seed": self.seed,
            "params": self.params,
            "tiles": self.tiles,
            "wall_seconds": self.wall_seconds,
            "record_key": self.record_key,
            "cached": self.cached,
        }


@dataclass(frozen=True)
class VerifyRequest:
    """What ``search --verify K`` asks for: measure the top K after the search."""

    k: int = 0
    fidelity: str = "low"
    train_size: int | None = None
    test_size: int | None = None
    device: str = "auto"

    def validated(self) -> VerifyRequest:
        """Check every flag before a long search, so a typo fails in a second, not an hour
        (resolving the device imports torch, so only when K > 0)."""
        if self.k < 0:
            raise ConfigError(f"--verify must be >= 0, got {self.k}")
        if not self.k:
            return self
        check_verify_fidelity(self.fidelity)
        for flag, v in (("--verify-train-size", self.train_size), ("--verify-test-size", self.test_size)):
            if v is not None and v < 1:
                raise ConfigError(f"{flag} must be >= 1, got {v}")
        self.resolved_device()
        return self

    def resolved_device(self) -> str:
        from analognas._device import resolve_device

        return str(resolve_device(self.device))

    def resolved_fidelity(self) -> Any:
        """The fidelity name, or a ``Fidelity`` with the size overrides applied."""
        if self.train_size is None and self.test_size is None:
            return self.fidelity
        from analognas.training import get_fidelity

        return get_fidelity(self.fidelity).with_overrides(train_size=self.train_size, test_size=self.test_size)


@dataclass
class VerifyResult:
    items: list[Verification]
    records_path: str | None
    run_dir: Path
    appended: int = 0
    notes: list[str] = field(default_factory=list)


def check_verify_fidelity(fidelity: Any) -> Any:
    """Resolve a fidelity name before a long search, so a typo fails in a second, not an hour."""
    if not isinstance(fidelity, str):
        return fidelity
    from analognas._errors import ConfigError as _CE

    names = ("smoke", "low", "medium", "high", "quick", "standard")  # FIDELITIES, without importing torch
    if fidelity not in names:
        raise _CE(f"--verify-fidelity {fidelity!r}: choose one of {', '.join(names)}")
    return fidelity


def top_candidates(run: SearchRun, k: int) -> list[Candidate]:
    """Top K distinct architectures: by the first objective, or along the Pareto front."""
    from analognas.search._results import best_candidate

    if k < 1:
        raise ConfigError(f"--verify must be >= 1, got {k}")
    if len(run.objectives) > 1:
        pool = pareto_front(run.candidates, pareto_axes(run.objectives))
    else:
        pool, seen = [], set()
        rest = [c for c in run.candidates if c.complete and c.feasible]
        while rest and len(pool) < k:
            b = best_candidate(rest, run.objectives)
            if b is None:
                break
            if b.arch_id not in seen:
                pool.append(b)
                seen.add(b.arch_id)
            rest = [c for c in rest if c.arch_id != b.arch_id]
    if not pool:
        raise ConfigError(f"run {run.name} has no feasible candidate to verify")
    return pool[:k]


def verify_run(
    run: str | Path,
    *,
    k: int,
    fidelity: Any = "low",
    seed: int = 0,
    data_dir: str | None = None,
    cache_dir: str | Path | None = None,
    records: str | Path | None = None,
    runs_dir: Path = DEFAULT_RUNS_DIR,
    progress: Progress | None = None,
    device: str = "cpu",
) -> VerifyResult:
    """Train + drift-evaluate the top `k` candidates; append records; write verified.json.

    `fidelity` is a name or an `analognas.training.Fidelity`. Recipe, dataset and drift
    settings come from the run's surrogate, so the records join the surrogate's cohort.
    """
    from analognas.analog import DriftEvalConfig, get_recipe
    from analognas.surrogate import (
        Cohort,
        MeasureProtocol,
        PipelineEvaluator,
        RecordStore,
        default_records_path,
        load_surrogate,
        record_targets,
    )
    from analognas.training import CheckpointStore, get_fidelity

    r = load_run(run, runs_dir)
    cands = top_candidates(r, k)
    if r.space is None:
        raise ConfigError(f"run {r.name}: its space file is gone or changed; cannot record measurements")
    if r.surrogate_path is None or not r.surrogate_path.exists():
        raise ConfigError(f"run {r.name}: surrogate {r.surrogate_path} not found; cannot tell its recipe and drift")
    sur = load_surrogate(r.surrogate_path)
    meta = getattr(sur, "meta", {}) or {}
    fid = get_fidelity(fidelity) if isinstance(fidelity, str) else fidelity
    recipe_meta = meta.get("recipe") or {"name": "hwa-v1"}
    recipe = get_recipe(str(recipe_meta.get("name") or "hwa-v1"))
    notes = []
    if recipe_meta.get("hash") and recipe.hash() != recipe_meta["hash"]:
        notes.append(f"recipe {recipe.name} changed since the surrogate was fitted ({recipe_meta['hash']})")
    drift = DriftEvalConfig.from_dict(meta["drift"]) if meta.get("drift") else DriftEvalConfig()
    drift = replace(drift, seed=seed)  # collect's rule: training seed s is programmed with chip seed s
    if not any(abs(t - sur.drift_time) <= 1e-9 * sur.drift_time for t in drift.times):
        drift = replace(drift, times=tuple(sorted({*drift.times, sur.drift_time})))
    dataset = str(meta.get("dataset") or "fashion-mnist")
    if records is not None:
        path = Path(records)
    else:
        fitted_on = [Path(p) for p in meta.get("records", [])]
        same_fid = meta.get("fidelity_hash") == fid.hash()
        path = (
            fitted_on[0] if same_fid and len(fitted_on) == 1 else default_records_path(r.space.name, dataset, fid.name)
        )
    store = RecordStore(path)
    have = store.keys()
    protocol = MeasureProtocol(dataset, fid, recipe, drift, seed, data_dir, device)
    evaluator = PipelineEvaluator(r.space, store=CheckpointStore(cache_dir), progress=progress)
    planned = Cohort.of({
        "space": {"name": r.space.name, "fingerprint": r.space.fingerprint}, "dataset": {"name": dataset},
        "fidelity_name": fid.name, "fidelity_hash": fid.hash(), "recipe_name": recipe.name,
        "recipe_hash": recipe.hash(), "drift": drift.to_dict(), "drift_hash": drift.hash(),
    })
    earlier = earlier_records([*refit_paths(sur), path], planned, seed, sur.drift_time)
    items, appended = [], 0
    for cand in cands:
        assert cand.spec is not None
        if cand.arch_id in earlier:
            # a refit keeps an architecture's first record per training seed (load_records), so a
            # second measurement on other chips would be appended and then ignored: report the
            # record that counts, and spend no training on one that would not
            rec = earlier[cand.arch_id]
            key = rec["key"]
            notes.append(f"{cand.arch_id} seed {seed}: measured before as record {key} (chip seed "
                         f"{(rec.get('drift') or {}).get('seed')}); reported, not measured again")
        else:
            measured = evaluator.evaluate(cand.spec, protocol)
            key = measured.key
            if key not in have:
                store.append(measured.to_dict())
                have.add(key)
                appended += 1
            rec = measured.to_dict()
        targets = record_targets(rec, sur.drift_time)
        if isinstance(targets, str):
            raise ConfigError(f"{cand.arch_id}: measurement unusable ({targets})")
        acc, spread = targets["accuracy"], targets["spread"]
        items.append(
            Verification(
                arch_id=cand.arch_id,
                number=cand.number,
                spec=cand.spec.to_dict(include_name=False),
                predicted=dict(cand.predicted),
                measured={"accuracy": (acc, spread), "avm": (targets["avm"], None), "spread": (spread, None)},
                fidelity=fid.name,
                seed=seed,
                params=int(rec["params"]),
                tiles=int(rec["tiles"]),
                wall_seconds=float(rec["wall_seconds"]),
                record_key=key,
                cached=cand.arch_id in earlier or bool(rec["cached"].get("hwa")),
            )
        )
    previous = []
    if r.folder.verified_file.exists():
        import json

        try:
            previous = json.loads(r.folder.verified_file.read_text()).get("items", [])
        except (OSError, ValueError):
            previous = []
    keys = {v.record_key for v in items}
    merged = [p for p in previous if p.get("record_key") not in keys] + [v.to_dict() for v in items]
    write_json_atomic(r.folder.verified_file, {"run": r.name, "records": str(path), "items": merged})
    return VerifyResult(items, str(path), r.folder.path, appended, notes)


def earlier_records(paths: list[Path], cohort: Any, seed: int, drift_time: float) -> dict[str, dict]:
    """Per architecture, the record of training seed `seed` in `cohort` that a refit keeps:
    read by ``load_records`` from the files a refit reads (bad lines, other cohorts and
    later records of the same architecture and seed left out as it leaves them out)."""
    from analognas.surrogate import Cohort, SurrogateError, load_records

    files = list(dict.fromkeys(p for p in paths if p.is_file()))
    if not files:
        return {}
    try:
        rs = load_records(files, space=cohort.space_fingerprint, fidelity=cohort.fidelity_hash, drift_time=drift_time)
    except SurrogateError:
        return {}  # nothing usable yet: every winner is measured
    return {r["arch_id"]: r for r in rs.records if r["seed"] == seed and Cohort.of(r) == cohort}


def refit_paths(sur: Any) -> list[Path]:
    """The record files a refit of `sur` reads, in order: those it was fitted on, then the
    default file of its space, data set and fidelity (where ``--verify`` appends)."""
    from analognas.surrogate import default_records_path

    meta = sur.meta
    paths = [Path(p) for p in meta.get("records", [])]
    fid = meta.get("fidelity") or {}
    own = default_records_path(sur.space_name, str(meta.get("dataset")), str(fid.get("name", "")))
    return paths if own in paths else [*paths, own]


def refit_path(path: Path) -> Path:
    """Where the refit of `path` goes: `NAME-refit.json` beside it (a refit of a refit stays put)."""
    stem = path.stem if path.stem.endswith("-refit") else f"{path.stem}-refit"
    return path.with_name(f"{stem}.json")


def refit_surrogate(surrogate: str | Path | None, extra_records: list[str | Path] | None = None,
                    *, space: Any = None, drift_time: float | None = None) -> Any:
    """Refit the surrogate on its records (plus what `--verify` appended); save it as `NAME-refit.json`.

    The file's records list says where its measurements live; verification appends to
    the same file for the same fidelity, so a refit picks the new measurements up. The
    refit is written beside the original, never over it: the shipped surrogate (and its
    CV figures in the README) stays what it was, and the refit, being the most recently
    fitted surrogate of the space, is what later searches pick by default.
    """
    from analognas.surrogate import default_surrogate_path, fit_surrogate, load_surrogate
    from analognas.surrogate import save_surrogate as _save

    if surrogate is not None and Path(str(surrogate)).exists():
        path = Path(str(surrogate))
    else:
        fp = None if space is None else space.fingerprint
        path = default_surrogate_path(surrogate, space_fingerprint=fp, drift_time=drift_time)
    sur = load_surrogate(path)
    meta = sur.meta
    paths = [Path(p) for p in meta.get("records", [])]
    for extra in [*refit_paths(sur)[len(paths):], *(Path(p) for p in extra_records or [])]:
        if extra.exists() and extra not in paths:
            paths.append(extra)
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise ConfigError(f"--refit: record file {missing[0]} of surrogate {path} not found")
    from analognas.search._load import _find_space

    fitted_space = _find_space({"space": {"name": sur.space_name, "fingerprint": sur.space_fingerprint}})
    tried = [c for m in sur.models.values() for c in m.candidates]  # refit over the same candidates
    kinds = sorted({str(c["model"]) for c in tried}) or None
    sets = sorted({str(c["feature_set"]) for c in tried}) or None
    extra: dict[str, Any] = {}
    if kinds:
        extra["models"] = kinds
    if sets:
        extra["feature_sets"] = sets
    result = fit_surrogate(
        paths,
        space=fitted_space,
        fidelity=meta.get("fidelity_hash"),
        drift_time=sur.drift_time,
        folds=int(meta.get("folds", 5)),
        seed=int(meta.get("seed", 0)),
        **extra,
    )
    _save(result.surrogate, refit_path(path), force=True)
    return result.surrogate
