"""Time hglm on the reference cases of ``shared/ref`` and on a 100,000-row binomial GLMM.

Usage (from the repository root)::

    python benchmarks/bench_engine.py [--shared PATH] [--only a,b] [--repeat 3]
                                      [--timeout 600] [--out benchmarks/RESULTS_engine.md]

Each case is rebuilt from ``shared/data`` exactly as its JSON's ``r_setup`` / ``r_code``
(same interface where the library has it: formula cases through ``hglm.hglm(fixed=,
random=)`` / ``hglm.hglm2``, matrix cases through ``hglm.hglm(y=, X=, Z=)``), fitted in a
fresh process (see ``common.py``), and compared with R's wall time (``wall_time_s`` of the
JSON: hglm 2.2-1, R 4.2.2, reference BLAS) and with R's fixed point (the ``tight`` block).
Writes ``benchmarks/RESULTS_engine.md`` and ``benchmarks/out/RESULTS_engine.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
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
    rel_diff,
    shared_dir,
    thread_env,
    threads_text,
)

GOALS = {"qtlmas_polygenic": 1.0, "glmm_100k": 5.0}

# --------------------------------------------------------------------------- builders


def _indicators(values: Any) -> np.ndarray:
    """R's model.matrix(~ 0 + factor(g)): one 0/1 column per level, levels sorted."""
    values = np.asarray(values)
    levels = np.unique(values)
    return (values[:, None] == levels[None, :]).astype(float)


