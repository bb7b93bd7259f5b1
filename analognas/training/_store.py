"""Checkpoint cache: trained weights keyed by what produced them.

A checkpoint is `NAME.pt` (a state_dict, saved with `torch.save` and only ever loaded
with `weights_only=True`, so no arbitrary object is unpickled) and `NAME.json` beside it
(spec, dataset, recipe, fidelity, seed, metrics, package versions). The key is
(arch id, dataset, mode, recipe hash, fidelity hash, seed): a second `evaluate` of the
same thing reuses the model instead of retraining. The JSON is written last, so a
checkpoint without its JSON is an interrupted write and is ignored, never half-read.
"""

from __future__ import annotations

import io
import json
import os
import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from analognas._atomic import write_atomic
from analognas._errors import CheckpointError, ConfigError
from analognas._safe_load import load_tensors
from analognas.space import ArchSpec

CACHE_ENV = "ANALOGNAS_CACHE"
DEFAULT_CACHE = Path("runs") / "cache"


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV, DEFAULT_CACHE))


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("analognas", "torch", "aihwkit", "numpy", "optuna", "scikit-learn"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "absent"
    return out


@dataclass(frozen=True)
class CheckpointKey:
    arch_id: str
    dataset: str
    mode: str  # "fp32" | "hwa"
    recipe_hash: str
    fidelity_hash: str
    seed: int

    @property
    def stem(self) -> str:
        return f"{self.mode}-r{self.recipe_hash}-f{self.fidelity_hash}-s{self.seed}"


class CheckpointStore:
    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def paths(self, key: CheckpointKey) -> tuple[Path, Path]:
        folder = self.root / key.dataset / key.arch_id
        return folder / f"{key.stem}.pt", folder / f"{key.stem}.json"

    def load(self, key: CheckpointKey, spec: ArchSpec) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        """The cached state_dict and metadata, None if absent; `CheckpointError` if unusable."""
        weights, meta_path = self.paths(key)
        if not meta_path.exists():
            return None
        meta = load_meta(meta_path)
        if meta.get("arch_id") != spec.arch_id:
            raise CheckpointError(
                f"{meta_path}: checkpoint is for architecture {meta.get('arch_id')!r},"
                f" not {spec.label} ({spec.arch_id})"
            )
        _check_protocol(meta_path, meta, key)
        return load_state(weights), meta

    def save(self, key: CheckpointKey, state: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
        weights, meta_path = self.paths(key)
        buf = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in state.items()}, buf)
        write_atomic(weights, buf.getvalue())
        full = {**meta, "key": key.__dict__, "weights": weights.name, "versions": package_versions()}
        write_atomic(meta_path, json.dumps(full, indent=2, sort_keys=True) + "\n")
        return weights


def _check_protocol(path: Path, meta: dict[str, Any], key: CheckpointKey) -> None:
    """Refuse a checkpoint whose stored recipe or fidelity is not the one its file name
    promises (a file copied or renamed by hand): a protocol-v1 network must never answer
    a protocol-v2 request, or the other way round."""
    from analognas.analog import HWARecipe
    from analognas.training._fidelity import Fidelity

    if "fidelity" not in meta:  # written outside the pipeline: nothing to check against
        return
    try:
        fid = Fidelity.from_dict(meta["fidelity"])
        recipe = HWARecipe.from_dict(meta["recipe"]) if meta.get("recipe") else None
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise CheckpointError(f"{path}: checkpoint metadata lacks a readable fidelity or recipe ({exc})") from None
    stored_fid = fid.fp32_hash() if key.mode == "fp32" else fid.hash()
    stored_recipe = recipe.hash() if (recipe is not None and key.mode == "hwa") else "none"

    def protocol(version: int | None, v2_fid: bool) -> str:
        return "v2" if (version or 1) >= 2 or v2_fid else "v1"

    if stored_fid != key.fidelity_hash or stored_recipe != key.recipe_hash:
        what = f"recipe {recipe.name} v{recipe.version}, " if recipe is not None else ""
        raise CheckpointError(
            f"{path}: this checkpoint was trained under {what}fidelity {fid.name}"
            f" (protocol {protocol(recipe.version if recipe else None, fid.is_v2)}), not the requested one"
            f" (fidelity {key.fidelity_hash}, recipe {key.recipe_hash}); refusing to mix protocols: delete it or"
            " use another --cache-dir"
        )


def load_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: corrupt checkpoint metadata ({exc}); delete it to retrain") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: corrupt checkpoint metadata; delete it to retrain")
    return meta


def load_state(path: Path) -> dict[str, torch.Tensor]:
    """Load a state_dict safely: tensors only, never arbitrary pickled objects."""
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint weights missing; delete its .json to retrain")
    state = load_tensors(path)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: not a state_dict of tensors")
    return state
