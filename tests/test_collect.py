"""`analognas collect` end to end: real HWA training and PCM drift evaluation, tiny settings.

The `tiny` space at the `smoke` fidelity with 256 training and 128 test images trains in
about a second per architecture; the accuracies are near chance, which is fine: these
tests check the collection machinery (records, resume, kills, failures), not accuracy.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from analognas.analog import PROBE_ETA
from analognas.cli import app
from analognas.space import ArchSpec, load_space
from analognas.surrogate import RecordStore, design_architectures

from .conftest import REPO
from .test_surrogate_cli import assert_one_line_error

runner = CliRunner()

pytestmark = pytest.mark.slow

SMALL = ("--space", str(REPO / "search_spaces" / "tiny.toml"), "--fidelity", "smoke", "--train-size", "256",
         "--test-size", "128", "--repeats", "2")


def collect(tmp: Path, *extra: str, n: int = 3, records: str = "r.jsonl"):
    return runner.invoke(app, ["collect", *SMALL, "--n", str(n), "--records", str(tmp / records),
                               "--cache-dir", str(tmp / "cache"), "--json", *extra])


def test_collect_records_resumes_and_refuses_a_tiny_fit(tmp_path: Path) -> None:
    res = collect(tmp_path)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert (summary["written"], summary["skipped"], summary["failed"], summary["n"]) == (3, 0, 0, 3)
    assert summary["wall_seconds"] > 0
    lines = (tmp_path / "r.jsonl").read_bytes().splitlines()
    recs = [json.loads(line) for line in lines]
    space = load_space("tiny")
    design = design_architectures(space, 3, seed=0)
    assert [r["arch_id"] for r in recs] == [s.arch_id for s in design.specs]
    for r in recs:
        assert ArchSpec.from_dict(r["spec"]).arch_id == r["arch_id"]
        assert r["space"] == {"name": "tiny", "fingerprint": space.fingerprint}
        assert r["fidelity_name"] == "smoke+custom" and r["fidelity"]["train_size"] == 256
        assert r["fidelity_hash"] and r["recipe_name"] == "hwa-v2" and r["recipe_hash"] and r["drift_hash"]
        assert r["dataset"]["name"] == "fashion-mnist" and r["dataset"]["test_size"] == 128
        assert r["accuracy"]["times"] == [1.0, 86400.0, 2592000.0]  # no 1 h at protocol v2
        assert len(r["accuracy"]["per_repeat"]) == 2 and len(r["accuracy"]["std"]) == 3
        assert r["avm"] == r["accuracy"]["mean"][0] - r["accuracy"]["mean"][2]
        assert 0 <= r["fp32_accuracy"] <= 100 and 0 <= r["hwa_accuracy"] <= 100
        assert r["params"] > 0 and r["macs"] > 0 and r["tiles"] > 0 and r["depth"] >= 4
        assert r["wall_seconds"] > 0 and r["versions"]["torch"] and r["timestamp"].endswith("Z")
        assert r["drift"]["repeats"] == 2 and r["seed"] == 0
        # the cheap robustness probe of the FP32 network rides along with every record
        probe = r["probe"]
        assert probe["eta"] == PROBE_ETA and probe["images"] == 256 and probe["draws"] >= 1
        assert np.isfinite(probe["loss_increase"]) and probe["seconds"] > 0

    again = collect(tmp_path)  # nothing left to do
    assert again.exit_code == 0, again.output
    assert (json.loads(again.stdout)["written"], json.loads(again.stdout)["skipped"]) == (0, 3)

    with open(tmp_path / "r.jsonl", "ab") as fh:  # as if a writer had been killed mid-line
        fh.write(b'{"key": "half a rec')
    third = collect(tmp_path)
    assert third.exit_code == 0 and json.loads(third.stdout)["written"] == 0
    got = RecordStore(tmp_path / "r.jsonl").read()
    assert len(got.records) == 3 and len(got.bad_lines) == 1

    assert_one_line_error(
        runner.invoke(app, ["surrogate", "fit", "--records", str(tmp_path / "r.jsonl"), "--out",
                            str(tmp_path / "s")]), "only 3 architecture")
    assert not (tmp_path / "s.json").exists()


def test_a_second_training_seed_measures_the_same_design(tmp_path: Path) -> None:
    from analognas.surrogate._repeatability import seed_agreement

    first, second = collect(tmp_path, n=3), collect(tmp_path, "--seed", "1", n=3)
    assert first.exit_code == 0 and second.exit_code == 0, second.output
    recs = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    by_seed = {s: [r["arch_id"] for r in recs if r["seed"] == s] for s in (0, 1)}
    assert by_seed[0] == by_seed[1] and len(by_seed[0]) == 3  # same architectures, second seed
    assert len({r["key"] for r in recs}) == 6 and {r["drift"]["seed"] for r in recs if r["seed"] == 1} == {1}
    assert seed_agreement(recs, 86400.0)["accuracy"]["n"] == 3
    # a fit reads both seeds as one cohort although their chips (drift seeds) differ
    from analognas.surrogate import load_records

    rs = load_records([tmp_path / "r.jsonl"], drift_time=86400.0)
    assert len(rs.records) == 6 and not rs.dropped
    assert seed_agreement(rs.records, 86400.0)["accuracy"]["seeds"] == [0, 1]
    other = collect(tmp_path, "--design-seed", "5", n=3, records="other.jsonl")
    assert other.exit_code == 0 and json.loads(other.stdout)["design"]["seed"] == 5


def test_diverging_training_is_recorded_as_failed(tmp_path: Path) -> None:
    res = collect(tmp_path, "--lr", "1e12", n=2)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert (summary["written"], summary["failed"]) == (0, 2)
    assert "warning: 2 architecture(s) failed" in res.stderr
    failed = [json.loads(line) for line in (tmp_path / "r.failed.jsonl").read_text().splitlines()]
    assert {f["error_type"] for f in failed} == {"TrainingDivergedError"} and all("nan" in f["error"] for f in failed)
    assert not (tmp_path / "r.jsonl").exists()
    again = json.loads(collect(tmp_path, "--lr", "1e12", n=2).stdout)
    assert (again["skipped"], again["failed"]) == (2, 0)  # divergence is deterministic: not retried
    retry = json.loads(collect(tmp_path, "--lr", "1e12", "--retry-failed", n=2).stdout)
    assert retry["failed"] == 2


def test_killed_collection_loses_nothing(tmp_path: Path) -> None:
    args = ["collect", *SMALL, "--n", "2", "--records", str(tmp_path / "r.jsonl"), "--cache-dir",
            str(tmp_path / "cache"), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", "from analognas.cli import main; main()", *args], cwd=REPO,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store = RecordStore(tmp_path / "r.jsonl")
    deadline = time.monotonic() + 120
    while not store.read().records and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = store.read().records
    assert 1 <= len(before) <= 2, proc.stderr.read().decode() if proc.stderr else ""
    res = collect(tmp_path, n=2)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["skipped"] == len(before) and summary["written"] == 2 - len(before)
    after = store.read()
    assert after.bad_lines == [] and len({r["key"] for r in after.records}) == 2 == len(after.records)
    assert after.records[: len(before)] == before  # nothing rewritten


def test_worker_processes_share_the_design(tmp_path: Path) -> None:
    res = collect(tmp_path, "--workers", "2", n=2)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert (summary["written"], summary["skipped"], summary["failed"]) == (2, 0, 0)
    got = RecordStore(tmp_path / "r.jsonl").read()
    assert got.bad_lines == [] and len({r["key"] for r in got.records}) == 2 == len(got.records)
    assert not list(tmp_path.glob(".r.jsonl.run-*"))  # the workers' plan and logs are cleaned up


def test_pipeline_evaluator_is_the_evaluator_collect_uses(tmp_path: Path) -> None:
    """The Evaluator seam: a spec and a protocol in, a frozen record out, keyed like collect's."""
    from analognas.analog import DriftEvalConfig, get_recipe
    from analognas.space import load_space
    from analognas.surrogate import Evaluator, MeasureProtocol, PipelineEvaluator, Record, record_key
    from analognas.training import CheckpointStore, get_fidelity
    from analognas.training._pipeline import with_avm_times

    space = load_space("tiny")
    (spec,) = space.sample(np.random.default_rng(0))
    fid = get_fidelity("smoke").with_overrides(train_size=64, test_size=32)
    drift = with_avm_times(DriftEvalConfig(repeats=1))
    protocol = MeasureProtocol("fashion-mnist", fid, get_recipe("hwa-v2"), drift, seed=0)
    evaluator = PipelineEvaluator(space, store=CheckpointStore(tmp_path))
    assert isinstance(evaluator, Evaluator)
    rec = evaluator.evaluate(spec, protocol)
    assert isinstance(rec, Record) and rec.arch_id == spec.arch_id
    assert rec.key == record_key(spec.arch_id, fid.hash(), get_recipe("hwa-v2").hash(), drift.hash(), 0)
    d = rec.to_dict()
    assert d["recipe_hash"] == get_recipe("hwa-v2").hash() and d["accuracy"]["times"] == list(drift.times)
    with pytest.raises(TypeError):
        rec.data["key"] = "other"  # type: ignore[index]
    assert Record.from_dict(d) == rec


