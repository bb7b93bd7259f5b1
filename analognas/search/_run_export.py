"""What a finished search leaves in its run folder: run info, trials CSV, best and Pareto files."""

from __future__ import annotations

import datetime as _dt
import os
import socket
from typing import Any

from analognas._storage import OpenedStorage
from analognas.search._objectives import Objective
from analognas.search._probe import Probe
from analognas.search._results import (
    Candidate,
    best_candidate,
    pareto_axes,
    pareto_front,
    trials_csv,
)
from analognas.search._run import (
    RUN_FORMAT,
    RunFolder,
    write_json_atomic,
    write_text_atomic,
)
from analognas.search._search_config import (
    SearchConfig,
)
from analognas.search._surrogate_link import SurrogateLink
from analognas.space import SearchSpace


def _write_run_info(
    folder: RunFolder,
    config: SearchConfig,
    name: str,
    identity: dict[str, Any],
    link: SurrogateLink,
    opened: OpenedStorage,
    probe: Probe,
    sampler_kind: str,
    space: SearchSpace,
    cands: list[Candidate] | None,
) -> None:
    import optuna

    import analognas

    previous = folder.read_info() if folder.run_file.exists() else None
    now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    info: dict[str, Any] = {
        "format": RUN_FORMAT,
        "name": name,
        "identity": identity,
        "space": {"name": space.name, "path": str(space.source), "fingerprint": space.fingerprint},
        "surrogate": link.to_dict(),
        "objectives": [{"name": o.name, "direction": o.direction.value, "label": o.label} for o in _objs(identity)],
        "drift": float(config.drift),
        "storage": {"kind": opened.kind, "url": opened.display},
        "study_name": name,
        "budget": config.budget,
        "seed": config.seed,
        "sampler": sampler_kind,
        "batch_size": config.batch_size,
        "probe": probe.to_dict(),
        "created": (previous or {}).get("created", now),
        "updated": now,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "versions": {"analognas": getattr(analognas, "__version__", "0"), "optuna": optuna.__version__},
    }
    if cands is not None:
        info["n_trials"] = len(cands)
        info["states"] = {s: sum(1 for c in cands if c.state == s) for s in ("COMPLETE", "PRUNED", "FAIL")}
    write_json_atomic(folder.run_file, info)


def _objs(identity: dict[str, Any]) -> list[Objective]:
    from analognas.search._objectives import OBJECTIVES

    return [OBJECTIVES[item.split(":")[0]] for item in identity["objectives"]]


def export_run(
    folder: RunFolder,
    cands: list[Candidate],
    space: SearchSpace,
    objectives: tuple[Objective, ...],
    targets: tuple[str, ...],
    name: str,
    identity: dict[str, Any],
    link: SurrogateLink,
) -> dict[str, str]:
    """trials.csv, best.json and pareto.json from the study's trials (atomic writes)."""
    axes = pareto_axes(objectives)
    best = best_candidate(cands, objectives)
    front = pareto_front(cands, axes)
    header = {
        "run": name,
        "objectives": [{"name": o.name, "direction": o.direction.value} for o in objectives],
        "drift": identity["drift"],
        "surrogate": link.to_dict(),
        "space": identity["space"],
    }
    write_text_atomic(folder.trials_file, trials_csv(cands, space, objectives, list(targets)))
    if best is not None:
        write_json_atomic(folder.best_file, {**header, **best.to_dict()})
    write_json_atomic(
        folder.pareto_file,
        {
            **header,
            "axes": [{"name": o.name, "direction": o.direction.value} for o in axes],
            "candidates": [c.to_dict() for c in front],
        },
    )
    files = {"trials": str(folder.trials_file), "pareto": str(folder.pareto_file), "run": str(folder.run_file)}
    if best is not None:
        files["best"] = str(folder.best_file)
    return files
