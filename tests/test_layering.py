"""The layering the README promises, checked on the source: data flows one way, aihwkit
lives only in the analog layer, and no package reaches into another's private modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "analognas"
#: space -> models -> analog -> training -> surrogate -> search -> viz -> cli (each may
#: import those before it; the top-level helper modules are shared by all)
ORDER = ["space", "data", "models", "analog", "training", "surrogate", "search", "viz", "cli"]


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names]
    return out


MODULES = sorted(p for p in PKG.rglob("*.py") if p.parent != PKG)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PKG)))
def test_imports_follow_the_layers(path: Path) -> None:
    pkg = path.relative_to(PKG).parts[0]
    for mod in _imports(path):
        parts = mod.split(".")
        if parts[0] == "aihwkit":
            assert pkg == "analog", f"{path.name} imports aihwkit outside the analog layer"
        if parts[0] != "analognas" or len(parts) < 2 or parts[1].startswith("_"):
            continue
        other = parts[1]
        assert ORDER.index(other) <= ORDER.index(pkg), f"{pkg}/{path.name} imports downstream {mod}"
        if other != pkg and len(parts) > 2:
            assert not parts[2].startswith("_"), f"{pkg}/{path.name} imports the private module {mod}"


def test_space_needs_no_torch() -> None:
    for path in (PKG / "space").glob("*.py"):
        assert not any(m.split(".")[0] == "torch" for m in _imports(path)), path.name


def test_no_library_module_is_over_400_lines() -> None:
    long = {str(p.relative_to(PKG)): n for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long, long


def _commands() -> list[tuple[str, ast.FunctionDef]]:
    out = []
    for path in sorted((PKG / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any("command" in ast.unparse(d) for d in node.decorator_list):
                out.append((f"{path.name}:{node.name}", node))
    return out


def test_cli_commands_only_parse_call_and_print() -> None:
    """Each command's body (after its docstring) is at most 30 lines: the work is in a
    library function that returns a result object, the printing in cli/_render.py or a
    small helper beside the command."""
    commands = _commands()
    assert len(commands) >= 15
    long = {}
    for name, fn in commands:
        documented = isinstance(fn.body[0], ast.Expr) and isinstance(fn.body[0].value, ast.Constant)
        body = fn.body[1:] if documented else fn.body
        if (n := fn.end_lineno - body[0].lineno + 1) > 30:  # type: ignore[operator]
            long[name] = n
    assert not long, long