def _r_scale(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return (x - x.mean()) / x.std(ddof=1)


def _ones(n: int) -> np.ndarray:
    return np.ones((n, 1))


class Cases:
    """One method per reference case: returns the fit as a zero-argument callable."""

    def __init__(self, shared: Path) -> None:
        self.data = shared / "data"
        import hglm

        self.hglm = hglm

    def _csv(self, name: str) -> pd.DataFrame:
        return pd.read_csv(self.data / name)

    # bacteria (MASS) -------------------------------------------------------------
    def bacteria_binomial(self) -> Callable[[], Any]:
        df = self._csv("bacteria.csv")
        return lambda: self.hglm.hglm(fixed="y ~ week", random="~ 1|ID", data=df,
                                      family="binomial")

    def bacteria_binomial_fixdisp(self) -> Callable[[], Any]:
        df = self._csv("bacteria.csv")
        return lambda: self.hglm.hglm(fixed="y ~ week", random="~ 1|ID", data=df,
                                      family="binomial", fix_disp=1, calc_like=True)

    def bacteria_randreg(self) -> Callable[[], Any]:
        df = self._csv("bacteria.csv")
        y = (df["y"] == "y").to_numpy(dtype=float)
        week = df["week"].to_numpy(dtype=float)
        X = np.column_stack([np.ones(len(df)), week])
        z = _indicators(df["ID"])
        zw = z * _r_scale(week)[:, None]
        Z = np.hstack([z, zw])
        return lambda: self.hglm.hglm(y=y, X=X, Z=Z, family=self.hglm.Binomial(link="logit"),
                                      rand_c=[z.shape[1], zw.shape[1]])

    # QTLMAS (hglm.data) ----------------------------------------------------------
    def _qtlmas(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        df = self._csv("QTLMAS.csv.gz")
        zcols = [f"Z{i}" for i in range(1, 2026)]
        mcols = [f"M{i}" for i in range(1, 91)]
        return (df["y"].to_numpy(dtype=float), df[zcols].to_numpy(dtype=float),
                df[mcols].to_numpy(dtype=float))

    def qtlmas_polygenic(self, **kw: Any) -> Callable[[], Any]:
        y, Z, _ = self._qtlmas()
        X = _ones(len(y))
        return lambda: self.hglm.hglm(y=y, X=X, Z=Z, **kw)

    def qtlmas_polygenic_like(self) -> Callable[[], Any]:
        return self.qtlmas_polygenic(calc_like=True)

    def qtlmas_polygenic_bigrr(self) -> Callable[[], Any]:
        return self.qtlmas_polygenic(bigrr=True)

    def qtlmas_markers_gamma(self) -> Callable[[], Any]:
        y, _, M = self._qtlmas()
        X = _ones(len(y))
        return lambda: self.hglm.hglm(y=y, X=X, Z=M, rand_family=self.hglm.Gamma(link="log"))

    # vignette simulations ----------------------------------------------------------
    def _simul(self, file: str) -> dict[str, np.ndarray]:
        df = self._csv(file)
        n = len(df)
        return {"y": df["y"].to_numpy(dtype=float), "X": _ones(n),
                "Z": _indicators(df["cluster"]),
                "x_disp": np.column_stack([np.ones(n), df["xd"].to_numpy(dtype=float)])}

    def simul_heterosc(self) -> Callable[[], Any]:
        a = self._simul("simul_heterosc.csv")
        return lambda: self.hglm.hglm(**a)

    def simul_pois(self) -> Callable[[], Any]:
        a = self._simul("simul_pois.csv")
        return lambda: self.hglm.hglm(**a, family=self.hglm.Poisson(link="log"))

    # semiconductor -------------------------------------------------------------------
    def semiconductor_hglm2(self) -> Callable[[], Any]:
        df = self._csv("semiconductor.csv")
        return lambda: self.hglm.hglm2("y ~ x1 + x3 + x5 + x6 + (1|Device)",
                                       family=self.hglm.Gamma(link="log"), disp="~ x2 + x3",
                                       data=df)

    def semiconductor_gamma(self) -> Callable[[], Any]:
        df = self._csv("semiconductor.csv")
        return lambda: self.hglm.hglm(fixed="y ~ x1 + x3 + x5 + x6", random="~ 1|Device",
                                      family=self.hglm.Gamma(link="log"), disp="~ x2 + x3",
                                      data=df)

    def semiconductor_gamma_like(self) -> Callable[[], Any]:
        df = self._csv("semiconductor.csv")
        return lambda: self.hglm.hglm(fixed="y ~ x1 + x3 + x5 + x6", random="~ 1|Device",
                                      family=self.hglm.Gamma(link="log"), disp="~ x2 + x3",
                                      data=df, calc_like=True)

    def semiconductor_matrix(self) -> Callable[[], Any]:
        df = self._csv("semiconductor.csv")
        one = np.ones(len(df))
        X = np.column_stack([one] + [df[c].to_numpy(float) for c in ("x1", "x3", "x5", "x6")])
        Z = np.kron(np.eye(16), np.ones((4, 1)))
        Xd = np.column_stack([one, df["x2"].to_numpy(float), df["x3"].to_numpy(float)])
        y = df["y"].to_numpy(float)
        return lambda: self.hglm.hglm(y=y, X=X, Z=Z, x_disp=Xd,
                                      family=self.hglm.Gamma(link="log"))

    # sim_two_random --------------------------------------------------------------------
    def _two(self) -> tuple[pd.DataFrame, dict[str, Any]]:
        df = self._csv("sim_two_random.csv")
        z1, z2 = _indicators(df["z1"]), _indicators(df["z2"])
        X = np.column_stack([np.ones(len(df)), df["x1"].to_numpy(float),
                             df["x2"].to_numpy(float)])
        return df, {"y": df["y"].to_numpy(float), "X": X, "Z1": z1, "Z2": z2}

    def sim_two_random_m20(self) -> Callable[[], Any]:
        _, a = self._two()
        return lambda: self.hglm.hglm(y=a["y"], X=a["X"], Z=a["Z1"], calc_like=True)

    def sim_two_random_m21(self) -> Callable[[], Any]:
        _, a = self._two()
        Z = np.hstack([a["Z1"], a["Z2"]])
        return lambda: self.hglm.hglm(y=a["y"], X=a["X"], Z=Z, rand_c=[10, 5])

    def sim_two_random_m22(self) -> Callable[[], Any]:
        df, _ = self._two()
        return lambda: self.hglm.hglm2("y ~ x1 + x2 + (1|z1) + (1|z2)", data=df, vcovmat=True)

    def sim_two_random_m31(self) -> Callable[[], Any]:
        df, _ = self._two()
        return lambda: self.hglm.hglm2("y ~ x1 + x2 + (1|z1) + (1|z2)", disp="~ x3", data=df)

    # tutorials: model selection, double HGLM ------------------------------------------------
    def _model_selection(self) -> dict[str, np.ndarray]:
        df = self._csv("model_selection.csv")
        return {"y": df["y"].to_numpy(float), "X": _ones(len(df)), "Z": _indicators(df["ID"]),
                "Z2": df[[f"Z2_{i}" for i in range(1, 21)]].to_numpy(float)}

    def model_selection_hg1(self) -> Callable[[], Any]:
        a = self._model_selection()
        Z = np.hstack([a["Z"], a["Z2"]])
        return lambda: self.hglm.hglm(y=a["y"], X=a["X"], Z=Z, rand_c=[10, 20], calc_like=True)

    def model_selection_hg2(self) -> Callable[[], Any]:
        a = self._model_selection()
        return lambda: self.hglm.hglm(y=a["y"], X=a["X"], Z=a["Z"], calc_like=True)

    def _dhglm(self) -> dict[str, np.ndarray]:
        df = self._csv("dhglm_iter.csv")
        return {"y": df["y"].to_numpy(float), "X": _ones(len(df)), "Z": _indicators(df["ID"])}

    def dhglm_oneshot(self) -> Callable[[], Any]:
        a = self._dhglm()
        return lambda: self.hglm.hglm(X=a["X"], y=a["y"], Z=a["Z"], x_disp=a["Z"])

    def dhglm_iter_mean(self) -> Callable[[], Any]:
        """The tutorial's loop (r_code of dhglm_iter_mean.json): mean and dispersion HGLMs."""
        a = self._dhglm()
        y, X, Z = a["y"], a["X"], a["Z"]
        n = len(y)
        hglm = self.hglm

        def loop() -> Any:
            w = np.ones(n)
            diff, n_iter = 1.0, 0
            hg1 = hg2 = None
            while diff > 1e-6 and n_iter < 50:
                n_iter += 1
                hg1 = hglm.hglm(y=y, X=X, Z=Z, weights=w)
                hv = hg1.hat_values[:n]
                dev = (y - hg1.fitted) ** 2 / (1 - hv)
                hg2 = hglm.hglm(y=dev, X=X, Z=Z, family=hglm.Gamma(link="log"),
                                weights=(1 - hv) / 2)
                w_new = 1 / hg2.fitted
                diff = float(np.sum((w_new - w) ** 2) / np.sum(w**2))
                w = w_new
            return _Loop(hg1, n_iter)

        return loop

    # formula-interface vignette cases ----------------------------------------------------------
    def seeds_binomial_beta(self, **kw: Any) -> Callable[[], Any]:
        df = self._csv("seeds.csv")
        kw = {"conv": 0.005, **kw}
        return lambda: self.hglm.hglm(fixed='r/n ~ extract*I(seed == "O73")', weights="n",
                                      data=df, random="~ 1|plate", family="binomial",
                                      rand_family=self.hglm.Beta(), **kw)

    def seeds_binomial_beta_fixdisp(self) -> Callable[[], Any]:
        return self.seeds_binomial_beta(conv=1e-6, fix_disp=1)

    def pump_poisson_gamma_log_fixdisp(self) -> Callable[[], Any]:
        df = self._csv("pump.csv")
        off = np.log(df["t"].to_numpy(float))
        return lambda: self.hglm.hglm(fixed="S ~ factor(Gr)", random="~ 1|System", offset=off,
                                      fix_disp=1, family="poisson",
                                      rand_family=self.hglm.Gamma(link="log"), data=df)

    def pump_poisson_gamma(self) -> Callable[[], Any]:
        # fails in R (default start diverges with the inverse link); we are meant to fit it
        df = self._csv("pump.csv")
        off = np.log(df["t"].to_numpy(float))
        return lambda: self.hglm.hglm(fixed="S ~ factor(Gr)", random="~ 1|System", offset=off,
                                      family="poisson", rand_family=self.hglm.Gamma(), data=df)

    def dyestuff_lmm(self) -> Callable[[], Any]:
        df = self._csv("Dyestuff.csv")
        return lambda: self.hglm.hglm2("Yield ~ 1 + (1|Batch)", data=df, calc_like=True)

    def cancer_car(self) -> Callable[[], Any]:
        car = getattr(self.hglm, "CAR", None)
        if car is None:
            raise NotImplementedError("hglm.CAR is not available yet")
        df = self._csv("cancer.csv")
        D = np.loadtxt(self.data / "cancer_nbr.csv", delimiter=",")
        X = np.column_stack([np.ones(len(df)), df["Paff"].to_numpy(float)])
        y = df["O"].to_numpy(float)
        off = np.log(df["E"].to_numpy(float))
        return lambda: self.hglm.hglm(X=X, y=y, Z=np.eye(len(y)), family="poisson",
                                      rand_family=car(D), offset=off, conv=1e-9, maxit=200,
                                      fix_disp=1)

    # the 100,000-row binomial GLMM (gen_data.py's p1l) --------------------------------------
    def glmm_100k(self, data_dir: str) -> Callable[[], Any]:
        from scipy import sparse

        df = pd.read_csv(Path(data_dir) / "p1l.csv")
        n = len(df)
        X = np.column_stack([np.ones(n), df["x1"].to_numpy(float), df["x2"].to_numpy(float)])
        codes, levels = pd.factorize(df["g"], sort=True)
        Z = sparse.csc_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, len(levels)))
        y = df["y"].to_numpy(float)
        return lambda: self.hglm.hglm(y=y, X=X, Z=Z, family="binomial", fix_disp=1)


