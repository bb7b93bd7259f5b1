"""A run folder (`runs/NAME/`) and the identity that decides "resume" or "refuse".

Running the same command twice must resume, and running a *different* search under an
existing name must not silently mix two experiments in one study. The identity is what
makes trial values comparable: the space's content, the surrogate's bytes, the
objectives, the constraints and the drift time. Budget, seed and sampler may change
between invocations (a larger budget extends a finished run).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analognas._atomic import write_atomic
from analognas._errors import ConfigError, OutputExistsError

RUN_FORMAT = 1
RUN_FILE = "run.json"
TRIALS_FILE = "trials.csv"
BEST_FILE = "best.json"
PARETO_FILE = "pareto.json"
VERIFIED_FILE = "verified.json"
REPORT_FILE = "report.json"
"""What the dashboard needs that only the surrogate (or scikit-learn) knows, written at search time."""
DEFAULT_RUNS_DIR = Path("runs")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_run_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(
            f"--name {name!r}: use letters, digits, '.', '_' and '-' (at most 100, not starting with a symbol)"
        )
    return name


def write_text_atomic(path: Path, text: str) -> Path:
    """Write via a temp file and rename (``write_atomic``), with the usual 0666 & ~umask."""
    return write_atomic(path, text, mode=None)


def write_json_atomic(path: Path, data: Any) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc}") from None


def identity_diff(existing: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """Human-readable differences between two run identities (empty: same experiment)."""
    out = []
    for key in sorted(set(existing) | set(wanted)):
        a, b = existing.get(key), wanted.get(key)
        if a != b:
            out.append(f"{key} {_short(a)} (existing) != {_short(b)} (this search)")
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass(frozen=True)
class RunFolder:
    """Paths of one run; nothing is created until a search writes."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def run_file(self) -> Path:
        return self.path / RUN_FILE

    @property
    def trials_file(self) -> Path:
        return self.path / TRIALS_FILE

    @property
    def best_file(self) -> Path:
        return self.path / BEST_FILE

    @property
    def pareto_file(self) -> Path:
        return self.path / PARETO_FILE

    @property
    def verified_file(self) -> Path:
        return self.path / VERIFIED_FILE

    def read_info(self) -> dict[str, Any] | None:
        if not self.run_file.exists():
            return None
        data = read_json(self.run_file, "run file")
        if not isinstance(data, dict) or "identity" not in data:
            raise ConfigError(f"{self.run_file}: not an analognas run file (no 'identity')")
        return data

    def claim(self, identity: dict[str, Any], force: bool) -> bool:
        """Check an existing run against `identity`; True if it is the same experiment.

        With `force`, a mismatching run's files are removed so the search starts over.
        """
        info = self.read_info()
        if info is None:
            return False
        diff = identity_diff(info["identity"], identity)
        if not diff:
            return True
        if not force:
            raise OutputExistsError(
                f"run {self.name!r} ({self.path}) exists with a different setup: {'; '.join(diff)};"
                " use --force to start it over or choose another --name"
            )
        self.clear()
        return False

    def clear(self) -> None:
        """Remove what a search wrote here (keeps unrelated files a user may have added)."""
        from analognas._storage import JOURNAL_NAME

        for name in (RUN_FILE, TRIALS_FILE, BEST_FILE, PARETO_FILE, VERIFIED_FILE, REPORT_FILE, "dashboard.html"):
            (self.path / name).unlink(missing_ok=True)
        for suffix in ("", ".lock", ".gate"):
            (self.path / f"{JOURNAL_NAME}{suffix}").unlink(missing_ok=True)


def resolve_run_dir(ref: str | Path, runs_dir: Path = DEFAULT_RUNS_DIR) -> RunFolder:
    """`runs/NAME`, an absolute path, or a bare NAME looked up under `runs_dir`."""
    p = Path(ref)
    if not (p / RUN_FILE).exists() and not p.is_absolute() and len(p.parts) == 1 and (runs_dir / p).is_dir():
        p = runs_dir / p
    if not p.is_dir():
        raise ConfigError(f"{p}: no such run folder")
    if not (p / RUN_FILE).exists():
        raise ConfigError(f"{p}: not a search run (no {RUN_FILE}); run `analognas search --name ...` first")
    return RunFolder(p)
