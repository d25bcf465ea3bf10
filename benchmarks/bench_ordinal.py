"""Time hglm.clmm against R's ordinal::clmm in the same run, and hglm.npmlt against
mixcat's recorded times, on the ordinal reference cases and on simulated data of 10^3 to
10^5 rows.

Usage (from the repository root)::

    python benchmarks/bench_ordinal.py [--shared PATH] [--repeat 3] [--max-rows 100000]
                                       [--r-repeat-large 0] [--r-timeout 3600]
                                       [--out benchmarks/RESULTS_ordinal.md]

clmm (Laplace and nAGQ = 10) is fitted by both libraries on the schizophrenia data and on
a simulated data set of ``--max-rows`` rows (clusters of five rows with a two-point random
intercept, ``tests/fit/ordinal_problems.py``), written once to a CSV that both read.  Each
library is timed two ways: in one process, a warm-up fit then the median of ``--repeat``
fits (R: its own loop in ``clmm_fit.R``); and the first fit of a fresh process (after
importing the library and reading the data).  R's largest fits are slow (minutes), so its
in-process loop there is ``--r-repeat-large`` fits (default 0: the fresh-process fit only).

mixcat (npmlt) has no Debian package and there is no CRAN access on the benchmark
machine: npmlt's R times are the references' recorded ``wall_time_s`` (R 4.2.2, mixcat
1.0-4, R's default fit), not timed in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import pandas as pd  # noqa: E402
from common import (  # noqa: E402
    BENCH_DIR,
    REPO_DIR,
    command_line,
    machine_text,
    md_table,
    out_dir,
    shared_dir,
    time_call,
)
from fit.ordinal_problems import ordinal_frame  # noqa: E402

import hglm  # noqa: E402

SCHIZO = "y ~ trt + sqrt(wk) + trt*sqrt(wk)"
HOUSE = "House ~ factor(Sec) + factor(Time) + factor(Sec)*factor(Time)"
NPMLT_CASES = {
    "schizo_npmlt_k2": ("schizo.csv", lambda d: hglm.npmlt(
        SCHIZO, d, random="~ 1 + trt", id="id", k=2)),
    "schizo_npmlt_npo_k2": ("schizo.csv", lambda d: hglm.npmlt(
        "y ~ trt*sqrt(wk)", d, formula_npo="~ trt + sqrt(wk)", random="~ 1 + trt", id="id",
        k=2)),
    "housing_npmlt_k3": ("housing_sim.csv", lambda d: hglm.npmlt(
        HOUSE, d, random="~ 1", id="ID", k=3, eb=True)),
}
CLMM_SCHIZO = "y ~ trt * sqrt(wk) + (1 | id)"
CLMM_SIM = "y ~ x + t + (1 | g)"
LOGLIK_TOL = 1e-5
FRESH = """
import sys, time
import pandas as pd
t0 = time.perf_counter()
import hglm
data = pd.read_csv(sys.argv[1])
t1 = time.perf_counter()
fit = hglm.clmm(sys.argv[2], data, nAGQ=int(sys.argv[3]))
print(time.perf_counter() - t1, t1 - t0)
"""


def _r_loglik(block: dict) -> float:
    return block["logLik"] if "logLik" in block else -0.5 * block["m2LogL"]


def r_ordinal_missing() -> str | None:
    """None if Rscript with the ordinal package works, else why not."""
    if shutil.which("Rscript") is None:
        return "Rscript not found (apt-get install r-base-core r-cran-ordinal)"
    proc = subprocess.run(["Rscript", "-e", "suppressPackageStartupMessages(library(ordinal))"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return "R package ordinal not installed (apt-get install r-cran-ordinal)"
    return None


def time_r_clmm(path: Path, formula: str, nagq: int, repeat: int, timeout: float) -> dict:
    """R's clmm: ``first_s`` (fresh process), ``times_s`` (after the warm-up), logLik."""
    cmd = ["Rscript", str(BENCH_DIR / "clmm_fit.R"), str(path), formula, str(nagq),
           str(repeat)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"R stopped after {timeout:.0f} s (no fit yet)", "over": timeout}
    if proc.returncode != 0:
        return {"error": proc.stderr.strip()[-200:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def time_hglm_fresh(path: Path, formula: str, nagq: int) -> float:
    """The first hglm.clmm fit of a fresh Python process (after import and reading)."""
    proc = subprocess.run([sys.executable, "-c", FRESH, str(path), formula, str(nagq)],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(REPO_DIR / "src")})
    return float(proc.stdout.split()[0])


def clmm_rows(datasets: list[tuple[str, Path, str, int]], repeat: int,
              timeout: float, r_missing: str | None) -> list[list]:
    """One row per data set and nAGQ: both libraries' times and log-likelihoods."""
    rows = []
    for label, path, formula, r_repeat in datasets:
        data = pd.read_csv(path)
        for nagq in (1, 10):
            call = partial(hglm.clmm, formula, data, nAGQ=nagq)
            fit = call()  # warm-up
            seconds, _ = time_call(call, repeat)
            fresh = time_hglm_fresh(path, formula, nagq)
            r = ({"error": r_missing} if r_missing else
                 time_r_clmm(path, formula, nagq, r_repeat, timeout))
            how = "Laplace" if nagq == 1 else "nAGQ = 10"
            if "error" in r:
                over = f"> {r['over']:.0f}" if "over" in r else "—"
                rows.append([label, how, "—", over, f"{seconds:.3f}", f"{fresh:.3f}", "—",
                             f"{fit.loglik:.6f}", r["error"]])
                continue
            r_loop = f"{statistics.median(r['times_s']):.2f}" if r["times_s"] else "—"
            diff = fit.loglik - r["logLik"]
            agree = "yes" if abs(diff) <= LOGLIK_TOL else ("higher" if diff > 0 else "NO")
            rows.append([label, how, r_loop, f"{r['first_s']:.2f}", f"{seconds:.3f}",
                         f"{fresh:.3f}", f"{r['logLik']:.6f}", f"{fit.loglik:.6f}",
                         f"{diff:+.1e} ({agree})"])
    return rows


def npmlt_rows(shared: Path, repeat: int) -> list[list]:
    rows = []
    for case, (file, call) in NPMLT_CASES.items():
        ref = json.loads((shared / "ref" / "glmm" / f"{case}.json").read_text())
        data = pd.read_csv(shared / "data" / file)
        fit = call(data)  # warm-up
        seconds, _ = time_call(lambda call=call, data=data: call(data), repeat)
        r = ref.get("tight", ref["default"])
        rows.append([case, f"{ref['default']['wall_time_s']:.2f}", f"{seconds:.3f}",
                     f"{_r_loglik(r):.6f}", f"{fit.loglik:.6f}"])
    return rows


def scaling_rows(max_rows: int, repeat: int) -> list[list]:
    rows, n = [], 1000
    while n <= max_rows:
        data = ordinal_frame(n_clusters=n // 5, per=5, seed=2)
        for label, call in [
            ("npmlt k = 2, ~ 1 + t", lambda d: hglm.npmlt("y ~ x + t", d, random="~ 1 + t",
                                                          id="g", k=2)),
            ("clmm Laplace", lambda d: hglm.clmm(CLMM_SIM, d)),
            ("clmm nAGQ = 10", lambda d: hglm.clmm(CLMM_SIM, d, nAGQ=10)),
        ]:
            seconds, _ = time_call(lambda call=call, data=data: call(data), repeat)
            rows.append([f"{n:,}", label, f"{seconds:.2f}"])
        n *= 10
    return rows


def simulated_csv(rows: int) -> Path:
    path = out_dir("ordinal") / f"ordinal_sim_{rows}.csv"
    if not path.exists():
        ordinal_frame(n_clusters=rows // 5, per=5, seed=2).to_csv(path, index=False)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-rows", type=float, default=1e5)
    parser.add_argument("--r-repeat-large", type=int, default=0)
    parser.add_argument("--r-timeout", type=float, default=3600.0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "RESULTS_ordinal.md"))
    args = parser.parse_args()
    shared = shared_dir(args.shared)
    max_rows = int(args.max_rows)
    r_missing = r_ordinal_missing()
    r_version = "" if r_missing else subprocess.run(
        ["Rscript", "-e", "cat(R.version.string, 'ordinal', "
         "as.character(packageVersion('ordinal')))"],
        capture_output=True, text=True).stdout.strip()
    datasets = [("schizophrenia (1,603 rows)", shared / "data" / "schizo.csv", CLMM_SCHIZO,
                 args.repeat),
                (f"simulated ({max_rows:,} rows)", simulated_csv(max_rows), CLMM_SIM,
                 args.r_repeat_large)]
    clmm = clmm_rows(datasets, args.repeat, args.r_timeout, r_missing)
    npml = npmlt_rows(shared, args.repeat)
    scale = scaling_rows(max_rows, max(1, args.repeat // 3))
    text = "\n".join([
        "# Ordinal models: hglm.clmm against R's clmm, hglm.npmlt", "",
        f"Made by `{command_line()}`.", "",
        machine_text(), f"- R: {r_version or r_missing}", "",
        "## clmm: hglm and R's ordinal in the same run", "",
        f"In-process: a warm-up fit, then the median of {args.repeat} fits in one process "
        f"(R: its own loop in `benchmarks/clmm_fit.R`; on the simulated data "
        f"{args.r_repeat_large or 'no'} further R fits, each takes minutes). Fresh: the "
        "first fit of a new process, after importing the library and reading the data. "
        f"Log-likelihoods agree when within {LOGLIK_TOL:g} (hglm minus R; 'higher': hglm "
        "found a higher maximum).", "",
        md_table(["data", "clmm", "R in-process (s)", "R fresh (s)", "hglm in-process (s)",
                  "hglm fresh (s)", "R logLik", "hglm logLik", "difference"], clmm), "",
        "## npmlt: hglm against mixcat's recorded times", "",
        "mixcat has no Debian package and there is no CRAN access on this machine, so "
        "npmlt is not timed in this run: R's time is the reference's `wall_time_s` (R's "
        "default fit, R 4.2.2, mixcat 1.0-4, timed when the references were made on "
        "another load); R's log-likelihood is its tight refit's. hglm: a warm-up, then "
        f"the median of {args.repeat} fits.", "",
        md_table(["case", "R recorded (s)", "hglm (s)", "R logLik", "hglm logLik"], npml),
        "",
        "## hglm's scaling (clusters of five rows)", "",
        md_table(["rows", "model", "hglm (s)"], scale), "",
    ])
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
