"""Networks: one builder, a registry of named specs, hardware metrics and export.

The registry needs no torch; the builder, metrics and export import it on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from analognas.models._checkpoint_meta import read_checkpoint_meta
from analognas.models._registry import (
    ZooEntry,
    get_entry,
    get_spec,
    list_models,
    load_zoo_file,
    model_table,
    register,
    resolve_spec,
    save_to_zoo_file,
    user_zoo_path,
)

if TYPE_CHECKING:
    from torch import nn

    from analognas.models._builder import build_model, register_branch
    from analognas.models._export import ExportResult, export_model
    from analognas.models._metrics import HardwareReport, LayerReport, StageReport, count_macs, hardware_report

_LAZY = {
    "build_model": "analognas.models._builder",
    "register_branch": "analognas.models._builder",
    "export_model": "analognas.models._export",
    "ExportResult": "analognas.models._export",
    "hardware_report": "analognas.models._metrics",
    "HardwareReport": "analognas.models._metrics",
    "LayerReport": "analognas.models._metrics",
    "StageReport": "analognas.models._metrics",
    "count_macs": "analognas.models._metrics",
    "count_parameters": "analognas.models._metrics",
    "weight_depth": "analognas.models._metrics",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'analognas.models' has no attribute {name!r}")


def create(name: str, input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10) -> nn.Module:
    """Build a registered architecture by name (case-insensitive)."""
    from analognas.models._builder import build_model

    return build_model(get_spec(name), input_shape, num_classes)


__all__ = [
    "ExportResult",
    "HardwareReport",
    "LayerReport",
    "StageReport",
    "ZooEntry",
    "build_model",
    "count_macs",
    "create",
    "export_model",
    "get_entry",
    "get_spec",
    "hardware_report",
    "list_models",
    "load_zoo_file",
    "model_table",
    "read_checkpoint_meta",
    "register",
    "register_branch",
    "resolve_spec",
    "save_to_zoo_file",
    "user_zoo_path",
]
