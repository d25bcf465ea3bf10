"""The layout of the package (docs/code_map.md): imports point down and never in a circle.

api -> fit -> engine; spec and results beside: ``engine`` imports nothing of ours but the
small helpers, ``spec`` only itself, ``fit`` spec and engine, ``results`` spec, engine and
fit's state (never ``api``).  Every import statement counts, in functions and
``TYPE_CHECKING`` blocks too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "hglm"
HELPERS = {"_warn", "_version", "_distributions"}
ALLOWED = {
    "engine": {"engine"},
    "spec": {"spec"},
    "fit": {"fit", "spec", "engine"},
    "results": {"results", "spec", "engine", "fit"},
    # fits on a Dask DataFrame: beside api, below it (api routes a Dask frame here)
    "distributed": {"distributed", "spec", "engine", "fit", "results"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The modules of hglm that ``path`` imports, relative imports resolved."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            out.add(target)
            out.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return {m for m in out if m.split(".")[0] == "hglm"}


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: {m for m in _imports(path) if m in MODULES} for name, path in MODULES.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize("module", [m for m in MODULES if _layer(m) in ALLOWED])
def test_imports_point_down(module: str) -> None:
    layer = _layer(module)
    outside = sorted(
        m for m in GRAPH[module]
        if _layer(m) not in ALLOWED[layer] | HELPERS and m != "hglm"
    )
    assert outside == [], f"{module} ({layer}) imports {outside}"


def test_no_import_cycles() -> None:
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for nxt in sorted(GRAPH[module]):
            # a package imports its own modules; they never import the package back
            if state.get(nxt) == "open":
                cycle = [*path[path.index(nxt):], nxt] if nxt in path else [module, nxt]
                raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[module] = "done"

    for module in MODULES:
        if module not in state:
            visit(module, [module])
