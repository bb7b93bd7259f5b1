"""`analognas dashboard`: one self-contained HTML file for a search run.

plotly.js is inlined (works offline, a single file to mail or archive). The reference
architectures are predicted by the run's own surrogate so they sit on the same scale as
the candidates; ResNet32 uses zero-padding shortcuts, which the `resnet_like` space does
not contain, so its point is an extrapolation and is marked as such. The search stores
those predictions and the importances in RUN/report.json, so a dashboard neither loads
the surrogate nor imports scikit-learn; older runs compute (and cache) them here.
"""

from __future__ import annotations

import hashlib
import html
import math
from pathlib import Path
from typing import Any

from analognas.search import (
    REFERENCE_ARCHS,
    Candidate,
    SearchRun,
    load_run,
    predict_references,
    read_report,
    references_key,
    report_value,
)
from analognas.viz._cache import cached
from analognas.viz._html import write_html
from analognas.viz._search import (
    ReferencePoint,
    history_figure,
    history_plot_data,
    pareto_figure,
    pareto_plot_data,
)
from analognas.viz._search_learned import (
    importance_figure,
    importance_plot_data,
    verification_figure,
    verification_plot_data,
)

REFERENCES = REFERENCE_ARCHS


def _label_time(t: float) -> str:
    for unit, s in ((" month", 2_592_000.0), (" day", 86_400.0), (" h", 3600.0), (" s", 1.0)):
        if t >= s and math.isclose(t / s, round(t / s)):
            n = round(t / s)
            return f"{n}{unit}{'s' if n != 1 and unit in (' month', ' day') else ''}"
    return f"{t:g} s"


def _cache_dir(run: SearchRun) -> Path:
    return run.folder.path / ".dashboard-cache"


def reference_points(
    run: SearchRun,
    names: tuple[str, ...] = REFERENCES,
    cache: Path | None = None,
    report: dict[str, Any] | None = None,
) -> list[ReferencePoint]:
    """The zoo references, costed on the run's task and predicted by the run's surrogate:
    the predictions the search stored in ``report`` (default: the run's report.json) for
    this surrogate and these architectures, else the surrogate file's (loaded and refit
    here, cached in ``cache`` by the file's content)."""
    from analognas.models import get_spec
    from analognas.space import cost

    if run.space is None:
        return []
    space = run.space
    specs = [get_spec(n) for n in names]
    report = read_report(run.folder) if report is None else report
    sur_hash = (run.info.get("surrogate") or {}).get("hash")
    preds = report_value(report, "references", references_key(sur_hash, [s.arch_id for s in specs]))
    if not sur_hash or not isinstance(preds, list) or len(preds) != len(specs):
        preds = _references_from_file(run, specs, space, cache)
    return _reference_rows(run, names, specs, preds, space, cost)


def _references_from_file(run: SearchRun, specs: list[Any], space: Any, cache: Path | None) -> list[Any]:
    path = run.surrogate_path
    if path is not None and path.exists():
        key = [hashlib.sha256(path.read_bytes()).hexdigest(), [s.arch_id for s in specs], space.fingerprint]
        return list(cached(cache, "references", key, lambda: _predict_references(run, specs)))
    return _predict_references(run, specs)


def _predict_references(run: SearchRun, specs: list[Any]) -> list[Any]:
    path = run.surrogate_path
    if path is None or not path.exists():
        return [f"surrogate {path} not found; not predicted"] * len(specs)
    try:
        from analognas.surrogate import load_surrogate

        sur = load_surrogate(path)
    except Exception as exc:  # a report still renders without the references
        return [f"surrogate could not be loaded ({exc}); not predicted"] * len(specs)
    return predict_references(sur, specs)


def _reference_rows(
    run: SearchRun, names: tuple[str, ...], specs: list[Any], preds: list[Any], space: Any, cost: Any
) -> list[ReferencePoint]:
    points = []
    for name, spec, pred in zip(names, specs, preds):
        if isinstance(pred, dict):
            pred = {k: (float(v[0]), float(v[1])) for k, v in pred.items()}
        c = cost(spec, space.input_shape, space.num_classes, space.constraints.tile_size)
        outside = space.outside(spec)
        notes = []
        if outside:
            notes.append("outside the space (" + "; ".join(outside) + "): the prediction is an extrapolation")
        if isinstance(pred, str):
            notes.append(pred)
            pred = {}
        acc, avm = pred.get("accuracy"), pred.get("avm")
        points.append(
            ReferencePoint(
                name=name,
                arch_id=spec.arch_id,
                params=c.params,
                tiles=c.tiles,
                accuracy=acc[0] if acc else None,
                accuracy_std=acc[1] if acc else None,
                avm=avm[0] if avm else None,
                in_space=not outside,
                note="; ".join(notes) or "inside the space",
            )
        )
    return points


