"""Registry of named architectures (specs, not classes), in the style of timm's registry.

Entries are data: a name, an `ArchSpec`, a description and where it came from. Tests
iterate over `list_models()`, so every registered network is built and run for free.
Search winners are registered from JSON results files the same way as built-ins
(`load_zoo_file`), so they work with `evaluate`, `compare` and `export` like any entry.
This module imports no torch: listing and resolving names is instant.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analognas._atomic import write_atomic
from analognas._errors import SpecError, UnknownArchitectureError
from analognas.models._zoo import BUILTINS
from analognas.space import ArchSpec

_BUILTINS_DONE: list[bool] = []

#: The user's own registry file (written by `analognas register`); overridable for tests.
USER_ZOO_ENV = "ANALOGNAS_ZOO"
DEFAULT_USER_ZOO = Path.home() / ".config" / "analognas" / "zoo.json"


@dataclass(frozen=True)
class ZooEntry:
    name: str
    spec: ArchSpec
    description: str
    source: str = "builtin"


_REGISTRY: dict[str, ZooEntry] = {}
_LOADED_FILES: set[str] = set()


def register(name: str, spec: ArchSpec, description: str, source: str = "builtin", overwrite: bool = False) -> ZooEntry:
    key = name.lower()
    if key in _REGISTRY and not overwrite and _REGISTRY[key].spec != spec:
        raise SpecError(f"architecture {name!r} is already registered with another spec")
    entry = ZooEntry(name=name, spec=spec.with_name(name), description=description, source=source)
    _REGISTRY[key] = entry
    return entry


def user_zoo_path() -> Path:
    return Path(os.environ.get(USER_ZOO_ENV, DEFAULT_USER_ZOO))


def _ensure_loaded() -> None:
    if not _BUILTINS_DONE:
        for name, spec, description in BUILTINS:
            register(name, spec, description)
        _BUILTINS_DONE.append(True)

    path = user_zoo_path()
    if str(path) not in _LOADED_FILES and path.exists():
        load_zoo_file(path)


def load_zoo_file(path: str | Path) -> list[ZooEntry]:
    """Register every entry of a zoo JSON file: {"entries": [{"name", "spec", "description"}]}."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SpecError(f"{p}: cannot read zoo file: {exc}") from None
    entries = data.get("entries") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise SpecError(f"{p}: a zoo file needs a list under 'entries'")
    out = []
    for i, item in enumerate(entries):
        if not isinstance(item, dict) or "name" not in item or "spec" not in item:
            raise SpecError(f"{p}: entries[{i}] needs 'name' and 'spec'")
        try:
            spec = ArchSpec.from_dict(item["spec"])
        except SpecError as exc:
            raise SpecError(f"{p}: entries[{i}]: {exc}") from None
        out.append(register(item["name"], spec, item.get("description", ""), source=str(p), overwrite=True))
    _LOADED_FILES.add(str(p))
    return out


def list_models() -> list[str]:
    _ensure_loaded()
    return sorted((e.name for e in _REGISTRY.values()), key=str.lower)


def model_table(input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10) -> list[dict[str, Any]]:
    """One row per registered architecture with its cost at ``input_shape`` (``arch list``)."""
    from analognas.space import cost

    rows = []
    for name in list_models():
        e = get_entry(name)
        c = cost(e.spec, input_shape, num_classes)
        rows.append({"name": name, "arch_id": e.spec.arch_id, "params": c.params, "macs": c.macs, "tiles": c.tiles,
                     "depth": c.depth, "description": e.description, "source": e.source})
    return rows


def get_entry(name: str) -> ZooEntry:
    _ensure_loaded()
    entry = _REGISTRY.get(name.lower())
    if entry is None:
        names = list_models()
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.5) or difflib.get_close_matches(
            name.lower(), [n.lower() for n in names], n=1, cutoff=0.5
        )
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownArchitectureError(f"unknown architecture {name!r}.{hint} Known: {', '.join(names)}")
    return entry


def get_spec(name: str) -> ArchSpec:
    return get_entry(name).spec


def resolve_spec(ref: str) -> ArchSpec:
    """A registry name, an inline JSON spec, or a path to a JSON spec file -> spec."""
    text = ref.strip()
    if text.startswith("{"):
        return ArchSpec.from_json(text)
    p = Path(text)
    if p.suffix == ".json" or (p.exists() and p.is_file()):
        if not p.is_file():
            raise SpecError(f"{p}: spec file not found")
        try:
            data: Any = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise SpecError(f"{p}: invalid JSON spec: {exc.msg} at line {exc.lineno}") from None
        if isinstance(data, dict) and "spec" in data and "stem" not in data:
            data = data["spec"]  # a results/best.json file holding a spec
        return ArchSpec.from_dict(data)
    return get_spec(text)


def save_to_zoo_file(
    path: str | Path, name: str, spec: ArchSpec, description: str = "", meta: dict[str, Any] | None = None
) -> Path:
    """Add or replace entry `name` (case-insensitive) in a zoo JSON file, atomically.

    The file keeps the format `load_zoo_file` reads; `meta` (where the entry came from:
    run, surrogate, predicted metrics) is stored beside it and ignored when loading.
    Refusing to overwrite is the caller's decision (`analognas register --force`).
    """


    p = Path(path)
    entries: list[Any] = []
    if p.exists():
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise SpecError(f"{p}: cannot read zoo file: {exc}") from None
        entries = data.get("entries") if isinstance(data, dict) else None  # type: ignore[assignment]
        if not isinstance(entries, list):
            raise SpecError(f"{p}: a zoo file needs a list under 'entries'")
    item: dict[str, Any] = {"name": name, "spec": spec.to_dict(include_name=False), "description": description}
    if meta:
        item["meta"] = meta
    entries = [e for e in entries if not (isinstance(e, dict) and str(e.get("name", "")).lower() == name.lower())]
    entries.append(item)
    write_atomic(p, json.dumps({"entries": entries}, indent=2, sort_keys=True) + "\n", mode=None)
    _LOADED_FILES.discard(str(p))  # the next lookup re-reads the file
    return p
