"""The CLI keeps large freed blocks in the process (glibc), unless the user chose otherwise.

Each check runs in a fresh interpreter: ``mallopt`` cannot be undone, and the parent's
settings (the suite may run under ``MALLOC_*_`` variables) must not leak in."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")

# mallinfo2().hblks counts blocks that malloc mapped on their own: a 40 MiB block is one
# with glibc's default threshold (128 KiB, dynamic, 32 MiB at most) and none once tuned.
PROBE = """
import ctypes, sys
class MI(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                 "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MI
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = (ctypes.c_size_t,)
{setup}
before = libc.mallinfo2().hblks
p = libc.malloc(40 << 20)
print(result, libc.mallinfo2().hblks - before)
"""


def _probe(setup: str, **env: str) -> tuple[str, int]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", PROBE.format(setup=setup)], env={**clean, **env},
                         capture_output=True, text=True, check=True, timeout=120)
    result, mapped = out.stdout.split()
    return result, int(mapped)


def test_default_glibc_maps_a_40_mib_block_on_its_own():
    assert _probe("result = 'default'") == ("default", 1)


def test_tuning_keeps_large_blocks_on_the_heap():
    assert _probe("from analognas._malloc import tune_glibc_malloc; result = tune_glibc_malloc()") == ("True", 0)


def test_the_cli_tunes_malloc_when_imported():
    assert _probe("import analognas.cli; result = 'cli'") == ("cli", 0)


def test_a_users_malloc_variables_are_left_alone():
    result, mapped = _probe("from analognas._malloc import tune_glibc_malloc; result = tune_glibc_malloc()",
                            MALLOC_ARENA_MAX="2", MALLOC_TOP_PAD_="65536")
    assert (result, mapped) == ("False", 1)
