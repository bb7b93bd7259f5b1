"""Measured, not predicted: do the search's winners beat ResNet32, T500 and random search?

A search ranks architectures by a surrogate's *prediction*; only a measurement says whether
its winners are any good, and only a control says whether the search itself helped. This
script runs two searches on the same surrogate, objective, constraints (`--max-params
500000`: the T500 class, which ResNet32's 464K parameters also fall in), budget and seed:
the project's default sampler (TPE) and Optuna's random sampler. It then measures the top
`--k` of each, ResNet32 and the reconstructed T500 with one protocol (default: fidelity
`standard`, recipe `hwa-v2`, `--seeds 2` training seeds x `--repeats 10` PCM programmings,
through `compare_architectures`, so the chips are paired across networks and each seed's
row is what `analognas evaluate --seed s` measures). It reports each network against
ResNet32 and the search's top-k group against random search's, as paired differences
with 95 % intervals over (seed, programming) pairs and over training seeds.

Everything trained and every programming is cached under `--cache-dir`, so the script
resumes after a kill and a second run only re-reads; `--device cuda` trains on a GPU.

    python benchmarks/verify_winners.py                      # README tables (tens of CPU-hours at standard)
    python benchmarks/verify_winners.py --fidelity quick     # minutes per network
    python benchmarks/verify_winners.py --json

The result is written to `--out` (default benchmarks/results/verify-winners-<fidelity>.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = ("T500", "resnet32")
TIMES = (1.0, 3600.0, 86400.0, 2592000.0)
LABELS = ("1 s", "1 h", "1 day", "1 month")


def search_top(sampler: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run (or resume) one search and return its top-k candidates with their predictions."""
    from analognas.search import SearchConfig, run_search
    from analognas.search._load import load_run
    from analognas.search._verify import top_candidates

    name = f"verify-{sampler}-p{args.max_params}-b{args.budget}-s{args.seed}"
    cfg = SearchConfig(name=name, space=args.space, surrogate=args.surrogate, objectives=("accuracy",),
                       drift=args.drift_time, budget=args.budget, seed=args.seed, max_params=args.max_params,
                       runs_dir=Path(args.runs_dir), sampler=sampler)
    result = run_search(cfg)
    top = top_candidates(load_run(result.run_dir), args.k)
    return {
        "sampler": sampler,
        "run": str(result.run_dir),
        "winners": [{"arch_id": c.arch_id, "spec": c.spec, "params": c.cost.get("params"),
                     "predicted": dict(c.predicted)} for c in top],
    }


def group_difference(a: list[list[Any]], b: list[list[Any]]) -> dict[str, dict[str, Any]]:
    """Mean HWA accuracy of group ``a`` minus that of group ``b`` (each a list of per-seed
    evaluation lists), paired by (training seed, programming), at each of ``TIMES``."""
    from analognas.training import mean_interval, paired_difference

    def sample(group: list[list[Any]], t: float) -> list[list[float]]:  # [seed][programming]
        per_seed = []
        for i in range(len(group[0])):
            curves = [evs[i].curves["hwa"] for evs in group]
            k = [c.times.index(t) for c in curves]
            per_seed.append([sum(c.per_repeat[r][j] for c, j in zip(curves, k)) / len(curves)
                             for r in range(len(curves[0].per_repeat))])
        return per_seed

    out = {}
    for t, label in zip(TIMES, LABELS):
        sa, sb = sample(a, t), sample(b, t)
        diff = paired_difference([v for s in sa for v in s], [v for s in sb for v in s])
        diff["per_seed"] = [sum(x) / len(x) - sum(y) / len(y) for x, y in zip(sa, sb)]
        diff["between_seeds"] = mean_interval(diff["per_seed"])
        out[label] = diff
    return out


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from analognas._errors import ConfigError
    from analognas.analog import DriftEvalConfig, get_recipe
    from analognas.models import get_spec
    from analognas.space import ArchSpec
    from analognas.training import CheckpointStore, compare_architectures, get_fidelity

    t0 = time.perf_counter()
    fidelity = get_fidelity(args.fidelity).with_overrides(train_size=args.train_size, test_size=args.test_size,
                                                          epochs=args.epochs, hwa_epochs=args.hwa_epochs)
    searches = {s: search_top(s, args) for s in ("tpe", "random")}
    groups: dict[str, list[str]] = {s: [w["arch_id"] for w in v["winners"]] for s, v in searches.items()}
    specs: dict[str, ArchSpec] = {}
    for v in searches.values():
        for w in v["winners"]:
            specs.setdefault(w["arch_id"], w["spec"])
    # a winner found by both searches, or one that is a reference (T500 is in resnet_like), is measured once
    if not args.references:
        raise ConfigError("--references needs at least one network (the last is the baseline)")
    refs = [get_spec(n) for n in args.references]
    order = [*specs.values(), *(r for r in refs if r.arch_id not in specs)]
    baseline = [s.arch_id for s in order].index(refs[-1].arch_id)
    cmp = compare_architectures(
        order, seeds=tuple(range(args.seed, args.seed + args.seeds)), baseline=baseline,
        dataset="fashion-mnist", fidelity=fidelity, recipe=get_recipe(args.recipe),
        drift=DriftEvalConfig(times=TIMES, repeats=args.repeats, seed=args.seed), modes=("hwa",),
        store=CheckpointStore(args.cache_dir), device=args.device,
    )
    n_seeds = args.seeds
    by_arch: dict[str, list[Any]] = {}
    for e in cmp.evaluations:
        by_arch.setdefault(e.spec.arch_id, []).append(e)
    return {
        "space": args.space, "surrogate": args.surrogate, "budget": args.budget, "max_params": args.max_params,
        "k": args.k, "search_seed": args.seed, "drift_time": args.drift_time,
        "fidelity": fidelity.to_dict(), "fidelity_hash": fidelity.hash(), "recipe": args.recipe,
        "seeds": n_seeds, "repeats": args.repeats,
        "searches": {s: {**v, "winners": [{**w, "spec": w["spec"].to_dict()} for w in v["winners"]]}
                     for s, v in searches.items()},
        "rows": cmp.rows, "baseline": cmp.baseline, "differences": cmp.differences,
        "search_minus_random": group_difference([by_arch[a] for a in groups["tpe"]],
                                                [by_arch[a] for a in groups["random"]]),
        "evaluations": [e.to_dict() for e in cmp.evaluations],
        "wall_seconds": time.perf_counter() - t0,
    }


