"""Fit the peer-benchmark problems of issue 6 and compare with the truth and the peers.

Usage (from the repository root)::

    python benchmarks/bench_problems.py [--shared PATH] [--only p1s,p2s] [--quick]
                                        [--repeat 3] [--timeout 600] [--regenerate]

The simulated problems come from ``shared/bench/gen_data.py`` (run once into
``benchmarks/out/data``, reused while the files match ``truth.json``); InstEval from
``shared/data/InstEval.csv.gz``.  Each fit runs in a fresh process (``common.py``) with a
time budget, so a slow problem cannot stall the run.  ``--quick`` skips the large ones
(p1l, p2l and InstEval).  Writes ``benchmarks/RESULTS.md`` and
``benchmarks/out/RESULTS.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    BENCH_DIR,
    Measurement,
    Prepared,
    add_problem_arguments,
    command_line,
    fit_summary,
    fmt_mb,
    fmt_num,
    fmt_ratio,
    fmt_seconds,
    machine_text,
    md_table,
    measure,
    out_dir,
    problem_data,
    shared_dir,
    thread_env,
    threads_text,
)

# name -> model.  Binomial and Poisson hold the dispersion at 1 (the simulated model, and
# what lme4 / glmmTMB / glmm fit); Gamma and Gaussian estimate it.
PROBLEMS: dict[str, dict[str, Any]] = {
    "p1s": {"file": "p1s.csv", "formula": "y ~ x1 + x2 + (1|g)", "family": "binomial",
            "fix_disp": 1, "desc": "binomial GLMM, 10k rows / 1k groups"},
    "p1l": {"file": "p1l.csv", "formula": "y ~ x1 + x2 + (1|g)", "family": "binomial",
            "fix_disp": 1, "desc": "binomial GLMM, 100k rows / 10k groups", "large": True},
    "p2s": {"file": "p2s.csv", "formula": "y ~ x1 + (1|a) + (1|b)", "family": "gaussian",
            "desc": "LMM, 100k rows, crossed 2000 x 500"},
    "p2l": {"file": "p2l.csv", "formula": "y ~ x1 + (1|a) + (1|b)", "family": "gaussian",
            "desc": "LMM, 1M rows, crossed 20000 x 1000", "large": True},
    "p3": {"file": "p3.csv", "formula": "y ~ x1 + x2 + (1|g)", "family": "poisson",
           "fix_disp": 1, "desc": "Poisson GLMM, 50k rows / 5k groups"},
    "p5": {"file": "p5.csv", "formula": "y ~ x1 + x2 + (1|g)", "family": "gamma_log",
           "desc": "Gamma(log) GLMM, 20k rows / 2k groups"},
    "p4": {"file": "p4.csv", "family": "gaussian", "bigrr": True,
           "desc": "p >> n: 1000 x 20000 genotypes, bigrr"},
    "insteval_gauss": {"file": "InstEval", "formula": "y ~ service + (1|s) + (1|d) + (1|dept)",
                       "family": "gaussian", "desc": "InstEval LMM, 73k rows, 3 crossed",
                       "large": True},
    "insteval_binom": {"file": "InstEval",
                       "formula": "y4 ~ service + (1|s) + (1|d) + (1|dept)",
                       "family": "binomial", "fix_disp": 1,
                       "desc": "InstEval binomial (y >= 4)", "large": True},
}

# Issue 6: peer times on this 2-core machine (seconds for the fit alone, median of 3).
# None = not available ("—"); a string = a failure or a lower bound.
PEER_TOOLS = ["R hglm", "lme4", "glmmTMB", "statsmodels", "mixedlm (Rust)", "glmm (Rust)"]
PEER_TIMES: dict[str, list[float | str | None]] = {
    "p1s": [6.13, 0.76, 0.71, 17.2, 0.14, 0.019],
    "p1l": ["fails (7.5 GB)", 11.2, 6.38, "> 600", 1.04, 0.23],
    "p2s": ["> 600", 2.44, 12.4, "> 600", 2.10, 0.15],
    "p2l": ["> 600", 30.1, 155, None, 27.9, 5.37],
    "p3": ["> 600", 4.31, 2.31, "> 600", 1.12, 0.41],
    "p5": [54.5, 2.77, 1.60, None, 453, 0.16],
    "p4": ["76.7 (bigRR)", "83.2 (SVD)", None, "0.81 (SVD)", None, None],
    "insteval_gauss": [None, 15.6, "33-78", None, None, None],
    "insteval_binom": [None, "612 (Laplace); 16.7 (nAGQ=0)", "33-78", None, None, None],
}
# the numeric value that counts as the fastest time of a peer cell
_PEER_NUMERIC = {"76.7 (bigRR)": 76.7, "83.2 (SVD)": 83.2, "0.81 (SVD)": 0.81,
                 "612 (Laplace); 16.7 (nAGQ=0)": 16.7, "33-78": 33.0}

GOALS = [  # (problem, seconds, MB of fit memory)
    ("p1l", None, 500.0), ("p2l", 5.0, 2000.0), ("insteval_binom", 5.0, None),
]


def peer_value(cell: float | str | None) -> float | None:
    if isinstance(cell, int | float):
        return float(cell)
    if isinstance(cell, str):
        return _PEER_NUMERIC.get(cell)
    return None


def fastest_peer(problem: str) -> tuple[str, float] | None:
    cells = [(tool, peer_value(c)) for tool, c in zip(PEER_TOOLS, PEER_TIMES[problem],
                                                      strict=True)]
    cells = [(t, v) for t, v in cells if v is not None]
    return min(cells, key=lambda tv: tv[1]) if cells else None


def same_run_lines(problems: list[str]) -> list[str]:
    """Goal lines from the last ``peers.py`` run (out/RESULTS_peers.json), where hglm and
    its peers were timed in one run: on a shared machine the ratio that counts."""
    path = out_dir() / "RESULTS_peers.json"
    if not path.exists():
        return []
    runs = json.loads(path.read_text())
    lines = []
    for name in problems:
        tools = runs.get(name, {})
        ours = tools.get("hglm", {}).get("seconds")
        peers = [(tool, m["seconds"]) for tool, m in tools.items()
                 if tool != "hglm" and m.get("status") == "ok" and m.get("seconds")]
        if not ours or not peers:
            continue
        tool, best = min(peers, key=lambda tv: tv[1])
        lines.append(f"- {name}: hglm {fmt_seconds(ours)} s / fastest peer of the same run "
                     f"({tool} {fmt_seconds(best)} s) = {fmt_ratio(ours / best)} -> "
                     f"**{'met' if ours <= best else 'NOT met'}**")
    return lines


# --------------------------------------------------------------------------- data


def load_problem(problem: str, data_dir: str, shared: str) -> pd.DataFrame:
    spec = PROBLEMS[problem]
    if spec["file"] == "InstEval":
        df = pd.read_csv(Path(shared) / "data" / "InstEval.csv.gz")
        df["y4"] = (df["y"] >= 4).astype(np.int64)
        return df
    return pd.read_csv(Path(data_dir) / spec["file"])


def load_p4(data_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """y and the standardized genotype matrix Z (n x m), as gen_data.py's standardize()."""
    truth = json.loads((Path(data_dir) / "truth.json").read_text())["problems"]["p4"]
    n, m = truth["n"], truth["m"]
    y = pd.read_csv(Path(data_dir) / "p4.csv")["y"].to_numpy(float)
    geno = np.fromfile(Path(data_dir) / "p4_geno.int8", dtype=np.int8).reshape(n, m)
    G = geno.astype(np.float64)
    Z = (G - G.mean(axis=0)) / G.std(axis=0, ddof=1)
    return y, Z


