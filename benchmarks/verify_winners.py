"""Verified winners: what the search predicts, what training measures, and ResNet32 beside it.

A search ranks architectures by a surrogate's *prediction*; this script measures whether
its winners are any good. It runs `analognas search` (the library function behind the
CLI) on the shipped surrogate within one parameter class (`--max-params 500000`: the T500
class, which ResNet32's 464K parameters also fall in), trains and drift-evaluates the top
K with `verify_run` (the same code as `search --verify K`, at the surrogate's own
fidelity, recipe and drift settings, so the measurements are comparable with its records
and are appended to them), and measures ResNet32 and the reconstructed T500 with exactly
the same protocol. Training is cached under runs/cache, so a second run only re-reads.

    .venv/bin/python benchmarks/verify_winners.py             # README table (about 15-30 min on 2 cores)
    .venv/bin/python benchmarks/verify_winners.py --json      # machine-readable

The result is also written to benchmarks/results/verify-winners-<dataset>-<fidelity>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analognas.analog import DriftEvalConfig, get_recipe
from analognas.models import get_spec
from analognas.search import SearchConfig, run_search, verify_run
from analognas.surrogate import load_surrogate
from analognas.training import CheckpointStore, Fidelity, evaluate_architecture

REFERENCES = ("resnet32", "T500")


def measure_reference(name: str, *, sur: Any, fidelity: Any, seed: int) -> dict[str, Any]:
    meta = sur.meta
    drift = DriftEvalConfig.from_dict(meta["drift"])
    ev = evaluate_architecture(
        get_spec(name),
        dataset=str(meta["dataset"]),
        fidelity=fidelity,
        recipe=get_recipe(str(meta["recipe"]["name"])),
        drift=drift,
        modes=("hwa",),
        seed=seed,
        store=CheckpointStore(),
    )
    curve = ev.curves["hwa"]
    acc, std = curve.at(sur.drift_time)
    return {"name": name, "params": ev.params, "tiles": ev.tiles, "accuracy": {"mean": acc, "std": std},
            "avm": None if curve.avm is None else float(curve.avm)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--surrogate", default=None, help="surrogate path or name (default: the shipped one)")
    ap.add_argument("--space", default="resnet_like")
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--max-params", type=int, default=500_000)
    ap.add_argument("--k", type=int, default=3, help="winners to train and measure")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs-dir", default="runs")
    ap.add_argument("--name", default=None, help="run name (default verify-p<max-params>-s<seed>)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    t0 = time.perf_counter()
    name = args.name or f"verify-p{args.max_params}-s{args.seed}"
    cfg = SearchConfig(name=name, space=args.space, surrogate=args.surrogate, objectives=("accuracy",),
                       budget=args.budget, seed=args.seed, max_params=args.max_params, runs_dir=Path(args.runs_dir))
    result = run_search(cfg)
    run_info = json.loads((result.run_dir / "run.json").read_text())
    sur = load_surrogate(run_info["surrogate"]["path"])
    fidelity = Fidelity.from_dict(sur.meta["fidelity"])  # the surrogate's own protocol, overrides included
    if fidelity.hash() != sur.meta["fidelity_hash"]:
        raise SystemExit(f"the stored fidelity of {run_info['surrogate']['path']} does not hash to its fidelity_hash")
    verified = verify_run(result.run_dir, k=args.k, fidelity=fidelity, seed=args.seed, runs_dir=Path(args.runs_dir))
    refs = [measure_reference(n, sur=sur, fidelity=fidelity, seed=args.seed) for n in REFERENCES]
    out = {
        "run": str(result.run_dir),
        "surrogate": run_info["surrogate"],
        "dataset": sur.meta["dataset"],
        "fidelity": sur.meta["fidelity"],
        "drift_time": sur.drift_time,
        "repeats": sur.meta["drift"]["repeats"],
        "max_params": args.max_params,
        "budget": args.budget,
        "seed": args.seed,
        "winners": [v.to_dict() for v in verified.items],
        "references": refs,
        "wall_seconds": time.perf_counter() - t0,
    }
    res_dir = Path(__file__).resolve().parent / "results"
    res_dir.mkdir(exist_ok=True)
    dest = res_dir / f"verify-winners-{sur.meta['dataset']}-{fidelity.name}.json"
    dest.write_text(json.dumps(out, indent=1) + "\n")
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"search {name}: budget {args.budget}, max params {args.max_params:,}, seed {args.seed}; "
          f"{sur.meta['dataset']} fidelity {fidelity.name}, {out['repeats']} programmings; "
          f"accuracy {sur.drift_time:g} s after programming\n")
    print("| architecture | params | tiles | predicted | measured | AVM measured |")
    print("|---|---:|---:|---:|---:|---:|")
    for v in verified.items:
        pm, ps = v.predicted_accuracy
        mm, ms = v.measured_accuracy
        avm = "n/a" if v.measured_avm is None else f"{v.measured_avm:.2f}"
        print(f"| winner `{v.arch_id}` | {v.params:,} | {v.tiles} | {pm:.2f} ± {ps:.2f} | "
              f"{mm:.2f} ± {ms:.2f} | {avm} |")
    for r in refs:
        avm = "n/a" if r["avm"] is None else f"{r['avm']:.2f}"
        print(f"| {r['name']} | {r['params']:,} | {r['tiles']} | - | {r['accuracy']['mean']:.2f} ± "
              f"{r['accuracy']['std']:.2f} | {avm} |")
    print(f"\nwritten {dest}; {out['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
