"""Drift measurements are kept per programming beside the checkpoints: a longer or
interrupted evaluation measures only the chips it lacks, and a stored chip is exactly the
chip a fresh run measures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analognas.cli import app
from analognas.space import ArchSpec, StageSpec

SMALL = ArchSpec(8, 3, (StageSpec(8, 1), StageSpec(16, 1, 2, "bottleneck")), name="small")
TINY = ["--fidelity", "smoke", "--train-size", "300", "--test-size", "100"]
runner = CliRunner()


def _evaluate(cache: Path, repeats: int) -> dict:
    res = runner.invoke(app, ["evaluate", SMALL.to_json(), "--cache-dir", str(cache), *TINY,
                              "--repeats", str(repeats), "--json", "-q"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def _rows(cache: Path, mode: str) -> dict[str, list[float]]:
    (path,) = (cache / "fashion-mnist" / SMALL.arch_id / "drift").glob(f"{mode}-*.json")
    return json.loads(path.read_text())["rows"]


@pytest.mark.slow
def test_more_programmings_reuse_the_stored_ones_and_match_a_fresh_run(tmp_path: Path) -> None:
    cache, fresh = tmp_path / "cache", tmp_path / "fresh"
    _evaluate(cache, 2)
    two = {m: _rows(cache, m) for m in ("hwa", "direct")}
    assert all(set(r) == {"0", "1"} for r in two.values())
    three = _evaluate(cache, 3)
    for mode in ("hwa", "direct"):
        rows = _rows(cache, mode)
        assert set(rows) == {"0", "1", "2"} and {k: rows[k] for k in ("0", "1")} == two[mode]
    from_scratch = _evaluate(fresh, 3)  # same checkpoints retrained from the same seed
    assert {m: _rows(fresh, m) for m in ("hwa", "direct")} == {m: _rows(cache, m) for m in ("hwa", "direct")}
    assert from_scratch["modes"] == three["modes"]


@pytest.mark.slow
def test_a_stored_chip_is_read_back_not_measured_again(tmp_path: Path) -> None:
    _evaluate(tmp_path, 2)
    (path,) = (tmp_path / "fashion-mnist" / SMALL.arch_id / "drift").glob("hwa-*.json")
    doc = json.loads(path.read_text())
    doc["rows"]["0"] = [42.0] * len(doc["rows"]["0"])
    path.write_text(json.dumps(doc))
    again = _evaluate(tmp_path, 2)
    one_day = again["modes"]["hwa"]["86400"]["mean"]
    assert one_day == (42.0 + doc["rows"]["1"][doc["identity"]["drift"]["times"].index(86400.0)]) / 2


@pytest.mark.slow
def test_a_torn_or_foreign_row_file_is_measured_again(tmp_path: Path) -> None:
    first = _evaluate(tmp_path, 2)
    (path,) = (tmp_path / "fashion-mnist" / SMALL.arch_id / "drift").glob("hwa-*.json")
    path.write_text('{"format": "analognas.drift-rows/1", "rows": {"0": [')
    again = _evaluate(tmp_path, 2)
    assert again["modes"]["hwa"] == first["modes"]["hwa"]
    assert json.loads(path.read_text())["identity"]["mode"] == "hwa"


def test_two_writers_share_their_chips(tmp_path: Path) -> None:
    """Rows written by another process after this one opened the file are seen before a
    chip is measured and kept when this one writes."""
    from analognas.training._drift_cache import DriftRows

    identity = {"mode": "hwa", "drift": {"times": [1.0, 3600.0]}}
    path = tmp_path / "rows.json"
    a, b = DriftRows(path, identity), DriftRows(path, identity)
    a.put(0, (90.0, 89.0))
    assert b.get(0) == (90.0, 89.0)
    b.put(1, (91.0, 88.0))
    a.put(2, (92.0, 87.0))
    assert DriftRows(path, identity).rows == {0: (90.0, 89.0), 1: (91.0, 88.0), 2: (92.0, 87.0)}
    assert DriftRows(path, {**identity, "mode": "direct"}).rows == {}  # another identity: nothing shared


def test_rows_of_other_weights_or_damaged_rows_are_not_served(tmp_path: Path) -> None:
    """Rows carry the SHA-256 of the weights they were measured on: a checkpoint retrained
    under the same name gets no rows of the old one; a damaged row is dropped, not raised."""
    from analognas.training._drift_cache import DriftRows

    identity = {"mode": "hwa", "drift": {"times": [1.0, 3600.0]}}
    weights, path = tmp_path / "w.pt", tmp_path / "rows.json"
    weights.write_bytes(b"first weights")
    DriftRows(path, identity, weights).put(0, (90.0, 89.0))
    assert DriftRows(path, identity, weights).get(0) == (90.0, 89.0)
    weights.write_bytes(b"retrained weights")
    fresh = DriftRows(path, identity, weights)
    assert fresh.get(0) is None
    fresh.put(1, (80.0, 79.0))
    assert DriftRows(path, identity, weights).rows == {1: (80.0, 79.0)}
    doc = json.loads(path.read_text())
    doc["rows"].update({"2": ["x", 1.0], "3": None, "4": [1.0], "5": [70.0, 69.0]})
    path.write_text(json.dumps(doc))
    assert DriftRows(path, identity, weights).rows == {1: (80.0, 79.0), 5: (70.0, 69.0)}
    doc["rows"] = "not rows"
    path.write_text(json.dumps(doc))
    assert DriftRows(path, identity, weights).rows == {}
