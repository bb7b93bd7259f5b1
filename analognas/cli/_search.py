"""`analognas search`, `register` and `dashboard`.

Thin as the other commands: parse options, call `analognas.search` / `analognas.viz`,
print. A surrogate-only search must not import torch (1.9 s here), so nothing in this
module imports `analognas.training` or `analognas.analog` unless `--verify` asks to train.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from analognas._times import parse_time
from analognas.cli._app import app, print_json

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]
RunsDirOpt = Annotated[Path, typer.Option("--runs-dir", help="Folder holding run folders.")]


@app.command("search")
def search(
    space: Annotated[str, typer.Option(help="Search-space file or name in search_spaces/.")] = "resnet_like",
    surrogate: Annotated[
        str | None, typer.Option(help="Fitted surrogate (path or name); default: the shipped one.")
    ] = None,
    objectives: Annotated[
        str,
        typer.Option(help="Comma list: accuracy (max), avm (min), params/macs/tiles (min). First one ranks best."),
    ] = "accuracy",
    drift: Annotated[str, typer.Option(help="Time after programming the accuracy is predicted at.")] = "1d",
    max_params: Annotated[int | None, typer.Option(help="Hard limit on parameters (T500 class: 500000).")] = None,
    max_macs: Annotated[int | None, typer.Option(help="Hard limit on multiply-accumulates per image.")] = None,
    max_tiles: Annotated[int | None, typer.Option(help="Hard limit on analog crossbar tiles.")] = None,
    budget: Annotated[int, typer.Option(help="Finished trials in the study (global over all workers).")] = 200,
    seed: Annotated[int, typer.Option(help="Sampler seed: same seed, same result.")] = 0,
    name: Annotated[str | None, typer.Option(help="Run name (runs/NAME); same name resumes.")] = None,
    storage: Annotated[
        str | None, typer.Option(help="Optuna RDB URL shared by workers (default: journal file in the run folder).")
    ] = None,
    sampler: Annotated[str, typer.Option(help="auto (TPE; NSGA-II if multi-objective), tpe, nsga2, random.")] = "auto",
    batch_size: Annotated[int, typer.Option(help="Trials sampled and predicted together.")] = 8,
    runs_dir: RunsDirOpt = Path("runs"),
    force: Annotated[bool, typer.Option("--force", help="Start over a run/study with another setup.")] = False,
    verify: Annotated[int, typer.Option(help="Train and drift-evaluate the top K candidates.")] = 0,
    verify_fidelity: Annotated[str, typer.Option(help="Fidelity of --verify training.")] = "low",
    verify_train_size: Annotated[int | None, typer.Option(help="Training images for --verify (overrides).")] = None,
    verify_test_size: Annotated[int | None, typer.Option(help="Test images for --verify (overrides).")] = None,
    verify_device: Annotated[
        str, typer.Option(help="Device of --verify training: auto (CUDA when present), cpu, cuda.")
    ] = "auto",
    refit: Annotated[
        bool, typer.Option("--refit", help="Refit the surrogate on its records before searching.")
    ] = False,
    quiet: QuietOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Search the space for architectures the surrogate predicts to be accurate after drift."""
    from analognas.cli._progress import ProgressBar
    from analognas.search import SearchConfig, VerifyRequest, refit_surrogate, run_search

    config = SearchConfig(
        name=name, space=space, surrogate=surrogate, objectives=(objectives,), drift=parse_time(drift),
        budget=budget, seed=seed, max_params=max_params, max_macs=max_macs, max_tiles=max_tiles, storage=storage,
        runs_dir=runs_dir, sampler=sampler, batch_size=batch_size, force=force,
    ).validated()
    request = VerifyRequest(verify, verify_fidelity, verify_train_size, verify_test_size, verify_device).validated()
    sur_obj = refit_surrogate(surrogate, space=config.load_space(), drift_time=config.drift) if refit else None
    with ProgressBar(quiet or json_out, name or "...") as bar:
        result = run_search(config, surrogate=sur_obj, progress=bar.search)
    summary, verified = result.to_dict(), None
    if request.k:
        from analognas.search import verify_run

        with ProgressBar(quiet or json_out) as vbar:
            verified = verify_run(result.run_dir, k=request.k, fidelity=request.resolved_fidelity(), seed=seed,
                                  progress=vbar, device=request.resolved_device())
        summary["verified"] = [v.to_dict() for v in verified.items]
        summary["records_appended"] = verified.records_path
        summary["verify_notes"] = verified.notes
    if json_out:
        print_json(summary)
        return
    _print_result(result)
    if verified is not None:
        _print_verified(verified)


