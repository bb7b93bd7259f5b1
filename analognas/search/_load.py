"""A finished (or interrupted) run read back from its folder, for reports and `register`.

Reads the files the search wrote (run.json, trials.csv, verified.json), never the Optuna
storage: a run folder copied away from its database still opens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analognas._errors import ConfigError, SpaceError
from analognas.search._objectives import OBJECTIVES, Objective
from analognas.search._results import Candidate, read_trials_csv
from analognas.search._run import DEFAULT_RUNS_DIR, RunFolder, read_json, resolve_run_dir
from analognas.space import SPACES_DIR, SearchSpace, load_space


@dataclass
class SearchRun:
    folder: RunFolder
    info: dict[str, Any]
    candidates: list[Candidate]
    objectives: tuple[Objective, ...]
    space: SearchSpace | None
    """The space file, if it is still where the run found it (or in `search_spaces/`) unchanged."""
    verified: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.info.get("name", self.folder.name))

    @property
    def drift(self) -> float:
        return float(self.info.get("drift", 86_400.0))

    @property
    def surrogate_path(self) -> Path | None:
        p = (self.info.get("surrogate") or {}).get("path")
        return Path(p) if p else None


def _find_space(info: dict[str, Any]) -> SearchSpace | None:
    want = (info.get("space") or {}).get("fingerprint")
    tried = []
    for ref in ((info.get("space") or {}).get("path"), (info.get("space") or {}).get("name")):
        if not ref:
            continue
        for cand in (Path(ref), SPACES_DIR / f"{ref}.toml"):
            if cand in tried or not cand.is_file():
                continue
            tried.append(cand)
            try:
                space = load_space(cand)
            except SpaceError:
                continue
            if space.fingerprint == want:
                return space
    return None


def load_run(run: str | Path, runs_dir: Path = DEFAULT_RUNS_DIR) -> SearchRun:
    folder = resolve_run_dir(run, runs_dir)
    info = read_json(folder.run_file, "run file")
    names = [o.get("name") for o in info.get("objectives", [])]
    if not names or any(n not in OBJECTIVES for n in names):
        raise ConfigError(f"{folder.run_file}: unknown objectives {names!r}")
    if not folder.trials_file.exists():
        raise ConfigError(f"{folder.path}: no {folder.trials_file.name} yet; run the search again to write it")
    cands = read_trials_csv(folder.trials_file.read_text(encoding="utf-8"))
    verified = []
    if folder.verified_file.exists():
        data = read_json(folder.verified_file, "verification file")
        verified = list(data.get("items", [])) if isinstance(data, dict) else []
    return SearchRun(folder, info, cands, tuple(OBJECTIVES[n] for n in names), _find_space(info), verified)
