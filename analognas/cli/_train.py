"""`analognas train`, `evaluate` and `compare`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from analognas.cli._app import app, print_json

DatasetOpt = Annotated[str, typer.Option(help="fashion-mnist (offline default) or cifar10.")]
DataDirOpt = Annotated[str | None, typer.Option(help="Folder with the dataset files (IDX or cifar-10-batches-py).")]
FidelityOpt = Annotated[str, typer.Option(help="Named protocol: smoke, low, medium, high (v1); quick, standard (v2).")]
EpochsOpt = Annotated[int | None, typer.Option(help="FP32 epochs (overrides the fidelity).")]
HwaEpochsOpt = Annotated[int | None, typer.Option(help="HWA fine-tuning epochs (overrides the fidelity).")]
TrainSizeOpt = Annotated[int | None, typer.Option(help="Training images (class-balanced subset).")]
TestSizeOpt = Annotated[int | None, typer.Option(help="Test images.")]
BatchOpt = Annotated[int | None, typer.Option(help="Batch size (overrides the fidelity).")]
LrOpt = Annotated[float | None, typer.Option(help="Peak FP32 learning rate (overrides the fidelity).")]
SeedOpt = Annotated[int, typer.Option(help="Seed of initialisation, shuffling and programming noise.")]
RecipeOpt = Annotated[
    str, typer.Option(help="HWA recipe: hwa-v2 (protocol v2), hwa-v2-all-analog, hwa-v1, none, or a recipe .json file.")
]
CacheOpt = Annotated[Path | None, typer.Option(help="Checkpoint cache folder (default runs/cache).")]
RepeatsOpt = Annotated[int, typer.Option(help="Independent PCM programmings to average.")]
CompOpt = Annotated[str | None, typer.Option(help="Drift compensation: global, exact-reference or none.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
DeviceOpt = Annotated[str, typer.Option(help="auto (CUDA when present), cpu, cuda or cuda:N.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _common(
    dataset: str,
    fidelity: str,
    epochs: int | None,
    hwa_epochs: int | None,
    train_size: int | None,
    test_size: int | None,
    batch_size: int | None,
    lr: float | None,
    recipe: str,
) -> dict[str, Any]:
    from analognas.analog import resolve_recipe
    from analognas.training import get_fidelity

    fid = get_fidelity(fidelity).with_overrides(
        epochs=epochs,
        hwa_epochs=hwa_epochs,
        train_size=train_size,
        test_size=test_size,
        batch_size=batch_size,
        lr=lr,
    )
    return {"dataset": dataset, "fidelity": fid, "recipe": resolve_recipe(recipe)}


def _drift_config(times: list[str] | None, repeats: int, compensation: str | None, seed: int):
    from analognas.analog import DriftEvalConfig
    from analognas.training import DEFAULT_TIMES, parse_time

    parsed = tuple(parse_time(t) for t in times) if times else DEFAULT_TIMES
    kwargs: dict[str, Any] = {"times": parsed, "repeats": repeats, "seed": seed}
    if compensation is not None:
        kwargs["compensation"] = compensation
    return DriftEvalConfig(**kwargs), parsed


@app.command("train")
def train(
    arch: Annotated[str, typer.Argument(help="Registry name, JSON spec or spec file.")],
    mode: Annotated[str, typer.Option(help="fp32 (from scratch) or hwa (fine-tunes the FP32 model).")] = "fp32",
    dataset: DatasetOpt = "fashion-mnist",
    data_dir: DataDirOpt = None,
    fidelity: FidelityOpt = "standard",
    epochs: EpochsOpt = None,
    hwa_epochs: HwaEpochsOpt = None,
    train_size: TrainSizeOpt = None,
    test_size: TestSizeOpt = None,
    batch_size: BatchOpt = None,
    lr: LrOpt = None,
    recipe: RecipeOpt = "hwa-v2",
    seed: SeedOpt = 0,
    cache_dir: CacheOpt = None,
    device: DeviceOpt = "auto",
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Train one architecture (cached: a second call reuses the checkpoint)."""
    from analognas._device import resolve_device
    from analognas._errors import ConfigError
    from analognas.cli._progress import ProgressBar
    from analognas.data import load_dataset
    from analognas.models import resolve_spec
    from analognas.training import DATA_SEED, CheckpointStore, ensure_fp32, ensure_hwa

    if mode not in ("fp32", "hwa"):
        raise ConfigError(f"--mode must be fp32 or hwa, got {mode!r}")
    dev = resolve_device(device)
    spec = resolve_spec(arch)
    common = _common(dataset, fidelity, epochs, hwa_epochs, train_size, test_size, batch_size, lr, recipe)
    fid = common["fidelity"]
    ds = load_dataset(dataset, data_dir=data_dir, train_size=fid.train_size, test_size=fid.test_size, seed=DATA_SEED)
    store = CheckpointStore(cache_dir)
    with ProgressBar(quiet or json_out) as bar:
        model, meta, cached = ensure_fp32(spec, ds, fid, seed, store, bar, dev)
        if mode == "hwa":
            model, meta, cached = ensure_hwa(spec, ds, fid, common["recipe"], seed, store, model, bar)
    weights = store.paths(_key(spec, ds.name, mode, common["recipe"], fid, seed))[0]
    summary = {
        "arch": spec.label,
        "arch_id": spec.arch_id,
        "mode": mode,
        "dataset": ds.name,
        "cached": cached,
        "checkpoint": str(weights),
        "fidelity": fid.to_dict(),
        "device": str(dev),
        "metrics": meta["metrics"],
    }
    if json_out:
        print_json(summary)
        return
    m = meta["metrics"]
    acc = m.get("test_accuracy", m.get("test_accuracy_noise_free"))
    print(
        f"{spec.label} {mode} on {ds.name} ({fid.name}): test accuracy {acc:.2f}%"
        f"{' (cached)' if cached else ''}, {m['train_seconds']:.1f} s training; checkpoint {weights}"
    )