def hglm_family(name: str) -> Any:
    import hglm

    return hglm.Gamma(link="log") if name == "gamma_log" else name


def prepare(case: str, data_dir: str, shared: str, method: str = "EQL") -> Prepared:
    """Worker entry point (see common.py): the hglm fit of one problem; ``method`` "ML"
    fits by marginal likelihood instead of EQL: REML for a Gaussian problem, Laplace ML
    otherwise (binomial/Poisson dispersion fixed at 1 by hglm itself)."""
    import hglm

    spec = PROBLEMS[case]
    if case == "p4":
        if method != "EQL":
            raise NotImplementedError("p4 (bigRR) is fitted by EQL only")
        y, Z = load_p4(data_dir)
        X = np.ones((len(y), 1))
        return Prepared(fit=lambda: hglm.hglm(y=y, X=X, Z=Z, bigrr=True), summarize=fit_summary)
    df = load_problem(case, data_dir, shared)
    kw: dict[str, Any] = {"family": hglm_family(spec["family"])}
    if method == "ML":
        kw["method"] = "REML" if spec["family"] == "gaussian" else "ML"
    elif spec.get("fix_disp") is not None:
        kw["fix_disp"] = spec["fix_disp"]
    return Prepared(fit=lambda: hglm.hglm2(spec["formula"], data=df, **kw), summarize=fit_summary)


# --------------------------------------------------------------------------- truth


