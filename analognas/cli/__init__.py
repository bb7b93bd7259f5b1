"""Command line: `analognas --help`."""

from __future__ import annotations

import os
import sys

#: Commands whose work is many small array operations (surrogate predictions, Optuna,
#: look-ups): BLAS/OpenMP threads gain them nothing and, on a busy machine, cost 3-7x by
#: oversubscription. They run single-threaded unless the user set a thread count.
SINGLE_THREADED = frozenset({"search", "surrogate", "dashboard", "space", "arch", "register", "export"})
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _pin_threads(argv: list[str]) -> None:
    """Must run before numpy/torch/sklearn are imported: thread pools read these once."""
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in SINGLE_THREADED:
        for var in THREAD_VARS:
            os.environ.setdefault(var, "1")


_pin_threads(sys.argv[1:])

from analognas.cli import _arch, _search, _surrogate, _train  # noqa: E402, F401  (register commands)
from analognas.cli._app import app  # noqa: E402


def main() -> None:
    """The ``analognas`` script. The allocator is tuned here, not on import, so a process
    that only imports the CLI (a test, a notebook) keeps its own malloc settings."""
    from analognas._malloc import tune_glibc_malloc

    tune_glibc_malloc()  # analog reads spend a third to two thirds of their time in page faults otherwise
    app()


__all__ = ["app", "main"]
