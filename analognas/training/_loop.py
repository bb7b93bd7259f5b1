"""Training and plain accuracy loops.

One loop serves FP32 training and HWA fine-tuning: the difference lives in the model
(`analognas.analog.to_analog` swaps layers for noise-injecting ones) and in a hook run
after every optimiser step (weight clipping), so the two modes cannot drift apart.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from analognas._errors import TrainingDivergedError
from analognas.data import Split, iterate_batches
from analognas.training._bf16 import bf16_convolutions, needs_bf16_emulation
from analognas.training._resume import ResumeFile

#: progress(done_steps, total_steps, description)
Progress = Callable[[int, int, str], None]


@dataclass
class TrainResult:
    epochs: int
    steps: int
    seconds: float
    final_loss: float
    history: list[dict[str, Any]] = field(default_factory=list)
    bf16_convolutions: str | None = None
    """How a bf16 run computed its convolutions: "native" kernels, or "emulated" through
    FP32 kernels on a CPU without bf16 ones (`analognas.training._bf16`); None in FP32. A
    run resumed on another machine joins its sittings' values with "+" ("unrecorded" for
    epochs trained before the field existed)."""
    trained_on: str = ""
    """Where the epochs ran ("cpu AVX2", "cuda NVIDIA H100 ..."), joined with "+" the same
    way: provenance for results that must not depend on the machine."""


def machine(device: torch.device) -> str:
    """The hardware a step runs on, as provenance: the CPU's vector capability (which decides
    oneDNN's kernels) or the GPU's name."""
    if device.type == "cuda":
        return f"cuda {torch.cuda.get_device_name(device)}"
    return f"cpu {torch.backends.cpu.get_cpu_capability()}" if device.type == "cpu" else device.type


def _joined(history: list[dict[str, Any]], key: str) -> str:
    """The values of ``key`` over the epochs, in order of first appearance, joined with "+"."""
    seen: list[str] = []
    for row in history:
        value = str(row.get(key, "unrecorded"))
        if value not in seen:
            seen.append(value)
    return "+".join(seen)


def accuracy(model: nn.Module, split: Split, batch_size: int = 500) -> float:
    """Top-1 accuracy in percent, in eval mode, without gradients."""
    was_training = model.training
    model.eval()
    correct = 0
    device = next(model.parameters()).device
    with torch.no_grad():
        for xb, yb in iterate_batches(split, batch_size):
            correct += int((model(xb.to(device)).argmax(1) == yb.to(device)).sum())
    model.train(was_training)
    return 100.0 * correct / len(split)


def lr_factor(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """Multiplier of the peak learning rate after `s` steps: linear warm-up from
    1/(warmup+1) to 1, then a half cosine from 1 to 0 at `total_steps`."""
    warmup = max(0, min(warmup_steps, total_steps - 1))

    def factor(s: int) -> float:
        if s < warmup:
            return (s + 1) / (warmup + 1)
        span = max(total_steps - warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * min(s - warmup, span) / span))

    return factor


def train_model(
    model: nn.Module,
    train: Split,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    momentum: float,
    weight_decay: float,
    seed: int,
    augment: bool = False,
    after_step: Callable[[nn.Module], None] | None = None,
    progress: Progress | None = None,
    label: str = "train",
    warmup_epochs: float = 0.0,
    label_smoothing: float = 0.0,
    precision: str = "fp32",
    channels_last: bool = False,
    on_epoch: Callable[[nn.Module, int], dict[str, float]] | None = None,
    resume: ResumeFile | None = None,
    stateful: Mapping[str, Any] | None = None,
) -> TrainResult:
    """SGD with Nesterov momentum; linear warm-up over `warmup_epochs`, then cosine (per step) to zero.

    `precision="bf16"` runs the forward pass under CPU/CUDA bf16 autocast (parameters,
    optimiser state and the loss stay FP32); on a CPU without bf16 kernels its
    convolutions are emulated with FP32 kernels, the same arithmetic at FP32 speed instead
    of a tenth of it (``_bf16``). `channels_last` converts the model and every
    batch to channels-last memory format, which makes CPU convolutions faster.
    `on_epoch(model, epoch)` may return extra figures (e.g. test accuracy) for the history;
    its time is not counted in the training seconds. With ``resume``, the state after each
    epoch is kept there and a restarted run continues after the last finished epoch, with
    the result of an uninterrupted run (see ``_resume``). ``stateful`` names other objects
    the run's randomness lives in (``state_dict`` / ``load_state_dict``, e.g. the analog
    layers' noise sources): they are saved and restored with it.

    Raises `TrainingDivergedError` naming the epoch and step as soon as the loss is not
    finite, instead of silently producing a NaN network that poisons the records.
    """
    gen = torch.Generator().manual_seed(seed)
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr,
        momentum=momentum,
        nesterov=momentum > 0,
    )
    steps_per_epoch = math.ceil(len(train) / batch_size)
    total = epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(total, round(warmup_epochs * steps_per_epoch)))
    device = next(model.parameters()).device
    if channels_last:
        model.to(memory_format=torch.channels_last)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    emulate = needs_bf16_emulation(precision, device)
    mode, where = ("emulated" if emulate else "native"), machine(device)
    model.train()
    start, step, loss_value, paused = time.perf_counter(), 0, float("nan"), 0.0
    history: list[dict[str, Any]] = []
    first = 1
    saved = resume.load() if resume is not None else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["opt"])
        sched.load_state_dict(saved["sched"])
        gen.set_state(saved["gen"])
        for name, obj in (stateful or {}).items():
            obj.load_state_dict(saved["stateful"][name])
        first, step, history = int(saved["epoch"]) + 1, int(saved["step"]), list(saved["history"])
        loss_value = float(saved["loss"])
        start -= float(saved["seconds"])  # training seconds continue from the earlier sittings
    for epoch in range(first, epochs + 1):
        running, seen = 0.0, 0
        for xb, yb in iterate_batches(train, batch_size, shuffle=True, generator=gen, augment=augment):
            step += 1
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with bf16_convolutions(emulate), autocast:
                logits = model(xb)
            loss = F.cross_entropy(logits.float(), yb, label_smoothing=label_smoothing)
            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                raise TrainingDivergedError(
                    f"{label}: loss became {loss_value} at epoch {epoch}, step {step - (epoch - 1) * steps_per_epoch}"
                    f" of {steps_per_epoch} (lr {sched.get_last_lr()[0]:.3g}); try a lower --lr"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if after_step is not None:
                after_step(model)
            running += loss_value * len(yb)
            seen += len(yb)
            if progress is not None:
                progress(step, total, f"{label} epoch {epoch}/{epochs} loss {loss_value:.3f}")
        row: dict[str, Any] = {"epoch": epoch, "loss": running / max(seen, 1),
                               "seconds": time.perf_counter() - start - paused, "trained_on": where}
        if precision == "bf16":
            row["bf16_convolutions"] = mode
        if on_epoch is not None:
            t_pause = time.perf_counter()
            row.update(on_epoch(model, epoch))
            model.train()
            paused += time.perf_counter() - t_pause
        history.append(row)
        if resume is not None and epoch < epochs:
            t_pause = time.perf_counter()
            resume.save(model=model.state_dict(), opt=opt.state_dict(), sched=sched.state_dict(),
                        gen=gen.get_state(), epoch=epoch, step=step, history=history, loss=loss_value,
                        seconds=t_pause - start - paused,
                        stateful={name: obj.state_dict() for name, obj in (stateful or {}).items()})
            paused += time.perf_counter() - t_pause
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    return TrainResult(epochs, step, time.perf_counter() - start - paused, loss_value, history,
                       _joined(history, "bf16_convolutions") if precision == "bf16" else None,
                       _joined(history, "trained_on"))
