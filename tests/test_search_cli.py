"""`analognas search`, `register` as a user meets them: JSON, exit codes, one-line errors, no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analognas.cli import app
from tests.test_search_support import cli, cli_env

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def one_line_error(res, *needles: str) -> None:
    err = res.stderr.strip()
    assert res.exit_code == 2, (res.exit_code, res.stdout, err)
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    for n in needles:
        assert n in err, (n, err)


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory, resnet_surrogate: Path) -> tuple[Path, dict]:
    """One real `analognas search --json` in a fresh process, with a record of the modules it imported."""
    cwd = tmp_path_factory.mktemp("cli")
    marker = cwd / "modules.json"
    code = (
        "import sys, json, atexit\n"
        f"atexit.register(lambda: open({str(marker)!r}, 'w').write(json.dumps(sorted(sys.modules))))\n"
        "from analognas.cli import main\n"
        f"sys.argv = ['analognas', 'search', '--surrogate', {str(resnet_surrogate)!r}, '--budget', '60',"
        " '--max-params', '500000', '--name', 'cli', '--seed', '1', '--json']\n"
        "main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=180, check=False
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    summary["_modules"] = json.loads(marker.read_text())
    summary["_stderr"] = proc.stderr
    return cwd, summary


def test_search_json_summary_and_no_torch(searched: tuple[Path, dict]) -> None:
    cwd, s = searched
    assert s["run_dir"] == "runs/cli" and s["n_trials"] == 60 and s["name"] == "cli"
    best = s["best"]
    assert len(best["arch_id"]) == 12 and best["cost"]["params"] <= 500_000
    assert set(best["predicted"]) == {"accuracy", "avm", "spread"} and best["predicted"]["accuracy"]["std"] > 0
    assert (cwd / "runs/cli/best.json").exists() and (cwd / "runs/cli/trials.csv").exists()
    heavy = [
        m
        for m in s["_modules"]
        if m.split(".")[0] in ("torch", "aihwkit", "torchvision")
        or m.startswith(("analognas.training", "analognas.analog"))
    ]
    assert heavy == []
    assert "Traceback" not in s["_stderr"]


def test_search_prints_a_human_summary_and_resumes(searched: tuple[Path, dict], resnet_surrogate: Path) -> None:
    cwd, _ = searched
    res = cli(
        [
            "search",
            "--surrogate",
            str(resnet_surrogate),
            "--budget",
            "60",
            "--max-params",
            "500000",
            "--name",
            "cli",
            "--seed",
            "1",
            "--quiet",
        ],
        cwd,
    )
    assert res.returncode == 0, res.stderr
    assert "run cli" in res.stdout and "60 trials, resumed at 60" in res.stdout and "best " in res.stdout


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--budget", "0"], ["--budget must be an integer >= 1"]),
        (["--max-params", "10"], ["no architecture of space 'resnet_like' meets max_params=10"]),
        (
            ["--storage", "postgresql://nobody@127.0.0.1:1/none"],
            ["cannot open storage postgresql://nobody@127.0.0.1:1"],
        ),
        (["--storage", "http//bad"], ["not a database URL"]),
        (["--objectives", "accuracy,speed"], ["unknown objective 'speed'"]),
        (["--drift", "1h"], ["predicts accuracy 1d after programming, not 1h"]),
        (["--drift", "-3"], ["drift time must be a finite number of seconds > 0"]),
        (["--space", "nope.toml"], ["nope.toml: search-space file not found"]),
        (["--verify", "1", "--verify-fidelity", "ultra"], ["--verify-fidelity 'ultra'"]),
        (["--verify", "-1"], ["--verify must be >= 0, got -1"]),
        (["--verify", "1", "--verify-test-size", "0"], ["--verify-test-size must be >= 1, got 0"]),
        (["--verify", "1", "--verify-device", "tpu"], ["tpu"]),
    ],
)
def test_bad_input_is_one_line_exit_2(
    tmp_path: Path,
    resnet_surrogate: Path,
    args: list[str],
    needles: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    res = run("search", "--surrogate", str(resnet_surrogate), "--name", "bad", *args)
    one_line_error(res, *needles)
    assert not (tmp_path / "runs" / "bad" / "study.journal").exists()


def test_surrogate_of_another_space_is_refused(
    tmp_path: Path,
    tiny_surrogate: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    one_line_error(run("search", "--surrogate", str(tiny_surrogate), "--budget", "5"), "tiny")
    one_line_error(run("search", "--surrogate", str(tmp_path / "missing.json")), "not found")


def test_default_surrogate_is_the_newest_fitted_on_the_searched_space(
    tmp_path: Path,
    resnet_surrogate: Path,
    tiny_surrogate: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without --surrogate the search takes the surrogate of its own space, whatever else lies
    in surrogates/ and whatever the files' mtimes (a fresh clone gives them all one time)."""
    import os
    import shutil

    monkeypatch.chdir(tmp_path)
    (tmp_path / "surrogates").mkdir()
    shutil.copy(resnet_surrogate, tmp_path / "surrogates/fmnist.json")
    shutil.copy(tiny_surrogate, tmp_path / "surrogates/other.json")
    (tmp_path / "surrogates/notes.json").write_text("[1, 2]")  # not a surrogate: ignored
    os.utime(tmp_path / "surrogates/other.json", (2e9, 2e9))  # the newest file is the wrong space's
    res = run("search", "--budget", "4", "--name", "d", "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads((tmp_path / "runs/d/run.json").read_text())["surrogate"]["path"] == "surrogates/fmnist.json"
    res = run("search", "--space", "tiny", "--budget", "4", "--name", "t", "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads((tmp_path / "runs/t/run.json").read_text())["surrogate"]["path"] == "surrogates/other.json"
    (tmp_path / "surrogates/other.json").unlink()
    res = run("search", "--space", "tiny", "--budget", "4", "--name", "t2")
    one_line_error(res, "no surrogate fitted on this space")


def test_default_surrogate_is_the_one_fitted_at_the_searched_drift_time(
    tmp_path: Path,
    resnet_surrogate: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 1-day and a 1-month surrogate of one space side by side: `--drift 1mo` takes the
    second although the first is newer; a drift time none was fitted at is one line that
    names those there, and no run is started."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "surrogates").mkdir()
    day = json.loads(resnet_surrogate.read_text())
    month = {**day, "drift_time": 2_592_000.0, "meta": {**day["meta"], "created": "2000-01-01T00:00:00Z"}}
    (tmp_path / "surrogates/day.json").write_text(json.dumps(day))
    (tmp_path / "surrogates/month.json").write_text(json.dumps(month))
    res = run("search", "--drift", "1mo", "--budget", "4", "--name", "m", "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads((tmp_path / "runs/m/run.json").read_text())["surrogate"]["path"] == "surrogates/month.json"
    res = run("search", "--budget", "4", "--name", "d", "--json")  # the default drift, 1 day
    assert res.exit_code == 0, res.stderr
    assert json.loads((tmp_path / "runs/d/run.json").read_text())["surrogate"]["path"] == "surrogates/day.json"
    one_line_error(run("search", "--drift", "1h", "--budget", "4", "--name", "h"),
                   "predicts accuracy 1h after programming (those there predict 1d, 1mo)", "--drift 1h")
    assert not (tmp_path / "runs/h").exists()
    # --refit picks by the drift time too: nothing is refitted for a time no surrogate predicts
    one_line_error(run("search", "--drift", "1h", "--refit", "--budget", "4", "--name", "h"), "predicts accuracy 1h")
    assert sorted(p.name for p in (tmp_path / "surrogates").iterdir()) == ["day.json", "month.json"]


def test_existing_run_with_other_surrogate_is_refused_then_forced(
    tmp_path: Path,
    resnet_surrogate: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shutil

    monkeypatch.chdir(tmp_path)
    other = tmp_path / "other.json"
    doc = json.loads(resnet_surrogate.read_text())
    doc["meta"]["note"] = "a different file"
    other.write_text(json.dumps(doc))
    assert run("search", "--surrogate", str(resnet_surrogate), "--budget", "8", "--name", "r", "-q").exit_code == 0
    one_line_error(
        run("search", "--surrogate", str(other), "--budget", "8", "--name", "r", "-q"),
        "run 'r'",
        "different setup",
        "surrogate",
        "--force",
    )
    res = run("search", "--surrogate", str(other), "--budget", "8", "--name", "r", "-q", "--force", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["resumed_from"] == 0
    shutil.rmtree(tmp_path / "runs")


def test_register_best_pareto_and_id_then_use_the_name(
    searched: tuple[Path, dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    cwd, s = searched
    monkeypatch.chdir(cwd)
    zoo = Path(os.environ["ANALOGNAS_ZOO"])
    res = run("register", "runs/cli", "--pick", "best", "--as", "T500-fmnist", "--json")
    assert res.exit_code == 0, res.stderr
    entry = json.loads(res.stdout)
    assert entry["arch_id"] == s["best"]["arch_id"] and entry["zoo"] == str(zoo)
    saved = json.loads(zoo.read_text())["entries"]
    assert [e["name"] for e in saved] == ["T500-fmnist"] and saved[0]["meta"]["pick"] == "best"
    # the name now works wherever a zoo name does
    shown = json.loads(run("arch", "show", "T500-fmnist", "--input-shape", "1,28,28", "--json").stdout)
    assert shown["params"] == s["best"]["cost"]["params"]
    from analognas.models import resolve_spec

    assert resolve_spec("t500-FMNIST").arch_id == s["best"]["arch_id"]
    out = tmp_path / "net.py"
    assert run("export", "T500-fmnist", "--out", str(out), "--input-shape", "1,28,28").exit_code == 0
    assert out.exists() and "def build_model" in out.read_text()
    # refusals
    one_line_error(run("register", "runs/cli", "--as", "T500-fmnist"), "already in the user zoo", "--force")
    one_line_error(run("register", "cli", "--as", "resnet32", "--force"), "built-in")
    one_line_error(run("register", "runs/cli", "--pick", "pareto:999", "--as", "x1"), "Pareto front")
    one_line_error(run("register", "runs/cli", "--pick", "zzzz", "--as", "x1"), "not 'best'")
    one_line_error(run("register", "runs/nope", "--as", "x1"), "no such run folder")
    # pareto:2 and an id prefix, replacing with --force
    front = json.loads((cwd / "runs/cli/pareto.json").read_text())["candidates"]
    res = run("register", "cli", "--pick", "pareto:2", "--as", "T500-fmnist", "--force", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["arch_id"] == front[1]["arch_id"]
    res = run("register", "cli", "--pick", front[0]["arch_id"][:8], "--as", "front-1", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["arch_id"] == front[0]["arch_id"]
    assert sorted(e["name"] for e in json.loads(zoo.read_text())["entries"]) == ["T500-fmnist", "front-1"]


def test_help_lists_the_search_commands() -> None:
    res = run("--help")
    for cmd in ("search", "register", "dashboard"):
        assert cmd in res.output
    assert "--max-params" in run("search", "--help").output
