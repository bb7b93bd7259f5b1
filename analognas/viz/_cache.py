"""A tiny content-keyed JSON cache for report computations (fANOVA, reference predictions)
of runs whose search wrote no valid report.json (older runs, another --seed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from analognas._atomic import write_atomic
from analognas.search import content_digest


def cached(folder: Path | None, name: str, key: Any, compute: Any) -> Any:
    """``compute()``, or its JSON value stored under ``folder/name.json`` for the same
    ``key`` (a dashboard of an unchanged run is then a look-up). Best effort: a folder
    that cannot be written just means no cache."""
    if folder is None:
        return compute()
    digest = content_digest(key)
    path = folder / f"{name}.json"
    try:
        stored = json.loads(path.read_text())
        if stored.get("key") == digest:
            return stored["value"]
    except (OSError, ValueError, AttributeError):
        pass
    value = compute()
    try:
        write_atomic(path, json.dumps({"key": digest, "value": value}, allow_nan=False) + "\n", mode=None)
    except (OSError, ValueError):
        pass
    return value
