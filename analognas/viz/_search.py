"""Search-run plots, each a data function (plain NamedTuples, tested) plus a figure function.

* `pareto_plot_data` / `pareto_figure`: predicted accuracy after drift against params or
  tiles (a menu switches the axis), colour = predicted AVM, the 2-D front of each axis
  drawn as a staircase, and reference architectures (ResNet32, T500) as labelled stars.
* `history_plot_data` / `history_figure`: every trial's value and the best so far.
* `importance_plot_data` / `importance_figure`: Optuna's fANOVA importances (seeded).
* `verification_plot_data` / `verification_figure`: predicted against trained-and-measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

from analognas.search import Candidate, Objective

AXES = ("params", "tiles")


class ParetoPoint(NamedTuple):
    number: int
    arch_id: str
    params: int
    tiles: int
    accuracy: float
    accuracy_std: float
    avm: float | None
    summary: str


class ReferencePoint(NamedTuple):
    name: str
    arch_id: str
    params: int
    tiles: int
    accuracy: float | None
    accuracy_std: float | None
    avm: float | None
    in_space: bool
    note: str
    """Why the point needs care (outside the space, or could not be predicted)."""


class ParetoPlotData(NamedTuple):
    points: list[ParetoPoint]
    """Every feasible completed trial, one per architecture."""
    fronts: dict[str, list[ParetoPoint]]
    """Per x axis ("params", "tiles"): non-dominated points, sorted by that axis."""
    references: list[ReferencePoint]
    accuracy_label: str


def _front(points: list[ParetoPoint], axis: str) -> list[ParetoPoint]:
    """Max accuracy, min cost: sweep by cost, keep points that beat every cheaper one."""
    out: list[ParetoPoint] = []
    best = -math.inf
    for p in sorted(points, key=lambda p: (getattr(p, axis), -p.accuracy, p.number)):
        if p.accuracy > best:
            out.append(p)
            best = p.accuracy
    return out


def pareto_plot_data(
    candidates: Sequence[Candidate], references: Sequence[ReferencePoint] = (), drift_label: str = "1 day"
) -> ParetoPlotData:
    seen: set[str] = set()
    points = []
    for c in sorted(candidates, key=lambda c: c.number):
        acc = c.predicted.get("accuracy")
        if not (c.complete and c.feasible) or acc is None or c.arch_id in seen:
            continue
        seen.add(c.arch_id)
        avm = c.predicted.get("avm")
        points.append(
            ParetoPoint(
                c.number,
                c.arch_id,
                int(c.cost.get("params", 0)),
                int(c.cost.get("tiles", 0)),
                acc[0],
                acc[1],
                avm[0] if avm else None,
                c.summary(),
            )
        )
    fronts = {axis: _front(points, axis) for axis in AXES}
    return ParetoPlotData(points, fronts, list(references), f"predicted accuracy after {drift_label} (%)")


def pareto_figure(data: ParetoPlotData, title: str = "Pareto front") -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    per_axis: dict[str, list[int]] = {}
    avms = [p.avm for p in data.points if p.avm is not None]
    for axis in AXES:
        idx = []
        visible = axis == AXES[0]
        pts = data.points
        idx.append(len(fig.data))
        fig.add_trace(
            go.Scatter(
                x=[getattr(p, axis) for p in pts],
                y=[p.accuracy for p in pts],
                mode="markers",
                name="feasible trials",
                visible=visible,
                marker={
                    "size": 8,
                    "color": [p.avm if p.avm is not None else float("nan") for p in pts],
                    "colorscale": "Viridis_r",
                    "cmin": min(avms) if avms else None,
                    "cmax": max(avms) if avms else None,
                    "colorbar": {"title": "predicted AVM<br>(points)"},
                    "showscale": bool(avms),
                    "line": {"width": 0.5, "color": "white"},
                },
                customdata=[[p.arch_id, p.number, p.accuracy_std, p.avm, p.summary, p.params, p.tiles] for p in pts],
                hovertemplate=(
                    "<b>%{customdata[0]}</b> (trial %{customdata[1]})<br>%{customdata[4]}<br>"
                    "accuracy %{y:.2f} ± %{customdata[2]:.2f}%<br>AVM %{customdata[3]:.2f}<br>"
                    "%{customdata[5]:,} params, %{customdata[6]} tiles<extra></extra>"
                ),
            )
        )
        front = data.fronts.get(axis, [])
        idx.append(len(fig.data))
        fig.add_trace(
            go.Scatter(
                x=[getattr(p, axis) for p in front],
                y=[p.accuracy for p in front],
                mode="lines+markers",
                line={"shape": "hv", "color": "#d62728", "width": 2},
                marker={"size": 11, "symbol": "circle-open", "color": "#d62728", "line": {"width": 2}},
                name=f"Pareto front ({len(front)})",
                visible=visible,
                customdata=[[p.arch_id, p.summary, p.accuracy_std] for p in front],
                hovertemplate=(
                    "<b>front: %{customdata[0]}</b><br>%{customdata[1]}<br>"
                    "accuracy %{y:.2f} ± %{customdata[2]:.2f}%<br>%{x:,}<extra></extra>"
                ),
            )
        )
        refs = [r for r in data.references if r.accuracy is not None]
        idx.append(len(fig.data))
        fig.add_trace(
            go.Scatter(
                x=[getattr(r, axis) for r in refs],
                y=[r.accuracy for r in refs],
                mode="markers+text",
                text=[r.name + ("*" if not r.in_space else "") for r in refs],
                textposition="top center",
                marker={"size": 16, "symbol": "star", "color": "#ff7f0e", "line": {"width": 1, "color": "black"}},
                name="references (same surrogate; * outside the space)",
                visible=visible,
                customdata=[[r.name, r.arch_id, r.accuracy_std, r.avm, r.note, r.params, r.tiles] for r in refs],
                hovertemplate=(
                    "<b>reference %{customdata[0]}</b> (%{customdata[1]})<br>"
                    "predicted accuracy %{y:.2f} ± %{customdata[2]:.2f}%<br>AVM %{customdata[3]:.2f}<br>"
                    "%{customdata[5]:,} params, %{customdata[6]} tiles<br>%{customdata[4]}<extra></extra>"
                ),
            )
        )
        per_axis[axis] = idx
    n = len(fig.data)
    buttons = []
    for axis in AXES:
        vis = [i in per_axis[axis] for i in range(n)]
        buttons.append(
            {
                "label": f"x = {axis}",
                "method": "update",
                "args": [{"visible": vis}, {"xaxis": {"title": {"text": axis}, "type": "log"}}],
            }
        )
    fig.update_layout(
        title=title,
        xaxis={"title": {"text": AXES[0]}, "type": "log"},
        yaxis={"title": {"text": data.accuracy_label}},
        template="plotly_white",
        height=600,
        legend={"orientation": "h", "y": -0.18},
        updatemenus=[{"type": "buttons", "direction": "right", "x": 0.0, "y": 1.12, "buttons": buttons}],
    )
    if not data.points:
        fig.add_annotation(
            text="no feasible trial with a prediction", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper"
        )
    return fig


class HistoryPlotData(NamedTuple):
    numbers: list[int]
    values: list[float]
    """First-objective value of each feasible completed trial."""
    best_so_far: list[float]
    """Best value over all trials up to and including each trial number in `numbers`."""
    infeasible: list[int]
    failed: list[int]
    objective: str
    maximize: bool


def history_plot_data(candidates: Sequence[Candidate], objective: Objective) -> HistoryPlotData:
    from analognas.search import Direction

    maximize = objective.direction is Direction.MAXIMIZE
    numbers, values, best, running = [], [], [], None
    infeasible, failed = [], []
    for c in sorted(candidates, key=lambda c: c.number):
        if c.state == "FAIL":
            failed.append(c.number)
            continue
        if c.violations or objective.name not in c.values:
            if c.violations:
                infeasible.append(c.number)
            continue
        v = c.values[objective.name]
        running = v if running is None else (max(running, v) if maximize else min(running, v))
        numbers.append(c.number)
        values.append(v)
        best.append(running)
    return HistoryPlotData(numbers, values, best, infeasible, failed, objective.name, maximize)


def history_figure(data: HistoryPlotData, title: str = "Optimisation history") -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=data.numbers, y=data.values, mode="markers", name="feasible trial", marker={"color": "#1f77b4"})
    )
    fig.add_trace(
        go.Scatter(
            x=data.numbers,
            y=data.best_so_far,
            mode="lines",
            name="best so far",
            line={"shape": "hv", "color": "#d62728"},
        )
    )
    floor = min(data.values) if data.values else 0.0
    for nums, label, sym, color in (
        (data.infeasible, "over the limits (not predicted)", "x", "#999999"),
        (data.failed, "failed", "x-thin", "black"),
    ):
        if nums:
            fig.add_trace(
                go.Scatter(
                    x=nums,
                    y=[floor] * len(nums),
                    mode="markers",
                    name=label,
                    marker={"symbol": sym, "color": color, "size": 6},
                )
            )
    fig.update_layout(
        title=title,
        xaxis={"title": {"text": "trial"}},
        yaxis={"title": {"text": data.objective}},
        template="plotly_white",
        height=420,
        legend={"orientation": "h", "y": -0.25},
    )
    return fig
