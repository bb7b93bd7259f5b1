"""The seam between "an architecture" and "a measurement of it": ``Evaluator``.

``Evaluator.evaluate(spec, protocol) -> Record`` is the one way collect, verify and (later)
a multi-fidelity search turn a spec into a record. A ``MeasureProtocol`` says what the
number means (dataset, fidelity, recipe, drift settings, seed, device); a ``Record`` is
the frozen, self-describing result, written to a record store as ``Record.to_dict()``
(the JSON format of ``RECORD_FORMAT``). ``PipelineEvaluator`` measures for real: FP32
training, HWA fine-tuning and PCM drift over independent programmings. A cheaper fidelity
or a predictor plugs in by implementing the same one method.

Torch is imported only when a ``PipelineEvaluator`` measures.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from analognas.space import ArchSpec, SearchSpace, depth
from analognas.surrogate._records import make_record, record_key, record_targets

if TYPE_CHECKING:
    from analognas.analog import DriftEvalConfig, HWARecipe
    from analognas.training import CheckpointStore, Fidelity


@dataclass(frozen=True)
class MeasureProtocol:
    """Everything that decides what a measurement means (and so its record key)."""

    dataset: str
    fidelity: Fidelity
    recipe: HWARecipe
    drift: DriftEvalConfig
    seed: int = 0
    data_dir: str | None = None
    device: str = "cpu"
    """Where to compute; not part of the key (a chip's noise is drawn on the CPU)."""

    def key(self, arch_id: str) -> str:
        return record_key(arch_id, self.fidelity.hash(), self.recipe.hash(), self.drift.hash(), self.seed)


@dataclass(frozen=True)
class Record:
    """One measured architecture (read-only). ``data`` holds the record's JSON fields."""

    key: str
    arch_id: str
    data: MappingProxyType = field(repr=False)  # type: ignore[type-arg]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        return cls(str(data["key"]), str(data["arch_id"]), MappingProxyType(dict(data)))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object a record store holds (a fresh, mutable copy)."""
        return dict(self.data)

    def __getitem__(self, name: str) -> Any:
        return self.data[name]

    @property
    def fp32_accuracy(self) -> float:
        return float(self.data["fp32_accuracy"])

    @property
    def predicted(self) -> bool:
        """True for a prediction (a ``SurrogateEvaluator``'s record), False for a measurement."""
        return "predicted" in self.data

    def targets(self, drift_time: float) -> dict[str, tuple[float, float]]:
        """``{target: (value, std)}`` at ``drift_time``, whatever made the record: a
        prediction's mean and predictive std, or a measurement's mean over programmings
        (accuracy with its spread over programmings; AVM and spread as measured, std 0).
        The search ranks either kind the same way; this is where a real or cheaper fidelity
        plugs into it. Raises ``ValueError`` when the record cannot say."""
        if self.predicted:
            pred = self.data["predicted"]
            if not math.isclose(float(self.data["drift_time"]), drift_time, rel_tol=1e-9):
                raise ValueError(f"prediction is for {self.data['drift_time']:g} s, not {drift_time:g} s")
            return {t: (float(m), float(s)) for t, (m, s) in pred.items()}
        values = record_targets(self.to_dict(), drift_time)
        if isinstance(values, str):
            raise ValueError(values)
        return {
            "accuracy": (values["accuracy"], values["spread"]),
            "avm": (values["avm"], 0.0),
            "spread": (values["spread"], 0.0),
        }


@runtime_checkable
class Evaluator(Protocol):
    """Anything that turns a spec into a record under a protocol."""

    def evaluate(self, spec: ArchSpec, protocol: MeasureProtocol) -> Record: ...


def evaluate_many(evaluator: Evaluator, specs: Sequence[ArchSpec], protocol: MeasureProtocol | None) -> list[Record]:
    """Records of several specs: one batched call where the evaluator has ``evaluate_many``
    (a surrogate predicts a batch in one matrix product), else one ``evaluate`` per spec."""
    batch = getattr(evaluator, "evaluate_many", None)
    if batch is not None:
        return list(batch(list(specs), protocol))
    if protocol is None:
        raise ValueError(f"{type(evaluator).__name__} measures, so it needs a MeasureProtocol")
    return [evaluator.evaluate(s, protocol) for s in specs]


class PipelineEvaluator:
    """Measures for real: trains what the checkpoint cache lacks (FP32, then HWA), then
    drift-evaluates the HWA network over the protocol's programmings."""

    def __init__(
        self,
        space: SearchSpace,
        *,
        store: CheckpointStore | None = None,
        dataset: Any = None,
        progress: Any = None,
        probe: bool = True,
    ) -> None:
        self.space = space
        self.probe = probe
        """Record the weight-noise probe of the FP32 network (seconds) with every record."""
        self.store = store
        self.dataset = dataset
        """A loaded ``Dataset`` to reuse across evaluations (None: load per protocol)."""
        self.progress = progress
        from analognas.training import package_versions

        self.versions = package_versions()

    def evaluate(self, spec: ArchSpec, protocol: MeasureProtocol) -> Record:
        from analognas.training import evaluate_architecture

        t0 = time.perf_counter()
        ev = evaluate_architecture(
            spec,
            dataset=self.dataset if self.dataset is not None else protocol.dataset,
            data_dir=protocol.data_dir,
            fidelity=protocol.fidelity,
            recipe=protocol.recipe,
            drift=protocol.drift,
            modes=("hwa",),
            seed=protocol.seed,
            store=self.store,
            progress=self.progress,
            device=protocol.device,
            probe=self.probe,
        )
        data = make_record(
            ev.to_dict(),
            key=protocol.key(spec.arch_id),
            space=self.space,
            drift_hash=protocol.drift.hash(),
            depth=depth(spec),
            wall_seconds=time.perf_counter() - t0,
            versions=self.versions,
        )
        return Record.from_dict(data)
