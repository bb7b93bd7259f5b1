"""How should a drift evaluation spend its budget: many test images per chip, or many chips?

A record's accuracy at a drift time is the mean over ``repeats`` programmed chips. Its
noise has two sources: chips differ (programming noise, drift exponents, read noise), and
the test images are a sample. Reading every chip on the whole test set removes the second
only for what the chips share; the first shrinks only with more chips. This measures both
on trained HWA networks, with the same chips read two ways (the chips' programming and
drift depend only on the drift seed and the chip, so the two readings are paired):

* ``whole``: each chip reads the whole test set (``DriftEvalConfig.images_per_chip=None``);
* ``subset``: each chip reads its own random ``--images`` of it (``images_per_chip``).

Per network and drift time it prints the standard deviation between chips on the whole
set, the standard deviation of the paired difference subset - whole (the test-sampling
part a subset adds; the finite-population binomial beside it), and the seconds per chip
of each reading, measured chip by chip alternately. From those it gives the standard
error of a record at equal evaluation time: ``repeats`` whole-set chips against as many
subset chips as the same seconds buy. It also pools the chip-to-chip standard deviation
over every record of the fidelity study (``benchmarks/results/fidelity-study.jsonl``),
which costs nothing to read.

Usage::

    python benchmarks/chip_budget.py [--fidelity standard] [--archs resnet32,6815ec605da6] [--seeds 0,1]
        [--repeats 8] [--images 1000] [--cache-dir benchmarks/results/standard-cache]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ONE_DAY, ONE_MONTH = 86400.0, 2592000.0


def pooled_chip_sd(study: Path) -> list[dict]:
    """Chip-to-chip standard deviation (root mean square over records) per fidelity and
    time, from the fidelity study's per-programming rows."""
    import numpy as np

    if not study.exists():
        return []
    acc: dict[tuple[str, float], list[float]] = {}
    for line in study.read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        if len(r["per_repeat"]) < 2:
            continue
        for t in (ONE_DAY, ONE_MONTH):
            if t in r["times"]:
                i = r["times"].index(t)
                acc.setdefault((r["fidelity"], t), []).append(float(np.var([c[i] for c in r["per_repeat"]], ddof=1)))
    return [{"fidelity": f, "time": t, "records": len(v), "chip_sd": math.sqrt(float(np.mean(v)))}
            for (f, t), v in sorted(acc.items())]


