"""Animal models on simulated pedigrees: the sparse precision path against the dense
covariance path.

Usage (from the repository root)::

    python benchmarks/bench_pedigree.py [--sizes 1000,2000,5000,20000,50000]
                                        [--dense-max 5000] [--repeat 3] [--timeout 600]

The pedigree (fixed seed): 10 discrete generations of q/10 animals, half males and half
females; the first generation are founders; each later animal has a sire drawn from 5% of
the previous generation's males and a dam drawn from its females, so there is inbreeding
(mean F about 0.005 at q = 20,000).  Breeding values are simulated along the pedigree
(u_i = (u_s + u_d)/2 + Mendelian sampling), lambda = 0.5; every animal of generations 3 to
10 has one record y = 1 + 0.3 x + u + e with phi = 0.5 (80% of the animals have records,
the others are ancestors without records).  Model: ``y ~ x + (1|animal)``, u ~ N(0,
lambda A).

Two ways to fit it, each timed in a fresh process (``common.measure``; data simulated
before the clock starts; median of ``--repeat`` fits; peak resident memory of the first fit
above the loaded process):

* ``precision``: ``hglm.pedigree_precision(animal, sire, dam)`` (Henderson's A^{-1} with
  inbreeding) and ``hglm.hglm(..., rand_cov=[that Precision])``, both inside the timed
  call: the general sparse solver fits all q animals (ancestors included).
* ``dense``: ``rand_cov=[A]`` with the dense A of the recorded animals (computed by the
  tabular method before the clock starts): the existing path, A = L L' and the dense
  design Z L (which, with more columns than rows, the engine solves in the n-space).

Writes ``benchmarks/RESULTS_pedigree.md`` and ``benchmarks/out/pedigree.json``; the
summary goes into ``docs/benchmarks.md`` by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    BENCH_DIR,
    Measurement,
    Prepared,
    command_line,
    fit_summary,
    fmt_mb,
    fmt_num,
    machine_text,
    md_table,
    measure,
    out_dir,
)

SEED = 20251121
GENERATIONS = 10
SIRE_FRACTION = 0.05
LAMBDA, PHI = 0.5, 0.5


def simulate_pedigree(q: int, seed: int = SEED) -> dict[str, np.ndarray]:
    """Animals 1..q in generation order; sire/dam 0 = unknown."""
    rng = np.random.default_rng(seed)
    per_gen = q // GENERATIONS
    sire = np.zeros(q, dtype=np.int64)
    dam = np.zeros(q, dtype=np.int64)
    gen = np.repeat(np.arange(GENERATIONS), per_gen)
    for g in range(1, GENERATIONS):
        prev = np.arange((g - 1) * per_gen, g * per_gen)
        males, females = prev[: per_gen // 2], prev[per_gen // 2 :]
        sires = rng.choice(males, max(5, int(SIRE_FRACTION * males.size)), replace=False)
        rows = slice(g * per_gen, (g + 1) * per_gen)
        sire[rows] = rng.choice(sires, per_gen) + 1
        dam[rows] = rng.choice(females, per_gen) + 1
    return {"animal": np.arange(1, q + 1), "sire": sire, "dam": dam, "gen": gen}


def simulate(q: int, seed: int = SEED) -> dict[str, Any]:
    import hglm

    ped = simulate_pedigree(q, seed)
    prec = hglm.pedigree_precision(ped["animal"], ped["sire"], ped["dam"])
    F = prec.inbreeding.to_numpy()  # labels are "1".."q" in animal order (no founders added)
    rng = np.random.default_rng(seed + 1)
    s, d = ped["sire"] - 1, ped["dam"] - 1
    u = np.zeros(q)
    for g in range(GENERATIONS):
        rows = np.flatnonzero(ped["gen"] == g)
        if g == 0:
            u[rows] = rng.normal(0.0, np.sqrt(LAMBDA), rows.size)
            continue
        m = 0.5 - 0.25 * (F[s[rows]] + F[d[rows]])
        u[rows] = 0.5 * (u[s[rows]] + u[d[rows]]) + rng.normal(0.0, 1.0, rows.size) * np.sqrt(
            m * LAMBDA)
    recorded = np.flatnonzero(ped["gen"] >= 2)
    n = recorded.size
    x = rng.normal(size=n)
    y = 1.0 + 0.3 * x + u[recorded] + rng.normal(0.0, np.sqrt(PHI), n)
    return {**ped, "recorded": recorded, "x": x, "y": y, "F": F}


def tabular_A(ped: dict[str, np.ndarray], animals: np.ndarray) -> np.ndarray:
    """The dense relationship matrix of ``animals`` by the tabular method, one generation
    at a time: rows of a generation are the means of their parents' rows; the block within
    a generation follows from the same rule; diag = 1 + F."""
    q = ped["animal"].size
    s, d, gen = ped["sire"] - 1, ped["dam"] - 1, ped["gen"]
    A = np.zeros((q, q))
    for g in range(GENERATIONS):
        rows = np.flatnonzero(gen == g)
        if g == 0:
            A[rows, rows] = 1.0
            continue
        prev = np.arange(rows[0])
        block = 0.5 * (A[np.ix_(s[rows], prev)] + A[np.ix_(d[rows], prev)])
        A[np.ix_(rows, prev)] = block
        A[np.ix_(prev, rows)] = block.T
        within = 0.5 * (block[:, s[rows]] + block[:, d[rows]])  # a_ij = (a_i,s_j + a_i,d_j)/2
        within = 0.5 * (within + within.T)
        np.fill_diagonal(within, 1.0 + 0.5 * A[s[rows], d[rows]])
        A[np.ix_(rows, rows)] = within
    return A[np.ix_(animals, animals)]


def _summary(res: Any) -> dict:
    solver = type(res._engine.fitter.system).__name__
    if res._engine.fitter.marginal is not None:
        solver = "MarginalSolver (bigRR)"
    return {**fit_summary(res), "n_ranef": len(res.ranef), "solver": solver}


def prepare(case: str, q: int = 0, n: int = 0) -> Prepared:
    """Worker entry point (see common.py)."""
    from scipy import sparse

    import hglm

    if case.startswith("nested_"):
        return prepare_nested(case.removeprefix("nested_"), int(n))
    data = simulate(int(q))
    rec, y = data["recorded"], data["y"]
    n = rec.size
    X = np.column_stack([np.ones(n), data["x"]])
    if case == "precision":
        Z = sparse.csr_matrix((np.ones(n), (np.arange(n), rec)), shape=(n, int(q)))

        def fit():
            prec = hglm.pedigree_precision(data["animal"], data["sire"], data["dam"])
            return hglm.hglm(y=y, X=X, Z=Z, rand_cov=[prec])

        return Prepared(fit=fit, summarize=_summary,
                        note="pedigree_precision + fit of all q animals")
    if case == "precision_ml":
        Z = sparse.csr_matrix((np.ones(n), (np.arange(n), rec)), shape=(n, int(q)))
        binary = (y > np.median(y)).astype(float)

        def fit_ml():
            prec = hglm.pedigree_precision(data["animal"], data["sire"], data["dam"])
            return hglm.hglm(y=binary, X=X, Z=Z, rand_cov=[prec], family="binomial",
                             method="ML")

        return Prepared(fit=fit_ml, summarize=fit_summary,
                        note="binary trait (y > median), Laplace ML, all q animals")
    if case == "dense":
        A = tabular_A(data, rec)
        Z = sparse.identity(n, format="csr")
        return Prepared(fit=lambda: hglm.hglm(y=y, X=X, Z=Z, rand_cov=[A]),
                        summarize=_summary, note="dense A of the recorded animals")
    raise ValueError(f"unknown case {case!r}")


def prepare_nested(case: str, n: int) -> Prepared:
    """``y ~ x + (1|a) + (1|a:b) + (1|a:b:c)``: a 500, a:b 5,000, a:b:c 20,000 levels (n
    rows); ``sparse`` is the default choice (nested terms, Schur complement >= 2000),
    ``structured`` forces the structured solver."""
    import pandas as pd

    import hglm
    import hglm.engine.solver_choice as ss

    rng = np.random.default_rng(SEED)
    a = rng.integers(0, 500, n)
    b = rng.integers(0, 10, n)
    c = rng.integers(0, 4, n)
    x = rng.normal(size=n)
    keys = [a, a * 10 + b, (a * 10 + b) * 4 + c]
    sizes = [500, 5000, 20000]
    y = 1.0 + 0.3 * x + rng.normal(size=n)
    for k, size in zip(keys, sizes, strict=True):
        y += rng.normal(0.0, 0.5, size)[k]
    df = pd.DataFrame({"y": y, "x": x, "a": a, "b": b, "c": c})
    if case == "structured":
        ss.SPARSE_FROM_SCHUR = 10**9
    formula = "y ~ x + (1|a) + (1|a:b) + (1|a:b:c)"
    return Prepared(fit=lambda: hglm.hglm2(formula, data=df), summarize=_summary)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,2000,5000,20000,50000",
                    help="numbers of animals q (default 1000,2000,5000,20000,50000)")
    ap.add_argument("--dense-max", type=int, default=5000,
                    help="largest q for the dense path (default 5000)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per fit series")
    ap.add_argument("--nested", type=int, default=100_000,
                    help="rows of the nested-factors comparison (0: skip)")
    ap.add_argument("--ml-sizes", default="1000,2000,5000",
                    help="numbers of animals of the binary trait by Laplace ML ('': skip)")
    ap.add_argument("--out", default=str(BENCH_DIR / "RESULTS_pedigree.md"))
    args = ap.parse_args(argv)
    sizes = [int(float(s)) for s in args.sizes.split(",") if s.strip()]
    ml_sizes = [int(float(s)) for s in args.ml_sizes.split(",") if s.strip()]

    t_start = time.monotonic()
    results: dict[str, dict[int, Measurement]] = {"precision": {}, "dense": {}}
    for q in sizes:
        for case in ("precision", "dense"):
            if case == "dense" and q > args.dense_max:
                continue
            m = measure("bench_pedigree", case, params={"q": q}, repeat=args.repeat,
                        timeout=args.timeout)
            results[case][q] = m
            print(f"{case:10s} q={q:>7,d}  {m.time_text():>12s} s  "
                  f"peak {fmt_mb(m.peak_mb):>7s} MB  iter {m.info.get('n_iter')}  "
                  f"{m.info.get('solver', '')}  {m.message[:80]}", flush=True)
    elapsed = time.monotonic() - t_start

    rows = []
    for q in sizes:
        p, d = results["precision"].get(q), results["dense"].get(q)
        diff = None
        if p and d and p.info.get("fixef") and d.info.get("fixef"):
            a = np.array(p.info["fixef"] + [p.info["var_fix"]] + p.info["var_ranef"])
            b = np.array(d.info["fixef"] + [d.info["var_fix"]] + d.info["var_ranef"])
            diff = float(np.max(np.abs(a - b) / np.abs(b)))
        n = int(0.8 * q)
        rows.append([
            f"{q:,}", f"{n:,}",
            p.time_text() if p else "—", fmt_mb(p.peak_mb) if p else "—",
            str(p.info.get("n_iter", "—")) if p else "—",
            d.time_text() if d else "not run", fmt_mb(d.peak_mb) if d else "—",
            "—" if diff is None else f"{diff:.1e}",
            "—" if not (p and p.info.get("var_ranef")) else
            f"{fmt_num(p.info['var_fix'])} / {fmt_num(p.info['var_ranef'][0])}",
        ])
    table = md_table(
        ["animals q", "records n", "precision: s", "peak MB", "iter", "dense A: s",
         "peak MB", "max rel. diff of estimates", "phi / lambda (true 0.5 / 0.5)"], rows)
    text = f"""# Animal models on simulated pedigrees: sparse precision vs dense covariance