class _Loop:
    """The result of the dhglm loop: the mean model's fit, with the loop count."""

    def __init__(self, fit: Any, n_iter: int) -> None:
        self.fit = fit
        self.loop_iterations = n_iter


# (case, R reference JSON or None, description)
CASES: list[tuple[str, str | None, str]] = [
    ("bacteria_binomial", "bacteria_binomial", "binomial GLMM, formula hglm(fixed, random)"),
    ("bacteria_binomial_fixdisp", "bacteria_binomial_fixdisp", "same, fix_disp=1, calc_like"),
    ("bacteria_randreg", "bacteria_randreg", "binomial, 2 random terms (50+50), matrix"),
    ("qtlmas_polygenic", "qtlmas_polygenic", "Gaussian animal model, dense Z 1000x2025"),
    ("qtlmas_polygenic_like", "qtlmas_polygenic_like", "same, calc_like"),
    ("qtlmas_polygenic_bigrr", "qtlmas_polygenic_bigrr", "same, bigrr=True"),
    ("qtlmas_markers_gamma", "qtlmas_markers_gamma", "Gamma(log) random effects, 90 markers"),
    ("simul_heterosc", "simul_heterosc", "LMM + residual dispersion model"),
    ("simul_pois", "simul_pois", "Poisson GLMM + dispersion model"),
    ("semiconductor_hglm2", "semiconductor_hglm2", "Gamma(log) GLMM + disp, hglm2"),
    ("semiconductor_gamma", "semiconductor_gamma", "same, hglm(fixed, random)"),
    ("semiconductor_gamma_like", "semiconductor_gamma_like", "same, calc_like"),
    ("semiconductor_matrix", "semiconductor_matrix", "same, matrix interface"),
    ("sim_two_random_m20", "sim_two_random_m20", "LMM one term, calc_like"),
    ("sim_two_random_m21", "sim_two_random_m21", "LMM two terms (10+5), matrix"),
    ("sim_two_random_m22", "sim_two_random_m22", "same, hglm2, vcovmat"),
    ("sim_two_random_m31", "sim_two_random_m31", "same, hglm2 + disp ~ x3"),
    ("model_selection_hg1", "model_selection_hg1", "LMM 10 + 20 random cols, calc_like"),
    ("model_selection_hg2", "model_selection_hg2", "LMM 10 levels, calc_like"),
    ("dhglm_oneshot", "dhglm_oneshot", "LMM with x_disp = Z"),
    ("dhglm_iter_mean", "dhglm_iter_mean", "double-HGLM loop of two hglm fits"),
    ("seeds_binomial_beta", "seeds_binomial_beta", "binomial-Beta HGLM, r/n weights n"),
    ("seeds_binomial_beta_fixdisp", "seeds_binomial_beta_fixdisp", "same, fix_disp=1"),
    ("pump_poisson_gamma_log_fixdisp", "pump_poisson_gamma_log_fixdisp",
     "Poisson-Gamma(log), offset"),
    ("pump_poisson_gamma", "pump_poisson_gamma", "Poisson-Gamma(inverse): fails in R"),
    ("dyestuff_lmm", "dyestuff_lmm", "LMM, hglm2, calc_like"),
    ("cancer_car", "cancer_car", "Poisson CAR"),
    ("glmm_100k", None, "binomial GLMM 100,000 rows / 10,000 groups (p1l), sparse Z"),
]


