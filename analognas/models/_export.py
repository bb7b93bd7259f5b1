"""Export an architecture as a standalone Python file that needs only torch.

The file holds the verbatim source of `_blocks.py` (so parameter names and the forward
computation are the builder's own, not a re-implementation), the spec as a dict, and a
`build_model()` that returns the network, loading exported weights if there are any.
"""

from __future__ import annotations

import ast
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path

from analognas._atomic import write_atomic
from analognas._errors import CheckpointError, OutputExistsError, SpecError
from analognas.models import _blocks
from analognas.space import ArchSpec


@dataclass(frozen=True)
class ExportResult:
    module_path: Path
    spec_path: Path
    weights_path: Path | None
    arch_id: str
    dropped_keys: tuple[str, ...] = field(default=())
    """Checkpoint entries that are not parameters of the plain network (e.g. analog input ranges)."""


def _blocks_source() -> str:
    """`_blocks.py` without its module docstring (the exported file has its own)."""
    source = inspect.getsource(_blocks)
    tree = ast.parse(source)
    first = tree.body[0]
    if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant):
        lines = source.splitlines(keepends=True)
        source = "".join(lines[first.end_lineno :])
    return source.lstrip("\n")


def export_source(spec: ArchSpec, input_shape: tuple[int, int, int], num_classes: int, weights_name: str | None) -> str:
    config = json.dumps(spec.to_dict(include_name=False), indent=4, sort_keys=True)
    header = (
        f'"""{spec.label} (arch id {spec.arch_id}), exported by analognas.\n\n'
        "Standalone: needs only torch. `build_model()` returns the network"
        + (", with the exported weights loaded" if weights_name else "")
        + '.\n"""\n\n'
    )
    footer = f'''

SPEC = {config}
INPUT_SHAPE = {tuple(input_shape)!r}
NUM_CLASSES = {num_classes}
WEIGHTS = {weights_name!r}


def build_model(weights: str | None = WEIGHTS) -> nn.Module:
    """Return the network; `weights` is a state_dict file (relative to this file) or None."""
    model = SpecNet(SPEC, in_channels=INPUT_SHAPE[0], num_classes=NUM_CLASSES)
    if weights:
        import os

        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), weights)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model
'''
    return header + _blocks_source() + footer


def export_model(
    spec: ArchSpec,
    out: str | Path,
    *,
    input_shape: tuple[int, int, int] = (3, 32, 32),
    num_classes: int = 10,
    weights: str | Path | None = None,
    force: bool = False,
) -> ExportResult:
    """Write `out` (.py), its spec JSON beside it, and a copy of the weights if given.

    Nothing is written if any target exists (unless `force`) or the weights do not fit.
    """
    import torch

    from analognas.models._builder import build_model, is_built_in

    custom = sorted({str(st.block) for st in spec.stages if not is_built_in(st.block)})
    if custom:
        raise SpecError(
            f"block type(s) {', '.join(custom)} are registered at run time, not part of the exported blocks;"
            " an export would not rebuild them"
        )
    module_path = Path(out)
    if module_path.suffix != ".py":
        raise SpecError(f"{module_path}: the export target must be a .py file")
    if module_path.parent.exists() and not module_path.parent.is_dir():
        raise SpecError(f"{module_path.parent}: not a folder")
    spec_path = module_path.with_suffix(".json")
    weights_path = module_path.with_suffix(".pt") if weights else None
    targets = [p for p in (module_path, spec_path, weights_path) if p is not None]
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        raise OutputExistsError(f"{', '.join(existing)} already exist(s); use --force to overwrite")

    model = build_model(spec, input_shape, num_classes)
    state_bytes, dropped = None, ()
    if weights is not None:
        state, dropped = _load_matching_state(Path(weights), model, spec)
        import io

        buf = io.BytesIO()
        torch.save(state, buf)
        state_bytes = buf.getvalue()

    meta = {
        "arch_id": spec.arch_id,
        "name": spec.label,
        "spec": spec.to_dict(include_name=False),
        "input_shape": list(input_shape),
        "num_classes": num_classes,
        "params": sum(p.numel() for p in model.parameters()),
        "weights": weights_path.name if weights_path else None,
    }
    source = export_source(spec, input_shape, num_classes, weights_path.name if weights_path else None)
    # like `dashboard --out`: a missing folder is made, once every check above has passed
    module_path.parent.mkdir(parents=True, exist_ok=True)
    files: list[tuple[Path, bytes | str]] = [(spec_path, json.dumps(meta, indent=2, sort_keys=True) + "\n")]
    if state_bytes is not None and weights_path is not None:
        files.insert(0, (weights_path, state_bytes))
    files.append((module_path, source))
    written: list[Path] = []
    try:
        for path, data in files:
            write_atomic(path, data)
            written.append(path)
    except BaseException:
        # an export is its files together: remove the new ones this call wrote
        for path in written:
            if str(path) not in existing:
                path.unlink(missing_ok=True)
        raise
    return ExportResult(module_path, spec_path, weights_path, spec.arch_id, tuple(dropped))


def _load_matching_state(path: Path, model, spec: ArchSpec):  # type: ignore[no-untyped-def]
    """Load a state_dict safely (weights_only) and check it belongs to this architecture."""
    import torch

    from analognas.models._checkpoint_meta import check_checkpoint_meta

    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    check_checkpoint_meta(path, spec)
    from analognas._safe_load import load_tensors

    state = load_tensors(path)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: not a state_dict of tensors")
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    if missing:
        raise CheckpointError(
            f"{path}: does not match {spec.label}: {len(missing)} missing tensor(s), e.g. {missing[0]!r}"
        )
    wrong = [k for k, v in expected.items() if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        raise CheckpointError(
            f"{path}: does not match {spec.label}: {wrong[0]!r} has shape {tuple(state[wrong[0]].shape)},"
            f" expected {tuple(expected[wrong[0]].shape)}"
        )
    dropped = sorted(k for k in state if k not in expected)
    return {k: state[k] for k in expected}, dropped