def truth_params(problem: str, truth: dict, shared: Path) -> list[tuple[str, float | None]]:
    """(parameter, true value) in the order of ``estimates``; None for InstEval."""
    if problem.startswith("insteval"):
        names = ["(Intercept)", "service", "var_s", "var_d", "var_dept"]
        if problem == "insteval_gauss":
            names.append("sigma2")
        return [(n, None) for n in names]
    t = truth["problems"][problem]
    beta = t["beta"]
    if problem in ("p1s", "p1l", "p3"):
        return [("(Intercept)", beta[0]), ("x1", beta[1]), ("x2", beta[2]), ("var_g", t["var_g"])]
    if problem == "p5":
        return [("(Intercept)", beta[0]), ("x1", beta[1]), ("x2", beta[2]),
                ("var_g", t["var_g"]), ("phi", t["phi"])]
    if problem in ("p2s", "p2l"):
        return [("(Intercept)", beta[0]), ("x1", beta[1]), ("var_a", t["var_a"]),
                ("var_b", t["var_b"]), ("sigma2", t["sigma2"])]
    if problem == "p4":
        return [("mu", beta[0]), ("var_u", t["var_u"]), ("sigma2", t["sigma2"])]
    raise KeyError(problem)


def estimates(problem: str, info: dict) -> tuple[list[float], list[float | None]]:
    """(values, standard errors) in the order of :func:`truth_params`."""
    vals = list(info["fixef"]) + list(info["var_ranef"])
    ses: list[float | None] = list(info["se_fixef"]) + [None] * len(info["var_ranef"])
    if info.get("var_fix") is not None and PROBLEMS[problem].get("fix_disp") is None:
        vals.append(info["var_fix"])
        ses.append(None)
    return vals, ses


def p4_reml(shared: Path) -> dict | None:
    path = shared / "bench" / "p4_reml_reference.json"
    return json.loads(path.read_text())["global_optimum"] if path.exists() else None


def estimate_rows(problem: str, info: dict, truth: dict, shared: Path) -> list[list[str]]:
    params = truth_params(problem, truth, shared)
    if "fixef" not in info:
        return []
    vals, ses = estimates(problem, info)
    if len(vals) != len(params):
        return [[problem, "(estimates do not match the parameter list)", "", str(vals), "", ""]]
    ref = p4_reml(shared) if problem == "p4" else None
    rows = []
    for (name, true), val, se in zip(params, vals, ses, strict=True):
        if true is None:
            dev = "—"
        elif se:
            dev = f"z = {(val - true) / se:+.2f}"
        else:
            dev = f"{(val - true) / abs(true):+.1%}"
        extra = ""
        if ref is not None:
            key = {"mu": "mu", "var_u": "var_u", "sigma2": "sigma2"}[name]
            extra = f"REML optimum {fmt_num(ref[key])}"
        rows.append([problem, name, fmt_num(true), fmt_num(val, 5),
                     fmt_num(se, 3) if se else "—", dev + (f"; {extra}" if extra else "")])
    return rows


# --------------------------------------------------------------------------- main


