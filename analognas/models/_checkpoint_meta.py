"""Checkpoint metadata: the JSON written beside every weights file.

A weights file `X.pt` may have `X.json` beside it naming the architecture it was
trained for. Whoever loads weights for a spec checks it first, so weights are never
silently loaded into a different network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from analognas._errors import CheckpointError
from analognas.space import ArchSpec


def meta_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def read_checkpoint_meta(weights: Path) -> dict[str, Any] | None:
    path = meta_path(weights)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: corrupt checkpoint metadata ({exc})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: corrupt checkpoint metadata (not an object)")
    return data


def check_checkpoint_meta(weights: Path, spec: ArchSpec) -> None:
    meta = read_checkpoint_meta(weights)
    if meta is None:
        return
    claimed = meta.get("arch_id")
    if claimed is not None and claimed != spec.arch_id:
        raise CheckpointError(
            f"{weights}: checkpoint is for architecture {meta.get('name', claimed)} ({claimed}),"
            f" not {spec.label} ({spec.arch_id})"
        )
