"""The documentation cannot go stale: every example script runs, and the code and the output
that docs/from_r.md (and README.md) show are the script's code and its actual output.

Each script of ``docs/examples`` (except the ``_``-prefixed helpers) has a marker line
``# --- from_r.md ---``; what follows it is the code the docs show.  The Markdown tags the
blocks it shows with HTML comments (invisible when rendered)::

    <!-- code: NAME.py -->       followed by a fenced python block: the script after its marker
    <!-- output: NAME.py -->     followed by a fenced text block: what the script prints

Numbers are printed as ``key: value`` lines with 4 significant digits (``_common.show``), so
the comparison is exact.  After a change to the engine or to a script, regenerate every
tagged block (then read the diff, and the prose around it)::

    python tests/test_docs.py --update [NAME.py ...]

The scripts read the data sets of ``../shared/data``; without that folder the tests are
skipped (they fail under CI), as for the reference tests.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "docs" / "examples"
DOCS = [REPO / "docs" / "from_r.md", REPO / "docs" / "from_lme4.md", REPO / "docs" / "ordinal.md",
        REPO / "docs" / "scale.md",
        REPO / "README.md"]
MARKER = "# --- from_r.md ---"
#: Scripts that take more than ~20 s (a dense fit with q = 2025 random effects; two
#: Laplace fits of InstEval).
SLOW = {"qtlmas_animal.py", "arabidopsis_bigrr.py", "dask_glmer.py"}
TIMEOUT = 600

_TAG = re.compile(
    r"<!-- (?P<kind>code|output): (?P<name>[\w.]+) -->\n"
    r"(?P<fence>```+)(?P<lang>\w*)\n(?P<body>.*?)\n?(?P=fence)\n",
    re.DOTALL,
)


def scripts() -> list[str]:
    return sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


def _normal(text: str) -> str:
    """Lines without trailing blanks, no trailing empty lines."""
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def shown_code(name: str) -> str:
    """The part of the script that the docs show: everything after the marker line."""
    text = (EXAMPLES / name).read_text()
    if MARKER not in text:
        raise AssertionError(f"docs/examples/{name}: has no marker line {MARKER!r}")
    return _normal(text.split(MARKER, 1)[1])


def tagged_blocks() -> list[tuple[Path, str, str, str]]:
    """(file, kind, script name, block text) of every tagged block of the docs."""
    out = []
    for doc in DOCS:
        for m in _TAG.finditer(doc.read_text()):
            out.append((doc, m["kind"], m["name"], _normal(m["body"])))
    return out


def run_script(name: str, shared: Path) -> str:
    """Run one example in a fresh interpreter from the repository root; its stdout."""
    import hglm

    env = {**os.environ, "HGLM_SHARED": str(shared), "MPLBACKEND": "Agg"}
    package_root = str(Path(hglm.__file__).resolve().parents[1])  # the hglm under test
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=TIMEOUT,
    )
    if proc.returncode != 0:
        raise AssertionError(f"docs/examples/{name} failed ({proc.returncode}):\n{proc.stderr}")
    return _normal(proc.stdout)


# --- tests -------------------------------------------------------------------------------


def test_every_script_is_shown() -> None:
    blocks = tagged_blocks()
    tags = {(kind, name) for _, kind, name, _ in blocks}
    for name in scripts():
        for kind in ("code", "output"):
            assert (kind, name) in tags, f"no <!-- {kind}: {name} --> block in the docs"
    unknown = sorted({name for _, _, name, _ in blocks} - set(scripts()))
    assert not unknown, f"docs tag scripts that do not exist in docs/examples: {unknown}"


@pytest.mark.parametrize("name", scripts())
def test_shown_code_is_the_script(name: str) -> None:
    code = shown_code(name)
    for doc, kind, tagged, body in tagged_blocks():
        if kind == "code" and tagged == name:
            assert body == code, (
                f"{doc.name}: the code block of {name} differs from docs/examples/{name}; "
                "run python tests/test_docs.py --update"
            )


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in scripts()]
)
def test_script_output_is_shown(name: str) -> None:
    from shared import shared_dir

    output = run_script(name, shared_dir())
    assert output, f"docs/examples/{name} printed nothing"
    for doc, kind, tagged, body in tagged_blocks():
        if kind == "output" and tagged == name:
            missing = [line for line in output.splitlines() if line not in body.splitlines()]
            assert body == output, (
                f"{doc.name}: the output shown for {name} is stale; lines not shown: "
                f"{missing}\nactual output:\n{output}\n"
                "(python tests/test_docs.py --update rewrites the blocks)"
            )


def test_readme_says_where_a_fit_stops_before_the_examples() -> None:
    """A user comparing with R's printed numbers learns up front why they differ."""
    readme = (REPO / "README.md").read_text()
    head = readme[: readme.index("## Try it")]
    assert "R's fixed point" in head and "`accelerate=False`" in head
    assert "stops exactly where R stops" in head


# --- regeneration ------------------------------------------------------------------------


def update(names: list[str]) -> None:
    """Rewrite the tagged blocks of the docs for ``names`` from the scripts and their runs."""
    for c in (os.environ.get("HGLM_SHARED"), REPO.parent / "shared"):
        if c and (Path(c) / "data").is_dir():
            shared = Path(c)
            break
    else:
        sys.exit("../shared not found; set HGLM_SHARED")
    outputs = {}
    for name in names:
        print(f"running docs/examples/{name} ...", file=sys.stderr, flush=True)
        outputs[name] = run_script(name, shared)

    def replace(m: re.Match) -> str:
        name = m["name"]
        if name not in outputs:
            return m[0]
        body = shown_code(name) if m["kind"] == "code" else outputs[name]
        fence = "````" if "```" in body else "```"
        return f"<!-- {m['kind']}: {name} -->\n{fence}{m['lang']}\n{body}\n{fence}\n"

    for doc in DOCS:
        old = doc.read_text()
        new = _TAG.sub(replace, old)
        if new != old:
            doc.write_text(new)
            print(f"updated {doc.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args or args[0] != "--update":
        sys.exit("usage: python tests/test_docs.py --update [NAME.py ...]")
    update(args[1:] or scripts())
