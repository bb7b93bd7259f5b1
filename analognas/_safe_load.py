"""The one way this package reads a `.pt` file: tensors only, quietly, with one-line reasons.

`torch.load(weights_only=True)` refuses pickled objects, which is what we want, but its
error text suggests re-running with `weights_only=False` (exactly the unsafe load this
tool avoids) and torch may emit warnings around it. Both are kept from the user: the
caller gets the refusal's first sentence, without the hint, as a `CheckpointError`.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

from analognas._errors import CheckpointError

_HINT = re.compile(r"weights_only|trust the source|Re-running", re.IGNORECASE)


def load_tensors(path: Path) -> Any:
    """`torch.load(path, weights_only=True)` on the CPU, warnings silenced, errors one line."""
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, foreign pickle, ...: torch raises many types
        reason, pickled = _reason(exc)
        what = "refused: it holds pickled Python objects" if pickled else "corrupt or truncated checkpoint"
        raise CheckpointError(f"{path}: {what} ({reason}); delete it to retrain") from None


def _reason(exc: Exception) -> tuple[str, bool]:
    """(first sentence without torch's unsafe hint, whether the file holds pickled objects)."""
    text = " ".join(str(exc).split())
    if "Weights only load failed" in text or "Unsupported global" in text:
        found = re.search(r"GLOBAL ([\w.<>]+)", text)
        return (f"global {found.group(1)}" if found else "non-tensor objects") + ", never unpickled", True
    first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0] if text else type(exc).__name__
    return (type(exc).__name__ if _HINT.search(first) else first), False