def select(only: str | None, quick: bool) -> list[str]:
    names = list(PROBLEMS)
    if only:
        wanted = [s.strip() for s in only.split(",") if s.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            raise SystemExit(f"unknown problem(s): {', '.join(unknown)}; known: {names}")
        names = [n for n in names if n in wanted]
    if quick:
        names = [n for n in names if not PROBLEMS[n].get("large")]
    return names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_problem_arguments(ap)
    ap.add_argument("--threads", type=int, default=0,
                    help="limit BLAS/OpenMP/rayon threads of every fit (0: library defaults)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per fit series")
    ap.add_argument("--regenerate", action="store_true", help="rerun gen_data.py")
    ap.add_argument("--out", default=str(BENCH_DIR / "RESULTS.md"))
    args = ap.parse_args(argv)

    shared = shared_dir(args.shared)
    data_dir = problem_data(shared, regenerate=args.regenerate)
    truth = json.loads((data_dir / "truth.json").read_text())
    names = select(args.only, args.quick)

    results: dict[str, Measurement] = {}
    for name in names:
        m = measure("bench_problems", name,
                    params={"data_dir": str(data_dir), "shared": str(shared)},
                    repeat=args.repeat, timeout=args.timeout, env=thread_env(args.threads))
        results[name] = m
        print(f"{name:16s} {m.time_text():>18s}  fit peak {fmt_mb(m.peak_mb):>7s} MB  "
              f"load {fmt_num(m.load_avg, 2)}  {m.message[:100]}", flush=True)

    time_rows, est_rows = [], []
    for name, m in results.items():
        fast = fastest_peer(name)
        lme4 = peer_value(PEER_TIMES[name][1])
        total = (m.peak_mb + m.baseline_mb) if m.peak_mb is not None else None
        conv = ""
        if "converged" in m.info:
            conv = f"{m.info['n_iter']}" + ("" if m.info["converged"] else " (NOT converged)")
        time_rows.append([
            name, PROBLEMS[name]["desc"], m.time_text(), fmt_mb(m.peak_mb), fmt_mb(total), conv,
            f"{fast[0]} {fmt_seconds(fast[1])}" if fast else "—",
            fmt_ratio(m.seconds / fast[1]) if (fast and m.seconds) else "—",
            fmt_ratio(lme4 / m.seconds) if (lme4 and m.seconds) else "—",
            m.message if m.status != "ok" else "; ".join(m.info.get("warnings", []))[:120],
        ])
        est_rows += estimate_rows(name, m.info, truth, shared)

    goal_lines = []
    for name, sec, mb in GOALS:
        if name not in results:
            continue
        m = results[name]
        if sec is not None:
            ok = m.seconds is not None and m.seconds < sec
            goal_lines.append(f"- {name} time: {m.time_text()} s, goal < {sec:g} s -> "
                              f"**{'met' if ok else 'NOT met'}**")
        if mb is not None:
            ok = m.peak_mb is not None and m.peak_mb < mb
            goal_lines.append(f"- {name} fit memory: {fmt_mb(m.peak_mb)} MB, goal < {mb:g} MB "
                              f"-> **{'met' if ok else 'NOT met'}**")
    for name, m in results.items():
        fast = fastest_peer(name)
        if fast and m.seconds:
            ok = m.seconds <= fast[1]
            goal_lines.append(f"- {name}: hglm/fastest peer quoted in issue 6 ({fast[0]}, "
                              f"another run) = {fmt_ratio(m.seconds / fast[1])} -> "
                              f"**{'met' if ok else 'NOT met'}**")
    same_run = same_run_lines(list(results))
    if same_run:
        goal_lines += ["", "Against the peers timed in the same run (the last `peers.py` run, "
                       "`RESULTS_peers.md`; the ratio that counts on a shared machine):", "",
                       *same_run]

    peer_rows = [[p] + [c if c is not None else "—" for c in PEER_TIMES[p]] for p in PEER_TIMES]
    text = "\n\n".join([
        "# hglm on the peer-benchmark problems (issue 6)",
        f"Generated by `{command_line()}"
        + "`. Seconds: wall time of `hglm.hglm2(formula, data)` (p4: "
        "`hglm.hglm(y, X, Z, bigrr=True)`), median of "
        f"{args.repeat} runs in a fresh process with the data loaded; timeout "
        f"{args.timeout:g} s per problem. Fit MB: peak resident memory during the first fit "
        "minus the process's memory after imports and data loading; process MB: the whole "
        "process at that peak (Python, libraries and data included). Binomial and Poisson "
        "problems are fitted with `fix_disp=1` (the simulated model). hglm/fastest: our time "
        "over the fastest peer of issue 6 (< 1 means faster); lme4/hglm: the speed-up over "
        "lme4 (goal >= 10).",
        "## Times\n\n" + md_table(
            ["problem", "model", "hglm s", "fit MB", "process MB", "iter", "fastest peer (s)",
             "hglm/fastest", "lme4/hglm", "notes"],
            time_rows, align="llrrrrlrrl"),
        "## Goals (issue 6)\n\n" + ("\n".join(goal_lines) or "- (no goal problem was run)"),
        "## Estimates vs truth\n\nTruth from `truth.json` (InstEval: none). Fixed effects: "
        "z = (estimate - truth) / SE; variance components: relative error. p4 also against "
        "the exact REML optimum of `p4_reml_reference.json`. EQL (HL(0,1)) estimates of "
        "binary-response GLMMs are known to be shrunk towards zero.\n\n" + md_table(
            ["problem", "parameter", "truth", "estimate", "SE", "deviation"], est_rows,
            align="llrrrl"),
        "## Peer times quoted in issue 6 (seconds, same machine, median of 3)\n\n" + md_table(
            ["problem"] + PEER_TOOLS, peer_rows, align="l" + "r" * len(PEER_TOOLS))
        + "\n\nInstEval on the same machine: lmer 15.6 s; glmer binomial Laplace 612 s, "
        "nAGQ=0 16.7 s; glmmTMB 33-78 s. `python benchmarks/peers.py` re-times the Python "
        "peers and lme4 in the same run.",
        "## Machine\n\n" + machine_text() + f"\n- threads: {threads_text(args.threads)}",
    ]) + "\n"
    Path(args.out).write_text(text)
    raw = {k: v.to_dict() for k, v in results.items()}
    (out_dir() / f"{Path(args.out).stem}.json").write_text(json.dumps(raw, indent=1))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
