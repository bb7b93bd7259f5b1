"""`analognas surrogate fit|show|report|agreement` as a user meets them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analognas.cli import app

from .test_surrogate_fit import make_records, write_records

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(res, *needles: str) -> None:
    assert res.exit_code == 2, res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in res.output
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.fixture()
def records(tmp_path: Path) -> Path:
    return write_records(tmp_path / "r.jsonl", make_records("tiny", 30))


def test_fit_show_report(records: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = run("surrogate", "fit", "--records", records, "--out", "surrogates/t", "--folds", "3",
              "--models", "extra_trees", "--quiet", "--json")
    assert res.exit_code == 0, res.output
    fit_summary = json.loads(res.stdout)
    assert Path("surrogates/t.json").is_file()
    shown = json.loads(run("surrogate", "show", "t", "--json").stdout)
    assert shown == json.loads(run("surrogate", "show", "--json").stdout)  # newest by default
    assert shown["n_records"] == 30 and shown["fidelity"]["name"] == "low"
    assert shown["space"]["name"] == "tiny" and shown["records"] == [str(records)] and shown["records_hash"]
    for target in ("accuracy", "avm", "spread"):
        assert {"kendall_tau", "spearman", "mae"} <= set(shown["targets"][target])
    assert shown["targets"] == fit_summary["targets"]
    md = run("surrogate", "report", "t", "--markdown")
    assert md.exit_code == 0 and "| target | model |" in md.stdout and "Kendall τ" in md.stdout
    human = run("surrogate", "show", "surrogates/t.json")
    assert human.exit_code == 0 and "surrogates/t.json" in human.stdout and "accuracy" in human.stdout


def test_fit_warns_about_bad_lines_on_stderr(records: Path, tmp_path: Path) -> None:
    with open(records, "ab") as fh:
        fh.write(b"garbage\n")
    res = run("surrogate", "fit", "--records", records, "--out", tmp_path / "s", "--folds", "3",
              "--models", "extra_trees", "--quiet")
    assert res.exit_code == 0, res.output
    assert "warning: skipped 1 unreadable line(s)" in res.stderr and f"{records}:31" in res.stderr


def test_fit_bad_input_is_one_line_exit_2(records: Path, tmp_path: Path) -> None:
    few = write_records(tmp_path / "few.jsonl", make_records("tiny", 3))
    assert_one_line_error(run("surrogate", "fit", "--records", few, "--out", tmp_path / "a"), "only 3 architecture")
    assert not (tmp_path / "a.json").exists()
    assert_one_line_error(run("surrogate", "fit", "--records", tmp_path / "none.jsonl", "--out", tmp_path / "b"),
                          "not found")
    assert_one_line_error(run("surrogate", "fit", "--records", records, "--out", tmp_path / "c", "--models", "svm"),
                          "unknown model 'svm'")
    assert_one_line_error(run("surrogate", "fit", "--records", records, "--out", tmp_path / "c",
                              "--target-time", "soon"), "soon")
    ok = ("surrogate", "fit", "--records", records, "--out", tmp_path / "d", "--folds", "3", "--models", "extra_trees",
          "--quiet")
    assert run(*ok).exit_code == 0
    before = (tmp_path / "d.json").read_bytes()
    assert_one_line_error(run(*ok), "already exists", "--force")
    assert (tmp_path / "d.json").read_bytes() == before
    assert run(*ok, "--force").exit_code == 0
    assert_one_line_error(run("surrogate", "show", tmp_path / "nothing"), "not found")


def test_agreement_command(tmp_path: Path) -> None:
    low = write_records(tmp_path / "low.jsonl", make_records("tiny", 12, seed=1, fidelity="low"))
    high = write_records(tmp_path / "high.jsonl", make_records("tiny", 10, seed=2, fidelity="high"))
    res = run("surrogate", "agreement", "--low", low, "--high", high, "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["n_common"] == 10 and data["metrics"]["accuracy"]["kendall_tau"] > 0.5
    lonely = write_records(tmp_path / "lonely.jsonl", make_records("tiny", 2, sample_seed=77, fidelity="high"))
    assert_one_line_error(run("surrogate", "agreement", "--low", low, "--high", lonely), "need at least 3")