Generated by `{command_line()}` in {elapsed:.0f} s.
{machine_text()}

Model `y ~ x + (1|animal)`, u ~ N(0, lambda A), on a simulated pedigree of q animals
(10 generations, 5% of the males as sires, some inbreeding); the 80% of the animals in
generations 3-10 have one record each.  "precision" times `hglm.pedigree_precision` plus
the fit with `rand_cov=[Precision]` (all q animals, ancestors included, general sparse
solver); "dense A" times the fit with the dense relationship matrix of the recorded animals
(`rand_cov=[A]`, A = L L', dense design Z L; A itself is built before the clock starts).
Seconds: median of {args.repeat} fits, each in a fresh process; peak: resident memory of
the first fit above the loaded process.  The last but one column compares the two paths'
fixed effects and dispersions where both ran (they fit the same model).

{table}
"""
    nested_rows = []
    if args.nested:
        for case in ("sparse", "structured"):
            m = measure("bench_pedigree", f"nested_{case}", params={"n": args.nested},
                        repeat=args.repeat, timeout=args.timeout)
            print(f"nested {case:10s} {m.time_text():>12s} s  peak {fmt_mb(m.peak_mb)} MB  "
                  f"{m.info.get('solver', '')}  {m.message[:80]}", flush=True)
            nested_rows.append([case, m.info.get("solver", "—"), m.time_text(),
                                fmt_mb(m.peak_mb), str(m.info.get("n_iter", "—")),
                                ", ".join(fmt_num(v) for v in m.info.get("var_ranef", []))])
        text += f"""
## Nested factors

`y ~ x + (1|a) + (1|a:b) + (1|a:b:c)` with {args.nested:,} rows, 500 / 5,000 / 20,000
levels: the structured solver eliminates a:b:c and keeps a dense 5,502 x 5,502 Schur
complement; the sparse solver (chosen by default for nested terms with a Schur
complement of order >= 2,000) has no fill.

{md_table(["solver asked", "solver", "seconds", "peak MB", "iter", "var_ranef"],
          nested_rows)}
"""
    if ml_sizes:
        ml_rows = []
        for q in ml_sizes:
            m = measure("bench_pedigree", "precision_ml", params={"q": q},
                        repeat=args.repeat, timeout=args.timeout)
            print(f"ML q={q:>7,d}  {m.time_text():>12s} s  peak {fmt_mb(m.peak_mb)} MB  "
                  f"{m.message[:80]}", flush=True)
            ml_rows.append([f"{q:,}", f"{int(0.8 * q):,}", m.time_text(), fmt_mb(m.peak_mb),
                            str(m.info.get("n_iter", "—")),
                            fmt_num(m.info["var_ranef"][0]) if m.info.get("var_ranef")
                            else "—", fmt_num(m.info.get("loglik"))])
        text += f"""
## A binary trait by Laplace ML

The same pedigrees, the trait y > median(y) (binomial, logit), fitted by glmer's
Laplace approximation with the sparse precision (`hglm.hglm(..., rand_cov=[Precision],
family="binomial", method="ML")`; the gradient in the variance by differences); pedigree
built inside the timed call.  lme4 has no pedigree term (pedigreemm adds one).

{md_table(["animals q", "records n", "seconds", "peak MB", "evaluations",
           "lambda (logit scale)", "logLik"], ml_rows)}
"""
    Path(args.out).write_text(text)
    raw = {case: {str(q): m.to_dict() for q, m in res.items()} for case, res in results.items()}
    (out_dir() / "pedigree.json").write_text(json.dumps(raw, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
