"""Time hglm.npmlt and hglm.clmm on the ordinal reference cases and on simulated data of
10^3 to 10^5 rows.

Usage (from the repository root)::

    python benchmarks/bench_ordinal.py [--shared PATH] [--repeat 3] [--max-rows 100000]
                                       [--out benchmarks/RESULTS_ordinal.md]

The reference cases are the five of ``shared/ref/glmm`` (mixcat's npmlt, ordinal's clmm),
with R's wall time (``wall_time_s`` of the JSON: R 4.2.2, mixcat 1.0-4, ordinal
2022.11.16, timed when the references were made, not in this run: R's packages are not
installed here) and the log-likelihoods of both.  The simulated data are clusters of five
rows with a two-point random intercept (``tests/fit/ordinal_problems.py``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import pandas as pd  # noqa: E402
from common import command_line, machine_text, md_table, shared_dir, time_call  # noqa: E402
from fit.ordinal_problems import ordinal_frame  # noqa: E402

import hglm  # noqa: E402

SCHIZO = "y ~ trt + sqrt(wk) + trt*sqrt(wk)"
HOUSE = "House ~ factor(Sec) + factor(Time) + factor(Sec)*factor(Time)"
CASES = {
    "schizo_npmlt_k2": ("schizo.csv", lambda d: hglm.npmlt(
        SCHIZO, d, random="~ 1 + trt", id="id", k=2)),
    "schizo_npmlt_npo_k2": ("schizo.csv", lambda d: hglm.npmlt(
        "y ~ trt*sqrt(wk)", d, formula_npo="~ trt + sqrt(wk)", random="~ 1 + trt", id="id",
        k=2)),
    "housing_npmlt_k3": ("housing_sim.csv", lambda d: hglm.npmlt(
        HOUSE, d, random="~ 1", id="ID", k=3, EB=True)),
    "schizo_clmm_laplace": ("schizo.csv", lambda d: hglm.clmm(
        "y ~ trt * sqrt(wk) + (1 | id)", d)),
    "schizo_clmm_agq10": ("schizo.csv", lambda d: hglm.clmm(
        "y ~ trt * sqrt(wk) + (1 | id)", d, nAGQ=10)),
}


def _r_loglik(block: dict) -> float:
    return block["logLik"] if "logLik" in block else -0.5 * block["m2LogL"]


def reference_rows(shared: Path, repeat: int) -> list[list]:
    rows = []
    for case, (file, call) in CASES.items():
        ref = json.loads((shared / "ref" / "glmm" / f"{case}.json").read_text())
        data = pd.read_csv(shared / "data" / file)
        seconds, _ = time_call(lambda call=call, data=data: call(data), repeat)
        fit = call(data)
        r = ref.get("tight", ref["default"])
        rows.append([case, f"{ref['default']['wall_time_s']:.2f}", f"{seconds:.2f}",
                     f"{_r_loglik(r):.6f}", f"{fit.loglik:.6f}"])
    return rows


def scaling_rows(max_rows: int, repeat: int) -> list[list]:
    rows, n = [], 1000
    while n <= max_rows:
        data = ordinal_frame(n_clusters=n // 5, per=5, seed=2)
        for label, call in [
            ("npmlt k = 2, ~ 1 + t", lambda d: hglm.npmlt("y ~ x + t", d, random="~ 1 + t",
                                                          id="g", k=2)),
            ("clmm Laplace", lambda d: hglm.clmm("y ~ x + t + (1 | g)", d)),
            ("clmm nAGQ = 10", lambda d: hglm.clmm("y ~ x + t + (1 | g)", d, nAGQ=10)),
        ]:
            seconds, _ = time_call(lambda call=call, data=data: call(data), repeat)
            rows.append([f"{n:,}", label, f"{seconds:.2f}"])
        n *= 10
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-rows", type=float, default=1e5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "RESULTS_ordinal.md"))
    args = parser.parse_args()
    shared = shared_dir(args.shared)
    ref = reference_rows(shared, args.repeat)
    scale = scaling_rows(int(args.max_rows), max(1, args.repeat // 3))
    text = "\n".join([
        "# Ordinal models: hglm.npmlt and hglm.clmm", "",
        f"Made by `{command_line()}` (median of {args.repeat} runs).", "",
        machine_text(), "",
        "## The reference cases", "",
        "R's time is the reference's `wall_time_s` (R's default fit), not timed in this run; "
        "R's log-likelihood is its tight refit's where there is one (npmlt), else its default.",
        "",
        md_table(["case", "R (s)", "hglm (s)", "R logLik", "hglm logLik"], ref), "",
        "## Scaling (clusters of five rows)", "",
        md_table(["rows", "model", "hglm (s)"], scale), "",
    ])
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
