"""Settings dataclasses as plain JSON data and back, with one-line errors.

``to_plain`` turns a tree of frozen dataclasses and enums into JSON-able dicts (fields
marked ``metadata={"since": N}`` are left out while at their default, so adding a field
never changes the hash of older settings); ``from_plain`` checks keys and types and
raises ``ConfigError`` naming the offending key. ``stable_hash`` is what every stored
result is keyed by.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import types
from typing import Any, TypeVar

from analognas._errors import ConfigError

_T = TypeVar("_T")


def stable_hash(data: Any) -> str:
    """12 hex chars of sha256 over canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def derive_seed(*parts: object) -> int:
    """63-bit seed from any printable parts (stable across runs and platforms)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: _to_plain(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if not (f.metadata.get("since") and getattr(obj, f.name) == _default_of(f))
        }
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, tuple):
        return [_to_plain(v) for v in obj]
    return obj


def _default_of(f: dataclasses.Field) -> Any:  # type: ignore[type-arg]
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _from_plain(cls: type[_T], data: Any, where: str) -> _T:
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key(s) in {where}: {', '.join(unknown)}")
    hints = _resolved_types(cls)
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f"{where}.{name}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _resolved_types(cls: type) -> dict[str, Any]:
    import typing

    return typing.get_type_hints(cls)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    import typing

    if dataclasses.is_dataclass(tp):
        return _from_plain(tp, value, where)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            valid = [m.value for m in tp]
            raise ConfigError(f"{where}: {value!r} is not one of {valid}") from None
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, where)
    if origin is tuple:
        (item_tp, *_rest) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list")
        return tuple(_coerce(item_tp, v, where) for v in value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    return value