def _summary(res: Any) -> dict:
    loops = None
    if isinstance(res, _Loop):
        loops, res = res.loop_iterations, res.fit
    out = fit_summary(res)
    if loops is not None:
        out["loop_iterations"] = loops
    for key in ("car_rho", "car_tau"):
        if getattr(res, key, None) is not None:
            out[key] = float(getattr(res, key))
    return out


def prepare(case: str, shared: str, data_dir: str | None = None) -> Prepared:
    """Worker entry point (see common.py)."""
    cases = Cases(Path(shared))
    builder = getattr(cases, case)
    fit = builder(data_dir=data_dir) if case == "glmm_100k" else builder()
    return Prepared(fit=fit, summarize=_summary)


# --------------------------------------------------------------------------- comparison


def r_reference(shared: Path, name: str | None) -> dict | None:
    if name is None:
        return None
    path = shared / "ref" / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


# cases without a tight block whose model has one elsewhere (bigRR fits the same model)
TIGHT_FROM = {"qtlmas_polygenic_bigrr": "qtlmas_polygenic"}


def compare_with_r(ref: dict | None, info: dict, tight_ref: dict | None = None) -> str:
    """max relative difference of fixef, var_ranef, var_fix from R's fixed point
    (``tight`` block, of ``tight_ref`` when given; the default-conv fit where there is
    none)."""
    if not ref or ref.get("status") != "ok" or "fixef" not in info:
        return "—"
    holder = tight_ref or ref
    tight = holder.get("tight") if (holder.get("tight") or {}).get("status") == "ok" else None
    src = tight or ref
    fixef = src["fixef"] if isinstance(src["fixef"], list) else list(src["fixef"].values())
    ours, theirs = list(info["fixef"]), list(fixef)
    if ref.get("CAR.rho") is not None:
        ours += [info.get("car_rho", np.nan), info.get("car_tau", np.nan)]
        theirs += [src["CAR.rho"], src["CAR.tau"]]
    else:
        ours += info["var_ranef"]
        theirs += src["varRanef"]
    if src.get("varFix") is not None and info.get("var_fix") is not None:
        ours.append(info["var_fix"])
        theirs.append(src["varFix"])
    if len(ours) != len(theirs):
        return "shape differs"
    d = rel_diff(ours, theirs)
    return f"{d:.1e}" + ("" if tight else " (vs default fit)")


