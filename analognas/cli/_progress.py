"""Rich progress bars on stderr (stdout stays clean for `--json`)."""

from __future__ import annotations

from typing import Any


class ProgressBar:
    """A callable `progress(done, total, description)`; a no-op when quiet."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self._progress: Any = None
        self._task: Any = None
        self._desc = ""

    def __enter__(self) -> ProgressBar:
        if not self.quiet:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, done: int, total: int, description: str) -> None:
        if self._progress is None:
            return
        phase = description.split(" epoch ")[0].split(" t=")[0]
        if self._task is None or phase != self._desc:
            self._task = self._progress.add_task(description, total=total)
            self._desc = phase
        self._progress.update(self._task, completed=done, total=total, description=description)
