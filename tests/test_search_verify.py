"""`--verify`: the top candidates trained for real, compared with the surrogate, recorded.

Small on purpose: the `tiny` space, a smoke protocol on 128/64 images with 2 simulated
chips, K = 1. The surrogate is fitted here on records that carry that protocol's real
fidelity, recipe and drift hashes, so the measurement must join its records cohort.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analognas.cli import app
from tests.test_search_support import fit_and_save, verify_protocol, write_records

runner = CliRunner()


@pytest.fixture()
def tiny_sur(tmp_path: Path) -> tuple[Path, Path]:
    pytest.importorskip("aihwkit")
    from analognas.space import load_space

    space = load_space("tiny")
    fid, recipe, drift = verify_protocol()
    records = write_records(
        tmp_path / "records" / "tiny-fashion-mnist-smoke.jsonl",
        space,
        30,
        seed=5,
        fidelity=fid,
        recipe=recipe,
        drift=drift,
    )
    return fit_and_save(records, space, tmp_path / "tiny.json"), records


@pytest.mark.slow
def test_verify_trains_the_best_appends_a_record_and_refit_learns_it(
    tmp_path: Path, tiny_sur: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from analognas.surrogate import load_records, load_surrogate

    sur_path, records = tiny_sur
    monkeypatch.chdir(tmp_path)
    lines_before = records.read_text().count("\n")
    res = runner.invoke(
        app,
        [
            "search",
            "--space",
            "tiny",
            "--surrogate",
            str(sur_path),
            "--budget",
            "12",
            "--name",
            "v",
            "--verify",
            "1",
            "--verify-fidelity",
            "smoke",
            "--verify-train-size",
            "128",
            "--verify-test-size",
            "64",
            "--seed",
            "3",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.stderr
    out = json.loads(res.stdout)
    (item,) = out["verified"]
    assert item["arch_id"] == out["best"]["arch_id"]
    acc = item["measured"]["accuracy"]
    assert 0.0 <= acc["mean"] <= 100.0 and acc["std"] >= 0.0 and item["measured"]["avm"]["mean"] is not None
    assert item["predicted"]["accuracy"] == out["best"]["predicted"]["accuracy"]
    assert out["records_appended"] == str(records)  # the surrogate's own records file: same cohort
    assert out["verify_notes"] == []
    assert records.read_text().count("\n") == lines_before + 1
    last = json.loads(records.read_text().splitlines()[-1])
    assert last["key"] == item["record_key"] and last["arch_id"] == item["arch_id"]
    # collect's rule, whatever chips the surrogate's records were programmed on: seed s on chips s
    assert last["seed"] == 3 and last["drift"]["seed"] == 3
    assert len(load_records([records]).records) == 31  # it is a valid record of the same cohort
    verified = json.loads((tmp_path / "runs/v/verified.json").read_text())
    assert [v["record_key"] for v in verified["items"]] == [item["record_key"]]

    # --refit: the next search uses a surrogate that has learned the new measurement
    old_hash = hashlib.sha256(sur_path.read_bytes()).hexdigest()[:16]
    res = runner.invoke(
        app,
        [
            "search",
            "--space",
            "tiny",
            "--surrogate",
            str(sur_path),
            "--budget",
            "6",
            "--name",
            "v2",
            "--refit",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.stderr
    # the refit lands beside the original, which stays byte for byte what it was
    assert hashlib.sha256(sur_path.read_bytes()).hexdigest()[:16] == old_hash
    refit = sur_path.with_name(f"{sur_path.stem}-refit.json")
    new = load_surrogate(refit)
    assert new.n_records == 31 and item["arch_id"] in new.meta["arch_ids"]
    info = json.loads((tmp_path / "runs/v2/run.json").read_text())
    assert info["surrogate"]["path"] == str(refit)
    assert info["surrogate"]["hash"] == hashlib.sha256(refit.read_bytes()).hexdigest()[:16] != old_hash


def test_verify_reports_the_record_a_refit_keeps_instead_of_measuring_again(
    tmp_path: Path, tiny_sur: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refit keeps an architecture's first record per training seed, so a winner already
    measured with that seed on other chips (an older verify programmed every seed on chip
    seed 0) is reported from that record: nothing is trained, nothing appended, and
    verified.json names the record the refit learns from."""
    from analognas.search import verify_run
    from analognas.search._load import load_run
    from analognas.search._verify import top_candidates
    from analognas.surrogate import RecordStore, load_records, record_key

    sur_path, records = tiny_sur
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["search", "--space", "tiny", "--surrogate", str(sur_path), "--budget", "12",
                              "--name", "w", "--seed", "3", "--json"])
    assert res.exit_code == 0, res.stderr
    (best,) = top_candidates(load_run("w", tmp_path / "runs"), 1)
    fid, recipe, drift = verify_protocol()  # chip seed 0, as the older verify used
    planted = json.loads(records.read_text().splitlines()[0])
    key = record_key(best.arch_id, fid.hash(), recipe.hash(), drift.hash(), 3)
    planted.update(key=key, arch_id=best.arch_id, spec=best.spec.to_dict(include_name=False), seed=3)
    from analognas.search._verify import earlier_records
    from analognas.surrogate import Cohort

    broken = {k: v for k, v in planted.items() if k != "spec"}  # a line load_records rejects
    RecordStore(records).append(broken)
    assert earlier_records([records], Cohort.of(planted), 3, 86400.0) == {}  # never reported as measured
    RecordStore(records).append(planted)
    lines_before = records.read_text().count("\n")

    def no_training(*a, **k):
        raise AssertionError("measured again")

    monkeypatch.setattr("analognas.surrogate.PipelineEvaluator.evaluate", no_training)
    out = verify_run("w", k=1, fidelity=fid, seed=3, runs_dir=tmp_path / "runs")
    (item,) = out.items
    assert item.record_key == key and item.cached and out.appended == 0
    assert records.read_text().count("\n") == lines_before
    assert any(f"measured before as record {key} (chip seed 0)" in n for n in out.notes)
    assert item.measured_accuracy[0] == pytest.approx(planted["accuracy"]["mean"][2])
    verified = json.loads((tmp_path / "runs/w/verified.json").read_text())
    assert [v["record_key"] for v in verified["items"]] == [key]
    assert key in {r["key"] for r in load_records([records]).records}  # the one the refit keeps
