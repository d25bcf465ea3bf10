"""Time the formula layer alone on the benchmark problems (no fit).

Usage (from the repository root)::

    python benchmarks/bench_design.py [--shared PATH] [--data DIR] [--only p1s,p2s]
                                      [--repeat 20]

For each formula problem of ``bench_problems.py``: ``design_from_lme4`` (what
``hglm2`` does before the engine), and that plus the engine's indicator blocks of the
random terms (``Indicator.from_codes``).  Minimum and median over the repeats, in one process
after one warm-up call, printed as a Markdown table.  ``--data`` is a directory holding
the generated problems (default: generated once into ``benchmarks/out/data``, as
``bench_problems.py`` does).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_problems import PROBLEMS, load_problem  # noqa: E402
from common import machine_text, md_table, problem_data, shared_dir  # noqa: E402

from hglm.engine import Indicator  # noqa: E402
from hglm.spec.formula import design_from_lme4  # noqa: E402


def timings(function: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(min, median) wall time in milliseconds, after one warm-up call."""
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times), 1e3 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", help="the shared/ directory (default: $HGLM_SHARED or ../shared)")
    ap.add_argument("--data", help="directory of the generated problems (p1s.csv, ...)")
    ap.add_argument("--only", help="comma-separated problems, e.g. p1s,p2s")
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args(argv)
    shared = shared_dir(args.shared)
    data_dir = Path(args.data) if args.data else problem_data(shared)
    names = [n for n, spec in PROBLEMS.items() if "formula" in spec]
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    rows = []
    for name in names:
        spec = PROBLEMS[name]
        df = load_problem(name, str(data_dir), str(shared))
        binomial = spec["family"] == "binomial"

        def design(spec=spec, df=df, binomial=binomial):
            return design_from_lme4(spec["formula"], df, binomial=binomial)

        def with_blocks(design=design):
            return [Indicator.from_codes(t.codes, t.values, len(t.levels))
                    for t in design().random]

        repeat = max(3, args.repeat // 4) if len(df) > 500_000 else args.repeat
        d_min, d_med = timings(design, repeat)
        b_min, b_med = timings(with_blocks, repeat)
        rows.append([name, f"{len(df):,}", spec["formula"], f"{d_min:.2f}", f"{d_med:.2f}",
                     f"{b_min:.2f}", f"{b_med:.2f}"])
        print(f"{name}: design {d_min:.2f} ms (median {d_med:.2f})", file=sys.stderr, flush=True)
    print(md_table(["problem", "rows", "formula", "design min (ms)", "median",
                    "+ blocks min (ms)", "median"], rows, align="lrlrrrr"))
    print("\n" + machine_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
