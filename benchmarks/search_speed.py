"""Wall time of `analognas search --budget 200`, start-up included, per storage.

Runs the real console script in a subprocess (a fresh interpreter each time, as a user
runs it) in a temporary folder, on the default space and the shipped surrogate, and
reports the median of `--repeats` runs. Also checks the process never imported torch.
The target on the project's 2-core machine: at most 10 s for the default (journal) storage.

    .venv/bin/python benchmarks/search_speed.py                      # journal (default), memory, sqlite
    .venv/bin/python benchmarks/search_speed.py --postgres URL       # add a PostgreSQL server
    .venv/bin/python benchmarks/search_speed.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBE = (
    "import sys, json, atexit\n"
    "atexit.register(lambda: sys.stderr.write('\\nMODULES ' + json.dumps("
    "[m for m in ('torch', 'aihwkit', 'sklearn', 'scipy.stats') if m in sys.modules]) + '\\n'))\n"
    "from analognas.cli import main\n"
    "sys.argv = ['analognas'] + json.loads(sys.argv[1])\n"
    "main()\n"
)


def one_run(args: list[str], cwd: Path) -> tuple[float, dict, list[str]]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"search failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    modules = json.loads(proc.stderr.rsplit("MODULES ", 1)[1])
    return wall, json.loads(proc.stdout), modules


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--surrogate", default=None, help="surrogate path (default: the shipped one)")
    ap.add_argument("--storages", default="journal,memory,sqlite")
    ap.add_argument("--postgres", default=None, help="also time this PostgreSQL URL (a fresh study name per run)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    surrogate = str(Path(args.surrogate).resolve()) if args.surrogate else None
    storages = [s for s in args.storages.split(",") if s] + (["postgres"] if args.postgres else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        if surrogate is None:  # the shipped surrogate is found relative to the repository
            cwd = REPO
        results: dict[str, dict] = {s: {"walls": [], "search": [], "summary": {}, "modules": []} for s in storages}
        for i in range(args.repeats):  # interleaved, so a busy spell on a shared machine hits every storage
            for storage in storages:
                name = f"speed-{storage}-{os.getpid()}-{i}"
                cmd = ["search", "--budget", str(args.budget), "--name", name, "--json", "--runs-dir", str(Path(tmp))]
                if surrogate:
                    cmd += ["--surrogate", surrogate]
                if storage == "memory":
                    cmd += ["--storage", "memory"]
                elif storage == "sqlite":
                    cmd += ["--storage", f"sqlite:///{Path(tmp) / (name + '.db')}"]
                elif storage == "postgres":
                    cmd += ["--storage", args.postgres]
                wall, summary, modules = one_run(cmd, cwd)
                r = results[storage]
                r["walls"].append(wall)
                r["search"].append(summary["wall_seconds"])
                r["summary"], r["modules"] = summary, modules
        for storage in storages:
            r = results[storage]
            rows.append(
                {
                    "storage": storage,
                    "budget": args.budget,
                    "median_wall_s": statistics.median(r["walls"]),
                    "walls": r["walls"],
                    "median_in_search_s": statistics.median(r["search"]),
                    "n_trials": r["summary"]["n_trials"],
                    "heavy_modules": r["modules"],
                }
            )
    if args.json:
        print(json.dumps({"rows": rows, "cpu_count": os.cpu_count()}, indent=2))
        return 0
    print(f"`analognas search --budget {args.budget}` (subprocess, median of {args.repeats}):\n")
    print("| storage | wall incl. start-up (s) | inside run_search (s) | imported |")
    print("|---|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['storage']} | {r['median_wall_s']:.2f} | {r['median_in_search_s']:.2f} | "
            f"{', '.join(r['heavy_modules']) or '-'} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
