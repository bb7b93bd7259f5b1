"""Measurement records: what one is, how it is keyed, and how a fit selects them.

A record is one architecture measured once by the project's own pipeline (FP32 training,
HWA fine-tuning, PCM drift evaluation over independent programmings). It is
self-describing: spec, space, dataset, fidelity, recipe, drift settings, seed, results,
cost metrics, timings and package versions travel with it, so a file of records can be
judged, filtered and refitted years later without the code that wrote it.

Records measured under different conditions are different quantities. A fit therefore
works on one *cohort* (same space, dataset, fidelity, recipe and drift settings); the
rest are dropped with a stated reason rather than averaged in.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analognas.space import ArchSpec, SearchSpace
from analognas.surrogate._cohort import Cohort, cohort_words
from analognas.surrogate._errors import SurrogateError
from analognas.surrogate._store import BadLine, RecordStore

if TYPE_CHECKING:
    from analognas.surrogate._surrogate import Surrogate

RECORD_FORMAT = 1
ONE_SECOND, ONE_DAY, ONE_MONTH = 1.0, 86_400.0, 2_592_000.0
DEFAULT_RECORDS_DIR = Path("surrogates") / "records"
TARGETS = ("accuracy", "avm", "spread")
"""accuracy: HWA accuracy (%) at the drift time; avm: accuracy at 1 s minus at 1 month
(points lost to drift); spread: std (points) of accuracy over programmings at the time."""


def record_key(arch_id: str, fidelity_hash: str, recipe_hash: str, drift_hash: str, seed: int) -> str:
    """What makes two measurements the same measurement (and a re-run a no-op)."""
    return f"{arch_id}-f{fidelity_hash}-r{recipe_hash}-d{drift_hash}-s{seed}"


def default_records_path(space_name: str, dataset: str, fidelity_name: str, root: str | Path | None = None) -> Path:
    """`surrogates/records/<space>-<dataset>-<fidelity>.jsonl`."""
    safe = fidelity_name.replace("/", "_")
    return Path(root or DEFAULT_RECORDS_DIR) / f"{space_name}-{dataset}-{safe}.jsonl"


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def make_record(
    evaluation: dict[str, Any],
    *,
    key: str,
    space: SearchSpace,
    drift_hash: str,
    depth: int,
    wall_seconds: float,
    versions: dict[str, str],
) -> dict[str, Any]:
    """A record from `ArchEvaluation.to_dict()` of an HWA evaluation (no re-measuring)."""
    curve = evaluation["curves"]["hwa"]
    return {
        "format": RECORD_FORMAT,
        "key": key,
        "arch_id": evaluation["arch_id"],
        "spec": evaluation["spec"],
        "space": {"name": space.name, "fingerprint": space.fingerprint},
        "dataset": evaluation["dataset"],
        "fidelity": evaluation["fidelity"],
        "fidelity_name": evaluation["fidelity"]["name"],
        "fidelity_hash": evaluation["fidelity_hash"],
        "recipe": evaluation["recipe"],
        "recipe_name": evaluation["recipe"].get("name"),
        "recipe_hash": evaluation["recipe_hash"],
        "drift": evaluation["drift"],
        "drift_hash": drift_hash,
        "seed": evaluation["seed"],
        "fp32_accuracy": evaluation["fp32_accuracy"],
        "hwa_accuracy": evaluation["hwa_digital_accuracy"],
        "accuracy": {
            "times": curve["times"],
            "mean": curve["mean"],
            "std": curve["std"],
            "per_repeat": curve["per_repeat"],
        },
        "avm": curve["avm"],
        "params": evaluation["params"],
        "macs": evaluation["macs"],
        "tiles": evaluation["tiles"],
        "depth": depth,
        "wall_seconds": wall_seconds,
        "train_seconds": evaluation["train_seconds"],
        "eval_seconds": evaluation["eval_seconds"],
        "cached": evaluation["cached"],
        "versions": versions,
        "timestamp": utc_now(),
        **({"probe": evaluation["probe"]} if evaluation.get("probe") is not None else {}),
    }


# ------------------------------------------------------------------------------------
# Reading a record's numbers
# ------------------------------------------------------------------------------------
def _at(rec: dict[str, Any], what: str, t: float) -> float | None:
    acc = rec.get("accuracy") or {}
    for ti, v in zip(acc.get("times", ()), acc.get(what, ())):
        if math.isclose(float(ti), t, rel_tol=1e-9):
            return float(v) if v is not None else None
    return None


def record_targets(rec: dict[str, Any], drift_time: float) -> dict[str, float] | str:
    """The three targets at `drift_time`, or the reason they cannot be read."""
    acc, spread = _at(rec, "mean", drift_time), _at(rec, "std", drift_time)
    if acc is None or spread is None:
        return f"no measurement at {drift_time:g} s"
    a1, a30 = _at(rec, "mean", ONE_SECOND), _at(rec, "mean", ONE_MONTH)
    avm = rec.get("avm")
    if avm is None and a1 is not None and a30 is not None:
        avm = a1 - a30
    if avm is None:
        return "no AVM (needs 1 s and 1 month)"
    values = {"accuracy": acc, "avm": float(avm), "spread": spread}
    if not all(math.isfinite(v) for v in values.values()):
        return "non-finite measurement"
    return values


_REQUIRED = ("arch_id", "spec", "space", "dataset", "fidelity_hash", "fidelity_name", "recipe_hash", "drift_hash",
             "seed", "accuracy")


def _problem(rec: dict[str, Any]) -> str | None:
    missing = [k for k in _REQUIRED if k not in rec]
    if missing:
        return f"missing field(s) {', '.join(missing)}"
    if not isinstance(rec["space"], dict) or "fingerprint" not in rec["space"]:
        return "field 'space' has no fingerprint"
    if not isinstance(rec["dataset"], dict) or "name" not in rec["dataset"]:
        return "field 'dataset' has no name"
    try:
        spec = ArchSpec.from_dict(rec["spec"])
    except Exception as exc:  # any malformed spec is a bad line, never a crash
        return f"bad spec ({exc})"
    if spec.arch_id != rec["arch_id"]:
        return "arch_id does not match the spec"
    return None


# ------------------------------------------------------------------------------------
# Selecting one cohort from record files
# ------------------------------------------------------------------------------------
@dataclass
class RecordSet:
    """The records of one cohort, plus an account of everything that was not used."""

    records: list[dict[str, Any]]
    cohort: Cohort
    paths: list[str]
    bad_lines: list[BadLine] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    """Human-readable lines: how many records were left out and why."""

    @property
    def records_hash(self) -> str:
        """Hash of the records used, order-independent (sorted by key)."""
        h = hashlib.sha256()
        for rec in sorted(self.records, key=lambda r: r["key"]):
            h.update(json.dumps(rec, sort_keys=True, separators=(",", ":")).encode())
        return h.hexdigest()[:16]

    @property
    def fidelity(self) -> dict[str, Any]:
        return dict(self.records[0].get("fidelity") or {"name": self.cohort.fidelity})

    @property
    def drift(self) -> dict[str, Any]:
        return dict(self.records[0].get("drift") or {})

    def messages(self) -> list[str]:
        """Warnings a CLI shows: bad lines (counted, with the first few located) and drops."""
        out = []
        if self.bad_lines:
            where = "; ".join(f"{b.path}:{b.line} {b.reason}" for b in self.bad_lines[:3])
            more = f" (and {len(self.bad_lines) - 3} more)" if len(self.bad_lines) > 3 else ""
            out.append(f"skipped {len(self.bad_lines)} unreadable line(s): {where}{more}")
        out += self.dropped
        return out


def load_records(
    paths: Sequence[str | Path],
    *,
    space: SearchSpace | str | None = None,
    fidelity: str | None = None,
    drift_time: float | None = None,
    keys: set[str] | None = None,
) -> RecordSet:
    """Read record files and keep one cohort.

    `space` (a space, name or fingerprint) and `fidelity` (name or hash) select; otherwise
    the largest cohort wins, and a tie is refused as ambiguous. With `drift_time`, records
    that lack the targets at that time are dropped too. `keys` keeps only those records
    (before any cohort is chosen). Unreadable lines never stop a read: they are counted
    in `bad_lines`. An architecture measured twice with one training seed (other chips)
    counts once, its first record, so no seed weighs double.
    """
    if not paths:
        raise SurrogateError("no record files given")
    bad: list[BadLine] = []
    records: list[dict[str, Any]] = []
    seen: set[str] = set()
    duplicates = 0
    for p in paths:
        if not Path(p).is_file():
            raise SurrogateError(f"{p}: record file not found")
        contents = RecordStore(p).read()
        bad += contents.bad_lines
        for i, rec in enumerate(contents.records):
            problem = _problem(rec)
            if problem:
                bad.append(BadLine(str(p), contents.line_numbers[i], problem))
                continue
            if keys is not None and rec["key"] not in keys:
                continue
            if rec["key"] in seen:
                duplicates += 1
                continue
            seen.add(rec["key"])
            records.append(rec)
    dropped: list[str] = []
    if duplicates:
        dropped.append(f"ignored {duplicates} duplicate record(s) (same key seen earlier)")

    def keep(pred: Callable[[dict[str, Any]], bool], why: Callable[[Cohort], str]) -> None:
        nonlocal records
        out = [r for r in records if not pred(r)]
        for cohort, n in Counter(Cohort.of(r) for r in out).items():
            dropped.append(f"dropped {n} record(s) {why(cohort)}")
        records = [r for r in records if pred(r)]

    if space is not None:
        want = space.fingerprint if isinstance(space, SearchSpace) else space
        keep(lambda r: want in (r["space"]["fingerprint"], r["space"].get("name")),
             lambda c: f"from space {c.space} ({c.space_fingerprint}), not {want}")
    if fidelity is not None:
        keep(lambda r: fidelity in (r["fidelity_name"], r["fidelity_hash"]),
             lambda c: f"at fidelity {c.fidelity} ({c.fidelity_hash}), not {fidelity}")
    if not records:
        raise SurrogateError(f"no usable records in {', '.join(map(str, paths))}"
                             + (f" ({'; '.join(dropped)})" if dropped else ""))
    counts = Counter(Cohort.of(r) for r in records).most_common()
    chosen = counts[0][0]
    if len(counts) > 1 and counts[1][1] == counts[0][1]:
        raise SurrogateError(
            f"ambiguous records: {counts[0][1]} measured with {chosen.differs(counts[1][0])} and as many with "
            f"{counts[1][0].differs(chosen)}; choose with --space/--fidelity or pass one cohort's file"
        )
    keep(lambda r: Cohort.of(r) == chosen,
         lambda c: f"measured with {chosen.differs(c)} (majority: {cohort_words(chosen)})")
    if drift_time is not None:
        missing = Counter()
        usable = []
        for r in records:
            t = record_targets(r, drift_time)
            if isinstance(t, str):
                missing[t] += 1
            else:
                usable.append(r)
        for reason, n in missing.items():
            dropped.append(f"dropped {n} record(s): {reason}")
        records = usable
        if not records:
            raise SurrogateError(f"no record has the targets at {drift_time:g} s ({'; '.join(dropped)})")
    first_of: dict[tuple[str, Any], str] = {}
    for r in records:
        first_of.setdefault((r["arch_id"], r["seed"]), r["key"])
    again = [r for r in records if first_of[(r["arch_id"], r["seed"])] != r["key"]]
    if again:  # after the target filter: an unusable first record never hides a usable one
        kept = sorted({first_of[(r["arch_id"], r["seed"])] for r in again})
        dropped.append(f"ignored {len(again)} record(s) of an architecture and training seed measured earlier "
                       f"(other chips; kept {', '.join(kept[:2])}{', ...' if len(kept) > 2 else ''})")
        records = [r for r in records if first_of[(r["arch_id"], r["seed"])] == r["key"]]
    return RecordSet(records=records, cohort=chosen, paths=[str(p) for p in paths], bad_lines=bad, dropped=dropped)


def fitted_records(sur: Surrogate, root: str | Path = ".") -> RecordSet:
    """The records `sur` was fitted on, re-read from its record files (paths under `root`).

    Record files are append-only and grow after a fit (`search --verify` appends to them),
    so figures recomputed from the whole file drift away from the surrogate's own; this
    keeps exactly the records in its `record_keys`, and refuses if any of them is gone.
    """
    m = sur.meta
    chosen = set(m["record_keys"])
    rs = load_records([Path(root) / p for p in m["records"]], fidelity=m["fidelity_hash"], drift_time=sur.drift_time,
                      keys=chosen)
    missing = chosen - {r["key"] for r in rs.records}
    if missing:
        raise SurrogateError(f"{len(missing)} of the {len(chosen)} records the surrogate was fitted on are missing "
                             f"from {', '.join(rs.paths)}")
    return rs


def per_architecture(records: Sequence[dict[str, Any]], drift_time: float) -> list[tuple[ArchSpec, dict[str, float],
                                                                                       list[str]]]:
    """One row per architecture: targets averaged over its seeds, and the keys used."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(r["arch_id"], []).append(r)
    rows = []
    for arch_id in sorted(groups):
        recs = groups[arch_id]
        values = [record_targets(r, drift_time) for r in recs]
        good = [(r, v) for r, v in zip(recs, values) if isinstance(v, dict)]
        if not good:
            continue
        mean = {t: sum(v[t] for _, v in good) / len(good) for t in TARGETS}
        rows.append((ArchSpec.from_dict(good[0][0]["spec"]), mean, sorted(r["key"] for r, _ in good)))
    return rows
