"""`analognas register`: a run's winner becomes a named zoo entry.

Written to the user zoo file (`user_zoo_path()`, env ANALOGNAS_ZOO), which the registry
loads on every lookup, so `evaluate`, `compare`, `export` and `arch show` take the name
like a built-in. Built-in names are never shadowed; other existing names need `force`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from analognas._errors import ConfigError, OutputExistsError
from analognas.search._results import Candidate, read_trials_csv
from analognas.search._run import DEFAULT_RUNS_DIR, RunFolder, read_json, resolve_run_dir


def pick_candidate(folder: RunFolder, pick: str) -> tuple[Candidate, str]:
    """`best`, `pareto:K` (1-based, most accurate first) or an architecture id (prefix ok)."""
    p = pick.strip()
    if p == "best":
        if not folder.best_file.exists():
            raise ConfigError(f"{folder.path}: no feasible architecture was found (no best.json)")
        return Candidate.from_dict(read_json(folder.best_file, "best file")), "best"
    if p.startswith("pareto"):
        _, _, k_text = p.partition(":")
        try:
            k = int(k_text or "1")
        except ValueError:
            raise ConfigError(f"--pick {pick!r}: use pareto:K with K a positive integer") from None
        front = read_json(folder.pareto_file, "Pareto file").get("candidates", [])
        if not 1 <= k <= len(front):
            raise ConfigError(f"--pick {pick!r}: the Pareto front of {folder.name} has {len(front)} architectures")
        return Candidate.from_dict(front[k - 1]), f"pareto:{k}"
    if not folder.trials_file.exists():
        raise ConfigError(f"{folder.path}: no {folder.trials_file.name}")
    rows = read_trials_csv(folder.trials_file.read_text(encoding="utf-8"))
    hits = {c.arch_id: c for c in rows if c.arch_id.startswith(p.lower()) and c.spec is not None}
    if not hits:
        raise ConfigError(f"--pick {pick!r}: not 'best', 'pareto:K' or an architecture id of run {folder.name}")
    if len(hits) > 1:
        raise ConfigError(f"--pick {pick!r} matches {len(hits)} architectures; give more of the id")
    cand = next(iter(hits.values()))
    return cand, cand.arch_id


def register_winner(
    run: str | Path,
    *,
    pick: str = "best",
    name: str,
    description: str | None = None,
    force: bool = False,
    runs_dir: Path = DEFAULT_RUNS_DIR,
) -> dict[str, Any]:
    """Save the picked spec under `name` in the user zoo; return what was written."""
    from analognas._errors import UnknownArchitectureError
    from analognas.models import get_entry, load_zoo_file, save_to_zoo_file, user_zoo_path

    if not name or not name.strip() or any(ch.isspace() for ch in name) or name.startswith(("{", "-")):
        raise ConfigError(f"--as {name!r}: a zoo name needs no spaces and must not start with '{{' or '-'")
    if name.lower().endswith(".json"):
        raise ConfigError(f"--as {name!r}: a name ending in .json would be read as a spec file")
    folder = resolve_run_dir(run, runs_dir)
    cand, how = pick_candidate(folder, pick)
    if cand.spec is None:
        raise ConfigError(f"{folder.path}: the picked trial has no architecture spec")
    zoo = user_zoo_path()
    try:
        entry = get_entry(name)
    except UnknownArchitectureError:
        entry = None
    if entry is not None and entry.source == "builtin":
        raise OutputExistsError(f"{entry.name!r} is a built-in architecture; choose another name")
    if entry is not None and not force:
        raise OutputExistsError(
            f"{entry.name!r} is already in the user zoo ({entry.source}); use --force to replace it"
        )
    info = read_json(folder.run_file, "run file")
    meta = {
        "run": str(folder.path),
        "pick": how,
        "trial": cand.number,
        "arch_id": cand.arch_id,
        "predicted": {k: {"mean": m, "std": s} for k, (m, s) in cand.predicted.items()},
        "cost": cand.cost,
        "drift": info.get("drift"),
        "surrogate": info.get("surrogate"),
        "space": info.get("space"),
    }
    acc = cand.predicted.get("accuracy")
    default_desc = f"search winner from {folder.name} ({how})" + (
        f": predicted {acc[0]:.2f}% after drift" if acc else ""
    )
    save_to_zoo_file(zoo, name, cand.spec, description or default_desc, meta)
    load_zoo_file(zoo)  # this process sees the new entry too
    return {"name": name, "zoo": str(zoo), "run": str(folder.path), "spec": json.loads(cand.spec.to_json()), **meta}
