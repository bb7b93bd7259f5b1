"""`analognas train`, `evaluate` and `compare`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from analognas.cli._app import app, print_json
from analognas.cli._options import ProtocolOptions, protocol_options

RepeatsOpt = Annotated[int, typer.Option(help="Independent PCM programmings to average.")]
ImagesOpt = Annotated[int | None, typer.Option(
    help="Test images each programming is read on, drawn anew per chip (default or 0: the whole test set).")]
CompOpt = Annotated[str | None, typer.Option(help="Drift compensation: global, exact-reference or none.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ModesOpt = Annotated[
    str, typer.Option(help="Analog modes to measure: hwa, direct or both (FP32 is always there).")
]


def _modes(text: str) -> tuple[str, ...]:
    from analognas._errors import ConfigError

    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    bad = [m for m in modes if m not in ("hwa", "direct")]
    if bad or not modes:
        raise ConfigError(f"--modes takes hwa, direct or hwa,direct, got {text!r}")
    return ("fp32", *dict.fromkeys(modes))


def _drift_config(times: list[str] | None, repeats: int, compensation: str | None, seed: int,
                  images_per_chip: int | None = None):
    from analognas.analog import DriftEvalConfig
    from analognas.training import DEFAULT_TIMES, parse_time

    parsed = tuple(parse_time(t) for t in times) if times else DEFAULT_TIMES
    kwargs: dict[str, Any] = {"times": parsed, "repeats": repeats, "seed": seed,
                              "images_per_chip": images_per_chip or None}  # 0: the whole test set
    if compensation is not None:
        kwargs["compensation"] = compensation
    return DriftEvalConfig(**kwargs), parsed


@app.command("train")
@protocol_options()
def train(
    arch: Annotated[str, typer.Argument(help="Registry name, JSON spec or spec file.")],
    mode: Annotated[str, typer.Option(help="fp32 (from scratch) or hwa (fine-tunes the FP32 model).")] = "fp32",
    opts: ProtocolOptions = None,  # type: ignore[assignment]  # filled in by @protocol_options
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Train one architecture (cached: a second call reuses the checkpoint)."""
    from analognas.cli._progress import ProgressBar
    from analognas.models import resolve_spec
    from analognas.training import train_architecture

    dev, spec = opts.resolved_device(), resolve_spec(arch)
    with ProgressBar(quiet or json_out) as bar:
        res = train_architecture(spec, mode=mode, dataset=opts.dataset, data_dir=opts.data_dir, seed=opts.seed,
                                 store=opts.store(), device=dev, progress=bar, **_fid_recipe(opts))
    if json_out:
        print_json(res.to_dict())
        return
    print(
        f"{res.arch} {res.mode} on {res.dataset} ({res.fidelity['name']}): test accuracy {res.accuracy:.2f}%"
        f"{' (cached)' if res.cached else ''}, {res.metrics['train_seconds']:.1f} s training;"
        f" checkpoint {res.checkpoint}"
    )


def _fid_recipe(opts: ProtocolOptions) -> dict[str, Any]:
    common = opts.common()
    return {"fidelity": common["fidelity"], "recipe": common["recipe"]}


