"""`analognas collect` and `analognas surrogate fit|show|report|agreement`.

Thin wrappers over `analognas.surrogate`: parse options, call one library function, print
its result (progress and warnings on stderr, `--json` alone on stdout). `collect` imports
the training stack only when it runs; the `surrogate` commands never import it except to
parse a drift time.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from analognas.cli._app import app, print_json
from analognas.cli._options import ProtocolOptions, protocol_options
from analognas.cli._progress import ProgressBar
from analognas.cli._train import (
    CompOpt,
    JsonOpt,
    QuietOpt,
)

surrogate_app = typer.Typer(help="Fit, inspect and compare drift-accuracy surrogates.", no_args_is_help=True)
app.add_typer(surrogate_app, name="surrogate")

RecordsOpt = Annotated[list[Path], typer.Option("--records", help="Record file (JSONL); repeat to combine files.")]
TimeOpt = Annotated[str, typer.Option(help="Drift time the accuracy target refers to: 1h, 1d, 1mo, 86400, ...")]
NameArg = Annotated[str | None, typer.Argument(help="Surrogate name or path (default: newest in surrogates/).")]


def _warn(lines: list[str]) -> None:
    for line in lines:
        print(f"warning: {line}", file=sys.stderr)


def _seconds(text: str) -> float:
    from analognas._times import parse_time

    return parse_time(text)


def _queue_settings(storage: str | None, grace: float, name: str):  # type: ignore[no-untyped-def]
    from analognas.surrogate import QueueSettings

    if storage is None:
        return None
    return QueueSettings(heartbeat=min(10.0, grace / 4), grace=grace, name=name)


@app.command("collect")
@protocol_options(fidelity="quick", recipe="hwa-v2")
def collect(
    space: Annotated[str, typer.Option(help="Search-space file or name, e.g. search_spaces/resnet_like.toml.")],
    n: Annotated[int, typer.Option("--n", help="Architectures to measure (the design's first n).")] = 200,
    repeats: Annotated[int | None, typer.Option(
        help="Independent PCM programmings per record (default: 8 of the whole test set, or as many 1,000-image"
             " chips as cost the same where the fidelity's test set is a subset: 40 at quick).")] = None,
    images_per_chip: Annotated[int | None, typer.Option(
        help="Test images each programming reads, drawn anew per chip; 0 reads the whole test set (the default"
             " with --repeats alone).")] = None,
    drift: Annotated[list[str] | None, typer.Option(
        metavar="TIME", help="Also measure at this time after programming (repeatable: 1h, 1y, 3600, ...);"
                             " every record holds 1 s, 1 day and 1 month.")] = None,
    design_seed: Annotated[int, typer.Option(
        help="Seed of the design (which architectures); --seed trains and programs them, so --seed 1 --n 30 "
             "measures a second training seed of the first 30.")] = 0,
    compensation: CompOpt = None,
    records: Annotated[Path | None, typer.Option(
        help="Record store (default surrogates/records/SPACE-DATASET-FIDELITY.jsonl).")] = None,
    workers: Annotated[int, typer.Option(help="Measuring processes (1 = in this process).")] = 1,
    storage: Annotated[str | None, typer.Option(
        help="Shared queue on an Optuna storage (postgresql://..., sqlite:///..., or a journal file): run this"
             " command on every machine; each design point is measured by exactly one worker.")] = None,
    queue: Annotated[str, typer.Option(
        help="With --storage: the queue's name; one collection per name (workers of one collection share it).")
    ] = "analognas-collect",
    grace_seconds: Annotated[float, typer.Option(
        help="With --storage: seconds without a heartbeat after which a silent worker's point is taken back.")] = 120.0,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Measure again what failed before.")] = False,
    opts: ProtocolOptions = None,  # type: ignore[assignment]  # filled in by @protocol_options
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Measure a space-filling design of the space with HWA training + PCM drift (resumable)."""
    from analognas.space import load_space
    from analognas.surrogate import collect as run_collect

    dev = str(opts.resolved_device())
    sp = load_space(space)
    fid = opts.common()["fidelity"]  # also checks the recipe before any work
    with ProgressBar(quiet or json_out, "records") as bar:
        result = run_collect(sp, n=n, fidelity=fid, dataset=opts.dataset, recipe=opts.recipe, repeats=repeats,
                             compensation=compensation, seed=opts.seed, design_seed=design_seed, records=records,
                             images_per_chip=images_per_chip, workers=workers,
                             data_dir=opts.data_dir, cache_dir=opts.cache_dir, retry_failed=retry_failed,
                             progress=bar.collect_event, device=dev, storage=storage,
                             queue=_queue_settings(storage, grace_seconds, queue),
                             drift_times=[_seconds(t) for t in drift or ()])
    if result.failed:
        _warn([f"{result.failed} architecture(s) failed (kept in {result.failed_records}): "
               + "; ".join(result.failures[:3])])
    if json_out:
        print_json(result.to_dict())
        return
    print(f"{result.written} record(s) written, {result.skipped} already there, {result.failed} failed, "
          f"of {result.n}; {result.wall_seconds:.1f} s; records: {result.records}")


