"""The test extra installs what the tests import: ``pip install ".[test]"`` in a fresh
environment runs every test, none skipped for want of a package (pyproject.toml)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"


def _requirement_names(specs: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", s, maxsplit=1)[0].lower() for s in specs}


def _imported_modules(path: Path) -> set[str]:
    """Top-level modules that a test file imports, by statement or by ``require("m")``
    / ``pytest.importorskip("m")``."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", None))
              in ("require", "importorskip")):
            out.add(node.args[0].value.split(".")[0])
    return out


def _local_modules() -> set[str]:
    return {p.stem for p in TESTS.rglob("*.py")} | {p.name for p in TESTS.iterdir()
                                                    if p.is_dir()} | {"hglm", "tests"}


def test_test_extra_installs_every_import_of_the_tests() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = _requirement_names(
        project["dependencies"] + project["optional-dependencies"]["test"]
    )
    third_party = set().union(*(_imported_modules(p) for p in TESTS.rglob("*.py")))
    third_party -= set(sys.stdlib_module_names) | _local_modules() | {"__future__"}
    dists = packages_distributions()
    missing = {
        m: dists.get(m, [m]) for m in sorted(third_party)
        if not {d.lower() for d in dists.get(m, [m])} & declared
    }
    assert not missing, f"imported by the tests but not in the test extra: {missing}"
    assert "statsmodels" in third_party
