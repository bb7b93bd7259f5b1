"""glibc malloc settings for many large, short-lived tensors (analog training and reading).

With glibc's defaults, a tensor above the (dynamic) mmap threshold is mapped fresh and
unmapped when freed, and freed heap tops are trimmed back to the kernel; an analog step
allocates and frees hundreds of such activations, noise windows and masks, so it spends
its time in page faults. Keeping freed memory in the process removes that
(``benchmarks/malloc_tuning.py`` gives the figures). The same values are what the
collection workers get through ``MALLOC_*_`` variables, which a process that is already
running cannot read any more; ``mallopt`` sets them instead (it takes an ``int``, so
2 GiB is the largest threshold it can set, against 4 GiB from the variables; a glibc that
refuses more than 32 MiB, HEAP_MAX_SIZE / 2, gets 32 MiB).

The cost: the resident size stays at its peak instead of shrinking after a large
evaluation, which is what a measuring process wants anyway.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping

M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 2**31 - 1
"""Blocks below 2 GiB come from the heap and are reused (``mallopt`` takes an int)."""
TRIM_THRESHOLD = 2**31 - 1
"""``mallopt`` takes an int: never trim below 2 GiB of free heap top."""
TOP_PAD = 1 << 30
"""Grow the heap 1 GiB at a time (address space only; pages are touched on use)."""

MALLOC_ENV = {
    "MALLOC_MMAP_THRESHOLD_": "4294967296",
    "MALLOC_TRIM_THRESHOLD_": "68719476736",
    "MALLOC_TOP_PAD_": "1073741824",
}
"""The same settings for a process not started yet (collection workers, benchmark
workers): glibc reads these variables at start-up and accepts larger values there."""
ENV_VARS = tuple(MALLOC_ENV)
"""The user's own choice of these settings, which wins."""
FALLBACK_MMAP_THRESHOLD = 32 * 1024 * 1024
"""HEAP_MAX_SIZE / 2 on 64-bit: the most that older glibc accepts from ``mallopt``."""


def user_chose_malloc_settings(env: Mapping[str, str] | None = None) -> bool:
    """True when the environment sets any of these settings (the ``MALLOC_*_`` variables
    above, or a ``glibc.malloc.`` tunable)."""
    env = os.environ if env is None else env
    return any(env.get(v) for v in ENV_VARS) or "glibc.malloc." in env.get("GLIBC_TUNABLES", "")


def tune_glibc_malloc() -> bool:
    """Apply the settings above to this process; True when they were applied.

    Nothing is done (False) where the user chose malloc settings through the
    environment, off Linux, or where the C library is not glibc. Each setting is tried
    on its own, so one that glibc refuses does not keep the others out."""
    if not sys.platform.startswith("linux") or user_chose_malloc_settings():
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl, or no libc.so.6
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    mmap = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 or mallopt(M_MMAP_THRESHOLD, FALLBACK_MMAP_THRESHOLD) == 1
    trim = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    pad = mallopt(M_TOP_PAD, TOP_PAD) == 1
    return mmap and trim and pad


__all__ = ["MALLOC_ENV", "tune_glibc_malloc", "user_chose_malloc_settings"]
