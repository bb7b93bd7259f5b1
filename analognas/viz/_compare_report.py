"""`compare` as one library call: evaluate, pair, and write the figure and its data.

The CLI only parses flags and prints; everything a comparison decides (which architecture
is the baseline, where the files go, refusing to overwrite, the title that names the
protocol) is here, so a notebook gets the same files as the command line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analognas._atomic import write_atomic
from analognas._errors import ConfigError, OutputExistsError
from analognas.viz._drift import drift_figure, drift_plot_data
from analognas.viz._html import write_html


@dataclass(frozen=True)
class CompareReport:
    """A comparison and the two files that hold it (the HTML figure and compare's JSON)."""

    comparison: Any  # analognas.training.Comparison
    html: Path
    json: Path

    def to_dict(self) -> dict[str, Any]:
        c = self.comparison
        return {"html": str(self.html), "json": str(self.json), "rows": c.rows, "differences": c.differences}


def baseline_index(archs: list[str], labels: list[str], baseline: str | None) -> int:
    """Index of ``baseline`` among the compared architectures, by the name given or the
    spec's label; None is the last named."""
    if baseline is None:
        return -1
    if baseline in archs:
        return archs.index(baseline)
    if baseline in labels:
        return labels.index(baseline)
    raise ConfigError(f"--baseline {baseline!r} is not one of the compared architectures: {', '.join(archs)}")


def compare_report(
    archs: list[str],
    *,
    out: str | Path | None = None,
    force: bool = False,
    seeds: int = 1,
    baseline: str | None = None,
    seed: int = 0,
    dataset: str = "fashion-mnist",
    fidelity: Any,
    recipe: Any,
    drift: Any,
    **evaluate_kwargs: Any,
) -> CompareReport:
    """Evaluate ``archs`` (names, JSON specs or spec files) at ``seeds`` training seeds from
    ``seed`` on, pair each with ``baseline``, and write the figure and JSON.

    ``out`` None writes under ``runs/compare/`` (replacing an earlier figure of the same
    comparison); an explicit ``out`` that exists is refused unless ``force``. Remaining
    keyword arguments go to ``evaluate_architecture`` (store, progress, device, data_dir)."""
    from analognas.models import resolve_spec
    from analognas.training import MAX_SEEDS, compare_architectures

    specs = [resolve_spec(a) for a in archs]
    if not 1 <= seeds <= MAX_SEEDS:
        raise ConfigError(f"--seeds must be between 1 and {MAX_SEEDS}, got {seeds}")
    base = baseline_index(archs, [s.label for s in specs], baseline)
    modes = evaluate_kwargs.get("modes")
    only = "" if modes is None or {"hwa", "direct"} <= set(modes) else "-" + "-".join(m for m in modes if m != "fp32")
    names = "-".join(s.label for s in specs)
    stem = re.sub(r"[^A-Za-z0-9_.+-]", "_", f"{names}-{dataset}-{fidelity.name}-{recipe.name}{only}-s{seed}")
    default = Path("runs") / "compare" / f"{stem}.html"
    target = Path(out) if out is not None else default
    if out is not None and target.exists() and not force:
        raise OutputExistsError(f"{target} already exists; use --force to overwrite")
    result = compare_architectures(
        specs,
        seeds=tuple(range(seed, seed + seeds)),
        baseline=base,
        dataset=dataset,
        fidelity=fidelity,
        recipe=recipe,
        drift=drift,
        **evaluate_kwargs,
    )
    data = result.to_dict()
    title = (
        f"{' vs '.join(s.label for s in specs)} on {dataset} ({fidelity.name} fidelity, recipe {recipe.name},"
        f" {seeds} training seed{'s' if seeds > 1 else ''} x {drift.repeats} programmings)"
    )
    html = write_html([drift_figure(drift_plot_data(data["evaluations"]), title)], target, title, force=True)
    json_path = html.with_suffix(".json")
    write_atomic(json_path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return CompareReport(result, html, json_path)
