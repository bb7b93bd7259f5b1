"""Drift measurements kept beside the checkpoints, one programming at a time.

Evaluating a trained network after drift is not cheap at ``standard`` (ResNet32, 10
programmings of 10,000 test images, HWA and direct: about 45 CPU-minutes here), and a
comparison of two architectures at two seeds is many of those. Each programming (chip
number ``r``) is an independent, seeded measurement, so its row of accuracies is stored
as soon as it is measured: a killed or timed-out ``compare`` resumes at the next chip, and
a second ``compare`` or ``evaluate`` of the same network under the same protocol reads
the rows back instead of measuring again (``--repeats 10`` after ``--repeats 5`` measures
only chips 5 to 9).

The file is keyed by everything that decides the numbers: the checkpoint (which holds the
arch, dataset, fidelity, recipe and seed), the mode, the drift settings except the number
of programmings, the recipe and the fidelity (test set size, evaluation batch size,
calibration batch); it also records the SHA-256 of the checkpoint's weights, and rows of
other weights (a checkpoint deleted and retrained elsewhere) are never served. The device
is not part of the key (a chip's noise is drawn on the CPU, so a CUDA run measures the same
chip up to float summation order), and neither is the analog code itself, exactly as for
checkpoints: clear the cache folder after changing it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from analognas._atomic import write_atomic
from analognas._hashing import file_sha256
from analognas.analog import DriftEvalConfig, HWARecipe
from analognas.training._fidelity import Fidelity
from analognas.training._store import CheckpointKey, CheckpointStore

FORMAT = "analognas.drift-rows/1"


class DriftRows:
    """The stored rows of one (network, mode, protocol): ``{chip: [accuracy per time]}``.

    The file is re-read before each chip and merged on each write, so several processes
    measuring the same network (two ``evaluate`` calls, a ``compare`` beside them) share
    their chips instead of measuring each one twice. A chip is a seeded measurement, so a
    lost race only costs a re-measurement of an identical row."""

    def __init__(self, path: Path | None, identity: dict[str, Any], weights: Path | None = None) -> None:
        self.path, self.identity = path, identity
        self.weights = file_sha256(weights) if weights is not None and weights.is_file() else None
        self.rows: dict[int, tuple[float, ...]] = {}
        self._refresh()

    def _refresh(self) -> None:
        if self.path is None:
            return
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return  # absent or torn: measure again
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("identity") != self.identity:
            return
        stored = data.get("weights_sha256")
        if stored is not None and self.weights is not None and stored != self.weights:
            return  # measured on other weights of the same name
        rows = data.get("rows")
        n = len(self.identity["drift"]["times"])
        for r, row in (rows.items() if isinstance(rows, dict) else ()):
            try:
                values = tuple(float(v) for v in row)
            except (TypeError, ValueError):
                continue  # a damaged row is measured again
            if len(values) == n and str(r).isdigit():
                self.rows.setdefault(int(r), values)

    def get(self, chip: int) -> tuple[float, ...] | None:
        if chip not in self.rows:
            self._refresh()
        return self.rows.get(chip)

    def put(self, chip: int, row: tuple[float, ...]) -> None:
        self._refresh()
        self.rows[chip] = tuple(row)
        if self.path is None:
            return
        doc = {"format": FORMAT, "identity": self.identity, "weights_sha256": self.weights,
               "rows": {str(r): list(v) for r, v in sorted(self.rows.items())}}
        try:
            write_atomic(self.path, json.dumps(doc, sort_keys=True) + "\n", mode=None)
        except OSError:
            pass  # a cache that cannot be written only costs a re-measurement


def drift_rows(
    store: CheckpointStore | None,
    key: CheckpointKey,
    mode: str,
    recipe: HWARecipe,
    fidelity: Fidelity,
    drift: DriftEvalConfig,
    dataset: dict[str, Any],
) -> DriftRows:
    """The row store of ``mode`` measurements of the network checkpointed under ``key``."""
    identity = {
        "checkpoint": key.stem,
        "arch_id": key.arch_id,
        "mode": mode,
        "recipe": recipe.hash(),
        "fidelity": fidelity.hash(),
        "dataset": {k: v for k, v in dataset.items() if k != "source"},  # not where the files happen to be
        "drift": dataclasses.replace(drift, repeats=1).to_dict(),
    }
    if store is None:
        return DriftRows(None, identity)
    weights, _ = store.paths(key)
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    path = store.root / key.dataset / key.arch_id / "drift" / f"{mode}-{key.stem}-{digest}.json"
    return DriftRows(path, identity, weights)

