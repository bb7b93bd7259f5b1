"""Plots: each is a data function (tested) plus a figure function (plotly)."""

from __future__ import annotations

from analognas.viz._drift import DriftSeries, drift_figure, drift_plot_data
from analognas.viz._html import write_html

__all__ = ["DriftSeries", "drift_figure", "drift_plot_data", "write_html"]
