"""The accuracy-versus-time figure: its data function, and a self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

import pytest

from analognas import OutputExistsError
from analognas.viz import drift_figure, drift_plot_data, write_html

TIMES = [1.0, 3600.0, 86400.0, 2592000.0]


def _ev(name: str, fp32: float, hwa: list[float], direct: list[float] | None) -> dict:
    curves = {"hwa": {"times": TIMES, "mean": hwa, "std": [0.1] * 4}}
    if direct is not None:
        curves["direct"] = {"times": TIMES, "mean": direct, "std": [1.0] * 4}
    return {"name": name, "fp32_accuracy": fp32, "curves": curves}


def test_plot_data_has_flat_fp32_and_both_curves() -> None:
    series = drift_plot_data([_ev("T500", 90.0, [89, 88, 88, 87], [85, 80, 78, 75]), _ev("r32", 91.0, [88] * 4, None)])
    assert [(s.arch, s.mode) for s in series] == [
        ("T500", "fp32"),
        ("T500", "hwa"),
        ("T500", "direct"),
        ("r32", "fp32"),
        ("r32", "hwa"),
    ]
    fp32 = series[0]
    assert fp32.times == tuple(TIMES) and set(fp32.mean) == {90.0}
    assert series[2].mean[-1] == 75


def test_html_is_self_contained_and_refuses_overwrite(tmp_path: Path) -> None:
    fig = drift_figure(drift_plot_data([_ev("T500", 90.0, [89, 88, 88, 87], [85, 80, 78, 75])]))
    assert fig.layout.xaxis.type == "log"
    out = write_html([fig], tmp_path / "c.html", "test")
    html = out.read_text()
    assert "<script" in html and "Plotly.newPlot" in html
    assert "<script src=" not in html  # plotly.js is inlined: the file works offline
    with pytest.raises(OutputExistsError):
        write_html([fig], out, "test")
