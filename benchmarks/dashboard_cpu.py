"""CPU seconds of `analognas dashboard RUN` (issue 12: about a second the first time).

One `search --budget 200` makes a run; then, interleaved and repeated, three dashboards
of it are timed as separate processes (user + sys CPU of the child, start-up included):

* first call: the run as the search left it (report.json, no dashboard cache),
* second call: the same again (now with the dashboard's cache files),
* old run, first call: a copy without report.json (a run from before the search wrote
  one): the dashboard loads the surrogate and runs fANOVA itself, then caches both.

The CPU the search itself spends on report.json is printed too (measured in-process on
the same run). Usage: python benchmarks/dashboard_cpu.py [--repeats 5] [--run RUN_FOLDER]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-c", "from analognas.cli import main; main()"]


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _dashboard(run: Path, fresh: bool) -> tuple[float, float]:
    """(CPU, wall) seconds of one `analognas dashboard RUN` process."""
    if fresh:
        shutil.rmtree(run / ".dashboard-cache", ignore_errors=True)
        (run / "dashboard.html").unlink(missing_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    c, t = _children_cpu(), time.perf_counter()
    subprocess.run([*CLI, "dashboard", str(run)], cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    return _children_cpu() - c, time.perf_counter() - t


def _report_cpu(run: Path) -> float:
    """CPU seconds the search's export spends writing report.json for this run."""
    from analognas.search import RunFolder, link_surrogate, load_run
    from analognas.search._run_export import write_report

    r = load_run(run)
    assert r.space is not None and r.surrogate_path is not None
    link = link_surrogate(str(r.surrogate_path), r.space, r.drift)  # the search has it loaded already
    scratch = Path(tempfile.mkdtemp(prefix="dash-report-"))
    t = time.process_time()
    write_report(RunFolder(scratch), r.candidates, r.space, r.objectives, link)
    dt = time.process_time() - t
    shutil.rmtree(scratch, ignore_errors=True)
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--run", type=Path, help="an existing run folder (default: a fresh search --budget 200)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dashboard-cpu-"))
    try:
        if args.run is None:
            env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
            cmd = [*CLI, "search", "--budget", "200", "--runs-dir", str(tmp), "--name", "d", "--quiet"]
            subprocess.run(cmd, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
            run = tmp / "d"
        else:
            run = tmp / "d"
            shutil.copytree(args.run, run, ignore=shutil.ignore_patterns(".dashboard-cache", "dashboard.html"))
        if not (run / "report.json").exists():
            sys.exit(f"{run}: no report.json (a search of this version writes one)")
        old = tmp / "old"
        shutil.copytree(run, old)
        (old / "report.json").unlink()
        rows: dict[str, list[tuple[float, float]]] = {"first call": [], "second call": [], "old run, first call": []}
        for _ in range(args.repeats):
            rows["first call"].append(_dashboard(run, fresh=True))
            rows["second call"].append(_dashboard(run, fresh=False))
            rows["old run, first call"].append(_dashboard(old, fresh=True))
        print(f"analognas dashboard of a search --budget 200 run, median of {args.repeats} interleaved runs")
        print(f"{'':22} {'CPU s (user+sys)':>17} {'wall s':>8}")
        for name, vals in rows.items():
            cpu = statistics.median(v[0] for v in vals)
            wall = statistics.median(v[1] for v in vals)
            print(f"{name:22} {cpu:17.2f} {wall:8.2f}")
        report = statistics.median(_report_cpu(run) for _ in range(3))
        print(f"the search's export spends {report:.2f} s CPU writing report.json (median of 3, in-process)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