def measure(args: argparse.Namespace) -> list[dict]:
    import dataclasses

    import numpy as np

    from analognas.analog import DriftEvalConfig, get_recipe
    from analognas.data import load_dataset
    from analognas.models import get_spec
    from analognas.training import DATA_SEED, CheckpointStore, drift_curve, ensure_fp32, ensure_hwa, get_fidelity

    fid = get_fidelity(args.fidelity)
    recipe = get_recipe(args.recipe)
    store = CheckpointStore(args.cache_dir)
    ds = load_dataset("fashion-mnist", train_size=fid.train_size, test_size=fid.test_size, seed=DATA_SEED)
    n_test = len(ds.test)
    times = (ONE_DAY, ONE_MONTH)
    whole = DriftEvalConfig(times=times, repeats=1, seed=args.drift_seed)
    subset = dataclasses.replace(whole, images_per_chip=args.images)
    out = []
    for name in args.archs.split(","):
        spec = _spec(name, get_spec)
        for seed in (int(s) for s in args.seeds.split(",")):
            fp32, _, cached_fp32 = ensure_fp32(spec, ds, fid, seed, store)
            hwa, _, cached_hwa = ensure_hwa(spec, ds, fid, recipe, seed, store, fp32)
            if not (cached_fp32 and cached_hwa):
                print(f"note: {name} seed {seed} was trained now (not in {args.cache_dir})", file=sys.stderr)
            rows = {"whole": [], "subset": []}
            secs = {"whole": [], "subset": []}
            for chip in range(args.repeats):
                # chip `chip` of a repeats=N evaluation is repeat index `chip`: the same chip
                # whichever reading; the readings alternate, first one then the other, so
                # both see the same machine load and neither always runs warm
                order = (("whole", whole), ("subset", subset))
                for label, cfg in order if chip % 2 == 0 else order[::-1]:
                    cfg = dataclasses.replace(cfg, repeats=chip + 1)
                    t0 = time.process_time()
                    curve = drift_curve(hwa, ds.test, cfg, fid.eval_batch_size, stored=_Only(chip))
                    secs[label].append(time.process_time() - t0)
                    rows[label].append(curve.per_repeat[chip])
            for i, t in enumerate(times):
                a = np.array([r[i] for r in rows["whole"]])
                b = np.array([r[i] for r in rows["subset"]])
                p = float(a.mean()) / 100
                k = min(args.images, n_test)
                binomial = 100 * math.sqrt(p * (1 - p) / k * (n_test - k) / max(1, n_test - 1))
                sd_chip = float(a.std(ddof=1))
                sd_img = float((b - a).std(ddof=1))
                c_whole, c_sub = float(np.median(secs["whole"])), float(np.median(secs["subset"]))
                m_sub = args.repeats * c_whole / c_sub  # subset chips the whole-set budget buys
                se_whole = sd_chip / math.sqrt(args.repeats)
                se_sub = math.sqrt(sd_chip**2 + sd_img**2) / math.sqrt(m_sub)
                row = {
                    "arch": name, "seed": seed, "fidelity": fid.name, "time": t, "chips": args.repeats,
                    "test_images": n_test, "images_per_chip": k, "mean_whole": float(a.mean()),
                    "mean_subset": float(b.mean()), "chip_sd": sd_chip, "subset_minus_whole_sd": sd_img,
                    "binomial_sd": binomial, "cpu_s_per_chip_whole": c_whole, "cpu_s_per_chip_subset": c_sub,
                    "subset_chips_at_equal_cpu": m_sub, "se_whole": se_whole, "se_subset_equal_cpu": se_sub,
                    # se_sub is at the whole-set CPU already, and SE^2 falls as 1 / CPU
                    "cpu_ratio_at_equal_se": (se_sub / se_whole) ** 2 if se_whole > 0 else math.nan,
                }
                out.append(row)
                print(f"{name} s{seed} {t:g}s: chips sd {sd_chip:.2f}, subset-whole sd {sd_img:.2f} (binomial "
                      f"{binomial:.2f}), {c_whole:.1f} vs {c_sub:.1f} CPU-s per chip: SE {se_whole:.2f} with "
                      f"{args.repeats} whole-set chips vs {se_sub:.2f} with {m_sub:.0f} subset chips", flush=True)
    return out


def _spec(name: str, get_spec):  # -> ArchSpec
    """A registry name, or a member of the fidelity study's panel (id or name)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from fidelity_study import panel

    members = {k: sp for sp in panel(20) for k in (sp.arch_id, sp.label)}
    return members[name] if name in members else get_spec(name)


class _Only:
    """A drift-row store that holds every chip but one, so ``drift_curve`` measures only
    that chip (the others are placeholders, never reported)."""

    def __init__(self, chip: int) -> None:
        self.chip = chip

    def get(self, r: int) -> tuple[float, ...] | None:
        return None if r == self.chip else (math.nan, math.nan)

    def put(self, r: int, row: tuple[float, ...]) -> None:
        pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fidelity", default="standard")
    ap.add_argument("--recipe", default="hwa-v2")
    ap.add_argument("--archs", default="resnet32", help="registry names or fidelity-study panel ids")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--repeats", type=int, default=8)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--drift-seed", type=int, default=0)
    ap.add_argument("--cache-dir", default=str(ROOT / "benchmarks/results/standard-cache"))
    ap.add_argument("--study", default=str(ROOT / "benchmarks/results/fidelity-study.jsonl"))
    ap.add_argument("--out", default=None, help="JSON file for the rows (default: print only)")
    args = ap.parse_args()
    if args.repeats < 2 or args.images < 1:
        print("error: --repeats must be >= 2 and --images >= 1", file=sys.stderr)
        return 2
    pooled = pooled_chip_sd(Path(args.study))
    for p in pooled:
        print(f"study {p['fidelity']} {p['time']:g}s: chip-to-chip sd {p['chip_sd']:.2f} points "
              f"(root mean square over {p['records']} records)")
    rows = measure(args)
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "pooled": pooled, "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