def test_v2_records_never_join_a_v1_record_file(tmp_path: Path) -> None:
    """A v1 record file refuses v2 measurements (one line, exit 2, file unchanged)."""
    records = tmp_path / "r.jsonl"
    first = runner.invoke(app, ["collect", *SMALL, "--n", "1", "--recipe", "hwa-v1", "--records", str(records),
                                "--cache-dir", str(tmp_path / "c"), "-q"])
    assert first.exit_code == 0, first.output
    before = records.read_bytes()
    res = runner.invoke(app, ["collect", *SMALL, "--n", "1", "--recipe", "hwa-v2", "--records", str(records),
                              "--cache-dir", str(tmp_path / "c"), "-q"])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 2 and len(lines) == 1 and "holds protocol-v1 records" in lines[0], res.output
    assert records.read_bytes() == before


def test_collection_reads_many_chips_on_test_subsets_where_the_fidelity_subsamples() -> None:
    """By default a fidelity reading a test subset (quick: 5,000 images) reads 40 chips of
    1,000 images each, the cost of 8 whole-set chips; one reading the whole test set
    (standard) reads 8 chips of all of it. ``--repeats`` alone reads the whole set, as
    collections did before, so the committed v1 and agreement records keep their keys."""
    from analognas.surrogate import plan_collection
    from analognas.surrogate._reading import resolve_reading
    from analognas.training import get_fidelity

    quick, standard = get_fidelity("quick"), get_fidelity("standard")
    assert resolve_reading(quick, None, None) == (40, 1000) and resolve_reading(standard, None, None) == (8, None)
    assert resolve_reading(quick, 12, None) == (12, None) and resolve_reading(quick, None, 500) == (8, 500)
    assert resolve_reading(quick, 10, 0) == (10, None) and resolve_reading(quick, 10, 5000) == (10, None)
    assert resolve_reading(get_fidelity("low"), None, None) == (8, None)  # 1,000 test images: whole
    space = load_space("resnet_like")
    for fid, extra, path in (
        (get_fidelity("low"), {}, "resnet_like-fashion-mnist-low.jsonl"),
        (get_fidelity("medium").with_overrides(train_size=6000, epochs=5, test_size=2000), {},
         "resnet_like-fashion-mnist-agreement.jsonl"),
    ):
        plan, _ = plan_collection(space, n=2, fidelity=fid, recipe="hwa-v1", repeats=3, **extra)
        assert "images_per_chip" not in plan.drift and plan.drift["repeats"] == 3
        have = {json.loads(line)["key"] for line in (REPO / "surrogates/records" / path).read_text().splitlines()
                if line.strip()}
        assert {k for k, _ in plan.items} <= have  # the design's first points, already measured


