"""What one collection measures and how one architecture is measured into a record.

``CollectPlan`` is everything a measuring process needs as plain JSON (workers are fresh
interpreters); ``_Measurer`` turns one planned key into an appended record, or a failure
record, through the ``PipelineEvaluator``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analognas._malloc import MALLOC_ENV
from analognas.space import ArchSpec, space_from_dict
from analognas.surrogate._design import Design
from analognas.surrogate._errors import SurrogateError
from analognas.surrogate._evaluator import MeasureProtocol, PipelineEvaluator
from analognas.surrogate._records import (
    ONE_DAY,
    RECORD_FORMAT,
    record_targets,
    utc_now,
)
from analognas.surrogate._store import RecordStore, failed_path, work_through

if TYPE_CHECKING:
    pass

WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **MALLOC_ENV}
POLL_SECONDS = 1.0


@dataclass
class CollectEvent:
    """What a progress display shows; `done` counts design items recorded or failed."""

    done: int
    total: int
    written: int
    skipped: int
    failed: int
    elapsed: float
    eta: float | None
    last: str | None = None
    current: str | None = None


@dataclass
class CollectResult:
    records: Path
    failed_records: Path
    n: int
    written: int
    skipped: int
    failed: int
    wall_seconds: float
    design: Design
    failures: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"records": str(self.records), "failed_records": str(self.failed_records), "n": self.n,
                "written": self.written, "skipped": self.skipped, "failed": self.failed,
                "wall_seconds": self.wall_seconds, "design": self.design.to_dict(), "failures": self.failures}


@dataclass(frozen=True)
class CollectPlan:
    """Everything a measuring process needs, as plain JSON data."""

    space: dict[str, Any]
    space_fingerprint: str
    dataset: str
    data_dir: str | None
    fidelity: dict[str, Any]
    recipe: str
    recipe_hash: str
    drift: dict[str, Any]
    seed: int
    records: str
    cache_dir: str | None
    retry_failed: bool
    items: list[tuple[str, dict[str, Any]]]
    device: str = "cpu"
    """Resolved torch device of every worker (``resolve_device`` ran in the parent)."""
    design_seed: int = 0
    """Seed of the design (which architectures), independent of the training ``seed``."""
    bins: int | None = None
    """Bins of the design's stratification (part of the design's identity)."""

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CollectPlan:
        data = json.loads(text)
        data["items"] = [tuple(i) for i in data["items"]]
        return cls(**data)


class _Measurer:
    """Builds the torch-side objects once per process and measures items under claims."""

    def __init__(self, plan: CollectPlan) -> None:
        from analognas.analog import DriftEvalConfig, get_recipe
        from analognas.data import load_dataset
        from analognas.training import DATA_SEED, CheckpointStore, Fidelity, package_versions

        self.plan = plan
        self.space = space_from_dict(plan.space)
        if self.space.fingerprint != plan.space_fingerprint:
            raise SurrogateError("the space changed between planning and measuring")
        self.fidelity = Fidelity.from_dict(plan.fidelity)
        self.recipe = get_recipe(plan.recipe)
        if self.recipe.hash() != plan.recipe_hash:
            raise SurrogateError(f"recipe {plan.recipe} changed between planning and measuring")
        self.drift = DriftEvalConfig.from_dict(plan.drift)
        self.dataset = load_dataset(plan.dataset, data_dir=plan.data_dir, train_size=self.fidelity.train_size,
                                    test_size=self.fidelity.test_size, seed=DATA_SEED)
        self.cache = CheckpointStore(plan.cache_dir)
        self.versions = package_versions()
        self.store = RecordStore(plan.records)
        self.failed_store = RecordStore(failed_path(plan.records))
        self.written = self.failed = 0
        self.failures: list[str] = []
        self.last: tuple[str, dict[str, Any]] = ("", {})
        """Status and record (or failure) of the latest measurement (the queue hands it in)."""

    def done_keys(self) -> set[str]:
        keys = self.store.keys()
        if not self.plan.retry_failed:
            keys |= self.failed_store.keys()
        return keys

    def run(self, order: list[int], on_item: Callable[[str], None] | None = None,
            on_step: Callable[[str], None] | None = None) -> None:
        """Measure every item of `order` not yet done; wait for items others are measuring."""
        specs = {k: spec for k, spec in self.plan.items}

        def measure(key: str) -> None:
            label = self._measure(key, ArchSpec.from_dict(specs[key]), on_step)
            if on_item is not None:
                on_item(label)

        work_through(self.store, [self.plan.items[i][0] for i in order], measure, self.done_keys, POLL_SECONDS)

    def _measure(self, key: str, spec: ArchSpec, on_step: Callable[[str], None] | None) -> str:
        from analognas._errors import TrainingDivergedError

        def step(done: int, total: int, desc: str) -> None:
            if on_step is not None:
                on_step(desc)

        t0 = time.perf_counter()
        protocol = MeasureProtocol(self.plan.dataset, self.fidelity, self.recipe, self.drift, self.plan.seed,
                                   self.plan.data_dir, self.plan.device)
        evaluator = PipelineEvaluator(self.space, store=self.cache, dataset=self.dataset, progress=step)
        try:
            measured = evaluator.evaluate(spec, protocol)
        except TrainingDivergedError as exc:
            return self._fail(key, spec, exc, time.perf_counter() - t0)
        if measured.key != key:
            raise SurrogateError(f"{spec.arch_id}: measured under key {measured.key}, planned {key}")
        record = measured.to_dict()
        bad = [t for t in self.drift.times if isinstance(record_targets(record, t), str)]
        if bad:
            return self._fail(key, spec, ValueError(f"non-finite accuracy at {bad[0]:g} s"), record["wall_seconds"])
        self.store.append(record)
        self.written += 1
        self.last = ("measured", record)
        acc = record_targets(record, ONE_DAY)
        return f"{spec.arch_id} ({record['params']:,} params)" + (
            f": {acc['accuracy']:.1f}% at 1 day, AVM {acc['avm']:.1f}" if isinstance(acc, dict) else "")

    def _fail(self, key: str, spec: ArchSpec, exc: Exception, seconds: float) -> str:
        p = self.plan
        failure = {
            "format": RECORD_FORMAT, "key": key, "arch_id": spec.arch_id, "spec": spec.to_dict(),
            "space": {"name": self.space.name, "fingerprint": self.space.fingerprint},
            "dataset": {"name": p.dataset}, "fidelity": p.fidelity, "fidelity_name": p.fidelity["name"],
            "fidelity_hash": self.fidelity.hash(), "recipe_name": p.recipe, "recipe_hash": p.recipe_hash,
            "drift": p.drift, "drift_hash": self.drift.hash(), "seed": p.seed, "error_type": type(exc).__name__,
            "error": str(exc), "wall_seconds": seconds, "versions": self.versions, "timestamp": utc_now(),
        }
        self.failed_store.append(failure)
        self.last = ("failed", failure)
        self.failed += 1
        msg = str(exc)
        self.failures.append(msg if spec.arch_id in msg else f"{spec.arch_id}: {msg}")
        return f"{spec.arch_id} FAILED ({type(exc).__name__})"
