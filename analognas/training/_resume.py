"""Epoch-level resume of long FP32 and HWA runs.

A ``standard`` FP32 run of T500 takes about two hours of one core here, longer than what
is left of many sittings, and a killed run used to restart from nothing. ``ResumeFile``
keeps, after every epoch, everything the rest of the run depends on: weights, optimiser
and schedule state, the shuffling generator, the epoch, step, history and seconds spent,
and for HWA fine-tuning the analog layers' noise sources (their generator and the seeds
of their noise bank, see ``NoiseSource.state_dict``). A run restarted with the same file
continues after the last finished epoch and ends with exactly the weights an
uninterrupted run ends with (tested), so the checkpoint key stays the whole truth about a
network. The file is written atomically, loaded with ``weights_only=True``, and deleted
when the run finishes.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from analognas._atomic import write_atomic
from analognas._errors import CheckpointError
from analognas._safe_load import load_tensors


@dataclass(frozen=True)
class ResumeFile:
    """Where a run keeps its last finished epoch, and what run that must be."""

    path: Path
    identity: dict[str, Any]
    """Everything that defines the run (key, fidelity, spec); a file of another run is ignored."""

    @classmethod
    def beside(cls, weights: Path, **identity: Any) -> ResumeFile:
        """The resume file of the run that will write checkpoint ``weights`` (``NAME.partial.pt``)."""
        return cls(weights.with_name(f"{weights.stem}.partial.pt"), identity)

    def _tag(self) -> str:
        return json.dumps(self.identity, sort_keys=True, default=str)

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is none for this run (absent, torn, foreign)."""
        if not self.path.is_file():
            return None
        try:
            state = load_tensors(self.path)
        except CheckpointError:
            return None  # a torn write of an earlier sitting: start over
        if not isinstance(state, dict) or state.get("identity") != self._tag():
            return None
        return state

    def save(self, **state: Any) -> None:
        buf = io.BytesIO()
        torch.save({**state, "identity": self._tag()}, buf)
        write_atomic(self.path, buf.getvalue(), mode=None)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
