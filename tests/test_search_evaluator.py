"""The search scores trials through the Evaluator seam: a surrogate's predictions and a
real measurement are both records, and the search ranks ``Record.targets`` of either."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analognas.search import parse_objectives
from analognas.search._trial_eval import _BatchScorer
from analognas.space import load_space
from analognas.surrogate import (
    PREDICTION_FORMAT,
    Evaluator,
    MeasureProtocol,
    Record,
    SurrogateError,
    SurrogateEvaluator,
    load_surrogate,
)

DAY = 86_400.0


def test_surrogate_records_are_predictions_with_the_surrogates_numbers(resnet_surrogate: Path) -> None:
    sur = load_surrogate(resnet_surrogate)
    space = load_space("resnet_like")
    specs = space.sample(np.random.default_rng(1), 5)
    ev = SurrogateEvaluator(sur, identity="abc")
    assert isinstance(ev, Evaluator)
    records = ev.evaluate_many(specs)
    pred = sur.predict(specs)
    for i, (spec, rec) in enumerate(zip(specs, records)):
        assert rec.predicted and rec["format"] == PREDICTION_FORMAT and rec.key == f"{spec.arch_id}@abc"
        got = rec.targets(sur.drift_time)
        assert set(got) == set(sur.targets)
        for t in sur.targets:
            assert got[t] == pytest.approx((pred[t].mean[i], pred[t].std[i]))
    one = ev.evaluate(specs[0]).targets(sur.drift_time)
    for t, (m, sd) in records[0].targets(sur.drift_time).items():
        assert one[t] == pytest.approx((m, sd), rel=1e-9)
    with pytest.raises(ValueError, match="prediction is for"):
        records[0].targets(sur.drift_time * 30)


def test_a_surrogate_refuses_a_protocol_at_another_drift_time(resnet_surrogate: Path) -> None:
    from analognas.analog import DriftEvalConfig, get_recipe
    from analognas.training import get_fidelity

    sur = load_surrogate(resnet_surrogate)
    spec = load_space("resnet_like").sample(np.random.default_rng(0))[0]
    other = MeasureProtocol("fashion-mnist", get_fidelity("low"), get_recipe("hwa-v1"),
                            DriftEvalConfig(times=(sur.drift_time * 30,), repeats=1))
    with pytest.raises(SurrogateError, match="predicts accuracy"):
        SurrogateEvaluator(sur).evaluate(spec, other)


class _Failing:
    """A real evaluator wrapper that cannot measure one architecture."""

    def __init__(self, inner: Any, bad: str) -> None:
        self.inner, self.bad = inner, bad

    def evaluate(self, spec: Any, protocol: MeasureProtocol) -> Record:
        if spec.arch_id == self.bad:
            raise RuntimeError(f"cannot measure {spec.arch_id}")
        return self.inner.evaluate(spec, protocol)


@pytest.mark.slow
def test_the_search_scorer_ranks_real_measurements(tmp_path: Path) -> None:
    """A PipelineEvaluator (real training and drift at smoke size) behind the scorer: its
    values are the measured 1-day mean and spread, and a spec that fails to measure fails
    alone."""
    from analognas.analog import DriftEvalConfig, get_recipe
    from analognas.surrogate import PipelineEvaluator
    from analognas.training import CheckpointStore, get_fidelity
    from analognas.training._pipeline import with_avm_times

    space = load_space("tiny")
    specs = space.sample(np.random.default_rng(0), 2)
    fid = get_fidelity("smoke").with_overrides(train_size=64, test_size=32)
    protocol = MeasureProtocol("fashion-mnist", fid, get_recipe("hwa-v2"),
                               with_avm_times(DriftEvalConfig(repeats=2)), seed=0)
    pipeline = PipelineEvaluator(space, store=CheckpointStore(tmp_path))
    objectives = parse_objectives("accuracy,avm,params")
    scorer = _BatchScorer(space, space.constraints, objectives, pipeline, DAY, protocol)
    scored = scorer.predict(specs)
    for spec, got in zip(specs, scored):
        assert isinstance(got, dict), got
        rec = pipeline.evaluate(spec, protocol)  # the record the scorer read (stored checkpoints and chips)
        i = rec["accuracy"]["times"].index(DAY)
        assert got["accuracy"] == pytest.approx((rec["accuracy"]["mean"][i], rec["accuracy"]["std"][i]))
        assert got["avm"][0] == pytest.approx(rec["avm"])
        assert scorer.values(got, type("C", (), {"params": rec["params"]})())[2] == rec["params"]
    failing = _BatchScorer(space, space.constraints, objectives, _Failing(pipeline, specs[0].arch_id), DAY, protocol)
    first, second = failing.predict(specs)
    assert isinstance(first, str) and "cannot measure" in first
    assert second == scored[1]
