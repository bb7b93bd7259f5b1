"""The CLI keeps large freed blocks in the process (glibc), unless the user chose otherwise.

Each check runs in a fresh interpreter: ``mallopt`` cannot be undone, and the parent's
settings (the suite may run under ``MALLOC_*_`` variables) must not leak in."""

from __future__ import annotations

import ctypes
import os
import platform
import subprocess
import sys

import pytest

from analognas._malloc import user_chose_malloc_settings


def _has_mallinfo2() -> bool:
    try:
        return platform.libc_ver()[0] == "glibc" and hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:
        return False


needs_glibc = pytest.mark.skipif(not _has_mallinfo2(), reason="glibc 2.33 or later only (mallinfo2)")

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


@needs_glibc
def test_default_glibc_maps_a_40_mib_block_on_its_own():
    assert _probe("result = 'default'") == ("default", 1)


@needs_glibc
def test_tuning_keeps_large_blocks_on_the_heap():
    assert _probe("from analognas._malloc import tune_glibc_malloc; result = tune_glibc_malloc()") == ("True", 0)


@needs_glibc
def test_the_cli_script_tunes_malloc_and_importing_it_does_not():
    assert _probe("import analognas.cli; result = 'imported'") == ("imported", 1)
    # main() with the typer app replaced: what the `analognas` script does before a command runs
    assert _probe("import analognas.cli as c; c.app = lambda: None; c.main(); result = 'main'") == ("main", 0)


@needs_glibc
def test_a_users_malloc_variables_are_left_alone():
    result, mapped = _probe("from analognas._malloc import tune_glibc_malloc; result = tune_glibc_malloc()",
                            MALLOC_ARENA_MAX="2", MALLOC_TOP_PAD_="65536")
    assert (result, mapped) == ("False", 1)


def test_which_environments_count_as_the_users_choice():
    assert not user_chose_malloc_settings({})
    assert not user_chose_malloc_settings({"MALLOC_ARENA_MAX": "2", "GLIBC_TUNABLES": "glibc.rtld.nns=8"})
    assert user_chose_malloc_settings({"MALLOC_TRIM_THRESHOLD_": "0"})
    assert user_chose_malloc_settings({"GLIBC_TUNABLES": "glibc.rtld.nns=8:glibc.malloc.mmap_threshold=65536"})
