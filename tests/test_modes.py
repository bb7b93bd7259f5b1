"""`--modes`: measure only HWA or only direct mapping (direct needs no HWA fine-tuning)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analognas.cli import app
from analognas.space import ArchSpec, StageSpec

A = ArchSpec(8, 3, (StageSpec(8, 1),), name="a")
B = ArchSpec(8, 3, (StageSpec(8, 1), StageSpec(16, 1, 2, "bottleneck")), name="b")
TINY = ["--fidelity", "smoke", "--train-size", "200", "--test-size", "100", "--repeats", "2"]
runner = CliRunner()


@pytest.mark.slow
def test_compare_direct_only_trains_no_hwa_and_pairs_direct_at_every_time(tmp_path: Path) -> None:
    out = tmp_path / "cmp.html"
    res = runner.invoke(app, ["compare", A.to_json(), B.to_json(), "--modes", "direct", "--cache-dir",
                              str(tmp_path / "c"), "--out", str(out), *TINY, "-q"])
    assert res.exit_code == 0, res.output
    assert "a - b" in res.stdout and "direct" in res.stdout
    data = json.loads(out.with_suffix(".json").read_text())
    row = data["rows"][0]
    assert not [k for k in row if k.startswith("hwa")] and row["avm"] is None
    assert {k for k in row if k.startswith("direct ") and k != "direct avm"} == {
        "direct 1 s", "direct 1 h", "direct 1 day", "direct 1 month"}
    (diff,) = data["differences"]
    assert set(diff["modes"]) == {"direct"} and set(diff["modes"]["direct"]) == {"1 s", "1 h", "1 day", "1 month"}
    assert not list((tmp_path / "c").rglob("hwa-*.pt"))  # nothing fine-tuned


def test_evaluate_hwa_only_and_bad_modes(tmp_path: Path) -> None:
    res = runner.invoke(app, ["evaluate", A.to_json(), "--modes", "hwa", "--cache-dir", str(tmp_path), *TINY,
                              "--json", "-q"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data["modes"]) == {"fp32", "hwa"} and set(data["avm"]) == {"hwa"}
    table = runner.invoke(app, ["evaluate", A.to_json(), "--modes", "hwa", "--cache-dir", str(tmp_path), *TINY])
    assert table.exit_code == 0 and "HWA" in table.stdout and "direct" not in table.stdout
    for bad in ("fp32", "", "hwa,analog"):
        res = runner.invoke(app, ["evaluate", A.to_json(), "--modes", bad, "--cache-dir", str(tmp_path), *TINY])
        assert res.exit_code == 2 and "--modes takes hwa, direct" in res.output, res.output