@surrogate_app.command("fit")
def fit(
    records: RecordsOpt,
    out: Annotated[Path, typer.Option(help="Surrogate file or surrogates/NAME (.json is added).")],
    target_time: TimeOpt = "1d",
    folds: Annotated[int, typer.Option(help="Cross-validation folds.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the folds and the models.")] = 0,
    space: Annotated[str | None, typer.Option(help="Keep records of this space (file or name).")] = None,
    fidelity: Annotated[str | None, typer.Option(help="Keep records of this fidelity (name or hash).")] = None,
    models: Annotated[str | None, typer.Option(
        help="Model kinds to try, comma-separated: extra_trees,random_forest,gbm,gp (default all).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Fit accuracy, AVM and spread surrogates with cross-validated model choice."""
    from analognas._errors import OutputExistsError
    from analognas.surrogate import MODEL_KINDS, fit_surrogate, save_surrogate, surrogate_path

    target = surrogate_path(out)
    if target.exists() and not force:
        raise OutputExistsError(f"{target} already exists; use --force to overwrite")
    sp = None
    if space is not None:
        from analognas.space import load_space

        sp = load_space(space)
    kinds = tuple(k.strip() for k in models.split(",") if k.strip()) if models else MODEL_KINDS
    with ProgressBar(quiet or json_out, "fit") as bar:
        result = fit_surrogate([str(p) for p in records], space=sp, fidelity=fidelity,
                               drift_time=_seconds(target_time), folds=folds, seed=seed, models=kinds, progress=bar)
    _warn(result.messages)
    path = save_surrogate(result.surrogate, target, force=force)
    summary = result.surrogate.summary()
    if json_out:
        print_json(summary)
        return
    print(f"saved {path}")
    _print_summary(summary)


def _print_summary(s: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    fid = s["fidelity"]
    con = Console()
    con.print(f"space {s['space']['name']} ({s['space']['fingerprint']}), {s['dataset']}, fidelity "
              f"{fid.get('name')}, recipe {s['recipe']['name']}; {s['n_records']} records of "
              f"{s['n_architectures']} architectures from {', '.join(s['records'])} (hash {s['records_hash']}); "
              f"accuracy at {s['drift_time']:g} s; {s['folds']}-fold CV")
    t = Table("target", "model", "features", "kendall_tau", "spearman", "mae", "1-sd coverage",
              "tau between 2 programmings")
    for name, cv in s["targets"].items():
        rep = (s.get("repeatability") or {}).get(name, {}).get("kendall_tau")
        t.add_row(name, cv["model"], cv["feature_set"], *(
            "n/a" if cv[k] is None else f"{cv[k]:.3f}" for k in ("kendall_tau", "spearman", "mae", "coverage_1sd")),
            "n/a" if rep is None else f"{rep:.3f}")
    con.print(t)


@surrogate_app.command("show")
def show(name: NameArg = None, json_out: JsonOpt = False) -> None:
    """Records, fidelity, space and cross-validated figures of a fitted surrogate."""
    from analognas.surrogate import load_surrogate

    summary = load_surrogate(name).summary()
    if json_out:
        print_json(summary)
        return
    print(f"surrogate {summary['path']}")
    _print_summary(summary)


@surrogate_app.command("report")
def report(
    name: NameArg = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="README-ready Markdown table.")] = False,
    stability: Annotated[
        bool, typer.Option("--stability", help="Also refit on 5 other fold splits and growing subsets (seconds).")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """The surrogate's quality figures as a table (Markdown with --markdown)."""
    from analognas.surrogate import cv_stability, load_surrogate, markdown_report, stability_markdown

    sur = load_surrogate(name)
    figures = cv_stability(sur) if stability else None
    if json_out:
        print_json({**sur.summary(), **({"stability": figures} if figures else {})})
    elif markdown:
        sys.stdout.write(markdown_report(sur) + (f"\n{stability_markdown(figures)}" if figures else ""))
    else:
        _print_summary(sur.summary())
        if figures:
            sys.stdout.write(stability_markdown(figures))


@surrogate_app.command("agreement")
def agreement(
    low: Annotated[list[Path], typer.Option("--low", help="Low-fidelity record file (repeatable).")],
    high: Annotated[list[Path], typer.Option("--high", help="High-fidelity record file (repeatable).")],
    target_time: TimeOpt = "1d",
    json_out: JsonOpt = False,
) -> None:
    """Kendall tau between low- and high-fidelity measurements of the same architectures."""
    from analognas.surrogate import fidelity_agreement

    res = fidelity_agreement([str(p) for p in low], [str(p) for p in high], drift_time=_seconds(target_time))
    _warn(res.messages)
    if json_out:
        print_json(res.to_dict())
        return
    print(f"{res.n_common} architectures measured at {res.low['fidelity']} and {res.high['fidelity']}:")
    for what, m in res.metrics.items():
        tau = "n/a" if m["kendall_tau"] is None else f"{m['kendall_tau']:.3f}"
        rho = "n/a" if m["spearman"] is None else f"{m['spearman']:.3f}"
        print(f"  {what:14s} Kendall tau {tau}  Spearman rho {rho}  (n={m['n']})")
