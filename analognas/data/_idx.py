"""IDX (the MNIST family's file format) parsed with numpy, validating everything.

Format: two zero bytes, a dtype code, the number of dimensions, then one big-endian uint32
per dimension, then the data. A file whose length disagrees with its header is truncated
or corrupt; we say so with the file's name instead of letting numpy fail with a reshape
error that names nothing.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from analognas._errors import DataError
from analognas.data._dataset import FileRecord
from analognas.data._files import read_source

_GZIP_MAGIC = b"\x1f\x8b"

_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def parse_idx(data: bytes, path: Path) -> np.ndarray:
    """Decode uncompressed IDX bytes; ``path`` is only used in error messages."""
    if len(data) < 4:
        raise DataError(f"{path}: not an IDX file (only {len(data)} bytes)")
    code, ndim = data[2], data[3]
    if data[:2] != b"\x00\x00" or code not in _DTYPES or ndim == 0:
        raise DataError(f"{path}: not an IDX file (bad magic number 0x{data[:4].hex()})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX file (header cut short at {len(data)} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _DTYPES[code]
    expected = header + math.prod(dims) * dtype.itemsize
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "corrupt"
        raise DataError(
            f"{path}: {state} IDX file: header promises shape {dims} ({expected} bytes) "
            f"but the data holds {len(data)} bytes"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: Path) -> tuple[np.ndarray, FileRecord]:
    """Read an IDX file, gzipped or not (detected from the content, not the file name)."""
    raw, record = read_source(path)
    data = raw
    if raw[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: corrupt or truncated gzip data ({exc})") from exc
    return parse_idx(data, path), record