def _ci(d: dict[str, Any]) -> str:
    ci = d.get("ci95")
    return f"{d['mean']:+.2f}" + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "")


def markdown(out: dict[str, Any]) -> str:
    fid = out["fidelity"]
    lines = [
        f"Searches of `{out['space']}` (budget {out['budget']}, max params {out['max_params']:,}, seed "
        f"{out['search_seed']}, objective: predicted HWA accuracy at {out['drift_time']:g} s), top {out['k']} of "
        f"each measured at fidelity `{fid['name']}`, recipe `{out['recipe']}`, {out['seeds']} training seeds x "
        f"{out['repeats']} programmings (mean ± std over the pairs):",
        "",
        "| network | found by | params | predicted | FP32 | HWA 1 s | HWA 1 day | HWA 1 month | AVM |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    found: dict[str, list[str]] = {}
    predicted: dict[str, str] = {}
    for s, v in out["searches"].items():
        for w in v["winners"]:
            found.setdefault(w["arch_id"], []).append(s)
            m, sd = w["predicted"].get("accuracy", (float("nan"), float("nan")))
            predicted[w["arch_id"]] = f"{m:.2f} ± {sd:.2f}"
    for row in out["rows"]:
        cells = [f"{row[f'hwa {lab}']['mean']:.2f} ± {row[f'hwa {lab}']['std']:.2f}" for lab in ("1 s", "1 day",
                                                                                                "1 month")]
        who = ", ".join(found.get(row["arch_id"], ["reference"]))
        fp32 = row["fp32"]["mean"] if isinstance(row["fp32"], dict) else row["fp32"]
        lines.append(f"| {row['arch']} | {who} | {row['params']:,} | {predicted.get(row['arch_id'], '-')} | "
                     f"{fp32:.2f} | {' | '.join(cells)} | {row['avm']:.2f} |")
    lines += ["", f"Paired differences against {out['baseline']} (HWA; pairs / over training seeds):", "",
              "| network | " + " | ".join(LABELS) + " |", "|---|" + "---:|" * len(LABELS)]
    for d in out["differences"]:
        hwa = d["modes"]["hwa"]
        lines.append(f"| {d['arch']} | " + " | ".join(f"{_ci(hwa[lab])} / {_ci(hwa[lab]['between_seeds'])}"
                                                      for lab in LABELS) + " |")
    g = out["search_minus_random"]
    n_tpe, n_random = (len(out["searches"][s]["winners"]) for s in ("tpe", "random"))
    lines += ["", f"Search top {n_tpe} minus random-search top {n_random} (group means; pairs / over training "
              "seeds): " + "; ".join(f"{lab} {_ci(g[lab])} / {_ci(g[lab]['between_seeds'])}" for lab in LABELS)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--surrogate", default=None, help="surrogate path or name (default: the shipped one)")
    ap.add_argument("--space", default="resnet_like")
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--max-params", type=int, default=500_000)
    ap.add_argument("--k", type=int, default=3, help="winners of each search to measure")
    ap.add_argument("--seed", type=int, default=0, help="search seed, and the first training seed")
    ap.add_argument("--drift-time", type=float, default=86400.0, help="the searches' objective time (s)")
    ap.add_argument("--fidelity", default="standard")
    ap.add_argument("--train-size", type=int, default=None)
    ap.add_argument("--test-size", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--hwa-epochs", type=int, default=None)
    ap.add_argument("--recipe", default="hwa-v2")
    ap.add_argument("--seeds", type=int, default=2, help="training seeds per network")
    ap.add_argument("--repeats", type=int, default=10, help="PCM programmings per trained network")
    ap.add_argument("--references", default=",".join(REFERENCES), help="comma-separated; the last is the baseline")
    ap.add_argument("--cache-dir", default=str(ROOT / "benchmarks/results/standard-cache"))
    ap.add_argument("--runs-dir", default="runs")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    args.references = [r for r in args.references.split(",") if r]
    from analognas._errors import AnalogNASError
    from analognas._malloc import tune_glibc_malloc

    tune_glibc_malloc()  # as the CLI does (benchmarks/malloc_tuning.py)
    try:
        out = measure(args)
    except AnalogNASError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    dest = Path(args.out or ROOT / f"benchmarks/results/verify-winners-{out['fidelity']['name']}.json")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "evaluations"}, indent=1) if args.json else markdown(out))
    print(f"written {dest}; {out['wall_seconds']:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
