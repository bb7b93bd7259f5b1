"""`analognas search --budget 200` on a quiet machine against the same search while two
other processes keep both cores busy (issue: the main job must stay within 2x).

Runs are interleaved (quiet, busy, busy with 2 BLAS threads forced) and repeated; the
medians and ratios are printed side by side. The busy load is plain Python spinning, the
kind of neighbour a shared machine has. Usage: python benchmarks/search_busy.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _spin(stop: float) -> None:
    x = 0
    while time.time() < stop:
        x += 1


def _search(env_extra: dict[str, str]) -> float:
    runs = tempfile.mkdtemp(prefix="search-busy-")
    env = {
        k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    }
    env.update(env_extra)
    t = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from analognas.cli import main; main()",
            "search",
            "--budget",
            "200",
            "--runs-dir",
            runs,
            "--quiet",
        ],
        cwd=REPO,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    dt = time.perf_counter() - t
    shutil.rmtree(runs, ignore_errors=True)
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    two = {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    times: dict[str, list[float]] = {"quiet": [], "busy": [], "busy, 2 BLAS threads": []}
    for _ in range(args.repeats):
        times["quiet"].append(_search({}))
        for name, extra in (("busy", {}), ("busy, 2 BLAS threads", two)):
            stop = time.time() + 120
            load = [mp.Process(target=_spin, args=(stop,)) for _ in range(2)]
            for p in load:
                p.start()
            try:
                times[name].append(_search(extra))
            finally:
                for p in load:
                    p.terminate()
                    p.join()
    quiet = statistics.median(times["quiet"])
    print(f"search --budget 200, median of {args.repeats} interleaved runs (wall seconds, start-up included)")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:22s} {med:6.2f} s  ratio to quiet {med / quiet:4.2f}  runs {', '.join(f'{t:.1f}' for t in ts)}")


if __name__ == "__main__":
    main()
