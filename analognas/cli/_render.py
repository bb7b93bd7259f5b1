"""Tables the CLI prints (rich). Only the CLI prints; library calls return result objects."""

from __future__ import annotations

from typing import Any


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, dict):
        return f"{v['mean']:.2f}±{v['std']:.2f}"
    if isinstance(v, float):
        return f"{v:.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _interval(v: dict[str, Any]) -> str:
    return f"{v['mean']:+.2f}" + (f" [{v['ci95'][0]:+.2f}, {v['ci95'][1]:+.2f}]" if v["ci95"] else "")


def print_comparison(report: Any) -> None:
    """``compare``: one row per architecture (pooled seeds), then each paired difference
    with its 95 % interval, then where the files are."""
    from rich.console import Console
    from rich.table import Table

    rows, con = report.comparison.rows, Console()
    cols = [k for k in rows[0] if k not in ("arch_id", "seeds")]
    t = Table(*cols)
    for r in rows:
        t.add_row(*(_cell(r.get(k)) for k in cols))
    con.print(t)
    for diff in report.comparison.differences:
        d = Table(f"{diff['arch']} - {diff['baseline']}", *next(iter(diff["modes"].values()), {}))
        for mode, per_time in diff["modes"].items():
            d.add_row(mode, *(_interval(v) for v in per_time.values()))
            seeds = [v.get("between_seeds") for v in per_time.values()]
            if all(s and s["ci95"] for s in seeds):
                d.add_row(f"{mode}, over {seeds[0]['n']} training seeds", *(_interval(s) for s in seeds))
        con.print(d)
        print("first rows: 95 % intervals over (seed, programming) pairs, programming noise only;"
              " 'over training seeds' rows: over the per-seed mean differences")
    print(f"plot: {report.html}\ndata: {report.json}")


def print_model_table(rows: list[dict[str, Any]]) -> None:
    """``arch list``."""
    from rich.console import Console
    from rich.table import Table

    t = Table("name", "id", "params", "MACs", "tiles", "depth", "description")
    for r in rows:
        t.add_row(r["name"], r["arch_id"], f"{r['params']:,}", f"{r['macs'] / 1e6:.1f}M", str(r["tiles"]),
                  str(r["depth"]), r["description"])
    Console().print(t)


def print_hardware_report(report: Any, classes: int, tile: tuple[int, int], layers: bool) -> None:
    """``arch show``: totals, the per-stage table and (``--layers``) the per-layer tiles."""
    from rich.console import Console
    from rich.table import Table

    con = Console()
    con.print(f"[bold]{report.name}[/bold]  id {report.arch_id}  input {report.input_shape}  classes {classes}")
    con.print(
        f"params {report.params:,}   MACs {report.macs:,}   depth {report.depth}   "
        f"tiles {report.tiles} ({tile[0]}x{tile[1]}, mean utilisation {report.mean_utilisation:.1%})"
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


def print_space_summary(space: Any, summary: dict[str, Any]) -> None:
    """``space show``: identity, size, constraints and the seeded samples."""
    from rich.console import Console
    from rich.table import Table

    con = Console()
    con.print(f"[bold]{space.name}[/bold] ({space.source}): {space.description}")
    con.print(f"{summary['size']:,} architectures before constraints; fingerprint {space.fingerprint}")
    c = space.constraints
    con.print(
        f"constraints: params <= {c.max_params}, MACs <= {c.max_macs}, tiles <= {c.max_tiles} "
        f"(tile {c.tile_size[0]}x{c.tile_size[1]}); input {space.input_shape}, {space.num_classes} classes"
    )
    if summary["samples"]:
        t = Table("id", "stem", "stages (width x blocks x branches, type)", "params", "MACs", "tiles")
        from analognas.space import ArchSpec

        for r in summary["samples"]:
            sp = ArchSpec.from_dict(r["spec"])
            st = ", ".join(f"{x.width}x{x.blocks}x{x.branches} {str(x.block)[:4]}" for x in sp.stages)
            t.add_row(r["arch_id"], f"{sp.stem_width} k{sp.stem_kernel}", st, f"{r['params']:,}",
                      f"{r['macs']:,}", str(r["tiles"]))
        con.print(t)
