"""Self-contained HTML files from plotly figures."""

from __future__ import annotations

from pathlib import Path

from analognas._atomic import write_atomic
from analognas._errors import OutputExistsError


def write_html(figures: list, path: str | Path, title: str, force: bool = False, intro: str = "") -> Path:
    """One HTML file holding every figure and the plotly.js library itself (works offline)."""
    import plotly.io as pio

    out = Path(path)
    if out.exists() and not force:
        raise OutputExistsError(f"{out} already exists; use --force to overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    parts = []
    for i, fig in enumerate(figures):
        parts.append(pio.to_html(fig, full_html=False, include_plotlyjs=(i == 0), div_id=f"fig{i}"))
    html = (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
        f"<title>{title}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:24px;max-width:1200px}</style></head><body>"
        f"<h1>{title}</h1>{intro}" + "\n".join(parts) + "</body></html>\n"
    )
    return write_atomic(out, html)  # 0644: a report is meant to be shared
