"""Where the files shipped with analognas (search spaces, fitted surrogates) live.

In a source checkout or an editable install they are the repository folders next to the
package. A wheel installs them as data files under ``<prefix>/share/analognas/`` (see
``[tool.setuptools.data-files]`` in pyproject.toml). Either way they are found from the
package, never from the current folder, so every command works wherever it runs.
"""

from __future__ import annotations

import sys
from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parents[1]


def shipped_dir(name: str) -> Path:
    """The folder of shipped ``name`` files (``search_spaces`` or ``surrogates``): the
    checkout's when it exists, else the installed data files' (which may be absent)."""
    source = _SOURCE_ROOT / name
    if source.is_dir():
        return source
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        installed = Path(prefix) / "share" / "analognas" / name
        if installed.is_dir():
            return installed
    return source
