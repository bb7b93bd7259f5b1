"""The one way analognas writes a file: whole or not at all.

Every output (checkpoints, exports, HTML reports, run files, surrogates, the user zoo) goes
through ``write_atomic``: a temp file beside the target, written, flushed and fsynced,
given its final mode, then renamed over the target. A reader or a kill never sees half a
file, and on any failure (full disk, read-only folder, a file-size limit, Ctrl-C) the temp
file is removed and the error names the *target* path, so the CLI's one line says which
output could not be written and why.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

SHARED = 0o644
"""Mode of reports and exports, meant to be read by others (mkstemp makes 0600 files)."""


def _umask_mode() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(path: str | Path, data: bytes | str, *, mode: int | None = SHARED, fsync: bool = True) -> Path:
    """Write ``data`` (str is UTF-8 encoded) to ``path`` atomically; returns ``path``.

    ``mode`` is the final permission (None: ``0666 & ~umask``, as ``open`` would give).
    Missing parent folders are created. Raises ``OSError`` with ``filename`` = ``path``.
    """
    target = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), _umask_mode() if mode is None else mode)
            fh.write(payload)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(target)) from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return target
