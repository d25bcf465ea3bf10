"""Random-slope fits ``(1 + x | g)`` of hglm beside its peers, in the same run.

Usage (from the repository root)::

    python benchmarks/bench_slopes.py [--only sleep_reml,big_reml] [--tools hglm,lme4,...]
                                      [--rounds 3] [--timeout 300]

Problems (simulated, written once to ``benchmarks/out/slopes/``):

* ``sleep_reml``: 18 subjects x 10 days like lme4's ``sleepstudy`` (intercept 251.4,
  slope 10.5, subject SDs 24.7 and 5.9 with correlation 0.07, residual SD 25.6),
  ``Reaction ~ Days + (Days | Subject)`` by REML;
* ``sleep_laplace``: the same design with a 0/1 response (logit), Laplace;
* ``big_reml``: 100,000 rows, 1,000 levels, ``y ~ x + (1 + x | g)`` by REML;
* ``big_laplace``: the same with a 0/1 response, Laplace.

Tools: hglm (``lmer`` / ``glmer``), lme4 (``Rscript lme4_fit.R``), glmm and mixedlm
(PyPI, Rust cores) and statsmodels ``MixedLM`` with ``re_formula="~x"`` (Gaussian only).
Rounds are interleaved: in each round every tool fits each problem once after a warm-up
fit in the same fresh process; the report gives the median over the rounds and each
tool's log-likelihood against hglm's (agreement: within 1e-4).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    BENCH_DIR,
    Measurement,
    Prepared,
    command_line,
    fmt_num,
    fmt_ratio,
    fmt_seconds,
    machine_text,
    md_table,
    measure,
    out_dir,
    run_protocol,
)
from peers import lme4_available  # noqa: E402

TOOLS = ["hglm", "lme4", "glmm", "mixedlm", "statsmodels"]
PROBLEMS = {
    "sleep_reml": {"rows": 180, "levels": 18, "family": "gaussian"},
    "sleep_laplace": {"rows": 180, "levels": 18, "family": "binomial"},
    "big_reml": {"rows": 100_000, "levels": 1000, "family": "gaussian"},
    "big_laplace": {"rows": 100_000, "levels": 1000, "family": "binomial"},
}
FORMULA = "y ~ x + (1 + x | g)"
AGREE = 1e-4


def simulate(problem: str) -> pd.DataFrame:
    """The data of a problem (fixed seed): sleepstudy's design and estimates, or 100
    rows per level with a normal covariate."""
    spec = PROBLEMS[problem]
    rng = np.random.default_rng(20151 + spec["rows"])
    m = spec["levels"]
    if spec["rows"] == 180:
        g, x = np.repeat(np.arange(m), 10), np.tile(np.arange(10.0), m)
        beta, sd, rho, sigma = (251.4, 10.47), (24.74, 5.92), 0.066, 25.59
        if spec["family"] == "binomial":
            beta, sd, rho = (-1.0, 0.25), (1.0, 0.2), 0.1
    else:
        g, x = rng.integers(0, m, spec["rows"]), rng.normal(size=spec["rows"])
        beta, sd, rho, sigma = (0.5, 0.3), (1.0, 0.5), 0.3, 1.0
    cov = np.array([[sd[0] ** 2, rho * sd[0] * sd[1]], [rho * sd[0] * sd[1], sd[1] ** 2]])
    b = rng.multivariate_normal(np.zeros(2), cov, size=m)
    eta = beta[0] + beta[1] * x + b[g, 0] + b[g, 1] * x
    if spec["family"] == "binomial":
        y = rng.binomial(1, 1.0 / (1.0 + np.exp(-eta)))
    else:
        y = eta + sigma * rng.normal(size=eta.shape[0])
    return pd.DataFrame({"y": y, "x": x, "g": [f"s{k}" for k in g]})


def data_file(problem: str) -> Path:
    path = out_dir("slopes") / f"{problem}.csv"
    if not path.exists():
        simulate(problem).to_csv(path, index=False)
    return path


# --------------------------------------------------------------------------- workers


def prepare(case: str) -> Prepared:
    """Worker entry point (common.py): ``tool:problem``."""
    tool, problem = case.split(":", 1)
    df = pd.read_csv(data_file(problem))
    binomial = PROBLEMS[problem]["family"] == "binomial"
    if tool == "hglm":
        import hglm

        def fit() -> Any:
            return (hglm.glmer(FORMULA, df, family="binomial") if binomial
                    else hglm.lmer(FORMULA, df))

        return Prepared(fit=fit, summarize=lambda r: {"loglik": float(r.loglik)})
    if tool == "glmm":
        import glmm

        family = "binomial" if binomial else "gaussian"
        return Prepared(fit=lambda: glmm.fit(df, FORMULA, family=family),
                        summarize=lambda r: {"loglik": float(r.loglik)})
    if tool == "mixedlm":
        import mixedlm
        from mixedlm import families

        def fit() -> Any:
            return (mixedlm.glmer(FORMULA, df, family=families.Binomial()) if binomial
                    else mixedlm.lmer(FORMULA, df))

        return Prepared(fit=fit, summarize=lambda r: {"loglik": float(r.logLik().value)})
    if tool == "statsmodels":
        if binomial:
            raise NotImplementedError("no Laplace binomial mixed model (only variational Bayes)")
        import statsmodels.formula.api as smf

        def fit() -> Any:
            return smf.mixedlm("y ~ x", df, groups="g", re_formula="~x").fit(reml=True)

        return Prepared(fit=fit, summarize=lambda r: {"loglik": float(r.llf)})
    raise ValueError(f"unknown tool {tool!r}")


def measure_once(tool: str, problem: str, timeout: float) -> Measurement:
    """A warm-up fit and one timed fit of ``tool`` in a fresh process."""
    if tool == "lme4":
        fd, name = tempfile.mkstemp(prefix="lme4-", suffix=".jsonl", dir=out_dir("tmp"))
        os.close(fd)
        family = PROBLEMS[problem]["family"]
        cmd = ["Rscript", str(BENCH_DIR / "lme4_fit.R"), name, str(data_file(problem)),
               problem, "2", str(timeout), FORMULA, family, "g"]
        m = run_protocol(cmd, Path(name), timeout=timeout)
    else:
        m = measure("bench_slopes", f"{tool}:{problem}", repeat=2, timeout=timeout)
    if m.status == "ok" and len(m.times) < 2:
        m.times = []  # the warm-up alone fitted within the budget
        m.status, m.timeout = "timeout", timeout
    return m


# --------------------------------------------------------------------------- report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help=f"comma-separated subset of {','.join(PROBLEMS)}")
    ap.add_argument("--tools", default=",".join(TOOLS), help=f"subset of {','.join(TOOLS)}")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per worker")
    ap.add_argument("--out", default=str(BENCH_DIR / "RESULTS_slopes.md"))
    args = ap.parse_args(argv)
    problems = args.only.split(",") if args.only else list(PROBLEMS)
    tools = [t for t in TOOLS if t in args.tools.split(",")]
    skipped = {t: lme4_available() for t in tools if t == "lme4" and lme4_available()}
    times: dict[tuple[str, str], list[float]] = {}
    info: dict[tuple[str, str], dict] = {}
    status: dict[tuple[str, str], str] = {}
    for problem in problems:
        data_file(problem)
        for r in range(args.rounds):
            for tool in tools:
                key = (tool, problem)
                if tool in skipped or status.get(key, "ok") != "ok":
                    continue
                m = measure_once(tool, problem, args.timeout)
                status[key] = {"ok": "ok", "unsupported": "n/a"}.get(
                    m.status, f"{m.time_text()} {m.message[:60]}")
                if m.status == "ok":
                    times.setdefault(key, []).append(m.times[-1])
                    info.setdefault(key, m.info)
                print(f"{problem:14s} round {r + 1} {tool:12s} "
                      f"{fmt_seconds(m.times[-1]) if m.times else status[key]:>10s}", flush=True)
    text = report(problems, tools, times, info, status, skipped, args)
    Path(args.out).write_text(text)
    print(text)
    return 0


def report(problems: list[str], tools: list[str], times: dict, info: dict, status: dict,
           skipped: dict, args: argparse.Namespace) -> str:
    """The Markdown report: seconds, ratios to hglm, log-likelihoods against hglm's."""
    def seconds(tool: str, problem: str) -> float | None:
        ts = times.get((tool, problem))
        return statistics.median(ts) if ts else None

    time_rows, ratio_rows, ll_rows = [], [], []
    peers = [t for t in tools if t != "hglm"]
    for p in problems:
        time_rows.append([p] + [fmt_seconds(seconds(t, p)) if seconds(t, p) is not None
                                else skipped.get(t) or status.get((t, p), "—")
                                for t in tools])
        ours = seconds("hglm", p)
        ratio_rows.append([p] + [fmt_ratio(ours / seconds(t, p)) if ours and seconds(t, p)
                                 else "—" for t in peers])
        ll_ref = info.get(("hglm", p), {}).get("loglik")
        for t in tools:
            ll = info.get((t, p), {}).get("loglik")
            if ll is None:
                continue
            diff = None if ll_ref is None else ll - ll_ref
            agrees = "—" if diff is None else ("yes" if abs(diff) <= AGREE else "**no**")
            ll_rows.append([p, t, f"{ll:.6f}", fmt_num(diff, 2), agrees])
    return "\n\n".join([
        "# Random slopes `(1 + x | g)`: hglm beside its peers, in the same run",
        f"Generated by `{command_line()}`. Wall seconds of the fit call (data frame in, "
        f"fitted model out), median over {args.rounds} interleaved rounds; in each round "
        "every tool runs in a fresh process, fits once to warm up and once timed. REML "
        "for the Gaussian problems, Laplace (nAGQ = 1) for the binomial ones; statsmodels "
        "has no Laplace binomial mixed model. Problems: see the docstring of "
        "`benchmarks/bench_slopes.py`.",
        "## Seconds\n\n" + md_table(["problem"] + tools, time_rows),
        "## Ratio hglm / peer (< 1: hglm faster)\n\n"
        + md_table(["problem"] + peers, ratio_rows),
        f"## Log-likelihoods (REML criterion or Laplace), difference to hglm's "
        f"(agreement: within {AGREE:g})\n\n"
        + md_table(["problem", "tool", "loglik", "minus hglm's", "agrees"], ll_rows),
        "## Machine\n\n" + machine_text(),
    ]) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
