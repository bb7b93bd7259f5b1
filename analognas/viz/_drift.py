"""The classic AIMC figure: test accuracy against time after programming.

Split as Optuna does: `drift_plot_data` computes plain series from evaluation results
(tested), `drift_figure` only draws them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STYLE = {
    "fp32": {"dash": "dash", "symbol": "line-ew", "label": "FP32 baseline"},
    "hwa": {"dash": "solid", "symbol": "square", "label": "HWA training"},
    "direct": {"dash": "dot", "symbol": "diamond", "label": "direct mapping of FP32 weights"},
}


@dataclass(frozen=True)
class DriftSeries:
    arch: str
    mode: str
    times: tuple[float, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]


def drift_plot_data(evaluations: list[dict[str, Any]]) -> list[DriftSeries]:
    """Series for each architecture: FP32 flat across the measured times, HWA and direct curves.

    `evaluations` are `ArchEvaluation.to_dict()` results.
    """
    series = []
    for ev in evaluations:
        times: tuple[float, ...] = ()
        for mode in ("hwa", "direct"):
            curve = ev["curves"].get(mode)
            if curve:
                times = tuple(curve["times"])
                series.append(DriftSeries(ev["name"], mode, times, tuple(curve["mean"]), tuple(curve["std"])))
        if times:
            n = len(times)
            series.insert(
                len(series) - len([m for m in ("hwa", "direct") if ev["curves"].get(m)]),
                DriftSeries(ev["name"], "fp32", times, (ev["fp32_accuracy"],) * n, (0.0,) * n),
            )
    return series


def drift_figure(series: list[DriftSeries], title: str = "Accuracy after programming onto PCM"):
    import plotly.graph_objects as go

    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    archs = list(dict.fromkeys(s.arch for s in series))
    fig = go.Figure()
    for s in series:
        st, color = STYLE[s.mode], palette[archs.index(s.arch) % len(palette)]
        fig.add_trace(
            go.Scatter(
                x=list(s.times),
                y=list(s.mean),
                error_y={"type": "data", "array": list(s.std), "visible": s.mode != "fp32"},
                mode="lines" if s.mode == "fp32" else "lines+markers",
                line={"dash": st["dash"], "color": color},
                marker={"symbol": st["symbol"], "size": 8},
                name=f"{s.arch}: {st['label']}",
                hovertemplate="%{x:.3g} s: %{y:.2f}%<extra>" + f"{s.arch} {s.mode}" + "</extra>",
            )
        )
    fig.update_layout(
        title=title,
        xaxis={"type": "log", "title": "time after programming (s)"},
        yaxis={"title": "test accuracy (%)"},
        template="plotly_white",
        legend={"orientation": "h", "y": -0.2},
        height=560,
    )
    return fig
