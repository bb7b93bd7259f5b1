"""Plots: each is a data function (tested) plus a figure function (plotly)."""

from __future__ import annotations

from analognas.viz._compare_report import CompareReport, compare_report
from analognas.viz._drift import DriftSeries, drift_figure, drift_plot_data
from analognas.viz._html import write_html
from analognas.viz._search import (
    HistoryPlotData,
    ParetoPlotData,
    ParetoPoint,
    ReferencePoint,
    history_figure,
    history_plot_data,
    pareto_figure,
    pareto_plot_data,
)
from analognas.viz._search_dashboard import dashboard_figures, reference_points, write_search_dashboard
from analognas.viz._search_learned import (
    ImportanceData,
    VerificationPoint,
    importance_figure,
    importance_plot_data,
    verification_figure,
    verification_plot_data,
)

__all__ = [
    "CompareReport",
    "DriftSeries",
    "HistoryPlotData",
    "ImportanceData",
    "ParetoPlotData",
    "ParetoPoint",
    "ReferencePoint",
    "VerificationPoint",
    "compare_report",
    "dashboard_figures",
    "drift_figure",
    "drift_plot_data",
    "history_figure",
    "history_plot_data",
    "importance_figure",
    "importance_plot_data",
    "pareto_figure",
    "pareto_plot_data",
    "reference_points",
    "verification_figure",
    "verification_plot_data",
    "write_html",
    "write_search_dashboard",
]
