"""Command line: `analognas --help`."""

from __future__ import annotations

from analognas.cli import _arch  # noqa: F401  (registers commands)
from analognas.cli._app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
