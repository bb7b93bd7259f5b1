"""Training speed-ups of protocol v2, each on and off in one run.

Three parts (all by default):

* ``throughput``: images per second of one FP32 SGD step (forward, backward, step) for
  ResNet32 and T500 on 1x28x28 Fashion-MNIST batches, for each speed-up alone and all
  together: ``channels_last``, bf16 autocast, batch 256 instead of 128, bf16 with its
  convolutions emulated by FP32 kernels (what the training loop does on a CPU without bf16
  kernels), ``torch.compile`` (``--compile``; compile time is reported separately);
  ``--variants`` picks a subset. The variants are measured in
  ``--rounds`` interleaved rounds (order rotated each round), each round the median of
  ``--iters`` steps; the figure is the median over rounds, and the ratio to the plain step
  is taken per round before the median, so a noisy machine moves both sides together.
* ``accuracy``: paired short runs (same seed, same data order) of ResNet32 with and without
  bf16 autocast (and with and without channels-last) at ``--accuracy-epochs`` epochs on
  ``--accuracy-train`` images: the accuracy difference bf16 costs, if any.
* ``convergence``: CPU-seconds to reach 85 / 90 / 92 % FP32 along the committed
  ``standard`` runs (their per-epoch test accuracy, ``benchmarks/results/standard-cache``).
  Warm-up, schedule and label smoothing are part of that protocol and are not re-run here
  (a full run is 30-75 minutes on one core).

Usage::

    python benchmarks/train_speed.py [--threads 1] [--rounds 5] [--iters 5] [--compile] [--json]
        [--parts throughput,accuracy,convergence] [--variants plain,bf16,...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "plain": {},
    "channels_last": {"channels_last": True},
    "bf16": {"bf16": True},
    "batch 256": {"batch": 256},
    "bf16 + channels_last": {"bf16": True, "channels_last": True},
    # the training loop's bf16 on CPUs without bf16 kernels (analognas.training._bf16);
    # forced here, so a CPU with the kernels shows what emulating would cost it
    "bf16 emulated + channels_last": {"bf16": True, "emulate": True, "channels_last": True},
}


def _step_fn(arch: str, opts: dict, compile_: bool):
    import torch

    from analognas.models import create
    from analognas.training._bf16 import bf16_convolutions

    torch.manual_seed(0)
    model = create(arch, (1, 28, 28), 10).train()
    batch = opts.get("batch", 128)
    x = torch.randn(batch, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 10, (batch,), generator=torch.Generator().manual_seed(2))
    if opts.get("channels_last"):
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    fwd = torch.compile(model) if compile_ else model
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(opts.get("bf16")))

    def step() -> None:
        with bf16_convolutions(bool(opts.get("emulate"))), autocast:
            logits = fwd(x)
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step, batch


def throughput(args: argparse.Namespace) -> dict:
    variants = {k: v for k, v in VARIANTS.items() if not args.variants or k in args.variants}
    variants.setdefault("plain", VARIANTS["plain"])  # every ratio is to the plain step
    if args.compile:
        variants["compile"] = {"compile": True}
        variants["compile + bf16 + channels_last"] = {"compile": True, "bf16": True, "channels_last": True}
    jobs, compile_seconds = {}, {}
    for arch in args.archs:
        for name, opts in variants.items():
            t0 = time.perf_counter()
            step, batch = _step_fn(arch, opts, bool(opts.get("compile")))
            for _ in range(args.warmup):
                step()
            if opts.get("compile"):
                compile_seconds[f"{arch} {name}"] = time.perf_counter() - t0
            jobs[(arch, name)] = (step, batch)
    per_round: dict[tuple[str, str], list[float]] = {k: [] for k in jobs}
    keys = list(jobs)
    for r in range(args.rounds):
        order = keys[r % len(keys) :] + keys[: r % len(keys)]
        for key in order:
            step, batch = jobs[key]
            ts = []
            for _ in range(args.iters):
                t0 = time.perf_counter()
                step()
                ts.append(time.perf_counter() - t0)
            per_round[key].append(batch / statistics.median(ts))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    rows = []
    for arch in args.archs:
        base = per_round[(arch, "plain")]
        for name in variants:
            ips = per_round[(arch, name)]
            ratios = [a / b for a, b in zip(ips, base, strict=True)]
            rows.append(
                {
                    "arch": arch,
                    "variant": name,
                    "images_per_s": statistics.median(ips),
                    "speedup": statistics.median(ratios),
                    "speedup_range": [min(ratios), max(ratios)],
                }
            )
    return {"rows": rows, "compile_seconds": compile_seconds}


def accuracy(args: argparse.Namespace) -> dict:
    import torch

    from analognas.data import load_dataset
    from analognas.models import create
    from analognas.training import accuracy as test_accuracy
    from analognas.training import train_model

    ds = load_dataset("fashion-mnist", train_size=args.accuracy_train, test_size=None, seed=0)
    out = []
    variants = (
        ("plain", {}),
        ("bf16", {"precision": "bf16"}),
        ("bf16 + channels_last", {"precision": "bf16", "channels_last": True}),
    )
    for name, opts in variants:
        torch.manual_seed(0)
        model = create("resnet32", ds.input_shape, ds.num_classes)
        res = train_model(
            model, ds.train, epochs=args.accuracy_epochs, lr=0.1, batch_size=128, momentum=0.9, weight_decay=5e-4,
            seed=0, warmup_epochs=0.5, label_smoothing=0.1, **opts,
        )
        acc = test_accuracy(model, ds.test)
        out.append({"variant": name, "test_accuracy": acc, "train_seconds": res.seconds,
                    "bf16_convolutions": res.bf16_convolutions})  # emulated on CPUs without bf16 kernels
        print(f"accuracy {name}: {acc:.2f} % in {res.seconds:.0f} s", file=sys.stderr, flush=True)
    base = out[0]["test_accuracy"]
    for row in out:
        row["difference"] = row["test_accuracy"] - base
    return {"train_images": len(ds.train), "test_images": len(ds.test), "epochs": args.accuracy_epochs, "rows": out}


def convergence(cache: Path) -> list[dict]:
    rows = []
    for meta_path in sorted(cache.glob("*/*/fp32-*.json")):
        meta = json.loads(meta_path.read_text())
        hist = meta.get("metrics", {}).get("history") or []
        if not hist or "test_accuracy" not in hist[0]:
            continue
        reach = {}
        for target in (85.0, 90.0, 92.0):
            hit = next((h for h in hist if h["test_accuracy"] >= target), None)
            reach[f"{target:g}"] = None if hit is None else {"epoch": hit["epoch"], "seconds": hit["seconds"]}
        rows.append(
            {
                "arch": meta["name"],
                "seed": meta["seed"],
                "fidelity": meta["fidelity"]["name"],
                "final_accuracy": meta["metrics"]["test_accuracy"],
                "train_seconds": meta["metrics"]["train_seconds"],
                "threads": 1,
                "reach": reach,
            }
        )
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--archs", default="resnet32,T500")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--variants", default="", help=f"comma-separated subset of: {', '.join(VARIANTS)} (default: all)")
    ap.add_argument("--compile", action="store_true", help="also measure torch.compile (needs a C++ compiler)")
    ap.add_argument("--parts", default="throughput,accuracy,convergence")
    ap.add_argument("--accuracy-train", type=int, default=10000)
    ap.add_argument("--accuracy-epochs", type=int, default=2)
    ap.add_argument("--cache-dir", default=str(ROOT / "benchmarks/results/standard-cache"))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    args.archs = args.archs.split(",")
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        print(f"error: unknown variant {unknown[0]!r}; known: {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(args.threads)
    parts = set(args.parts.split(","))
    from analognas._device import native_bf16

    # bf16 is only fast where oneDNN has AVX512/AMX bf16 kernels: say which CPU measured it
    result: dict = {"threads": args.threads, "torch": torch.__version__, "cpu_count": os.cpu_count(),
                    "cpu_capability": torch.backends.cpu.get_cpu_capability(), "native_bf16": native_bf16()}
    print(f"CPU capability {result['cpu_capability']}, native bf16 kernels: {result['native_bf16']}")
    if "throughput" in parts:
        result["throughput"] = throughput(args)
        for row in result["throughput"]["rows"]:
            lo, hi = row["speedup_range"]
            print(f"{row['arch']:9s} {row['variant']:32s} {row['images_per_s']:8.1f} img/s"
                  f"  x{row['speedup']:.2f} [{lo:.2f}, {hi:.2f}]")
    if "accuracy" in parts:
        result["accuracy"] = accuracy(args)
        for row in result["accuracy"]["rows"]:
            print(f"resnet32 {row['variant']:24s} {row['test_accuracy']:.2f} % ({row['difference']:+.2f})")
    if "convergence" in parts:
        result["convergence"] = convergence(Path(args.cache_dir))
        for row in result["convergence"]:
            reach = ", ".join(
                f"{k} %: " + ("not reached" if v is None else f"{v['seconds']:.0f} s (epoch {v['epoch']})")
                for k, v in row["reach"].items()
            )
            print(f"{row['arch']} seed {row['seed']} {row['fidelity']}: {row['final_accuracy']:.2f} %; {reach}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    if args.json:
        print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
