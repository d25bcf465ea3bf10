"""Time hglm and its peers on the same problems, in the same run, and print the ratios.

Usage (from the repository root)::

    python benchmarks/peers.py [--only p1s,p2s] [--quick] [--tools hglm,glmm,mixedlm,...]
                               [--method EQL|ML] [--repeat 3] [--rounds 1] [--timeout 600]
                               [--shared PATH]

``--method EQL`` (default) times hglm's EQL fits; ``--method ML`` its marginal-likelihood
fits (REML for the Gaussian problems, Laplace ML for the others, as lmer/glmer), and the
report compares hglm's estimates and log-likelihoods with glmm's.

Peers (``pip install -e .[bench]`` for the Python ones):

* ``glmm`` (PyPI, Rust core): ``glmm.fit(data, formula, family=, link=)``, Laplace for
  GLMMs, REML for LMMs;
* ``mixedlm`` (PyPI, Rust core): ``mixedlm.lmer`` / ``mixedlm.glmer`` (lme4's API, Laplace);
* ``statsmodels``: ``MixedLM`` (REML) for the Gaussian problems only, crossed factors as
  variance components of a single group.  Its binomial/Poisson mixed models
  (``BinomialBayesMixedGLM``, ``PoissonBayesMixedGLM``) are variational-Bayes/MAP fits of a
  different objective and there is no Gamma mixed model, so those problems have no
  statsmodels equivalent;
* R's ``lme4`` through ``Rscript`` when it is installed (Debian: ``apt-get install
  r-cran-lme4``): ``lmer`` (REML) / ``glmer`` (Laplace; InstEval binomial with nAGQ = 0,
  as quoted in issue 6, since Laplace takes ~600 s).

p4 (p >> n) has no direct equivalent in any of them (issue 6's lme4 and statsmodels times
were hand-written SVD REML fits) and is timed for hglm only.  Every fit runs in a fresh
process with a timeout (``common.py``); with ``--rounds R`` each tool gets R such
processes, the tools' in turn, so that a slow spell of a shared machine (fits of one
process running 1.5x slower for seconds at a time on the 2-core development VM) moves
every tool alike instead of the one whose series it hits.  Not part of the test suite.  Writes
``benchmarks/RESULTS_peers.md`` and ``benchmarks/out/RESULTS_peers.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_problems as bp  # noqa: E402
from common import (  # noqa: E402
    BENCH_DIR,
    Measurement,
    Prepared,
    add_problem_arguments,
    add_rounds_argument,
    command_line,
    fit_summary,
    fmt_mb,
    fmt_num,
    fmt_ratio,
    machine_text,
    md_table,
    measure,
    out_dir,
    pooled,
    problem_data,
    rel_diff,
    rotated,
    run_protocol,
    shared_dir,
    thread_env,
    threads_text,
    tool_list,
)

TOOLS = ["hglm", "glmm", "mixedlm", "statsmodels", "lme4"]

GROUPS = {"p1s": ["g"], "p1l": ["g"], "p3": ["g"], "p5": ["g"], "p2s": ["a", "b"],
          "p2l": ["a", "b"], "insteval_gauss": ["s", "d", "dept"],
          "insteval_binom": ["s", "d", "dept"]}

# why a tool does not fit a problem (checked before anything is started)
NOT_APPLICABLE: dict[tuple[str, str], str] = {}
for _p in ("p1s", "p1l", "p3", "insteval_binom"):
    NOT_APPLICABLE[("statsmodels", _p)] = "no equivalent (only Bayesian VB/MAP mixed GLMs)"
NOT_APPLICABLE[("statsmodels", "p5")] = "no equivalent (no Gamma mixed model)"
for _t in ("glmm", "mixedlm", "statsmodels", "lme4"):
    NOT_APPLICABLE[(_t, "p4")] = "no direct equivalent (issue 6 used hand-written SVD REML)"


# --------------------------------------------------------------------------- summaries


def _glmm_summary(fit: Any) -> dict:
    return {"fixef_names": [str(n) for n in fit.names], "fixef": [float(b) for b in fit.beta],
            "var_ranef": [float(t) for t in np.ravel(fit.tau2)],
            "dispersion": float(fit.dispersion), "loglik": float(fit.loglik)}


def _mixedlm_summary(res: Any) -> dict:
    fe = res.fixef()
    vc = res.VarCorr().as_dict()
    out = {"fixef_names": list(fe), "fixef": [float(v) for v in fe.values()],
           "var_ranef": [float(next(iter(d.values()))) for d in vc.values()]}
    try:
        sigma = res.sigma() if callable(res.sigma) else res.sigma
        out["dispersion"] = float(sigma) ** 2
    except Exception:  # noqa: BLE001
        pass
    return out


def _statsmodels_summary(res: Any) -> dict:
    return {"fixef_names": [str(k) for k in res.fe_params.index],
            "fixef": [float(v) for v in res.fe_params],
            "var_ranef": [float(v) for v in np.ravel(res.vcomp)],
            "dispersion": float(res.scale)}


def _hglm_summary(res: Any) -> dict:
    out = fit_summary(res)
    out["dispersion"] = out.pop("var_fix")
    return out


# --------------------------------------------------------------------------- workers


def _family_args(problem: str) -> tuple[str, str | None]:
    fam = bp.PROBLEMS[problem]["family"]
    return ("gamma", "log") if fam == "gamma_log" else (fam, None)


def prepare(case: str, data_dir: str, shared: str, method: str = "EQL") -> Prepared:
    """Worker entry point (see common.py); ``case`` is ``tool:problem``; ``method`` is
    hglm's (the peers fit as they do)."""
    tool, problem = case.split(":", 1)
    if tool == "hglm":
        p = bp.prepare(problem, data_dir, shared, method)
        return Prepared(fit=p.fit, summarize=_hglm_summary)
    df = bp.load_problem(problem, data_dir, shared)
    formula = bp.PROBLEMS[problem]["formula"]
    family, link = _family_args(problem)
    if tool == "glmm":
        import glmm

        kw: dict[str, Any] = {"family": family}
        if link:
            kw["link"] = link
        return Prepared(fit=lambda: glmm.fit(df, formula, **kw), summarize=_glmm_summary)
    if tool == "mixedlm":
        import mixedlm
        from mixedlm import families

        if family == "gaussian":
            return Prepared(fit=lambda: mixedlm.lmer(formula, df),
                            summarize=_mixedlm_summary)
        fam = {"binomial": families.Binomial, "poisson": families.Poisson}.get(family)
        fam_obj = fam() if fam else families.Gamma(link="log")
        return Prepared(fit=lambda: mixedlm.glmer(formula, df, family=fam_obj),
                        summarize=_mixedlm_summary)
    if tool == "statsmodels":
        import statsmodels.formula.api as smf

        if family != "gaussian":
            raise NotImplementedError(NOT_APPLICABLE.get((tool, problem), "no equivalent"))
        fixed = formula.split("+ (")[0].strip()
        vc = {g: f"0 + C({g})" for g in GROUPS[problem]}
        data = df.assign(_one=1)

        def fit() -> Any:
            model = smf.mixedlm(fixed, data, groups="_one", re_formula="0", vc_formula=vc)
            return model.fit(reml=True)

        return Prepared(fit=fit, summarize=_statsmodels_summary)
    raise ValueError(f"unknown tool {tool!r}")


