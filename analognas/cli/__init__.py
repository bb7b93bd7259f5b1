"""Command line: `analognas --help`."""

from __future__ import annotations

from analognas.cli import _arch, _search, _surrogate, _train  # noqa: F401  (register commands)
from analognas.cli._app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
