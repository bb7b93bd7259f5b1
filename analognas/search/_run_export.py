"""What a finished search leaves in its run folder: run info, trials CSV, best and Pareto
files, and `report.json`: what the dashboard would otherwise have to recompute with the
surrogate and scikit-learn (the reference architectures' predictions by the run's own
surrogate, and the fANOVA importances of the first objective), keyed by content so a
report only uses an entry computed from exactly the data it would have used itself."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from analognas._storage import OpenedStorage
from analognas.search._objectives import Objective
from analognas.search._probe import Probe
from analognas.search._results import (
    Candidate,
    best_candidate,
    pareto_axes,
    pareto_front,
    read_trials_csv,
    trials_csv,
)
from analognas.search._run import (
    REPORT_FILE,
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
    report: bool = True,
) -> dict[str, str]:
    """trials.csv, best.json and pareto.json from the study's trials (atomic writes), and
    ``report.json`` unless ``report`` is False (an interrupted search exports what it has at
    once and leaves the report, about a second of fANOVA, to the dashboard)."""
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
    table = trials_csv(cands, space, objectives, list(targets))
    write_text_atomic(folder.trials_file, table)
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
    if report and write_report(folder, read_trials_csv(table), space, objectives, link) is not None:
        files["report"] = str(folder.path / REPORT_FILE)
    return files


# --- report.json: what the dashboard needs that only the surrogate (or scikit-learn) knows ---
REPORT_FORMAT = 1
#: The zoo architectures a report places beside the candidates.
REFERENCE_ARCHS = ("resnet32", "T500")
#: The seed of the stored importances (the dashboard's default `--seed`).
REPORT_SEED = 0
#: Fewer feasible trials than this get no importances (a note says why).
MIN_IMPORTANCE_TRIALS = 4


def content_digest(key: Any) -> str:
    """sha256 of ``key`` as sorted JSON: what report (and dashboard cache) entries are keyed by."""
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


def importance_pool(cands: Sequence[Candidate], objective: Objective) -> list[Candidate]:
    """The trials importances are computed on: completed, feasible, with the objective's value."""
    return [c for c in cands if c.complete and c.feasible and objective.name in c.values and c.params]


def importance_key(pool: Sequence[Candidate], space: SearchSpace, objective: Objective, seed: int) -> list[Any]:
    """Everything the importances of ``pool`` depend on."""
    return [objective.name, seed, space.fingerprint, [[c.number, c.params, c.values[objective.name]] for c in pool]]


def references_key(surrogate_hash: str, arch_ids: Sequence[str]) -> list[Any]:
    """The run's surrogate (by the hash run.json records) and the reference architectures."""
    return ["references", surrogate_hash, list(arch_ids)]


def predict_references(surrogate: Any, specs: Sequence[Any]) -> list[Any]:
    """Per spec: ``{target: (mean, std)}``, or the reason it could not be predicted."""
    preds: list[Any] = []
    for spec in specs:
        try:
            out = surrogate.predict([spec])
            preds.append({k: (float(m[0]), float(s[0])) for k, (m, s) in out.items()})
        except Exception as exc:
            preds.append(f"not predicted: {' '.join(str(exc).split())}")
    return preds


def read_report(folder: RunFolder) -> dict[str, Any]:
    """The entries of ``RUN/report.json`` (name -> {"key", "value"}); empty if there is none
    or it cannot be read (an older run: the dashboard then computes what it needs)."""
    try:
        data = json.loads((folder.path / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != REPORT_FORMAT:
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict) and "key" in v and "value" in v}


def report_value(report: dict[str, Any], name: str, key: Any) -> Any:
    """The stored value of entry ``name`` if it was computed for ``key``, else None."""
    entry = report.get(name)
    return entry["value"] if entry is not None and entry["key"] == content_digest(key) else None


def write_report(
    folder: RunFolder,
    cands: list[Candidate],
    space: SearchSpace,
    objectives: tuple[Objective, ...],
    link: SurrogateLink,
) -> Path | None:
    """Write report.json for ``cands`` as read back from trials.csv (the dashboard's input).

    Entries still valid in an existing report are kept, not recomputed (a resumed run with
    no new trials, the other workers of a shared study). Best effort: anything that fails
    is left out and the dashboard computes it as before."""
    old = read_report(folder)
    entries: dict[str, Any] = {}
    for name, entry in (("references", _references_entry), ("importances", _importances_entry)):
        try:
            found = entry(old, cands, space, objectives, link)
        except Exception:
            found = None
        if found is not None:
            entries[name] = found
    if not entries:
        return None
    text = json.dumps({"format": REPORT_FORMAT, **entries}, indent=1) + "\n"  # keys unsorted: importances rank
    try:
        return write_text_atomic(folder.path / REPORT_FILE, text)
    except OSError:
        return None


def _references_entry(
    old: dict[str, Any],
    cands: list[Candidate],
    space: SearchSpace,
    objectives: tuple[Objective, ...],
    link: SurrogateLink,
) -> dict[str, Any] | None:
    from analognas.models import get_spec

    specs = [get_spec(n) for n in REFERENCE_ARCHS]
    key = references_key(link.hash, [s.arch_id for s in specs])
    if report_value(old, "references", key) is not None:
        return dict(old["references"])
    sur = _reference_surrogate(link)
    if sur is None:
        return None
    return {"key": content_digest(key), "names": list(REFERENCE_ARCHS), "value": predict_references(sur, specs)}


def _reference_surrogate(link: SurrogateLink) -> Any:
    """The surrogate the references are predicted by: the run's own, or (for anything that
    merely wraps one, such as a test's recorder) a fresh load of the file the run records."""
    from analognas.surrogate import Surrogate, load_surrogate

    if isinstance(link.surrogate, Surrogate):
        return link.surrogate
    if link.path is not None and link.path.is_file():
        return load_surrogate(link.path)
    return None


def _importances_entry(
    old: dict[str, Any],
    cands: list[Candidate],
    space: SearchSpace,
    objectives: tuple[Objective, ...],
    link: SurrogateLink,
) -> dict[str, Any] | None:
    from analognas.search._importance import param_importances

    pool = importance_pool(cands, objectives[0])
    if len(pool) < MIN_IMPORTANCE_TRIALS:
        return None
    key = importance_key(pool, space, objectives[0], REPORT_SEED)
    value = report_value(old, "importances", key)
    if value is None:
        value = param_importances(pool, space, objectives[0], REPORT_SEED)
    return {"key": content_digest(key), "value": value}
