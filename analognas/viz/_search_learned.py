"""Plot data and figures of what a search learned: parameter importances, and the
verified candidates (predicted against measured). Data functions are tested; figure
functions only draw."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from analognas.search import Candidate, Objective


class ImportanceData(NamedTuple):
    names: list[str]
    importances: list[float]
    n_trials: int
    target: str
    note: str


def importance_plot_data(
    candidates: Sequence[Candidate],
    space: Any,
    objective: Objective,
    seed: int = 0,
    cache: Any = None,
    report: dict[str, Any] | None = None,
) -> ImportanceData:
    """Importances of the feasible completed trials (``search.param_importances``: fANOVA,
    seeded, absent stages included), or the reason there are none. Taken from the run's
    ``report`` (``search.read_report``) when the search computed them for exactly these
    trials and seed, else computed and cached in the folder ``cache`` for the same trials."""
    from analognas.search import MIN_IMPORTANCE_TRIALS, importance_key, importance_pool, report_value

    pool = importance_pool(candidates, objective)
    if space is None:
        return ImportanceData([], [], len(pool), objective.name, "the run's space file is missing; no importances")
    if len(pool) < MIN_IMPORTANCE_TRIALS:
        return ImportanceData([], [], len(pool), objective.name, "too few feasible trials for importances")
    key = importance_key(pool, space, objective, seed)
    imp = report_value(report or {}, "importances", key)
    if not isinstance(imp, dict):
        from analognas.search import param_importances
        from analognas.viz._cache import cached

        imp = cached(cache, "importances", key, lambda: param_importances(pool, space, objective, seed))
    names = list(imp)
    return ImportanceData(
        names,
        [float(imp[n]) for n in names],
        len(pool),
        objective.name,
        "fANOVA; stage parameters of absent stages count as 'absent'",
    )


def importance_figure(data: ImportanceData, title: str = "Parameter importances") -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    order = list(reversed(range(len(data.names))))
    fig.add_trace(
        go.Bar(
            x=[data.importances[i] for i in order],
            y=[data.names[i] for i in order],
            orientation="h",
            marker={"color": "#2ca02c"},
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
            name="importance",
        )
    )
    fig.update_layout(
        title=f"{title} for {data.target} ({data.n_trials} trials; {data.note})",
        xaxis={"title": {"text": "importance (fraction of variance)"}},
        template="plotly_white",
        height=max(320, 22 * len(data.names) + 140),
    )
    if not data.names:
        fig.add_annotation(text=data.note, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return fig


class VerificationPoint(NamedTuple):
    arch_id: str
    metric: str
    predicted: float
    predicted_std: float
    measured: float
    measured_std: float
    fidelity: str


def verification_plot_data(verified: Sequence[dict[str, Any]]) -> list[VerificationPoint]:
    """Rows of verified.json -> one point per architecture and metric (accuracy, AVM)."""
    out = []
    for v in verified:
        for metric in ("accuracy", "avm"):
            p, m = v.get("predicted", {}).get(metric), v.get("measured", {}).get(metric)
            if p is None or m is None or m.get("mean") is None:
                continue
            out.append(
                VerificationPoint(
                    str(v["arch_id"]),
                    metric,
                    float(p["mean"]),
                    float(p.get("std") or 0.0),
                    float(m["mean"]),
                    float(m.get("std") or 0.0),
                    str(v.get("fidelity", "")),
                )
            )
    return out


def verification_figure(points: Sequence[VerificationPoint], title: str = "Predicted against measured") -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("accuracy after drift (%)", "AVM (points)"))
    for col, metric in ((1, "accuracy"), (2, "avm")):
        pts = [p for p in points if p.metric == metric]
        if not pts:
            continue
        lo = min(min(p.predicted, p.measured) for p in pts)
        hi = max(max(p.predicted, p.measured) for p in pts)
        pad = max(0.5, 0.05 * (hi - lo))
        fig.add_trace(
            go.Scatter(
                x=[lo - pad, hi + pad],
                y=[lo - pad, hi + pad],
                mode="lines",
                name="measured = predicted",
                line={"dash": "dash", "color": "#999999"},
                showlegend=col == 1,
            ),
            row=1,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=[p.predicted for p in pts],
                y=[p.measured for p in pts],
                error_x={"type": "data", "array": [p.predicted_std for p in pts]},
                error_y={"type": "data", "array": [p.measured_std for p in pts]},
                mode="markers+text",
                text=[p.arch_id[:6] for p in pts],
                textposition="top center",
                marker={"size": 10, "color": "#9467bd"},
                name=f"verified ({metric})",
                customdata=[[p.arch_id, p.fidelity] for p in pts],
                hovertemplate="<b>%{customdata[0]}</b> (%{customdata[1]})<br>predicted %{x:.2f}<br>"
                "measured %{y:.2f}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text="predicted", row=1, col=col)
        fig.update_yaxes(title_text="measured", row=1, col=col)
    fig.update_layout(title=title, template="plotly_white", height=460)
    if not points:
        fig.add_annotation(
            text="no verified candidates (analognas search --verify K)",
            showarrow=False,
            x=0.5,
            y=0.5,
            xref="paper",
            yref="paper",
        )
    return fig
