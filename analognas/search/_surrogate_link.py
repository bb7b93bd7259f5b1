"""The search's view of a surrogate: loaded once, checked against the space, identified.

A run records the surrogate's path, a hash of its bytes and the space it was fitted on,
because trial values are only comparable while all three stay the same: resuming a run
with a refitted surrogate would mix two models' opinions in one study.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analognas._errors import ConfigError
from analognas._hashing import file_sha256
from analognas._times import time_flag
from analognas.space import ArchSpec, SearchSpace


@dataclass
class SurrogateLink:
    surrogate: Any
    path: Path | None
    hash: str
    space_fingerprint: str
    targets: tuple[str, ...]
    drift_time: float

    @property
    def display(self) -> str:
        return str(self.path) if self.path else f"<in-memory surrogate {self.hash}>"

    def predict(self, specs: list[ArchSpec]) -> dict[str, tuple[Any, Any]]:
        return self.surrogate.predict(specs)

    def evaluator(self) -> Any:  # -> SurrogateEvaluator
        """The surrogate behind the ``Evaluator`` seam, named by its file hash."""
        from analognas.surrogate import SurrogateEvaluator

        return SurrogateEvaluator(self.surrogate, identity=self.hash)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path) if self.path else None,
            "hash": self.hash,
            "space_fingerprint": self.space_fingerprint,
            "targets": list(self.targets),
            "drift_time": self.drift_time,
        }


def file_hash(path: Path) -> str:
    return file_sha256(path)[:16]


def link_surrogate(ref: Any, space: SearchSpace, drift: float) -> SurrogateLink:
    """Load `ref` (path, name, None = shipped default, or a loaded surrogate) and check it fits."""
    from analognas import surrogate as sur_pkg

    if ref is not None and hasattr(ref, "predict"):
        sur, path = ref, getattr(ref, "path", None)
        path = Path(path) if path else None
    else:
        if ref is None:
            ref = sur_pkg.default_surrogate_path(space_fingerprint=space.fingerprint, drift_time=drift)
        sur = sur_pkg.load_surrogate(ref)
        path = Path(getattr(sur, "path", None) or ref)
        if not path.exists():
            path = None  # a registered name resolved inside the package
    sur.check_space(space)
    fp = str(getattr(sur, "space_fingerprint", ""))
    if path is not None and path.is_file():
        digest = file_hash(path)
    else:
        digest = str(getattr(sur, "hash", None) or getattr(sur, "fingerprint", None) or f"obj{id(sur):x}")
    drift_time = float(getattr(sur, "drift_time", drift))
    if not math.isclose(drift_time, drift, rel_tol=1e-9):
        raise ConfigError(
            f"surrogate {path or digest} predicts accuracy {time_flag(drift_time)} after programming, not"
            f" {time_flag(drift)}; use --drift {time_flag(drift_time)} or fit a surrogate at {time_flag(drift)}"
        )
    return SurrogateLink(sur, path, digest, fp, tuple(getattr(sur, "targets", ("accuracy",))), drift_time)
