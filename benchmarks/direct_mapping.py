"""Direct mapping of trained FP32 weights: which input-range rule, scaling and layer policy.

Protocol v2 requires that directly mapped FP32 weights with every PCM effect off (the
periphery's 8-bit DAC/ADC, ADC bound and output noise still on) stay within 1 point of
FP32, so that "direct" measures PCM and not a calibration choice. This script measures,
on one trained FP32 checkpoint (default: ResNet32 seed 0 at ``standard``, committed in
``benchmarks/results/standard-cache``):

* ``noise_off``: accuracy with PCM programming, read noise and drift off, for every
  input-range rule (k sigma, max, percentiles) under per-tile and per-column scaling;
* ``pcm``: with ``--pcm-repeats N`` also full PCM at 1 s and 1 day over N programmings
  (mean and std), for every layer policy under the chosen rule.

Everything derives from the ``hwa-v2`` recipe, replacing one field at a time, so the
variants differ only where their names say. Writes JSON (``--out``) and prints a table.

Usage::

    python benchmarks/direct_mapping.py [--arch resnet32] [--seed 0] [--pcm-repeats 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RULES = (
    ("std 3", "std", 3.0, None),
    ("std 4.5", "std", 4.5, None),
    ("std 6", "std", 6.0, None),
    ("max", "max", 3.0, None),
    ("p99.9", "percentile", 3.0, 99.9),
    ("p99.99", "percentile", 3.0, 99.99),
    ("p99.999", "percentile", 3.0, 99.999),
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnet32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fidelity", default="standard")
    ap.add_argument("--cache-dir", default=str(ROOT / "benchmarks/results/standard-cache"))
    ap.add_argument("--pcm-repeats", type=int, default=0, help="programmings per layer policy (0: skip)")
    ap.add_argument("--rule", default="p99.99", help="rule used for the PCM runs")
    ap.add_argument("--test-size", type=int, default=None, help="test images (default: the fidelity's)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import torch

    from analognas.analog import (
        CalibrationRule,
        DriftEvalConfig,
        LayerPolicy,
        WeightScaling,
        calibrate_input_ranges,
        get_recipe,
        to_analog,
    )
    from analognas.data import load_dataset
    from analognas.models import resolve_spec
    from analognas.training import CheckpointStore, accuracy, drift_curve, ensure_fp32, get_fidelity

    torch.manual_seed(0)
    fid = get_fidelity(args.fidelity)
    spec = resolve_spec(args.arch)
    ds = load_dataset(
        "fashion-mnist", train_size=fid.train_size, test_size=args.test_size or fid.test_size, seed=0
    )
    store = CheckpointStore(args.cache_dir)
    fp32, _, cached = ensure_fp32(spec, ds, fid, args.seed, store)
    if not cached:
        print("note: the FP32 checkpoint was not cached and has just been trained", file=sys.stderr)
    fp32_acc = accuracy(fp32, ds.test, fid.eval_batch_size)
    base = get_recipe("hwa-v2")
    calib = ds.train.x[: fid.batch_size * 4]

    def recipe_for(rule: tuple, scaling: WeightScaling, policy: LayerPolicy):
        _, kind, alpha, pct = rule
        ir = dataclasses.replace(
            base.input_range,
            calibration=CalibrationRule(kind),
            init_std_alpha=alpha,
            calibration_percentile=pct if pct is not None else base.input_range.calibration_percentile,
        )
        mapping = dataclasses.replace(base.mapping, weight_scaling=scaling)
        return base.replace(input_range=ir, mapping=mapping, layers=policy)

    off = DriftEvalConfig(times=(1.0,), repeats=1, prog_noise_scale=0.0, read_noise_scale=0.0, drift_scale=0.0)
    rows = []
    for scaling in (WeightScaling.TILE, WeightScaling.COLUMN):
        for rule in RULES:
            t0 = time.perf_counter()
            model = to_analog(fp32, recipe_for(rule, scaling, LayerPolicy.ALL_ANALOG))
            calibrate_input_ranges(model, calib)
            acc = drift_curve(model.eval(), ds.test, off, fid.eval_batch_size).mean[0]
            seconds = time.perf_counter() - t0
            rows.append({"scaling": scaling.value, "rule": rule[0], "noise_off": acc, "seconds": seconds})
            print(f"noise off  {scaling.value:6s} {rule[0]:8s} {acc:6.2f} %  (FP32 {fp32_acc:.2f})", flush=True)

    pcm = []
    if args.pcm_repeats > 0:
        rule = next(r for r in RULES if r[0] == args.rule)
        cfg = DriftEvalConfig(times=(1.0, 86400.0), repeats=args.pcm_repeats)
        for policy in LayerPolicy:
            model = to_analog(fp32, recipe_for(rule, WeightScaling.COLUMN, policy))
            calibrate_input_ranges(model, calib)
            curve = drift_curve(model.eval(), ds.test, cfg, fid.eval_batch_size)
            pcm.append(
                {
                    "policy": policy.value,
                    "rule": rule[0],
                    "scaling": "column",
                    "times": list(curve.times),
                    "mean": list(curve.mean),
                    "std": list(curve.std),
                    "per_repeat": [list(r) for r in curve.per_repeat],
                }
            )
            print(
                f"pcm {policy.value:20s} 1 s {curve.mean[0]:6.2f} +- {curve.std[0]:.2f}"
                f"   1 day {curve.mean[1]:6.2f} +- {curve.std[1]:.2f}",
                flush=True,
            )
    out = {
        "arch": args.arch,
        "seed": args.seed,
        "fidelity": fid.to_dict(),
        "test_images": len(ds.test.y),
        "fp32_accuracy": fp32_acc,
        "base_recipe": base.to_dict(),
        "noise_off": rows,
        "pcm": pcm,
        "threads": torch.get_num_threads(),
        "command": " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]]),
        "median_seconds_per_variant": statistics.median(r["seconds"] for r in rows),
    }
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
