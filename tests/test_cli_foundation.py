"""The CLI as a user meets it: JSON output, exit codes, one-line errors, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analognas.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_help_lists_commands() -> None:
    res = run("--help")
    assert res.exit_code == 0
    for cmd in ("arch", "space", "export"):
        assert cmd in res.output


def test_python_dash_m_runs_the_same_cli_and_exit_codes() -> None:
    import subprocess
    import sys

    ok = subprocess.run([sys.executable, "-m", "analognas", "arch", "show", "T500", "--json"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and json.loads(ok.stdout)["params"] == json.loads(run("arch", "show", "T500",
                                                                                     "--json").stdout)["params"]
    bad = subprocess.run([sys.executable, "-m", "analognas", "arch", "show", "no-such-net"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no-such-net" in bad.stderr


def test_arch_show_json_resnet32_and_t500() -> None:
    r32 = json.loads(run("arch", "show", "resnet32", "--json").stdout)
    assert 455_000 <= r32["params"] <= 470_000
    assert r32["macs"] > 0 and r32["tiles"] > 0 and r32["depth"] == 32
    t500 = json.loads(run("arch", "show", "T500", "--json").stdout)
    assert abs(t500["params"] - 422_000) / 422_000 < 0.05
    assert [s["name"] for s in t500["stages"]] == ["stem", "stages.0", "stages.1", "stages.2", "head"]


def test_arch_show_tile_size_changes_tiles() -> None:
    small = json.loads(run("arch", "show", "T500", "--json", "--tile-rows", "128", "--tile-cols", "128").stdout)
    big = json.loads(run("arch", "show", "T500", "--json").stdout)
    assert small["tiles"] > big["tiles"]


def test_arch_list_and_space_show() -> None:
    names = [r["name"] for r in json.loads(run("arch", "list", "--json").stdout)]
    assert {"resnet32", "T500"} <= set(names)
    res = run("space", "show", "search_spaces/tiny.toml", "--samples", "3", "--json")
    data = json.loads(res.stdout)
    assert data["size"] == 1088 and len(data["samples"]) == 3


def test_the_tables_name_what_the_json_holds(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The printed (non-JSON) forms of the look-up commands show the same rows."""
    monkeypatch.setenv("COLUMNS", "220")  # rich wraps cells to the terminal width
    listed = run("arch", "list")
    assert listed.exit_code == 0 and "T500" in listed.stdout and "422,082" in listed.stdout
    shown = run("arch", "show", "T500", "--layers")
    assert shown.exit_code == 0 and "params 422,082" in shown.stdout and "utilisation" in shown.stdout
    data = json.loads(run("space", "show", "search_spaces/tiny.toml", "--samples", "2", "--json").stdout)
    table = run("space", "show", "search_spaces/tiny.toml", "--samples", "2")
    assert table.exit_code == 0, table.output
    assert "1,088 architectures" in table.stdout
    for row in data["samples"]:
        assert row["arch_id"] in table.stdout and f"{row['params']:,}" in table.stdout


def _assert_one_line_error(res, *needles: str) -> None:
    assert res.exit_code == 2, res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in res.output
    for n in needles:
        assert n in lines[0]


def test_unknown_architecture() -> None:
    _assert_one_line_error(run("arch", "show", "T501"), "T501", "Did you mean 'T500'", "resnet32")


def test_bad_space_files(tmp_path: Path) -> None:
    _assert_one_line_error(run("space", "show", str(tmp_path / "none.toml")), "not found")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[stem]\nwidth = [8]\nkernel = [4]\n')
    _assert_one_line_error(run("space", "show", str(bad)), "stem.kernel", str(bad))


def test_invalid_json_spec() -> None:
    _assert_one_line_error(run("arch", "show", "{bad json"), "invalid JSON")


def test_usage_errors_are_one_line() -> None:
    _assert_one_line_error(run("arch", "show", "T500", "--bogus"), "--bogus")


def test_export_refuses_existing_target(tmp_path: Path) -> None:
    target = tmp_path / "model.py"
    res = run("export", "T500", "--out", str(target))
    assert res.exit_code == 0, res.output
    before = target.read_text()
    _assert_one_line_error(run("export", "resnet32", "--out", str(target)), "already exist", "--force")
    assert target.read_text() == before
    assert run("export", "resnet32", "--out", str(target), "--force").exit_code == 0
    assert target.read_text() != before


@pytest.mark.parametrize("arch", ["T501", "{bad"])
def test_export_bad_input_writes_nothing(tmp_path: Path, arch: str) -> None:
    res = run("export", arch, "--out", str(tmp_path / "m.py"))
    assert res.exit_code == 2
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cmd", [["evaluate", "resnet32"], ["compare", "T500", "resnet32"],
                                 ["collect", "--space", "tiny", "--n", "1"]])
def test_negative_images_per_chip_is_refused_before_any_work(tmp_path: Path, cmd: list[str]) -> None:
    res = run(*cmd, "--images-per-chip", "-1", "--fidelity", "smoke", "--cache-dir", str(tmp_path / "c"))
    _assert_one_line_error(res, "must be")  # 0 reads the whole test set
    assert "images" in res.stderr and not (tmp_path / "c").exists()
