"""glibc malloc settings for many large, short-lived tensors (analog training and reading).

With glibc's defaults, a tensor above the (dynamic) mmap threshold is mapped fresh and
unmapped when freed, and freed heap tops are trimmed back to the kernel; an analog step
allocates and frees hundreds of such activations, noise windows and masks, so it spends
its time in page faults. Keeping freed memory in the process removes that
(``benchmarks/malloc_tuning.py`` gives the figures). The same values are what the
collection workers get through ``MALLOC_*_`` variables, which a process that is already
running cannot read any more; ``mallopt`` sets them instead (it takes an ``int``, so
2 GiB is the largest threshold it can set, against 4 GiB from the variables).

The cost: the resident size stays at its peak instead of shrinking after a large
evaluation, which is what a measuring process wants anyway.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 2**31 - 1
"""Blocks below 2 GiB come from the heap and are reused (``mallopt`` takes an int)."""
TRIM_THRESHOLD = 2**31 - 1
"""``mallopt`` takes an int: never trim below 2 GiB of free heap top."""
TOP_PAD = 1 << 30
"""Grow the heap 1 GiB at a time (address space only; pages are touched on use)."""

ENV_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "GLIBC_TUNABLES")


def tune_glibc_malloc() -> bool:
    """Apply the settings above to this process; True when they were applied.

    Nothing is done (False) where the user chose malloc settings through the
    environment, off Linux, or where the C library is not glibc."""
    if not sys.platform.startswith("linux") or any(os.environ.get(v) for v in ENV_VARS):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl, or no libc.so.6
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return all(
        mallopt(param, value) == 1
        for param, value in ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
                             (M_TOP_PAD, TOP_PAD))
    )


__all__ = ["tune_glibc_malloc"]
