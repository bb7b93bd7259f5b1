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
    from analognas.models import get_entry, list_models
    from analognas.space import cost

    rows = []
    for name in list_models():
        e = get_entry(name)
        c = cost(e.spec, (3, 32, 32), 10)
        rows.append(
            {
                "name": name,
                "arch_id": e.spec.arch_id,
                "params": c.params,
                "macs": c.macs,
                "tiles": c.tiles,
                "depth": c.depth,
                "description": e.description,
                "source": e.source,
            }
        )
    if json_out:
        print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    t = Table("name", "id", "params", "MACs", "tiles", "depth", "description")
    for r in rows:
        t.add_row(
            r["name"],
            r["arch_id"],
            f"{r['params']:,}",
            f"{r['macs'] / 1e6:.1f}M",
            str(r["tiles"]),
            str(r["depth"]),
            r["description"],
        )
    Console().print(t)


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
    from rich.console import Console
    from rich.table import Table

    con = Console()
    con.print(f"[bold]{report.name}[/bold]  id {report.arch_id}  input {report.input_shape}  classes {classes}")
    con.print(
        f"params {report.params:,}   MACs {report.macs:,}   depth {report.depth}   "
        f"tiles {report.tiles} ({tile_rows}x{tile_cols}, mean utilisation {report.mean_utilisation:.1%})"
    )
    t = Table("part", "layout", "params", "MACs", "tiles")
    for s in report.stages:
        t.add_row(s.name, s.description, f"{s.params:,}", f"{s.macs:,}", str(s.tiles))
    con.print(t)
    if layers:
        lt = Table("layer", "rows x cols", "tiles", "utilisation", "MACs")
        for lay in report.layers:
            lt.add_row(lay.name, f"{lay.rows} x {lay.cols}", str(lay.tiles), f"{lay.utilisation:.1%}", f"{lay.macs:,}")
        con.print(lt)


@space_app.command("show")
def space_show(
    file: Annotated[str, typer.Argument(help="Space file (.toml) or the name of one in search_spaces/.")],
    samples: Annotated[int, typer.Option(min=0, help="How many seeded samples to show.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the sampler.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Size of a search space and a few seeded samples that meet its constraints."""
    import numpy as np

    from analognas.space import load_space

    space = load_space(file)
    specs = space.sample(np.random.default_rng(seed), samples) if samples else []
    rows = [{"arch_id": s.arch_id, "spec": s.to_dict(), **space.cost(s).__dict__} for s in specs]
    if json_out:
        print_json(
            {
                "name": space.name,
                "source": space.source,
                "fingerprint": space.fingerprint,
                "size": space.size(),
                "space": space.to_dict(),
                "samples": rows,
            }
        )
        return
    from rich.console import Console
    from rich.table import Table

    con = Console()
    con.print(f"[bold]{space.name}[/bold] ({space.source}): {space.description}")
    con.print(f"{space.size():,} architectures before constraints; fingerprint {space.fingerprint}")
    c = space.constraints
    con.print(
        f"constraints: params <= {c.max_params}, MACs <= {c.max_macs}, tiles <= {c.max_tiles} "
        f"(tile {c.tile_size[0]}x{c.tile_size[1]}); input {space.input_shape}, {space.num_classes} classes"
    )
    if rows:
        t = Table("id", "stem", "stages (width x blocks x branches, type)", "params", "MACs", "tiles")
        for s, r in zip(specs, rows):
            st = ", ".join(f"{x.width}x{x.blocks}x{x.branches} {str(x.block)[:4]}" for x in s.stages)
            t.add_row(
                s.arch_id, f"{s.stem_width} k{s.stem_kernel}", st, f"{r['params']:,}", f"{r['macs']:,}", str(r["tiles"])
            )
        con.print(t)


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