def _intro(run: SearchRun, best: Candidate | None, refs: list[ReferencePoint]) -> str:
    info = run.info
    e = html.escape
    states = {s: sum(1 for c in run.candidates if c.state == s) for s in ("COMPLETE", "PRUNED", "FAIL")}
    cons = ", ".join(
        f"{k.removeprefix('max_')} ≤ {v:,}"
        for k, v in info.get("identity", {}).get("constraints", {}).items()
        if k.startswith("max_") and v is not None
    )
    sur = info.get("surrogate", {})
    rows = [
        ("space", f"{(info.get('space') or {}).get('name')} ({(info.get('space') or {}).get('fingerprint')})"),
        ("surrogate", f"{sur.get('path')} (hash {sur.get('hash')})"),
        ("objectives", ", ".join(f"{o['name']} ({o['direction']})" for o in info.get("objectives", []))),
        ("constraints", cons or "none"),
        ("drift", _label_time(run.drift)),
        (
            "trials",
            f"{len(run.candidates)} of budget {info.get('budget')}: {states['COMPLETE']} predicted, "
            f"{states['PRUNED']} over the limits (never predicted), {states['FAIL']} failed",
        ),
        (
            "sampler",
            f"{info.get('sampler')} (seed {info.get('seed')}), storage {(info.get('storage') or {}).get('url')}",
        ),
    ]
    if best is not None:
        acc = best.predicted.get("accuracy", (float("nan"), float("nan")))
        rows.append(
            (
                "best",
                f"{best.arch_id} (trial {best.number}): {acc[0]:.2f} ± {acc[1]:.2f}% predicted, "
                f"{best.cost.get('params', 0):,} params, {best.cost.get('tiles', 0)} tiles; "
                f"{best.summary()}",
            )
        )
    for r in refs:
        if r.accuracy is not None:
            rows.append(
                (f"reference {r.name}", f"{r.accuracy:.2f}% predicted, {r.params:,} params, {r.tiles} tiles — {r.note}")
            )
        else:
            rows.append((f"reference {r.name}", r.note))
    body = "".join(
        f"<tr><th style='text-align:left;padding-right:12px'>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in rows
    )
    return f"<table id='run-summary'>{body}</table>"


def dashboard_figures(run: SearchRun, seed: int = 0) -> tuple[list[Any], Candidate | None, list[ReferencePoint]]:
    from analognas.search import best_candidate

    cache = _cache_dir(run)
    report = read_report(run.folder)
    refs = reference_points(run, cache=cache, report=report)
    best = best_candidate(run.candidates, run.objectives)
    drift = _label_time(run.drift)
    first = run.objectives[0]
    figs = [
        pareto_figure(
            pareto_plot_data(run.candidates, refs, drift),
            f"Predicted accuracy after {drift} against cost (colour: predicted AVM)",
        ),
        history_figure(history_plot_data(run.candidates, first), f"Optimisation history ({first.name})"),
        importance_figure(
            importance_plot_data(run.candidates, run.space, first, seed=seed, cache=cache, report=report)
        ),
        verification_figure(verification_plot_data(run.verified), "Verified candidates: predicted against measured"),
    ]
    return figs, best, refs


def write_search_dashboard(
    run: str | Path,
    out: str | Path | None = None,
    *,
    runs_dir: Path = Path("runs"),
    seed: int = 0,
    force: bool = False,
) -> Path:
    """Write the dashboard of `run`; the default file (RUN/dashboard.html) is always refreshed."""
    r = load_run(run, runs_dir)
    target = Path(out) if out is not None else r.folder.path / "dashboard.html"
    figs, best, refs = dashboard_figures(r, seed=seed)
    return write_html(
        figs, target, f"analognas search: {r.name}", force=force or out is None, intro=_intro(r, best, refs)
    )
