"""Train what is missing, then measure accuracy against time after programming.

This is the measurement behind `analognas train`, `evaluate`, `compare` and `collect`:
for one architecture it (1) trains FP32 from scratch, (2) fine-tunes a copy with the
hardware-aware recipe, and (3) programs each onto simulated PCM and measures accuracy
after drift, over independent programmings. "direct" maps the FP32 weights onto the same
hardware without HWA training, the baseline HWA training must beat.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from analognas._errors import ConfigError
from analognas.analog import (
    DriftEvalConfig,
    HWARecipe,
    analog_inference,
    calibrate_input_ranges,
    clip_weights_,
    noise_sources,
    record_probe,
    to_analog,
)
from analognas.data import Dataset, Split, load_dataset
from analognas.models import build_model
from analognas.space import ArchSpec, cost
from analognas.training._drift_cache import DriftRows, drift_rows
from analognas.training._evaluation import ONE_MONTH, ONE_SECOND, ArchEvaluation, DriftCurve
from analognas.training._fidelity import Fidelity
from analognas.training._loop import Progress, accuracy, train_model
from analognas.training._resume import ResumeFile
from analognas.training._store import CheckpointKey, CheckpointStore

MODES = ("fp32", "hwa", "direct")
#: Subsets are drawn with this seed whatever the training seed, so every architecture of
#: a study is trained and tested on the same images.
DATA_SEED = 0


def _seeded_model(spec: ArchSpec, ds: Dataset, seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(spec, ds.input_shape, ds.num_classes)


def _meta(
    spec: ArchSpec, ds: Dataset, fid: Fidelity, seed: int, mode: str, recipe: HWARecipe | None, metrics: dict[str, Any]
) -> dict[str, Any]:
    return {
        "arch_id": spec.arch_id,
        "name": spec.label,
        "spec": spec.to_dict(),
        "input_shape": list(ds.input_shape),
        "num_classes": ds.num_classes,
        "dataset": ds.describe(),
        "mode": mode,
        "recipe": recipe.to_dict() if recipe else None,
        "fidelity": fid.to_dict(),
        "seed": seed,
        "metrics": metrics,
    }


def checkpoint_key(spec: ArchSpec, dataset: str, mode: str, recipe: HWARecipe | None, fid: Fidelity,
                   seed: int) -> CheckpointKey:
    """The one definition of what a checkpoint is keyed by: FP32 runs by the FP32 part of
    the fidelity alone (``fp32_hash``), HWA runs by the recipe and the whole fidelity."""
    if mode == "hwa":
        if recipe is None:
            raise ConfigError("an HWA checkpoint key needs a recipe")
        return CheckpointKey(spec.arch_id, dataset, "hwa", recipe.hash(), fid.hash(), seed)
    return CheckpointKey(spec.arch_id, dataset, "fp32", "none", fid.fp32_hash(), seed)


def ensure_fp32(
    spec: ArchSpec,
    ds: Dataset,
    fid: Fidelity,
    seed: int,
    store: CheckpointStore,
    progress: Progress | None = None,
    device: torch.device | str = "cpu",
) -> tuple[nn.Module, dict[str, Any], bool]:
    """The FP32 model for this key (on `device`): from the cache, or trained now and cached.

    Initialisation and shuffling use CPU generators, so a checkpoint does not depend on
    the device it was trained on beyond floating-point summation order."""
    key = checkpoint_key(spec, ds.name, "fp32", None, fid, seed)
    model = _seeded_model(spec, ds, seed)
    hit = store.load(key, spec)
    if hit is not None:
        model.load_state_dict(hit[0])
        return model.to(device).eval(), hit[1], True
    model.to(device)
    resume = ResumeFile.beside(store.paths(key)[0], key=key.__dict__, fidelity=fid.to_dict(), spec=spec.to_dict())
    res = train_model(
        model,
        ds.train,
        epochs=fid.epochs,
        lr=fid.lr,
        batch_size=fid.batch_size,
        momentum=fid.momentum,
        weight_decay=fid.weight_decay,
        seed=seed,
        augment=ds.augment,
        progress=progress,
        label=f"{spec.label} fp32",
        warmup_epochs=fid.warmup_epochs,
        label_smoothing=fid.label_smoothing,
        precision=fid.precision,
        channels_last=fid.channels_last,
        on_epoch=(lambda m, e: {"test_accuracy": accuracy(m, ds.test, fid.eval_batch_size)}) if fid.is_v2 else None,
        resume=resume,
    )
    acc = accuracy(model, ds.test, fid.eval_batch_size)
    figures = {"test_accuracy": acc, "train_seconds": res.seconds, "history": res.history,
               "trained_on": res.trained_on}
    if res.bf16_convolutions is not None:  # provenance: which kernels computed the bf16 arithmetic
        figures["bf16_convolutions"] = res.bf16_convolutions
    meta = _meta(spec, ds, fid, seed, "fp32", None, figures)
    store.save(key, model.state_dict(), meta)
    resume.clear()
    return model.eval(), meta, False


def ensure_hwa(
    spec: ArchSpec,
    ds: Dataset,
    fid: Fidelity,
    recipe: HWARecipe,
    seed: int,
    store: CheckpointStore,
    fp32: nn.Module,
    progress: Progress | None = None,
) -> tuple[nn.Module, dict[str, Any], bool]:
    """The HWA fine-tuned analog model: from the cache, or fine-tuned from `fp32` now (on
    `fp32`'s device)."""
    key = checkpoint_key(spec, ds.name, "hwa", recipe, fid, seed)
    # training noise comes from its own seeded generator, never from torch's global RNG
    model = to_analog(fp32, recipe, generator=torch.Generator().manual_seed(seed + 7919))
    hit = store.load(key, spec)
    if hit is not None:
        model.load_state_dict(hit[0])
        return model.eval(), hit[1], True
    calibrate_input_ranges(model, ds.train.x[: fid.batch_size * 4])
    # the noise sources join the resume state, so a killed run resumes to the same network
    resume = ResumeFile.beside(store.paths(key)[0], key=key.__dict__, fidelity=fid.to_dict(), spec=spec.to_dict(),
                               recipe=recipe.to_dict())
    res = train_model(
        model,
        ds.train,
        epochs=fid.hwa_epochs,
        lr=fid.hwa_lr,
        batch_size=fid.batch_size,
        momentum=fid.momentum,
        weight_decay=fid.weight_decay,
        seed=seed + 1,
        augment=ds.augment,
        after_step=clip_weights_,
        progress=progress,
        label=f"{spec.label} hwa",
        warmup_epochs=min(fid.warmup_epochs, fid.hwa_epochs) / 2,  # 0 for every v1 fidelity
        resume=resume,
        stateful={f"noise{i}": src for i, src in enumerate(noise_sources(model))},
    )
    acc = accuracy(model, ds.test, fid.eval_batch_size)
    meta = _meta(
        spec,
        ds,
        fid,
        seed,
        "hwa",
        recipe,
        {"test_accuracy_noise_free": acc, "train_seconds": res.seconds, "history": res.history,
         "trained_on": res.trained_on},
    )
    store.save(key, model.state_dict(), meta)
    resume.clear()
    return model.eval(), meta, False


def drift_curve(
    model: nn.Module,
    test: Split,
    cfg: DriftEvalConfig,
    batch_size: int = 500,
    progress: Callable[[int, int, str], None] | None = None,
    label: str = "drift",
    stored: DriftRows | None = None,
) -> DriftCurve:
    """Accuracy at each `cfg.times` for `cfg.repeats` independent programmings; chips
    already in ``stored`` are read back, new ones are added to it as they finish."""
    per_repeat = []
    total, done = cfg.repeats * len(cfg.times), 0
    for r in range(cfg.repeats):
        known = stored.get(r) if stored is not None else None
        if known is not None:
            per_repeat.append(known)
            done += len(cfg.times)
            if progress is not None:
                progress(done, total, f"{label} programming {r + 1}/{cfg.repeats} (stored)")
            continue
        row = []
        chip_test = test.subset(cfg.chip_images(r, len(test)))
        with analog_inference(model, cfg, repeat=r) as session:
            for t in cfg.times:
                session.drift_to(t)
                row.append(accuracy(model, chip_test, batch_size))
                done += 1
                if progress is not None:
                    progress(done, total, f"{label} t={t:g}s programming {r + 1}/{cfg.repeats}")
        per_repeat.append(tuple(row))
        if stored is not None:
            stored.put(r, tuple(row))
    cols = list(zip(*per_repeat))
    mean = tuple(sum(c) / len(c) for c in cols)
    std = tuple(
        math.sqrt(sum((v - m) ** 2 for v in c) / (len(c) - 1)) if len(c) > 1 else 0.0 for c, m in zip(cols, mean)
    )
    return DriftCurve(tuple(cfg.times), mean, std, tuple(per_repeat))


def with_avm_times(cfg: DriftEvalConfig) -> DriftEvalConfig:
    """The same config, also measuring 1 s and 1 month so AVM is always defined."""
    times = tuple(sorted(set(cfg.times) | {ONE_SECOND, ONE_MONTH}))
    return cfg if times == tuple(cfg.times) else dataclasses.replace(cfg, times=times)


def evaluate_architecture(
    spec: ArchSpec,
    *,
    dataset: Dataset | str = "fashion-mnist",
    data_dir: str | None = None,
    fidelity: Fidelity,
    recipe: HWARecipe,
    drift: DriftEvalConfig,
    modes: tuple[str, ...] = MODES,
    seed: int = 0,
    store: CheckpointStore | None = None,
    progress: Progress | None = None,
    device: torch.device | str = "cpu",
    probe: bool = False,
) -> ArchEvaluation:
    """Everything `analognas evaluate` reports for one architecture (trains what is missing).

    `probe` also records the weight-noise sensitivity of the FP32 network (seconds; see
    `analognas.analog.record_probe`), the cheap robustness feature collections keep.

    `device` runs training, the analog fast path and inference there; PCM programming and
    drift physics stay on the CPU (small tensors, aihwkit's CPU RNG), so a programmed chip
    is the same whatever the device."""
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise ConfigError(f"unknown mode {bad[0]!r}; choose from {', '.join(MODES)}")
    store = store or CheckpointStore()
    ds = (
        dataset
        if isinstance(dataset, Dataset)
        else load_dataset(
            dataset, data_dir=data_dir, train_size=fidelity.train_size, test_size=fidelity.test_size, seed=DATA_SEED
        )
    )
    drift = with_avm_times(drift)
    c = cost(spec, ds.input_shape, ds.num_classes)
    fp32, fp32_meta, fp32_cached = ensure_fp32(spec, ds, fidelity, seed, store, progress, device)
    result = ArchEvaluation(
        spec=spec,
        dataset=ds.describe(),
        fidelity=fidelity,
        recipe=recipe,
        drift=drift,
        seed=seed,
        fp32_accuracy=float(fp32_meta["metrics"]["test_accuracy"]),
        params=c.params,
        macs=c.macs,
        tiles=c.tiles,
        device=str(torch.device(device)),
    )
    result.train_seconds["fp32"] = float(fp32_meta["metrics"]["train_seconds"])
    result.cached["fp32"] = fp32_cached
    if probe:
        result.probe = record_probe(fp32, ds.train.x, ds.train.y, recipe, seed)
    t0 = time.perf_counter()
    if "hwa" in modes:
        hwa, hwa_meta, hwa_cached = ensure_hwa(spec, ds, fidelity, recipe, seed, store, fp32, progress)
        result.hwa_digital_accuracy = float(hwa_meta["metrics"]["test_accuracy_noise_free"])
        result.train_seconds["hwa"] = float(hwa_meta["metrics"]["train_seconds"])
        result.cached["hwa"] = hwa_cached
        t0 = time.perf_counter()
        rows = drift_rows(store, checkpoint_key(spec, ds.name, "hwa", recipe, fidelity, seed), "hwa", recipe,
                          fidelity, drift, result.dataset)
        result.curves["hwa"] = drift_curve(hwa, ds.test, drift, fidelity.eval_batch_size, progress,
                                           f"{spec.label} hwa", rows)
    if "direct" in modes:
        direct = to_analog(fp32, recipe)
        calibrate_input_ranges(direct, ds.train.x[: fidelity.batch_size * 4])
        rows = drift_rows(store, checkpoint_key(spec, ds.name, "fp32", None, fidelity, seed), "direct", recipe,
                          fidelity, drift, result.dataset)
        result.curves["direct"] = drift_curve(direct.eval(), ds.test, drift, fidelity.eval_batch_size, progress,
                                              f"{spec.label} direct", rows)
    result.eval_seconds = time.perf_counter() - t0
    return result


__all__ = ["DATA_SEED", "MODES", "evaluate_architecture", "with_avm_times"]
