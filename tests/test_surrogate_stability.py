"""Stability of the cross-validated figures: other splits, learning curve, coverage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analognas.cli import app
from analognas.surrogate import SurrogateError, cv_stability, load_surrogate, stability_markdown


@pytest.mark.slow
def test_the_fit_split_reproduces_the_stored_tau_and_other_splits_vary(resnet_surrogate: Path) -> None:
    sur = load_surrogate(resnet_surrogate)
    figs = cv_stability(sur, splits=3, fractions=(0.5, 1.0))
    assert set(figs) == set(sur.targets)
    for target, g in figs.items():
        assert g["kendall_tau"] == pytest.approx(sur.models[target].cv["kendall_tau"], abs=1e-12)
        assert g["model"] == sur.models[target].kind
        values = g["split_kendall_tau"]["values"]
        assert len(values) == 3 and all(-1 <= v <= 1 for v in values)
        assert len(set(values)) > 1  # a different shuffle is a different estimate
        curve = g["learning_curve"]
        assert [c["n"] for c in curve] == [round(0.5 * len(sur.X)), len(sur.X)]
        assert curve[-1]["kendall_tau"] == pytest.approx(g["kendall_tau"], abs=1e-12)  # all records, fit split
        assert 0 <= g["coverage_1sd"] <= g["coverage_2sd"] <= 1
        assert g["coverage_2sd"] > 0.5  # a calibrated std covers most residuals at 2 sd
    table = stability_markdown(figs)
    assert table.count("\n") == 2 + len(figs) and "τ at n=" in table


@pytest.mark.slow
def test_bad_settings_and_the_cli(resnet_surrogate: Path) -> None:
    sur = load_surrogate(resnet_surrogate)
    with pytest.raises(SurrogateError, match="splits must be"):
        cv_stability(sur, splits=0)
    with pytest.raises(SurrogateError, match="fractions must be"):
        cv_stability(sur, fractions=(0.0,))
    res = CliRunner().invoke(app, ["surrogate", "report", str(resnet_surrogate), "--stability", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert set(data["stability"]) == set(sur.targets)
    assert len(data["stability"]["accuracy"]["split_kendall_tau"]["values"]) == 5