@app.command("evaluate")
@protocol_options()
def evaluate(
    arch: Annotated[str, typer.Argument(help="Registry name, JSON spec or spec file.")],
    drift: Annotated[
        list[str] | None, typer.Option(metavar="TIME",
                                        help="Time after programming: 1e5, 86400, 1h, 1d, 1mo (repeatable).")
    ] = None,
    repeats: RepeatsOpt = 5,
    images_per_chip: ImagesOpt = None,
    compensation: CompOpt = None,
    modes: ModesOpt = "hwa,direct",
    opts: ProtocolOptions = None,  # type: ignore[assignment]  # filled in by @protocol_options
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """FP32, HWA and direct-mapping accuracy after PCM drift (trains whatever is missing)."""
    from analognas.cli._progress import ProgressBar
    from analognas.models import resolve_spec
    from analognas.training import evaluate_architecture, evaluation_summary

    dev = opts.resolved_device()
    spec = resolve_spec(arch)
    drift_cfg, times = _drift_config(drift, repeats, compensation, opts.seed, images_per_chip)
    common = opts.common()
    with ProgressBar(quiet or json_out) as bar:
        ev = evaluate_architecture(
            spec,
            data_dir=opts.data_dir,
            drift=drift_cfg,
            seed=opts.seed,
            store=opts.store(),
            progress=bar,
            device=dev,
            modes=_modes(modes),
            **common,
        )
    summary = evaluation_summary(ev, times)
    if json_out:
        print_json(summary)
        return
    _print_evaluation(ev, summary, times)


def _print_evaluation(ev: Any, summary: dict[str, Any], times: tuple[float, ...]) -> None:
    from rich.console import Console
    from rich.table import Table

    from analognas.training import label_time

    con = Console()
    fid = ev.fidelity
    con.print(
        f"[bold]{ev.spec.label}[/bold] ({ev.spec.arch_id}) on {ev.dataset['name']}: {ev.params:,} params, "
        f"{ev.tiles} tiles; fidelity {fid.name} ({fid.train_size or 'all'} train / {fid.test_size or 'all'} test"
        f" images, {fid.epochs}+{fid.hwa_epochs} epochs); recipe {ev.recipe.name} ({ev.recipe.hash()}); "
        f"{ev.drift.repeats} programmings, compensation {ev.drift.to_dict().get('compensation')}"
    )
    shown = [m for m in ("hwa", "direct") if m in ev.curves]
    t = Table("time after programming", "FP32", *(("HWA" if m == "hwa" else m) for m in shown))
    for tm in times:
        cells = [f"{ev.fp32_accuracy:.2f}%"]
        for mode in shown:
            m, s = ev.curves[mode].at(tm)
            cells.append(f"{m:.2f} ± {s:.2f}%")
        t.add_row(label_time(tm), *cells)
    con.print(t)
    avm = ", ".join(f"{'HWA' if m == 'hwa' else m} {summary['avm'][m]:.2f} points" for m in shown)
    con.print(f"AVM (1 s - 1 month): {avm}")


@app.command("compare")
@protocol_options()
def compare(
    archs: Annotated[list[str], typer.Argument(help="Architectures to compare, e.g. T500 resnet32.")],
    out: Annotated[Path | None, typer.Option(help="HTML plot path (default runs/compare/NAMES-FIDELITY.html).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
    repeats: RepeatsOpt = 5,
    images_per_chip: ImagesOpt = None,
    compensation: CompOpt = None,
    modes: ModesOpt = "hwa,direct",
    opts: ProtocolOptions = None,  # type: ignore[assignment]  # filled in by @protocol_options
    seeds: Annotated[int, typer.Option(help="Training seeds per architecture: --seed, --seed+1, ...")] = 1,
    baseline: Annotated[
        str | None, typer.Option(help="Architecture the others are compared with (default: the last named).")
    ] = None,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Table and accuracy-vs-time plot of several architectures (FP32, HWA, direct), with
    paired differences against a baseline and their 95 % intervals."""
    from analognas.cli._progress import ProgressBar
    from analognas.cli._render import print_comparison
    from analognas.viz import compare_report

    dev = opts.resolved_device()
    drift_cfg, _ = _drift_config(None, repeats, compensation, opts.seed, images_per_chip)
    with ProgressBar(quiet or json_out) as bar:
        report = compare_report(archs, out=out, force=force, seeds=seeds, baseline=baseline, seed=opts.seed,
                                drift=drift_cfg, data_dir=opts.data_dir, store=opts.store(), progress=bar,
                                device=dev, modes=_modes(modes), **opts.common())
    if json_out:
        print_json(report.to_dict())
        return
    print_comparison(report)
