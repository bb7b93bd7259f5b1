"""How exactly the bf16 convolutions the training loop computes follow bf16 arithmetic.

Protocol v2 trains under bf16 autocast: a convolution takes bf16 operands, accumulates in
FP32 (oneDNN's default "strict" accumulation) and returns bf16. On CPUs without bf16
kernels the training loop emulates that with FP32 kernels (``analognas.training._bf16``).
This script takes every convolution of ResNet32 and T500 with the inputs a real batch
gives it, and compares three computations of its output and of both gradients:

* ``ideal``: the bf16-rounded operands convolved in FP64 (exact accumulation), result
  rounded to bf16: what any bf16 kernel with a wide accumulator returns, up to the last bit;
* ``native``: torch's bf16 kernels on this CPU (oneDNN's with AVX512-BF16 or AMX; a
  reference convolution without them);
* ``emulated``: the training loop's emulation.

``--profile`` first profiles one bf16 ResNet32 training step (batch 64, channels-last) on
this CPU's own kernels and prints the share of its CPU time in convolution kernels: what
makes bf16 slow where the CPU has no bf16 kernels.

For each it reports the relative error norm against ``ideal`` (median and worst layer)
and the share of elements bitwise equal to it, in both memory layouts (the presets train
channels-last, which takes other FP32 kernels). Fashion-MNIST batches, seeded.

Usage::

    python benchmarks/bf16_emulation.py [--batch 8] [--archs resnet32,T500] [--profile] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

PARTS = ("output", "grad_input", "grad_weight")
LAYOUTS = ("contiguous", "channels_last")


def _layers(arch: str, batch: int) -> list[tuple[object, object]]:
    """(conv module, its FP32 input) for every convolution of ``arch`` on a real batch."""
    import torch

    from analognas.data import load_dataset
    from analognas.models import create

    torch.manual_seed(0)
    ds = load_dataset("fashion-mnist", train_size=1000, test_size=100, seed=0)
    model = create(arch, ds.input_shape, ds.num_classes).train()
    seen: list[tuple[object, object]] = []
    hooks = [m.register_forward_pre_hook(lambda m, a: seen.append((m, a[0].detach().float().clone())))
             for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model(ds.train.x[:batch])
    for h in hooks:
        h.remove()
    return seen


def _compute(conv, x, grad, how: str, channels_last: bool):  # -> (output, grad_input, grad_weight), FP32
    import torch
    import torch.nn.functional as F

    from analognas.training._bf16 import bf16_convolutions

    bf16 = torch.bfloat16
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        grad = grad.contiguous(memory_format=torch.channels_last)
    args = (conv.stride, conv.padding, conv.dilation, conv.groups)
    if how == "ideal":
        xi = x.to(bf16).double().requires_grad_()
        wi = conv.weight.detach().to(bf16).double().requires_grad_()
        out = F.conv2d(xi, wi, None, *args)
        out.backward(grad.double())
        return out.detach().to(bf16).float(), xi.grad.to(bf16).float(), wi.grad.to(bf16).float()
    xi = x.clone().requires_grad_()
    wi = conv.weight.detach().clone()
    wi = (wi.contiguous(memory_format=torch.channels_last) if channels_last else wi).requires_grad_()
    with bf16_convolutions(how == "emulated"), torch.autocast("cpu", dtype=bf16):
        out = F.conv2d(xi, wi, None, *args)
    out.backward(grad)
    return out.detach().float(), xi.grad.float(), wi.grad.float()


def measure(archs: list[str], batch: int) -> dict:
    import torch

    rows = []
    for arch in archs:
        for i, (conv, x) in enumerate(_layers(arch, batch)):
            with torch.no_grad():
                shape = torch.nn.functional.conv2d(x, conv.weight, None, conv.stride, conv.padding, conv.dilation,
                                                   conv.groups).shape
            grad = torch.randn(shape, generator=torch.Generator().manual_seed(i)).to(torch.bfloat16)
            ideal = _compute(conv, x, grad, "ideal", False)
            for layout in LAYOUTS:
                row = {"arch": arch, "layer": i, "layout": layout, "shape": list(conv.weight.shape),
                       "stride": list(conv.stride)}
                for how in ("native", "emulated"):
                    got = _compute(conv, x, grad, how, layout == "channels_last")
                    for part, a, b in zip(PARTS, got, ideal, strict=True):
                        row[f"{how} {part} rel_err"] = float((a - b).norm() / b.norm().clamp_min(1e-30))
                        row[f"{how} {part} equal"] = float((a == b).float().mean())
                rows.append(row)
        print(f"{arch}: {sum(r['arch'] == arch for r in rows) // len(LAYOUTS)} convolutions", file=sys.stderr,
              flush=True)
    summary = {}
    for layout in LAYOUTS:
        mine = [r for r in rows if r["layout"] == layout]
        for how in ("native", "emulated"):
            for part in PARTS:
                errs = [r[f"{how} {part} rel_err"] for r in mine]
                equal = [r[f"{how} {part} equal"] for r in mine]
                summary[f"{layout} {how} {part}"] = {
                    "median_rel_err": statistics.median(errs), "max_rel_err": max(errs),
                    "min_equal": min(equal), "median_equal": statistics.median(equal)}
    return {"rows": rows, "summary": summary}


def profile_step() -> dict:
    """Share of one bf16 ResNet32 training step's CPU time per kernel (torch's profiler)."""
    import torch
    import torch.nn.functional as F

    from analognas.models import create

    torch.manual_seed(0)
    model = create("resnet32", (1, 28, 28), 10).train().to(memory_format=torch.channels_last)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 1, 28, 28, generator=g).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (64,), generator=g)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(x)
        F.cross_entropy(out.float(), y).backward()

    step()  # warm-up
    with torch.profiler.profile() as prof:
        step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    top = sorted(events, key=lambda e: e.self_cpu_time_total, reverse=True)[:5]
    conv = sum(e.self_cpu_time_total for e in events if "conv" in e.key)
    return {"step_seconds": total / 1e6, "convolution_share": conv / total,
            "top": [{"kernel": e.key, "share": e.self_cpu_time_total / total} for e in top]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default="resnet32,T500")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--profile", action="store_true", help="also profile one bf16 ResNet32 step on this CPU's kernels")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.batch < 1:
        print(f"error: --batch must be >= 1, got {args.batch}", file=sys.stderr)
        return 2
    import torch

    from analognas._device import native_bf16

    torch.set_num_threads(args.threads)
    result = {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
              "native_bf16": native_bf16(), "batch": args.batch}
    if args.profile:
        result["profile"] = profile_step()
        p = result["profile"]
        print(f"one bf16 ResNet32 step (batch 64, this CPU's kernels): {p['step_seconds']:.2f} CPU-s,"
              f" {100 * p['convolution_share']:.1f} % in convolution kernels; top: "
              + ", ".join(f"{t['kernel']} {100 * t['share']:.1f} %" for t in p["top"]))
    result.update(measure(args.archs.split(","), args.batch))
    print(f"CPU capability {result['cpu_capability']}, native bf16 kernels: {result['native_bf16']};"
          f" {len(result['rows']) // len(LAYOUTS)} convolutions, batch {args.batch}")
    print(f"{'layout':14s} {'kernels':9s} {'tensor':12s} {'median rel. error':>18s} {'worst layer':>12s}"
          f" {'bitwise = ideal':>16s}")
    for key, s in result["summary"].items():
        layout, how, part = key.split(" ")
        print(f"{layout:14s} {how:9s} {part:12s} {s['median_rel_err']:18.2e} {s['max_rel_err']:12.2e}"
              f" {100 * s['median_equal']:8.2f} % (worst {100 * s['min_equal']:.2f} %)")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
