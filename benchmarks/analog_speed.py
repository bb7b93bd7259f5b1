"""Analog fast path vs digital: time and peak memory of ResNet32 steps, side by side.

Four measurements, each in its own subprocess (so peak RSS is per measurement) with the
same thread count and the same glibc malloc settings:

* ``digital_train``: SGD step of the plain model (forward, backward, step);
* ``hwa_train``: the same step after ``to_analog(model, RECIPE)`` (``--recipe``, default hwa-v2) (input ranges already
  initialised, i.e. steady state after the first ``init_from_data`` batches), plus
  ``clip_weights_``;
* ``digital_eval``: ``eval()`` forward under ``no_grad``;
* ``analog_eval``: forward inside ``analog_inference`` after ``drift_to(1 day)``.

The machine may be shared, so the four workers run in ``--rounds`` rounds (order
rotated each round); each round's figure is the median over ``--iters`` iterations.
Ratios are analog over digital, taken per round and then the median over rounds (the
ratio of the fastest rounds is reported beside it); memory is the smallest peak RSS.

Usage::

    python benchmarks/analog_speed.py [--threads 2] [--batch 128] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

from analognas._malloc import MALLOC_ENV

MEASUREMENTS = ("digital_train", "hwa_train", "digital_eval", "analog_eval")


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _worker(name: str, batch: int, warmup: int, iters: int, model_name: str, recipe: str = "hwa-v2") -> dict:
    import aihwkit.inference  # noqa: F401  (same imports in every worker: fair RSS)
    import torch

    from analognas.analog import (
        DriftEvalConfig,
        analog_inference,
        calibrate_input_ranges,
        clip_weights_,
        get_recipe,
        to_analog,
    )
    from analognas.models import create

    torch.manual_seed(0)
    model = create(model_name, input_shape=(3, 32, 32), num_classes=10)
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    if name in ("hwa_train", "analog_eval"):
        model = to_analog(model, get_recipe(recipe), generator=torch.Generator().manual_seed(0))
        calibrate_input_ranges(model, x)

    times: list[float] = []
    rss_setup = _rss_mb()
    if name.endswith("train"):
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        for i in range(warmup + iters):
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            if name == "hwa_train":
                clip_weights_(model)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    elif name == "digital_eval":
        model.eval()
        with torch.no_grad():
            for i in range(warmup + iters):
                t0 = time.perf_counter()
                model(x)
                if i >= warmup:
                    times.append(time.perf_counter() - t0)
    else:
        with analog_inference(model, DriftEvalConfig(repeats=1), repeat=0) as session, torch.no_grad():
            session.drift_to(86400.0)
            for i in range(warmup + iters):
                t0 = time.perf_counter()
                model(x)
                if i >= warmup:
                    times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "name": name,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "peak_rss_mb": peak,
        "setup_rss_mb": rss_setup,
        "threads": torch.get_num_threads(),
    }


def _run_worker(name: str, args: argparse.Namespace) -> dict:
    env = dict(os.environ)
    env.update(MALLOC_ENV)
    env["OMP_NUM_THREADS"] = str(args.threads)
    env["MKL_NUM_THREADS"] = str(args.threads)
    cmd = [
        sys.executable, os.path.abspath(__file__), "--worker", name, "--threads", str(args.threads),
        "--batch", str(args.batch), "--warmup", str(args.warmup), "--iters", str(args.iters),
        "--model", args.model, "--recipe", args.recipe,
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"worker {name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--model", default="resnet32")
    ap.add_argument("--recipe", default="hwa-v2")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    ap.add_argument("--worker", choices=MEASUREMENTS, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.worker:
        import torch

        torch.set_num_threads(args.threads)
        print(json.dumps(_worker(args.worker, args.batch, args.warmup, args.iters, args.model, args.recipe)))
        return

    best: dict[str, dict] = {}
    rounds: dict[str, list[float]] = {m: [] for m in MEASUREMENTS}
    for r in range(args.rounds):
        order = MEASUREMENTS[r % 4 :] + MEASUREMENTS[: r % 4]
        for name in order:
            res = _run_worker(name, args)
            rounds[name].append(res["median_s"])
            if name not in best or res["median_s"] < best[name]["median_s"]:
                peak = min(res["peak_rss_mb"], best.get(name, res)["peak_rss_mb"])
                best[name] = dict(res, peak_rss_mb=peak)
            else:
                best[name]["peak_rss_mb"] = min(best[name]["peak_rss_mb"], res["peak_rss_mb"])

    import aihwkit
    import torch

    sec = {m: best[m]["median_s"] for m in MEASUREMENTS}
    mem = {m: best[m]["peak_rss_mb"] for m in MEASUREMENTS}
    result = {
        "model": args.model,
        "recipe": args.recipe,
        "batch": args.batch,
        "threads": args.threads,
        # the ratio of each round's pair, median over rounds: a noisy machine moves both sides
        "train_ratio": statistics.median(a / b for a, b in zip(rounds["hwa_train"], rounds["digital_train"])),
        "eval_ratio": statistics.median(a / b for a, b in zip(rounds["analog_eval"], rounds["digital_eval"])),
        "train_ratio_fastest": sec["hwa_train"] / sec["digital_train"],
        "eval_ratio_fastest": sec["analog_eval"] / sec["digital_eval"],
        "memory_ratio": max(mem["hwa_train"] / mem["digital_train"], mem["analog_eval"] / mem["digital_eval"]),
        "train_memory_ratio": mem["hwa_train"] / mem["digital_train"],
        "eval_memory_ratio": mem["analog_eval"] / mem["digital_eval"],
        "seconds": sec,
        "seconds_all_rounds": rounds,
        "peak_rss_mb": mem,
        "setup_rss_mb": {m: best[m]["setup_rss_mb"] for m in MEASUREMENTS},
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "aihwkit": aihwkit.__version__,
        },
        "malloc_env": MALLOC_ENV,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.model}, recipe {args.recipe}, batch {args.batch}, {args.threads} threads,"
          f" {args.rounds} interleaved rounds (ratios: median of the per-round ratios; seconds: fastest round)")
    print(f"{'measurement':<15}{'seconds':>10}{'peak RSS MB':>14}")
    for m in MEASUREMENTS:
        print(f"{m:<15}{sec[m]:>10.4f}{mem[m]:>14.0f}")
    print(
        f"train_ratio {result['train_ratio']:.2f}  eval_ratio {result['eval_ratio']:.2f}  "
        f"memory_ratio {result['memory_ratio']:.2f} (train {result['train_memory_ratio']:.2f}, "
        f"eval {result['eval_memory_ratio']:.2f})"
    )


if __name__ == "__main__":
    main()