# --------------------------------------------------------------------------- lme4



def lme4_available() -> str | None:
    """None if Rscript with lme4 works, else the reason it does not."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return "Rscript not found (apt-get install r-cran-lme4)"
    proc = subprocess.run([rscript, "-e", "suppressPackageStartupMessages(library(lme4))"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return "R package lme4 not installed: " + proc.stderr.strip()[-200:]
    return None


def measure_lme4(problem: str, data_dir: Path, shared: Path, repeat: int,
                 timeout: float, env: dict | None = None) -> Measurement:
    spec = bp.PROBLEMS[problem]
    if spec["file"] == "InstEval":
        datafile = shared / "data" / "InstEval.csv.gz"
    else:
        datafile = data_dir / spec["file"]
    tmp = out_dir("tmp")
    script = BENCH_DIR / "lme4_fit.R"
    fd, name = tempfile.mkstemp(prefix="lme4-", suffix=".jsonl", dir=tmp)
    os.close(fd)
    cmd = ["Rscript", str(script), name, str(datafile), problem, str(repeat), str(timeout),
           spec["formula"], spec["family"], ",".join(GROUPS[problem])]
    return run_protocol(cmd, Path(name), timeout=timeout, env=env)


# --------------------------------------------------------------------------- report

METHOD_TEXT = {
    "EQL": "hglm fits by EQL (binomial/Poisson with fix_disp=1), so its estimates differ "
           "from the peers' for non-Gaussian models.",
    "ML": "hglm fits by marginal likelihood (`method=\"REML\"` for the Gaussian problems, "
          "`method=\"ML\"`, Laplace as glmer, for the others; binomial/Poisson dispersion "
          "fixed at 1), the peers' objective.",
}


def agreement_rows(results: dict[str, dict[str, Measurement]]) -> list[list[str]]:
    """Per problem where hglm and glmm both gave estimates: how far hglm's are from glmm's
    (relative to glmm's), and the difference of their log-likelihoods."""
    rows = []
    for problem, row in results.items():
        ours, theirs = row["hglm"].info, row.get("glmm", Measurement("skipped")).info
        if "fixef" not in ours or "fixef" not in theirs:
            continue
        same = len(ours["var_ranef"]) == len(theirs["var_ranef"])
        ll = (ours["loglik"] - theirs["loglik"]) if "loglik" in ours else None
        rows.append([problem, ours.get("method", "EQL"),
                     fmt_num(rel_diff(ours["fixef"], theirs["fixef"]), 2),
                     fmt_num(rel_diff(ours["var_ranef"], theirs["var_ranef"]), 2)
                     if same else "—", fmt_num(ll, 3)])
    return rows


# --------------------------------------------------------------------------- main


def _runs_text(repeat: int, rounds: int) -> str:
    if rounds <= 1:
        return f"median of {repeat} runs in a fresh process"
    return (f"median of {repeat * rounds} runs in {rounds} fresh processes per tool, the "
            "tools' processes in turn (order rotated each round)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_problem_arguments(ap, TOOLS)
    add_rounds_argument(ap)
    ap.add_argument("--threads", type=int, default=0,
                    help="limit BLAS/OpenMP/rayon threads of every fit (0: library defaults)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per fit series")
    ap.add_argument("--method", choices=["EQL", "ML"], default="EQL",
                    help="hglm's fit: EQL, or ML (REML for Gaussian, Laplace ML otherwise)")
    ap.add_argument("--out", default=str(BENCH_DIR / "RESULTS_peers.md"))
    args = ap.parse_args(argv)

    tools = tool_list(args.tools)
    bad = sorted(set(tools) - set(TOOLS))
    if bad:
        ap.error(f"unknown tool(s) {bad}; known: {TOOLS}")
    if "hglm" not in tools:
        tools.insert(0, "hglm")
    shared = shared_dir(args.shared)
    data_dir = problem_data(shared)
    problems = bp.select(args.only, args.quick)

    unavailable: dict[str, str] = {}
    for tool in ("glmm", "mixedlm", "statsmodels"):
        if tool in tools:
            try:
                __import__(tool)
            except ImportError as exc:
                unavailable[tool] = f"not installed ({exc}); pip install -e .[bench]"
    if "lme4" in tools:
        reason = lme4_available()
        if reason:
            unavailable["lme4"] = reason

    def measure_tool(tool: str, problem: str) -> Measurement:
        if tool in unavailable:
            return Measurement(status="skipped", message=unavailable[tool])
        if (tool, problem) in NOT_APPLICABLE:
            return Measurement(status="n/a", message=NOT_APPLICABLE[(tool, problem)])
        if tool == "lme4":
            return measure_lme4(problem, data_dir, shared, args.repeat, args.timeout,
                                env=thread_env(args.threads))
        return measure("peers", f"{tool}:{problem}",
                       params={"data_dir": str(data_dir), "shared": str(shared),
                               "method": args.method},
                       repeat=args.repeat, timeout=args.timeout, env=thread_env(args.threads))

    results: dict[str, dict[str, Measurement]] = {}
    for problem in problems:
        rounds: dict[str, list[Measurement]] = {t: [] for t in tools}
        for k in range(max(args.rounds, 1)):
            for tool in rotated(tools, k):
                m = measure_tool(tool, problem)
                rounds[tool].append(m)
                print(f"{problem:16s} {tool:12s} {m.time_text():>18s}  "
                      f"peak {fmt_mb(m.peak_mb):>7s} MB  load {fmt_num(m.load_avg, 2)}  "
                      f"{m.message[:90]}", flush=True)
        results[problem] = {t: pooled(rounds[t]) for t in tools}

    peers = [t for t in tools if t != "hglm"]
    time_rows, ratio_rows, mem_rows, est_rows, notes = [], [], [], [], []
    for problem, row in results.items():
        ours = row["hglm"].seconds
        time_rows.append([problem] + [row[t].time_text() for t in tools])
        mem_rows.append([problem] + [fmt_mb(row[t].peak_mb) for t in tools])
        ratio_rows.append([problem] + [
            fmt_ratio(ours / row[t].seconds) if (ours and row[t].seconds) else "—"
            for t in peers])
        for tool in tools:
            m = row[tool]
            if m.message and m.status not in ("ok",):
                notes.append(f"- {problem} / {tool}: {m.status}: {m.message}")
            elif m.message:
                notes.append(f"- {problem} / {tool}: {m.message}")
            if m.info.get("note"):
                notes.append(f"- {problem} / {tool}: {m.info['note']}")
            if "fixef" in m.info:
                est_rows.append([
                    problem, tool, ", ".join(fmt_num(v) for v in m.info["fixef"]),
                    ", ".join(fmt_num(v) for v in m.info["var_ranef"]),
                    fmt_num(m.info.get("dispersion")), fmt_num(m.info.get("loglik"), 10),
                ])
    print()
    print("ratios hglm / peer (wall time; < 1 means hglm is faster):")
    print(md_table(["problem"] + peers, ratio_rows))

    text = "\n\n".join([
        "# hglm and its peers, timed in the same run",
        f"Generated by `{command_line()}"
        + "`. Wall seconds of the fit call (formula and data frame in, fitted model out), "
        + _runs_text(args.repeat, args.rounds) + f" with the data loaded; timeout "
        f"{args.timeout:g} s. " + METHOD_TEXT[args.method] + " glmm, mixedlm and lme4 "
        "fit by Laplace (LMMs by REML); statsmodels MixedLM by REML.",
        "## Seconds\n\n" + md_table(["problem"] + tools, time_rows),
        "## Ratio hglm / peer (< 1: hglm faster)\n\n" + md_table(["problem"] + peers,
                                                                 ratio_rows),
        "## Peak fit memory (MB above the loaded-data baseline)\n\n"
        + md_table(["problem"] + tools, mem_rows),
        "## Estimates\n\n" + md_table(
            ["problem", "tool", "fixed effects", "variance components", "dispersion",
             "log-likelihood"], est_rows, align="llllll"),
        "## hglm against glmm (same objective only with --method ML)\n\n"
        + md_table(["problem", "hglm method", "fixed effects: max rel. diff.",
                    "variance components: max rel. diff.", "log-lik. hglm - glmm"],
                   agreement_rows(results)),
        "## Notes\n\n" + ("\n".join(dict.fromkeys(notes)) or "- none"),
        "## Machine\n\n" + machine_text() + f"\n- threads: {threads_text(args.threads)}",
    ]) + "\n"
    Path(args.out).write_text(text)
    raw = {p: {t: m.to_dict() for t, m in row.items()} for p, row in results.items()}
    (out_dir() / f"{Path(args.out).stem}.json").write_text(json.dumps(raw, indent=1))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
