"""A pickle loader that can only build what CIFAR batch files contain.

CIFAR-10 ships as Python pickles, and a plain ``pickle.load`` runs whatever callable the
file names: a tampered download or a wrong ``--data-dir`` could execute code. Unpickling
resolves every callable through ``find_class``, so refusing everything outside a short
allowlist (numpy array/dtype reconstruction, a few inert builtins) makes loading safe:
nothing outside the list is even imported, let alone called.
"""

from __future__ import annotations

import codecs
import importlib
import io
import pickle
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from analognas._errors import DataError


def _numpy_attr(submodule: str, name: str) -> Any:
    # numpy >= 2 keeps these in numpy._core; old pickles (CIFAR's are from 2009) say numpy.core.
    for package in ("numpy._core", "numpy.core"):
        try:
            module = importlib.import_module(f"{package}.{submodule}")
        except ImportError:
            continue
        if hasattr(module, name):
            return getattr(module, name)
    raise ImportError(f"numpy has no {submodule}.{name}")


def _encode_text(text: str, encoding: str = "utf-8") -> bytes:
    """``_codecs.encode`` limited to the two text encodings pickles use, not arbitrary codecs."""
    if codecs.lookup(encoding).name not in ("iso8859-1", "utf-8"):
        raise pickle.UnpicklingError(f"refusing codec {encoding!r}")
    return codecs.encode(text, encoding)


@cache
def _allowed() -> dict[tuple[str, str], Any]:
    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # Python 3 pickles bytes at protocol <= 2 as _codecs.encode(text, "latin1").
        ("_codecs", "encode"): _encode_text,
    }
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = _numpy_attr("multiarray", "_reconstruct")
        allowed[(f"{package}.multiarray", "scalar")] = _numpy_attr("multiarray", "scalar")
        # Protocol 5 arrays are rebuilt with np.frombuffer under this name.
        allowed[(f"{package}.numeric", "_frombuffer")] = _numpy_attr("numeric", "_frombuffer")
    for module in ("builtins", "__builtin__"):
        for kind in (dict, list, tuple, set, frozenset, bytes, bytearray):
            allowed[(module, kind.__name__)] = kind
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, path: Path) -> None:
        # encoding="bytes": CIFAR was pickled by Python 2, whose str objects become bytes.
        super().__init__(file, encoding="bytes")
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _allowed()[(module, name)]
        except KeyError:
            raise DataError(
                f"{self._path}: refusing to unpickle {module}.{name}: CIFAR batch files hold "
                "only numpy arrays, lists, dicts and bytes (the file is corrupt or malicious)"
            ) from None


def safe_loads(data: bytes, path: Path) -> Any:
    """Unpickle ``data`` with the allowlist; any failure -> DataError naming ``path``."""
    try:
        return _RestrictedUnpickler(io.BytesIO(data), path).load()
    except DataError:
        raise
    except Exception as exc:  # untrusted input can fail in any way: always name the file
        raise DataError(f"{path}: not a readable CIFAR pickle ({type(exc).__name__}: {exc})") from exc