def test_v2_collections_measure_1s_1d_1mo_and_add_the_times_asked_for(tmp_path: Path) -> None:
    """Protocol v2 records hold what the targets read (1 s and 1 month for AVM, 1 day);
    ``--drift`` adds times and so makes another cohort; v1 keeps its four times (1 h
    included) so that its committed records keep their keys (the test above)."""
    from analognas.surrogate import plan_collection
    from analognas.training import get_fidelity

    space, smoke = load_space("tiny"), get_fidelity("smoke")
    v2, _ = plan_collection(space, n=1, fidelity=smoke)
    assert v2.drift["times"] == [1.0, 86400.0, 2592000.0]
    more, _ = plan_collection(space, n=1, fidelity=smoke, drift_times=[3600.0, 31_536_000.0, 86400.0])
    assert more.drift["times"] == [1.0, 3600.0, 86400.0, 2592000.0, 31536000.0]
    assert more.items[0][0] != v2.items[0][0]  # other drift settings, other key
    v1, _ = plan_collection(space, n=1, fidelity=smoke, recipe="hwa-v1")
    assert v1.drift["times"] == [1.0, 3600.0, 86400.0, 2592000.0]

    res = collect(tmp_path, "--drift", "1h", "--drift", "0", n=1)
    assert_one_line_error(res, "drift time must be a finite number of seconds > 0")
    assert not (tmp_path / "r.jsonl").exists() and not (tmp_path / "cache").exists()


def test_a_collection_of_other_conditions_is_refused_by_a_one_cohort_file(tmp_path: Path) -> None:
    """Appending records of other drift settings (here 4 chips, not 3) to a file would give
    a fit two cohorts it cannot tell apart: one line, exit 2, the file untouched."""
    records = tmp_path / "low.jsonl"
    records.write_bytes((REPO / "surrogates/records/resnet_like-fashion-mnist-low.jsonl").read_bytes())
    before = records.read_bytes()
    res = runner.invoke(app, ["collect", "--space", "resnet_like", "--n", "1", "--fidelity", "low", "--recipe",
                              "hwa-v1", "--repeats", "4", "--records", str(records), "--cache-dir",
                              str(tmp_path / "c")])
    assert_one_line_error(res, "holds records measured with drift settings repeats 3 (not 4)")
    assert records.read_bytes() == before and not (tmp_path / "c").exists()
    same = runner.invoke(app, ["collect", "--space", "resnet_like", "--n", "2", "--fidelity", "low", "--recipe",
                               "hwa-v1", "--repeats", "3", "--records", str(records), "--json"])
    assert same.exit_code == 0 and json.loads(same.stdout)["skipped"] == 2  # the same cohort resumes
