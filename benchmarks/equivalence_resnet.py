"""Fast path vs aihwkit's own torch tiles on a trained ResNet: protocol v2's equivalence check.

A trained FP32 ResNet32 (the committed ``standard`` checkpoint by default) is mapped
directly, with the ``hwa-v2`` recipe (per-column scaling, channel-wise remap, the recipe's
layer policy) into (a) ``analognas``'s fast path and (b) aihwkit's
``TorchInferenceRPUConfig`` tiles from ``to_aihwkit_rpu_config`` (same PCM noise model,
compensation, periphery and input ranges, the same layers kept digital). Then:

* ideal periphery, every noise off, nothing clipped: both against the digital logits;
* noise off (PCM programming, read noise, drift and output noise off; 8-bit DAC/ADC and
  input ranges on): largest logit difference, and the fraction of logits that differ;
* PCM on: accuracy at 1 s, 1 h, 1 day and 1 month over ``--repeats`` programmings each
  (mean, std, and the difference of the means with its 95 % Welch interval).

The two simulators draw their noise in different orders, so single programmings differ;
the claim is about the mean over programmings. Writes JSON (``--out``).

Usage::

    python benchmarks/equivalence_resnet.py [--arch resnet32] [--repeats 10] [--test-size 2000]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMES = (1.0, 3600.0, 86400.0, 2592000.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnet32")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fidelity", default="standard")
    ap.add_argument("--recipe", default="hwa-v2")
    ap.add_argument("--cache-dir", default=str(ROOT / "benchmarks/results/standard-cache"))
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--test-size", type=int, default=2000)
    ap.add_argument("--device", default="cpu", help="device of the fast path (aihwkit stays on the CPU)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import torch
    from scipy.stats import t as student_t

    from analognas._device import resolve_device
    from analognas.analog import (
        DriftEvalConfig,
        PeripheryParameter,
        analog_inference,
        calibrate_input_ranges,
        drift_accuracy,
        get_recipe,
        to_aihwkit_model,
        to_analog,
    )
    from analognas.data import load_dataset
    from analognas.models import resolve_spec
    from analognas.training import CheckpointStore, ensure_fp32, get_fidelity

    fid = get_fidelity(args.fidelity)
    spec = resolve_spec(args.arch)
    ds = load_dataset("fashion-mnist", train_size=fid.train_size, test_size=args.test_size, seed=0)
    net, _, cached = ensure_fp32(spec, ds, fid, args.seed, CheckpointStore(args.cache_dir))
    if not cached:
        print("note: the FP32 checkpoint was not cached and has just been trained", file=sys.stderr)
    net = net.eval()
    recipe = get_recipe(args.recipe)
    x, y = ds.test.x, ds.test.y
    calib = ds.train.x[: fid.batch_size * 4]

    # (a0) every effect off, nothing clipped: both equal the digital network
    import dataclasses

    from analognas.analog import CalibrationRule

    ideal = recipe.replace(
        periphery=PeripheryParameter(),
        input_range=dataclasses.replace(recipe.input_range, calibration=CalibrationRule.MAX),
    )
    off = DriftEvalConfig(times=(3600.0,), repeats=1, prog_noise_scale=0.0, read_noise_scale=0.0, drift_scale=0.0)
    xs = x[:500]
    fast = to_analog(net, ideal)
    calibrate_input_ranges(fast, xs)
    ref = to_aihwkit_model(net, ideal, off, ranges_from=fast)
    with torch.no_grad():
        digital = net(xs)
        ref.program_analog_weights()
        ref.drift_analog_weights(3600.0)
        theirs_ideal = ref(xs)
    with analog_inference(fast, off) as session, torch.no_grad():
        session.drift_to(3600.0)
        ours_ideal = fast(xs)
    ideal_off = {
        "fast_vs_digital_max_abs": float((ours_ideal - digital).abs().max()),
        "aihwkit_vs_digital_max_abs": float((theirs_ideal - digital).abs().max()),
    }
    print(f"ideal periphery, noise off: {ideal_off}", flush=True)

    # (a) noise off, 8-bit periphery on
    off_recipe = recipe.replace(periphery=PeripheryParameter(inp_bits=8, out_bits=8, out_bound=10.0, out_noise=0.0))
    fast = to_analog(net, off_recipe)
    calibrate_input_ranges(fast, calib)
    ref = to_aihwkit_model(net, off_recipe, off, ranges_from=fast)
    with torch.no_grad():
        ref.program_analog_weights()
        ref.drift_analog_weights(3600.0)
        expected = ref(xs)
    with analog_inference(fast, off) as session, torch.no_grad():
        session.drift_to(3600.0)
        got = fast(xs)
    diff = (got - expected).abs()
    noise_off = {
        "max_abs_logit_difference": float(diff.max()),
        "fraction_over_1e-5": float((diff > 1e-5).float().mean()),
        "max_abs_logit": float(expected.abs().max()),
        "argmax_agreement": float((got.argmax(1) == expected.argmax(1)).float().mean()),
    }
    print(f"noise off: {noise_off}", flush=True)

    # (b) PCM on
    cfg = DriftEvalConfig(times=TIMES, repeats=args.repeats)
    fast = to_analog(net, recipe)
    calibrate_input_ranges(fast, calib)
    device = resolve_device(args.device)
    t0 = time.perf_counter()
    ours = drift_accuracy(fast.to(device), cfg, x.to(device), y.to(device), batch_size=500)
    fast.cpu()
    ours_s = time.perf_counter() - t0
    print(f"fast path: {[round(100 * m, 2) for m in ours.mean]} in {ours_s:.0f} s", flush=True)
    ref = to_aihwkit_model(net, recipe, cfg, ranges_from=fast)
    theirs = []
    t0 = time.perf_counter()
    for r in range(args.repeats):
        row = []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1000 + r)
            ref.program_analog_weights()
            for t in TIMES:
                ref.drift_analog_weights(t)
                correct = 0
                with torch.no_grad():
                    for k in range(0, len(x), 250):
                        correct += int((ref(x[k : k + 250]).argmax(1) == y[k : k + 250]).sum())
                row.append(correct / len(x))
        theirs.append(row)
        print(f"aihwkit programming {r + 1}/{args.repeats}: {[round(100 * a, 2) for a in row]}", flush=True)
    theirs_s = time.perf_counter() - t0
    n = args.repeats
    rows = []
    for k, t in enumerate(TIMES):
        a = [100 * row[k] for row in ours.accuracy]
        b = [100 * row[k] for row in theirs]
        ma, mb = sum(a) / n, sum(b) / n
        va = sum((v - ma) ** 2 for v in a) / (n - 1)
        vb = sum((v - mb) ** 2 for v in b) / (n - 1)
        se = math.sqrt(va / n + vb / n)
        dof = se**4 / ((va / n) ** 2 / (n - 1) + (vb / n) ** 2 / (n - 1)) if se > 0 else n - 1
        half = float(student_t.ppf(0.975, dof)) * se
        rows.append(
            {
                "time": t,
                "fast_mean": ma,
                "fast_std": math.sqrt(va),
                "aihwkit_mean": mb,
                "aihwkit_std": math.sqrt(vb),
                "difference": ma - mb,
                "ci95": [ma - mb - half, ma - mb + half],
            }
        )
        print(f"t={t:>9g} s  fast {ma:6.2f} +- {math.sqrt(va):.2f}  aihwkit {mb:6.2f} +- {math.sqrt(vb):.2f}"
              f"  diff {ma - mb:+.2f} [{ma - mb - half:+.2f}, {ma - mb + half:+.2f}]", flush=True)
    out = {
        "arch": args.arch,
        "seed": args.seed,
        "fidelity": fid.name,
        "recipe": recipe.to_dict(),
        "recipe_hash": recipe.hash(),
        "test_images": len(y),
        "repeats": n,
        "ideal_noise_off": ideal_off,
        "noise_off": noise_off,
        "pcm": rows,
        "seconds": {"fast": ours_s, "aihwkit": theirs_s},
        "threads": torch.get_num_threads(),
        "device": str(device),
        "command": "python benchmarks/equivalence_resnet.py " + " ".join(sys.argv[1:]),
    }
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