def r_default_vs_tight(ref: dict | None) -> str:
    """How far R's own default-conv fit is from its fixed point (same measure)."""
    tight = (ref or {}).get("tight") or {}
    if tight.get("status") != "ok" or tight.get("max_rel_change_vs_default") is None:
        return "—"
    return f"{tight['max_rel_change_vs_default']:.1e}"


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", help="the shared/ directory (default: $HGLM_SHARED or ../shared)")
    ap.add_argument("--only", help="comma-separated case names")
    ap.add_argument("--repeat", type=int, default=3, help="runs per case (median)")
    ap.add_argument("--threads", type=int, default=0,
                    help="limit BLAS/OpenMP/rayon threads of every fit (0: library defaults)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per case")
    ap.add_argument("--out", default=str(BENCH_DIR / "RESULTS_engine.md"))
    args = ap.parse_args(argv)

    shared = shared_dir(args.shared)
    selected = CASES
    if args.only:
        wanted = [s.strip() for s in args.only.split(",") if s.strip()]
        unknown = sorted(set(wanted) - {c for c, _, _ in CASES})
        if unknown:
            ap.error(f"unknown case(s): {', '.join(unknown)}")
        selected = [c for c in CASES if c[0] in wanted]
    data_dir = None
    if any(c == "glmm_100k" for c, _, _ in selected):
        data_dir = str(problem_data(shared))

    rows, raw = [], {}
    for case, ref_name, desc in selected:
        ref = r_reference(shared, ref_name)
        params = {"shared": str(shared), "data_dir": data_dir}
        m: Measurement = measure("bench_engine", case, params=params, repeat=args.repeat,
                                 timeout=args.timeout, env=thread_env(args.threads))
        r_time = ref.get("wall_time_s") if ref else None
        speedup = (r_time / m.seconds) if (r_time and m.seconds) else None
        if ref and ref.get("status") == "error":
            r_text = "error in R"
        else:
            r_text = fmt_seconds(r_time) if r_time else "—"
        conv = ""
        if "converged" in m.info:
            conv = f"{m.info['n_iter']}" + ("" if m.info["converged"] else " (not conv.)")
        note = m.message if m.status != "ok" else "; ".join(m.info.get("warnings", []))[:120]
        rows.append([case, desc, m.time_text(), fmt_mb(m.peak_mb), r_text, fmt_ratio(speedup),
                     conv, compare_with_r(ref, m.info, r_reference(shared, TIGHT_FROM.get(case))),
                     r_default_vs_tight(ref), note])
        raw[case] = {**m.to_dict(), "r_wall_time_s": r_time}
        print(f"{case:32s} {m.time_text():>18s}  peak {fmt_mb(m.peak_mb):>7s} MB  "
              f"R {r_text:>10s}  {fmt_ratio(speedup):>8s}  load {fmt_num(m.load_avg, 2)}  "
              f"{m.message[:80]}", flush=True)

    goal_lines = []
    for case, limit in GOALS.items():
        if case in raw:
            s = raw[case]["seconds"]
            ok = s is not None and s < limit
            goal_lines.append(f"- {case}: {fmt_seconds(s)} s against a goal of < {limit:g} s "
                              f"-> **{'met' if ok else 'NOT met'}**")
    text = "\n\n".join([
        "# hglm engine benchmark",
        f"Generated by `{command_line()}`. Seconds: wall time of the fit call, median"
        f" of {args.repeat} runs in a fresh process (data already loaded). Peak MB: peak "
        "resident memory during the first fit minus the process's memory after imports and "
        "data loading. R s: `wall_time_s` of the reference JSON (R 4.2.2, hglm 2.2-1, "
        "reference BLAS). Speed-up = R s / hglm s. hglm vs tight: max relative difference of "
        "fixef, varRanef and varFix (CAR: rho, tau) from R's fixed point (the JSON's `tight` "
        "block; bigrr: that of qtlmas_polygenic); R default vs tight: the same measure for "
        "R's own default-conv fit (issue 2 asks to be at least that close, or within 2e-3). "
        "iter: hglm's iterations. Timings are of a shared machine: see the load average.",
        "## Goals (issue 2)\n\n" + ("\n".join(goal_lines) or "- (goal cases not run)"),
        "## Results\n\n" + md_table(
            ["case", "model", "hglm s", "peak MB", "R s", "speed-up", "iter", "hglm vs tight",
             "R default vs tight", "notes"],
            rows, align="llrrrrrrrl"),
        "## Machine\n\n" + machine_text() + f"\n- threads: {threads_text(args.threads)}",
    ]) + "\n"
    Path(args.out).write_text(text)
    (out_dir() / f"{Path(args.out).stem}.json").write_text(json.dumps(raw, indent=1))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
