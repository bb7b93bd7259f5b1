"""benchmarks/verify_winners.py end to end on tiny settings: two searches, one paired measurement.

A surrogate fitted on synthetic records of the `tiny` space drives a TPE and a random
search; their top 2, and ResNet32 as the baseline, are really trained (smoke fidelity on
256 images) and drift-evaluated over 2 training seeds x 2 programmings. The checks are on
the bookkeeping: group differences recomputed from the stored programmings, intervals
over training seeds, the resume, and one-line errors.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from analognas.space import load_space
from tests.conftest import load_benchmark

from .test_search_support import fit_and_save, write_records

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def script():
    return load_benchmark("verify_winners")


def _args(tmp: Path, sur: Path) -> list[str]:
    return ["--surrogate", str(sur), "--space", "tiny", "--budget", "6", "--max-params", "20000", "--k", "2",
            "--fidelity", "smoke", "--train-size", "256", "--test-size", "128", "--epochs", "1", "--hwa-epochs", "1",
            "--seeds", "2", "--repeats", "2", "--references", "resnet32", "--cache-dir", str(tmp / "cache"),
            "--runs-dir", str(tmp / "runs"), "--out", str(tmp / "v.json")]


def test_two_searches_measured_against_the_baseline_and_each_other(script, tmp_path: Path, capsys) -> None:
    space = load_space("tiny")
    sur = fit_and_save(write_records(tmp_path / "r.jsonl", space, 30), space, tmp_path / "sur.json")
    assert script.main(_args(tmp_path, sur)) == 0
    out = json.loads((tmp_path / "v.json").read_text())
    text = capsys.readouterr().out
    assert set(out["searches"]) == {"tpe", "random"}
    winners = {s: [w["arch_id"] for w in v["winners"]] for s, v in out["searches"].items()}
    assert all(len(w) == 2 for w in winners.values())
    assert all(w["params"] <= 20000 for v in out["searches"].values() for w in v["winners"])
    distinct = set(winners["tpe"]) | set(winners["random"])
    assert [r["arch"] for r in out["rows"]][-1] == "resnet32" and len(out["rows"]) == len(distinct) + 1
    assert len(out["evaluations"]) == 2 * len(out["rows"]) and out["baseline"] == "resnet32"
    day = out["differences"][0]["modes"]["hwa"]["1 day"]
    assert day["n"] == 4 and day["between_seeds"]["n"] == 2
    # the group difference, recomputed from the stored programmings
    def group_mean(ids: list[str], seed: int) -> float:
        vals = []
        for e in out["evaluations"]:
            if e["arch_id"] in ids and e["seed"] == seed:
                c = e["curves"]["hwa"]
                vals += [r[c["times"].index(86400.0)] for r in c["per_repeat"]]
        return sum(vals) / len(vals)
    g = out["search_minus_random"]["1 day"]
    per_seed = [group_mean(winners["tpe"], s) - group_mean(winners["random"], s) for s in (0, 1)]
    assert g["per_seed"] == pytest.approx(per_seed) and g["mean"] == pytest.approx(sum(per_seed) / 2)
    half = 12.7062 * abs(per_seed[0] - per_seed[1]) / 2
    assert g["between_seeds"]["ci95"] == pytest.approx([g["mean"] - half, g["mean"] + half], abs=1e-3)
    assert "Search top 2 minus random-search top 2" in text and "| resnet32 | reference |" in text
    # a rerun measures nothing new: every network and programming comes from the cache
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*") if p.is_file()}
    assert any(p.parent.name == "drift" for p in stamps)
    assert script.main(_args(tmp_path, sur)) == 0
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*") if p.is_file()} == stamps
    again = json.loads((tmp_path / "v.json").read_text())
    assert all(e["cached"] == {"fp32": True, "hwa": True} for e in again["evaluations"])
    assert math.isclose(again["search_minus_random"]["1 day"]["mean"], g["mean"])


def test_unknown_fidelity_is_one_line_exit_2(script, tmp_path: Path, capsys) -> None:
    assert script.main(["--fidelity", "nope", "--out", str(tmp_path / "v.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown fidelity 'nope'" in err and not (tmp_path / "v.json").exists()
