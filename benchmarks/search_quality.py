"""Search quality: best predicted value found by `analognas search` against random search.

At the same budget (200 trials) and at five times it (1000), over several seeds, on the
shipped surrogate and the default space and constraints. Every run goes through
`analognas.search.run_search`, the function behind the CLI (journal storage in a temp
folder), so the comparison measures the sampler and nothing else: random search is the
same loop with Optuna's RandomSampler, its infeasible trials counted like the search's.

    .venv/bin/python benchmarks/search_quality.py            # README table
    .venv/bin/python benchmarks/search_quality.py --json     # machine-readable
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analognas.search import SearchConfig, run_search


def best_value(sampler: str, budget: int, seed: int, args: argparse.Namespace, runs: Path) -> tuple[float, float, int]:
    cfg = SearchConfig(
        name=f"{sampler}-b{budget}-s{seed}",
        space=args.space,
        surrogate=args.surrogate,
        objectives=(args.objective,),
        budget=budget,
        seed=seed,
        max_params=args.max_params,
        runs_dir=runs,
        sampler=sampler,
        batch_size=args.batch_size,
    )
    t = time.perf_counter()
    r = run_search(cfg)
    value = r.best.values[args.objective] if r.best else float("nan")
    return value, time.perf_counter() - t, r.n_feasible


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--surrogate", default=None, help="surrogate path or name (default: the shipped one)")
    ap.add_argument("--space", default="resnet_like")
    ap.add_argument("--objective", default="accuracy")
    ap.add_argument("--max-params", type=int, default=None)
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--random-budgets", default="200,1000")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--sampler", default="tpe", help="the search's sampler (tpe, nsga2)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    seeds = list(range(args.seeds))
    arms = [(args.sampler, args.budget)] + [("random", int(b)) for b in args.random_budgets.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for sampler, budget in arms:
            values, secs, feas = [], [], []
            for s in seeds:
                v, t, f = best_value(sampler, budget, s, args, Path(tmp))
                values.append(v)
                secs.append(t)
                feas.append(f)
            rows.append(
                {
                    "method": "analognas search" if sampler != "random" else "random search",
                    "sampler": sampler,
                    "budget": budget,
                    "median_best": statistics.median(values),
                    "min_best": min(values),
                    "max_best": max(values),
                    "per_seed": values,
                    "median_feasible_trials": statistics.median(feas),
                    "median_seconds": statistics.median(secs),
                }
            )
    if args.json:
        print(
            json.dumps(
                {
                    "objective": args.objective,
                    "seeds": seeds,
                    "space": args.space,
                    "surrogate": args.surrogate,
                    "rows": rows,
                },
                indent=2,
            )
        )
        return 0
    print(f"Best predicted {args.objective} (median over {len(seeds)} seeds; min-max), space {args.space}\n")
    print("| method | budget | median best | range | feasible trials (median) | seconds (median) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['method']} ({r['sampler']}) | {r['budget']} | {r['median_best']:.2f} | "
            f"{r['min_best']:.2f}-{r['max_best']:.2f} | {r['median_feasible_trials']:.0f} | "
            f"{r['median_seconds']:.1f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
