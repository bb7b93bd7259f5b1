"""The one progress bar of the CLI: rich, on stderr (stdout stays clean for `--json`).

It starts on its first update, so input errors found before any work show no bar, and it
is a no-op when quiet. One instance serves every callback shape the library has:
``bar(done, total, description)`` (training and drift; a new row per phase),
``bar.collect_event(event)`` (collect: records done, ETA, last architecture) and
``bar.search(progress)`` (search: trials done of the budget, best value so far).
"""

from __future__ import annotations

from typing import Any


class ProgressBar:
    def __init__(self, quiet: bool = False, label: str | None = None) -> None:
        self.quiet = quiet
        self.label = label
        """Fixed row label (one row); None: the description names the row (a row per phase)."""
        self._progress: Any = None
        self._task: Any = None
        self._phase = ""

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[extra]}"),
            console=Console(stderr=True),
        )
        self._progress.start()

    def update(self, done: int, total: int | None, description: str, extra: str = "", phase: str | None = None) -> None:
        """Move the bar; a new row starts whenever ``phase`` changes."""
        if self.quiet:
            return
        if self._progress is None:
            self._start()
        phase = description if phase is None else phase
        if self._task is None or phase != self._phase:
            self._task = self._progress.add_task(description, total=total, extra=extra)
            self._phase = phase
        self._progress.update(self._task, completed=done, total=total, description=description, extra=extra)

    def __call__(self, done: int, total: int, description: str) -> None:
        if self.label is not None:
            self.update(done, total, self.label, extra=description[:90], phase=self.label)
            return
        # "resnet32 fp32 epoch 3/20 loss ..." and "... t=1s programming 2/10" keep one row per phase
        self.update(done, total, description, phase=description.split(" epoch ")[0].split(" t=")[0])

    def collect_event(self, ev: Any) -> None:
        """`collect`'s callback: records done of n, ETA, last architecture, failures."""
        status = ev.current or (f"last {ev.last}" if ev.last else "")
        if ev.failed:
            status = f"[red]{ev.failed} failed[/red] {status}"
        eta = ev.eta
        text = "?" if eta is None else f"{int(eta // 3600)}:{int(eta % 3600 // 60):02d}:{int(eta % 60):02d}"
        self.update(ev.done, ev.total, self.label or "records", extra=f"ETA {text} {status[:90]}", phase="collect")

    def search(self, p: Any) -> None:
        """`search`'s callback: trials done of the budget and the best value so far."""
        best = "-" if p.best is None else f"{p.objective} {p.best:.4g}"
        name = p.name or self.label or "..."
        self.update(p.done, p.total, f"search [bold]{name}[/bold]", extra=f"best {best}", phase="search")
