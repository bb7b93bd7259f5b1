"""The search dashboard: data functions checked on a real run, and one real browser render.

The run is a real search (journal storage, a surrogate fitted on records written by the
test). The browser test opens the single HTML file in headless Chromium (Debian's, driven
by Playwright), with every network request refused, and checks each plot drew its SVG
with no JavaScript error; it saves a screenshot in pytest's tmp dir.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from analognas.cli import app
from analognas.search import SearchConfig, load_run, run_search
from analognas.viz import (
    history_plot_data,
    importance_plot_data,
    pareto_plot_data,
    reference_points,
    verification_plot_data,
    write_search_dashboard,
)

CHROMIUM = os.environ.get("ANALOGNAS_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, resnet_surrogate: Path) -> Path:
    runs = tmp_path_factory.mktemp("dash")
    res = run_search(SearchConfig(name="d", runs_dir=runs, surrogate=resnet_surrogate, budget=60, seed=2))
    verified = [  # what `--verify` writes (its own test trains for real; here it is input)
        {
            "arch_id": res.best.arch_id,
            "predicted": {"accuracy": {"mean": 89.0, "std": 0.8}, "avm": {"mean": 2.1, "std": 0.1}},
            "measured": {"accuracy": {"mean": 87.5, "std": 0.4}, "avm": {"mean": 2.6, "std": None}},
            "fidelity": "low",
            "record_key": "k1",
        },
    ]
    (res.run_dir / "verified.json").write_text(json.dumps({"items": verified}))
    return res.run_dir


def test_pareto_data_fronts_are_exactly_the_non_dominated_points(run_dir: Path) -> None:
    run = load_run(run_dir)
    data = pareto_plot_data(run.candidates, reference_points(run))
    feasible = [c for c in run.candidates if c.complete and c.feasible]
    assert len(data.points) == len({c.arch_id for c in feasible}) > 5
    for axis in ("params", "tiles"):
        front = data.fronts[axis]
        assert [getattr(p, axis) for p in front] == sorted(getattr(p, axis) for p in front)
        assert [p.accuracy for p in front] == sorted(p.accuracy for p in front)
        ids = {p.arch_id for p in front}
        for p in data.points:
            dominated = any(
                getattr(q, axis) <= getattr(p, axis)
                and q.accuracy >= p.accuracy
                and (getattr(q, axis), q.accuracy) != (getattr(p, axis), p.accuracy)
                for q in data.points
            )
            assert dominated == (p.arch_id not in ids), (axis, p)
    assert max(p.accuracy for p in data.points) == data.fronts["params"][-1].accuracy


def test_reference_points_use_the_same_surrogate_and_flag_resnet32(run_dir: Path) -> None:
    from analognas.models import get_spec
    from analognas.surrogate import load_surrogate

    run = load_run(run_dir)
    refs = {r.name: r for r in reference_points(run)}
    sur = load_surrogate(run.surrogate_path)
    for name in ("resnet32", "T500"):
        pred = sur.predict([get_spec(name)])["accuracy"]
        assert refs[name].accuracy == pytest.approx(float(pred.mean[0]))
    assert not refs["resnet32"].in_space and "zero_pad" in refs["resnet32"].note
    assert "extrapolation" in refs["resnet32"].note
    assert refs["T500"].in_space and refs["T500"].params == run.space.cost(get_spec("T500")).params


def test_history_data_is_a_running_best(run_dir: Path) -> None:
    run = load_run(run_dir)
    h = history_plot_data(run.candidates, run.objectives[0])
    assert h.maximize and h.numbers == sorted(h.numbers)
    running = []
    for v in h.values:
        running.append(v if not running else max(running[-1], v))
    assert h.best_so_far == running
    pruned = [c.number for c in run.candidates if c.state == "PRUNED"]
    assert h.infeasible == pruned and len(h.numbers) + len(h.infeasible) + len(h.failed) == 60


def test_importances_cover_conditional_stage_parameters_and_are_seeded(run_dir: Path) -> None:
    from analognas.search._space_params import all_param_names

    run = load_run(run_dir)
    a = importance_plot_data(run.candidates, run.space, run.objectives[0], seed=0)
    b = importance_plot_data(run.candidates, run.space, run.objectives[0], seed=0)
    assert a == b and set(a.names) == set(all_param_names(run.space))
    assert "stage4_blocks" in a.names and all(v >= 0 for v in a.importances)
    assert sum(a.importances) == pytest.approx(1.0, abs=1e-6)
    assert a.n_trials == sum(1 for c in run.candidates if c.complete and c.feasible)
    few = importance_plot_data(run.candidates[:2], run.space, run.objectives[0])
    assert few.names == [] and "too few" in few.note


def test_verification_data(run_dir: Path) -> None:
    pts = verification_plot_data(load_run(run_dir).verified)
    assert [(p.metric, p.predicted, p.measured) for p in pts] == [("accuracy", 89.0, 87.5), ("avm", 2.1, 2.6)]
    assert pts[1].measured_std == 0.0


def test_dashboard_cli_writes_one_offline_file(run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    out = tmp_path / "dash.html"
    monkeypatch.setenv("BROWSER", "true")  # --open hands the file to $BROWSER; here a no-op command
    res = runner.invoke(app, ["dashboard", str(run_dir), "--out", str(out), "--open", "--json"])
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout) == {"html": str(out)}
    html = out.read_text()
    assert html.count('class="plotly-graph-div"') == 4
    assert "<script src=" not in html and len(html) > 3_000_000  # plotly.js inlined, nothing fetched
    assert "reference resnet32" in html and "extrapolation" in html
    again = runner.invoke(app, ["dashboard", str(run_dir), "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.stderr
    assert runner.invoke(app, ["dashboard", str(run_dir)]).exit_code == 0  # default file is refreshed
    assert (run_dir / "dashboard.html").exists()


def _browser() -> Any:
    if not (shutil.which(CHROMIUM) or os.path.exists(CHROMIUM)):
        pytest.skip(f"Chromium not found at {CHROMIUM} (Debian package 'chromium'; `bash scripts/setup.sh --test`)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the 'playwright' Python package is not installed (pip install -e '.[test]')")
    return sync_playwright


@pytest.mark.slow
def test_dashboard_renders_in_headless_chromium(run_dir: Path, tmp_path: Path) -> None:
    sync_playwright = _browser()
    html = write_search_dashboard(run_dir, out=tmp_path / "dashboard.html")
    shot = tmp_path / "dashboard.png"
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        ctx = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
            viewport={"width": 1280, "height": 900},
        )
        try:
            ctx.route("http*://**", lambda route: (requests.append(route.request.url), route.abort()))
            page = ctx.new_page()
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
            page.goto(html.resolve().as_uri(), wait_until="load")
            page.wait_for_function(
                "() => [...document.querySelectorAll('.js-plotly-plot')].length === 4 && "
                "[...document.querySelectorAll('.js-plotly-plot')].every(d => d.querySelector('.main-svg'))",
                timeout=30_000,
            )
            drawn = page.evaluate(
                "() => [...document.querySelectorAll('.js-plotly-plot')].map(d => "
                "[d.id, d.querySelectorAll('.main-svg').length, d.querySelectorAll('.scatterlayer .point').length,"
                " d.querySelectorAll('.barlayer .point').length])"
            )
            title = page.title()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            ctx.close()
    assert errors == [] and requests == []
    assert title == "analognas search: d"
    pareto, history, importance, _verify = drawn
    assert pareto[1] >= 1 and pareto[2] > 10  # candidate markers were drawn
    assert history[2] > 10 and importance[3] > 5
    assert shot.stat().st_size > 50_000


def test_report_cache_is_keyed_by_content_and_best_effort(tmp_path: Path) -> None:
    from analognas.viz._cache import cached

    calls = []

    def compute() -> dict[str, float]:
        calls.append(1)
        return {"a": 0.5}

    assert cached(tmp_path, "x", [1, 2], compute) == {"a": 0.5}
    assert cached(tmp_path, "x", [1, 2], compute) == {"a": 0.5} and len(calls) == 1
    assert cached(tmp_path, "x", [1, 3], compute) == {"a": 0.5} and len(calls) == 2  # new trials: recomputed
    (tmp_path / "x.json").write_text("{broken")
    assert cached(tmp_path, "x", [1, 3], compute) == {"a": 0.5} and len(calls) == 3  # corrupt: recomputed
    assert cached(Path("/sys/analognas-cache"), "x", [1], compute) == {"a": 0.5}  # unwritable: no cache


# --- report.json: the search stores what the dashboard would otherwise recompute --------------
def _copy_run(run_dir: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "run"
    shutil.copytree(run_dir, dst, ignore=shutil.ignore_patterns(".dashboard-cache", "dashboard.html"))
    return dst


def test_search_writes_the_report_and_it_gives_the_fallbacks_data(run_dir: Path) -> None:
    from analognas.search import read_report

    run = load_run(run_dir)
    report = read_report(run.folder)
    assert set(report) == {"references", "importances"}
    assert report["references"]["names"] == ["resnet32", "T500"]
    # from the report, and recomputed the old way (surrogate file reloaded, fANOVA run here)
    assert reference_points(run, report=report) == reference_points(run, report={})
    assert all(r.accuracy is not None and r.avm is not None for r in reference_points(run, report=report))
    first = run.objectives[0]
    stored = importance_plot_data(run.candidates, run.space, first, report=report)
    assert stored == importance_plot_data(run.candidates, run.space, first)  # names in the same (ranked) order
    assert stored.importances == sorted(stored.importances, reverse=True) and len(stored.names) > 10


def test_dashboard_uses_the_report_without_surrogate_or_fanova(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import analognas.search
    import analognas.surrogate
    from analognas.viz import dashboard_figures

    run_copy = _copy_run(run_dir, tmp_path)
    expected = reference_points(load_run(run_dir), report={})

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("the dashboard recomputed what report.json holds")

    monkeypatch.setattr(analognas.surrogate, "load_surrogate", refuse)
    monkeypatch.setattr(analognas.search, "param_importances", refuse)
    _figs, _best, refs = dashboard_figures(load_run(run_copy))
    assert refs == expected
    assert not (run_copy / ".dashboard-cache").exists()  # nothing had to be computed, so nothing cached
    # the report's values are what is drawn: a changed value (same key) shows up
    doc = json.loads((run_copy / "report.json").read_text())
    name = next(iter(doc["importances"]["value"]))
    doc["importances"]["value"][name] = 0.123
    (run_copy / "report.json").write_text(json.dumps(doc))
    run = load_run(run_copy)
    imp = importance_plot_data(
        run.candidates, run.space, run.objectives[0], report=analognas.search.read_report(run.folder)
    )
    assert imp.importances[imp.names.index(name)] == 0.123


@pytest.mark.slow
def test_dashboard_from_the_report_imports_no_sklearn_and_draws_the_same_file(run_dir: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    run_copy = _copy_run(run_dir, tmp_path)
    code = (
        "import sys; from analognas.viz import write_search_dashboard; "
        f"write_search_dashboard({str(run_copy)!r}); "
        "print(sorted(m for m in ('sklearn', 'scipy', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    from_report = (run_copy / "dashboard.html").read_bytes()
    (run_copy / "report.json").unlink()  # an older run: the fallback needs scikit-learn again
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "sklearn" in out.stdout
    assert (run_copy / "dashboard.html").read_bytes() == from_report  # the same file, byte for byte


def test_report_entries_are_used_only_for_the_data_they_were_computed_from(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import analognas.search
    from analognas.search import read_report

    run_copy = _copy_run(run_dir, tmp_path)
    run = load_run(run_copy)
    report = read_report(run.folder)
    first = run.objectives[0]
    calls: list[int] = []
    real = analognas.search.param_importances

    def counting(*a: Any, **kw: Any) -> Any:
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(analognas.search, "param_importances", counting)
    importance_plot_data(run.candidates, run.space, first, report=report)
    assert calls == []
    importance_plot_data(run.candidates, run.space, first, seed=1, report=report)  # another --seed
    importance_plot_data(run.candidates[:-3], run.space, first, report=report)  # other trials
    assert len(calls) == 2
    # another surrogate hash in run.json: the stored predictions are not the run's
    info = json.loads((run_copy / "run.json").read_text())
    info["surrogate"]["hash"] = "0" * 16
    info["surrogate"]["path"] = str(tmp_path / "gone.json")
    (run_copy / "run.json").write_text(json.dumps(info))
    refs = reference_points(load_run(run_copy), report=report)
    assert all(r.accuracy is None and "not found" in r.note for r in refs)
    # unreadable or foreign files count as no report
    for text in ("{broken", json.dumps({"format": 99, **report}), json.dumps([1, 2])):
        (run_copy / "report.json").write_text(text)
        assert read_report(run.folder) == {}


def test_report_makes_a_copied_run_folder_self_contained(run_dir: Path, tmp_path: Path) -> None:
    run_copy = _copy_run(run_dir, tmp_path)
    info = json.loads((run_copy / "run.json").read_text())
    info["surrogate"]["path"] = str(tmp_path / "not-copied.json")  # the surrogate stayed behind
    (run_copy / "run.json").write_text(json.dumps(info))
    with_report = reference_points(load_run(run_copy))
    assert with_report == reference_points(load_run(run_dir), report={})
    (run_copy / "report.json").unlink()
    without = reference_points(load_run(run_copy))
    assert all(r.accuracy is None and "not found" in r.note for r in without)


def test_export_keeps_valid_report_entries_and_recomputes_stale_ones(run_dir: Path, tmp_path: Path) -> None:
    from analognas.search import RunFolder, link_surrogate, read_report
    from analognas.search._run_export import write_report

    run_copy = _copy_run(run_dir, tmp_path)
    run = load_run(run_copy)
    link = link_surrogate(str(run.surrogate_path), run.space, run.drift)
    doc = json.loads((run_copy / "report.json").read_text())
    doc["importances"]["value"] = {"marker": 1.0}
    doc["references"]["value"] = ["marker"] * 2
    (run_copy / "report.json").write_text(json.dumps(doc))
    folder = RunFolder(run_copy)
    write_report(folder, run.candidates, run.space, run.objectives, link)  # same trials: kept as they are
    kept = read_report(folder)
    assert kept["importances"]["value"] == {"marker": 1.0} and kept["references"]["value"] == ["marker"] * 2
    fewer = run.candidates[:-5]
    write_report(folder, fewer, run.space, run.objectives, link)
    fresh = read_report(folder)
    assert fresh["references"]["value"] == ["marker"] * 2  # same surrogate and references: still valid
    assert "marker" not in fresh["importances"]["value"]
    expect = importance_plot_data(fewer, run.space, run.objectives[0], report={})
    assert importance_plot_data(fewer, run.space, run.objectives[0], report=fresh) == expect