def _key(spec, dataset, mode, recipe, fid, seed):
    from analognas.training import CheckpointKey

    if mode == "hwa":
        return CheckpointKey(spec.arch_id, dataset, mode, recipe.hash(), fid.hash(), seed)
    return CheckpointKey(spec.arch_id, dataset, mode, "none", fid.fp32_hash(), seed)


@app.command("evaluate")
def evaluate(
    arch: Annotated[str, typer.Argument(help="Registry name, JSON spec or spec file.")],
    drift: Annotated[
        list[str] | None, typer.Option(help="Time after programming: 1e5, 86400, 1h, 1d, 1mo (repeatable).")
    ] = None,
    repeats: RepeatsOpt = 5,
    compensation: CompOpt = None,
    dataset: DatasetOpt = "fashion-mnist",
    data_dir: DataDirOpt = None,
    fidelity: FidelityOpt = "standard",
    epochs: EpochsOpt = None,
    hwa_epochs: HwaEpochsOpt = None,
    train_size: TrainSizeOpt = None,
    test_size: TestSizeOpt = None,
    batch_size: BatchOpt = None,
    lr: LrOpt = None,
    recipe: RecipeOpt = "hwa-v2",
    seed: SeedOpt = 0,
    cache_dir: CacheOpt = None,
    device: DeviceOpt = "auto",
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """FP32, HWA and direct-mapping accuracy after PCM drift (trains whatever is missing)."""
    from analognas._device import resolve_device
    from analognas.cli._progress import ProgressBar
    from analognas.models import resolve_spec
    from analognas.training import CheckpointStore, evaluate_architecture, evaluation_summary, label_time

    dev = resolve_device(device)
    spec = resolve_spec(arch)
    drift_cfg, times = _drift_config(drift, repeats, compensation, seed)
    common = _common(dataset, fidelity, epochs, hwa_epochs, train_size, test_size, batch_size, lr, recipe)
    with ProgressBar(quiet or json_out) as bar:
        ev = evaluate_architecture(
            spec,
            data_dir=data_dir,
            drift=drift_cfg,
            seed=seed,
            store=CheckpointStore(cache_dir),
            progress=bar,
            device=dev,
            **common,
        )
    summary = evaluation_summary(ev, times)
    if json_out:
        print_json(summary)
        return
    from rich.console import Console
    from rich.table import Table

    con = Console()
    fid = ev.fidelity
    con.print(
        f"[bold]{spec.label}[/bold] ({spec.arch_id}) on {ev.dataset['name']}: {ev.params:,} params, "
        f"{ev.tiles} tiles; fidelity {fid.name} ({fid.train_size or 'all'} train / {fid.test_size or 'all'} test"
        f" images, {fid.epochs}+{fid.hwa_epochs} epochs); recipe {ev.recipe.name} ({ev.recipe.hash()}); "
        f"{ev.drift.repeats} programmings, compensation {ev.drift.to_dict().get('compensation')}"
    )
    t = Table("time after programming", "FP32", "HWA", "direct")
    for tm in times:
        cells = [f"{ev.fp32_accuracy:.2f}%"]
        for mode in ("hwa", "direct"):
            m, s = ev.curves[mode].at(tm)
            cells.append(f"{m:.2f} ± {s:.2f}%")
        t.add_row(label_time(tm), *cells)
    con.print(t)
    con.print(
        f"AVM (1 s - 1 month): HWA {summary['avm']['hwa']:.2f} points, direct {summary['avm']['direct']:.2f} points"
    )


@app.command("compare")
def compare(
    archs: Annotated[list[str], typer.Argument(help="Architectures to compare, e.g. T500 resnet32.")],
    out: Annotated[Path | None, typer.Option(help="HTML plot path (default runs/compare/NAMES-FIDELITY.html).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
    repeats: RepeatsOpt = 5,
    compensation: CompOpt = None,
    dataset: DatasetOpt = "fashion-mnist",
    data_dir: DataDirOpt = None,
    fidelity: FidelityOpt = "standard",
    epochs: EpochsOpt = None,
    hwa_epochs: HwaEpochsOpt = None,
    train_size: TrainSizeOpt = None,
    test_size: TestSizeOpt = None,
    batch_size: BatchOpt = None,
    lr: LrOpt = None,
    recipe: RecipeOpt = "hwa-v2",
    seed: SeedOpt = 0,
    seeds: Annotated[int, typer.Option(help="Training seeds per architecture: --seed, --seed+1, ...")] = 1,
    baseline: Annotated[
        str | None, typer.Option(help="Architecture the others are compared with (default: the last named).")
    ] = None,
    cache_dir: CacheOpt = None,
    device: DeviceOpt = "auto",
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Table and accuracy-vs-time plot of several architectures (FP32, HWA, direct), with
    paired differences against a baseline and their 95 % intervals."""
    from analognas._atomic import write_atomic
    from analognas._device import resolve_device
    from analognas._errors import ConfigError, OutputExistsError
    from analognas.cli._progress import ProgressBar
    from analognas.models import resolve_spec
    from analognas.training import MAX_SEEDS, CheckpointStore, compare_architectures
    from analognas.viz import drift_figure, drift_plot_data, write_html

    dev = resolve_device(device)
    specs = [resolve_spec(a) for a in archs]
    if not 1 <= seeds <= MAX_SEEDS:
        raise ConfigError(f"--seeds must be between 1 and {MAX_SEEDS}, got {seeds}")
    labels = [s.label for s in specs]
    if baseline is not None and baseline not in archs and baseline not in labels:
        raise ConfigError(f"--baseline {baseline!r} is not one of the compared architectures: {', '.join(archs)}")
    base = -1 if baseline is None else (archs.index(baseline) if baseline in archs else labels.index(baseline))
    drift_cfg, _ = _drift_config(None, repeats, compensation, seed)
    common = _common(dataset, fidelity, epochs, hwa_epochs, train_size, test_size, batch_size, lr, recipe)
    fid = common["fidelity"]
    explicit = out is not None
    target = out or Path("runs") / "compare" / f"{'-'.join(s.label for s in specs)}-{dataset}-{fid.name}-s{seed}.html"
    if explicit and target.exists() and not force:
        raise OutputExistsError(f"{target} already exists; use --force to overwrite")
    with ProgressBar(quiet or json_out) as bar:
        result = compare_architectures(
            specs,
            data_dir=data_dir,
            drift=drift_cfg,
            seeds=tuple(range(seed, seed + seeds)),
            baseline=base,
            store=CheckpointStore(cache_dir),
            progress=bar,
            device=dev,
            **common,
        )
    data = result.to_dict()
    series = drift_plot_data(data["evaluations"])
    title = (
        f"{' vs '.join(s.label for s in specs)} on {dataset} ({fid.name} fidelity, recipe {common['recipe'].name},"
        f" {seeds} training seed{'s' if seeds > 1 else ''} x {drift_cfg.repeats} programmings)"
    )
    html = write_html([drift_figure(series, title)], target, title, force=True)
    json_path = html.with_suffix(".json")
    write_atomic(json_path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    if json_out:
        print_json({"html": str(html), "json": str(json_path), "rows": result.rows, "differences": result.differences})
        return
    from rich.console import Console
    from rich.table import Table

    rows = result.rows
    cols = [k for k in rows[0] if k not in ("arch_id", "seeds")]
    t = Table(*cols)
    for r in rows:
        cells = []
        for k in cols:
            v = r.get(k)
            if isinstance(v, dict):
                cells.append(f"{v['mean']:.2f}±{v['std']:.2f}")
            elif isinstance(v, float):
                cells.append(f"{v:.2f}")
            elif isinstance(v, int):
                cells.append(f"{v:,}")
            else:
                cells.append(str(v))
        t.add_row(*cells)
    con = Console()
    con.print(t)
    for diff in result.differences:
        d = Table(f"{diff['arch']} - {diff['baseline']}", *diff["modes"].get("hwa", {}))
        for mode, per_time in diff["modes"].items():
            d.add_row(
                mode,
                *(
                    f"{v['mean']:+.2f}" + (f" [{v['ci95'][0]:+.2f}, {v['ci95'][1]:+.2f}]" if v["ci95"] else "")
                    for v in per_time.values()
                ),
            )
        con.print(d)
    print(f"plot: {html}\ndata: {json_path}")