def _print_result(result: Any) -> None:
    from rich.console import Console

    con = Console()
    b = result.best
    resumed = f", resumed at {result.resumed_from}" if result.resumed_from else ""
    con.print(
        f"run [bold]{result.name}[/bold] ({result.run_dir}): {result.n_trials} trials{resumed} "
        f"({result.n_feasible} feasible, {result.n_infeasible} over the limits, {result.n_failed} failed); "
        f"sampler {result.sampler}, storage {result.storage}, {result.wall_seconds:.1f} s"
    )
    if b is None:
        con.print("no feasible architecture was evaluated")
        return
    pred = ", ".join(f"{k} {m:.2f} ± {s:.2f}" for k, (m, s) in b.predicted.items())
    con.print(
        f"best {b.arch_id} (trial {b.number}): {pred}; {b.cost.get('params', 0):,} params, "
        f"{b.cost.get('tiles', 0)} tiles; {b.summary()}"
    )
    con.print(f"Pareto front: {len(result.pareto)} architectures; files in {result.run_dir}")


def _print_verified(verified: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table("arch", "predicted acc", "measured acc", "predicted AVM", "measured AVM", "params")
    for v in verified.items:
        t.add_row(
            v.arch_id,
            f"{v.predicted_accuracy[0]:.2f} ± {v.predicted_accuracy[1]:.2f}",
            f"{v.measured_accuracy[0]:.2f} ± {v.measured_accuracy[1]:.2f}",
            "-" if v.predicted_avm is None else f"{v.predicted_avm:.2f}",
            "-" if v.measured_avm is None else f"{v.measured_avm:.2f}",
            f"{v.params:,}",
        )
    con = Console()
    con.print(t)
    if verified.records_path:
        con.print(f"appended {verified.appended} of {len(verified.items)} measurement(s) to {verified.records_path}")
    for note in verified.notes:
        con.print(f"note: {note}")


@app.command("register")
def register(
    run: Annotated[str, typer.Argument(help="Run folder (runs/NAME) or run name.")],
    as_name: Annotated[str, typer.Option("--as", help="Name in the user zoo, e.g. T500-fmnist.")],
    pick: Annotated[str, typer.Option(help="best, pareto:K (1 = most accurate), or an architecture id.")] = "best",
    description: Annotated[str | None, typer.Option(help="Description stored with the entry.")] = None,
    runs_dir: RunsDirOpt = Path("runs"),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing user-zoo entry.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Write a run's winner into the user zoo, so evaluate/compare/export/arch show take its name."""
    from analognas.search import register_winner

    entry = register_winner(run, pick=pick, name=as_name, description=description, force=force, runs_dir=runs_dir)
    if json_out:
        print_json(entry)
        return
    print(
        f"registered {entry['name']} ({entry['arch_id']}, {entry['cost'].get('params', 0):,} params) "
        f"from {entry['run']} ({entry['pick']}) in {entry['zoo']}"
    )


@app.command("dashboard")
def dashboard(
    run: Annotated[str, typer.Argument(help="Run folder (runs/NAME) or run name.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="HTML file (default RUN/dashboard.html).")] = None,
    open_: Annotated[bool, typer.Option("--open", help="Open the file in the default browser.")] = False,
    runs_dir: RunsDirOpt = Path("runs"),
    seed: Annotated[int, typer.Option(help="Seed of the parameter-importance forest.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """One self-contained HTML file: Pareto front, references, history, importances, verification."""
    from analognas.viz import write_search_dashboard

    path = write_search_dashboard(run, out=out, runs_dir=runs_dir, seed=seed, force=force)
    if open_:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())
    if json_out:
        print_json({"html": str(path)})
        return
    print(f"dashboard: {path}")
