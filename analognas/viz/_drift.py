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

    `evaluations` are `ArchEvaluation.to_dict()` results. Several evaluations of one
    architecture (training seeds) are pooled: mean and std over every (seed, programming)
    sample, FP32 averaged over the seeds.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for ev in evaluations:
        groups.setdefault(ev["name"], []).append(ev)
    series = []
    for name, evs in groups.items():
        times: tuple[float, ...] = ()
        curves = []
        for mode in ("hwa", "direct"):
            parts = [ev["curves"].get(mode) for ev in evs]
            if not all(parts):
                continue
            times = tuple(parts[0]["times"])
            rows = [row for c in parts for row in c.get("per_repeat") or [c["mean"]]]
            if len(parts) == 1:
                mean, std = tuple(parts[0]["mean"]), tuple(parts[0]["std"])
            else:
                mean, std = _mean_std_columns(rows)
            curves.append(DriftSeries(name, mode, times, mean, std))
        if times:
            fp32 = sum(ev["fp32_accuracy"] for ev in evs) / len(evs)
            series.append(DriftSeries(name, "fp32", times, (fp32,) * len(times), (0.0,) * len(times)))
        series += curves
    return series


def _mean_std_columns(rows: list[list[float]]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    n = len(rows)
    cols = list(zip(*rows, strict=True))
    mean = tuple(sum(c) / n for c in cols)
    std = tuple(
        (sum((v - m) ** 2 for v in c) / (n - 1)) ** 0.5 if n > 1 else 0.0 for c, m in zip(cols, mean, strict=True)
    )
    return mean, std


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
