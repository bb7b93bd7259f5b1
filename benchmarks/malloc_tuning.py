"""What ``analognas._malloc.tune_glibc_malloc`` (applied by every CLI command) buys.

Two measurements on Fashion-MNIST-shaped input, each for glibc's default malloc and for
the tuned one, each in its own subprocess (``mallopt`` cannot be undone in a process):

* ``hwa_train``: one HWA-v2 training step of the network (forward, backward, SGD step,
  weight clipping) at batch 128, input ranges already calibrated;
* ``analog_read``: reading ``--images`` test images of one programmed chip drifted to
  1 day, 500 per forward (every preset's ``eval_batch_size``).

The conditions run in ``--rounds`` interleaved rounds (order rotated each round), so a
busy neighbour slows both alike; a round's figure is the median over ``--iters``
iterations after warm-up, its ratio ``default / tuned``, and the figure printed is the
median ratio over rounds. Subprocesses inherit no ``MALLOC_*_`` variable.

Usage::

    python benchmarks/malloc_tuning.py [--networks resnet32,T500] [--rounds 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

MEASUREMENTS = ("hwa_train", "analog_read")
SHAPE = (1, 28, 28)


def _worker(measurement: str, network: str, tuned: bool, iters: int, images: int) -> float:
    """Median seconds of one measurement after warm-up, in this (fresh) process."""
    if tuned:
        from analognas._malloc import tune_glibc_malloc

        if not tune_glibc_malloc():
            raise SystemExit("glibc malloc could not be tuned here")
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
    gen = torch.Generator().manual_seed(0)
    model = to_analog(create(network, SHAPE, 10), get_recipe("hwa-v2"), generator=torch.Generator().manual_seed(0))
    x = torch.randn(max(images, 128), *SHAPE, generator=gen)
    y = torch.randint(0, 10, (len(x),), generator=gen)
    calibrate_input_ranges(model, x[:512])
    seconds = []
    if measurement == "hwa_train":
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        for i in range(2 + iters):
            xb, yb = x[(i % 4) * 32 :][:128], y[(i % 4) * 32 :][:128]
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
            clip_weights_(model)
            seconds.append(time.perf_counter() - t0)
    else:
        model.eval()
        with analog_inference(model, DriftEvalConfig(times=(86400.0,), repeats=1), repeat=0) as session, \
                torch.no_grad():
            session.drift_to(86400.0)
            for _ in range(1 + iters):
                t0 = time.perf_counter()
                for k in range(0, images, 500):
                    model(x[k : k + 500]).argmax(1)
                seconds.append(time.perf_counter() - t0)
    warm = 2 if measurement == "hwa_train" else 1
    return statistics.median(seconds[warm:])


def _run(measurement: str, network: str, tuned: bool, args: argparse.Namespace) -> float:
    """One worker in a subprocess: ``mallopt`` cannot be undone, and the parent's own heap
    (and any ``MALLOC_*_`` variable, removed here) must not leak into the comparison."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(args.threads)
    cmd = [sys.executable, __file__, "--worker", measurement, "--networks", network, "--iters", str(args.iters),
           "--images", str(args.images)] + (["--tuned"] if tuned else [])
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--networks", default="resnet32,T500")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", dest="json_out", default=None)
    p.add_argument("--worker", choices=MEASUREMENTS, default=None, help=argparse.SUPPRESS)
    p.add_argument("--tuned", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        print(_worker(args.worker, args.networks, args.tuned, args.iters, args.images))
        return 0
    if args.rounds < 5:
        print("--rounds must be >= 5 (one round can swing by 0.3x on a shared machine)", file=sys.stderr)
        return 2
    print(f"glibc default malloc / tuned (analognas._malloc), {args.threads} thread(s), "
          f"median of {args.rounds} interleaved rounds")
    rows = []
    for network in args.networks.split(","):
        for m in MEASUREMENTS:
            t: dict[bool, list[float]] = {False: [], True: []}
            for r in range(args.rounds):
                for tuned in ((False, True) if r % 2 == 0 else (True, False)):
                    t[tuned].append(_run(m, network, tuned, args))
            ratio = statistics.median(a / b for a, b in zip(t[False], t[True]))
            row = {"network": network, "measurement": m, "default_s": statistics.median(t[False]),
                   "tuned_s": statistics.median(t[True]), "speedup": ratio}
            rows.append(row)
            print(f"{network:<10} {m:<12} default {row['default_s']:.3f} s  tuned {row['tuned_s']:.3f} s  "
                  f"x{ratio:.2f}", flush=True)
    if args.json_out:
        meta = {"machine": platform.processor() or platform.machine(), "libc": " ".join(platform.libc_ver()),
                "threads": args.threads,
                "rounds": args.rounds, "iters": args.iters, "images": args.images}
        with open(args.json_out, "w") as fh:
            json.dump({"meta": meta, "rows": rows}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
