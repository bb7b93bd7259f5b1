"""Reading source files once, with provenance.

The digest is taken over the very bytes that get parsed, so a results file records what
was actually trained on, not what happened to be on disk later.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from analognas._errors import DataError
from analognas.data._dataset import FileRecord


def read_source(path: Path) -> tuple[bytes, FileRecord]:
    """Whole file contents and its {"bytes", "sha256"} record; unreadable -> DataError."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return raw, {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
