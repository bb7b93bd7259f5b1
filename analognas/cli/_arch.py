"""`analognas arch ...`, `analognas space show` and `analognas export`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from analognas.cli._app import app, parse_shape, print_json

arch_app = typer.Typer(help="Inspect registered or JSON-described architectures.", no_args_is_help=True)
space_app = typer.Typer(help="Inspect search-space files.", no_args_is_help=True)
app.add_typer(arch_app, name="arch")
app.add_typer(space_app, name="space")

ShapeOpt = Annotated[str, typer.Option("--input-shape", help="Input C,H,W (CIFAR 3,32,32; Fashion-MNIST 1,28,28).")]
ClassesOpt = Annotated[int, typer.Option("--classes", min=1, help="Number of output classes.")]


@arch_app.command("list")
def arch_list(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List registered architectures with their cost at 3x32x32, 10 classes."""
    from analognas.cli._render import print_model_table
    from analognas.models import model_table

    rows = model_table((3, 32, 32), 10)
    if json_out:
        print_json(rows)
        return
    print_model_table(rows)


@arch_app.command("show")
def arch_show(
    arch: Annotated[str, typer.Argument(help="Registry name, inline JSON spec, or path to a spec .json.")],
    input_shape: ShapeOpt = "3,32,32",
    classes: ClassesOpt = 10,
    tile_rows: Annotated[int, typer.Option(min=1, help="Crossbar tile rows (inputs).")] = 512,
    tile_cols: Annotated[int, typer.Option(min=1, help="Crossbar tile columns (outputs).")] = 512,
    layers: Annotated[bool, typer.Option("--layers", help="Also print the per-layer tile table.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Params, MACs, analog tiles, depth and a per-stage table of one architecture."""
    from analognas.models import hardware_report, resolve_spec

    spec = resolve_spec(arch)
    report = hardware_report(spec, parse_shape(input_shape), classes, (tile_rows, tile_cols))
    if json_out:
        print_json({**report.to_dict(layers=layers), "spec": spec.to_dict()})
        return
    from analognas.cli._render import print_hardware_report

    print_hardware_report(report, classes, (tile_rows, tile_cols), layers)


@space_app.command("show")
def space_show(
    file: Annotated[str, typer.Argument(help="Space file (.toml) or the name of one in search_spaces/.")],
    samples: Annotated[int, typer.Option(min=0, help="How many seeded samples to show.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the sampler.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Size of a search space and a few seeded samples that meet its constraints."""
    from analognas.cli._render import print_space_summary
    from analognas.space import load_space

    space = load_space(file)
    summary = space.summary(samples, seed)
    if json_out:
        print_json(summary)
        return
    print_space_summary(space, summary)


@app.command("export")
def export(
    arch: Annotated[str, typer.Argument(help="Registry name, inline JSON spec, or spec .json path.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Target .py file (a .json spec is written beside it).")],
    weights: Annotated[Path | None, typer.Option(help="state_dict checkpoint to export with the model.")] = None,
    input_shape: ShapeOpt = "3,32,32",
    classes: ClassesOpt = 10,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Write a standalone PyTorch file (only torch needed) with `build_model()`."""
    from analognas.models import export_model, read_checkpoint_meta, resolve_spec

    spec = resolve_spec(arch)
    shape, n_cls = parse_shape(input_shape), classes
    meta = read_checkpoint_meta(weights) if weights else None
    if meta and "input_shape" in meta:  # weights fix the input shape and class count
        shape, n_cls = tuple(meta["input_shape"]), int(meta.get("num_classes", classes))  # type: ignore[assignment]
    result = export_model(spec, out, input_shape=shape, num_classes=n_cls, weights=weights, force=force)
    files = [str(p) for p in (result.module_path, result.spec_path, result.weights_path) if p]
    if json_out:
        print_json({"arch_id": result.arch_id, "files": files, "dropped_keys": list(result.dropped_keys)})
        return
    print(f"exported {spec.label} ({result.arch_id}): {', '.join(files)}")
    if result.dropped_keys:
        print(f"left out {len(result.dropped_keys)} analog-only tensor(s) not used by the plain network")
