"""How the cost of a fit grows with the number of rows at a fixed number of rows per level.

Usage (from the repository root)::

    python benchmarks/bench_scaling.py [--max-rows 1000000] [--models gauss_crossed,binomial]
                                       [--repeat 3] [--timeout 600] [--threads 0]
                                       [--profile] [--no-plot]

Two simulated models (fixed seeds, balanced designs, rows in random order), each at
n = 10^4, 3x10^4, 10^5, 3x10^5 and 10^6 rows:

* ``gauss_crossed``: Gaussian LMM ``y ~ x1 + (1|a) + (1|b)`` with two crossed random
  intercepts.  ``a`` has n/10 levels (10 rows per level, so it grows with n); ``b`` has a
  fixed 500 levels (n/500 rows per level).  The structured solver eliminates the diagonal
  block of the largest factor ``a`` first; what remains, the Schur complement of ``b`` and
  the fixed effects, is a dense 502 x 502 matrix at every size, so the work that grows with
  n is the O(n) assembly and the O(nnz) elimination of ``a``.  (Letting ``b`` grow as well
  would make the Schur complement grow, which measures a different thing.)
* ``binomial``: binomial-logit GLMM ``y ~ x1 + x2 + (1|g)`` with ``g`` having n/10 levels,
  fitted with ``fix_disp=1`` (the simulated model).

The true parameters are those of ``shared/bench/gen_data.py`` (p2 and p1).  Each size is
timed in a fresh process (``common.measure``): the data are simulated in the worker before
the clock starts, the fit ``hglm.hglm2(formula, data)`` is run ``--repeat`` times (median
reported) and the peak resident memory of the first run above the loaded process is
recorded.  A least-squares line through log(seconds) against log(rows) gives the scaling
exponent (1 = linear); it is reported over all sizes and over n >= 10^5, where fixed
per-fit overheads no longer dominate, and between the two largest sizes.  ``--profile``
(or any of these exponents above 1.15) runs cProfile on the largest size and lists the top
functions.

Writes ``benchmarks/RESULTS_scaling.md``, ``benchmarks/out/RESULTS_scaling.json`` and the
plot ``docs/benchmarks_scaling.png``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import math
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    BENCH_DIR,
    REPO_DIR,
    Measurement,
    Prepared,
    command_line,
    fit_summary,
    fmt_mb,
    fmt_num,
    fmt_seconds,
    machine_text,
    md_table,
    measure,
    out_dir,
    thread_env,
    threads_text,
)

SIZES = [10_000, 30_000, 100_000, 300_000, 1_000_000]
ROWS_PER_LEVEL = 10  # rows per level of the largest grouping factor
B_LEVELS = 500  # levels of the second, fixed-size factor of the crossed model
SEED = 20251121  # gen_data.py's base seed
SLOPE_ALERT = 1.15  # profile the largest size when an exponent exceeds this
PLOT = REPO_DIR / "docs" / "benchmarks_scaling.png"

MODELS: dict[str, dict[str, Any]] = {
    "gauss_crossed": {
        "index": 2, "formula": "y ~ x1 + (1|a) + (1|b)", "family": "gaussian",
        "label": "Gaussian LMM, (1|a) + (1|b): a n/10 levels, b 500 levels",
        "short": "Gaussian, crossed a x b",
    },
    "binomial": {
        "index": 1, "formula": "y ~ x1 + x2 + (1|g)", "family": "binomial", "fix_disp": 1,
        "label": "binomial-logit GLMM, (1|g): g n/10 levels",
        "short": "binomial, one factor g",
    },
}


# --------------------------------------------------------------------------- data


def _levels(rng: np.random.Generator, n: int, n_levels: int) -> np.ndarray:
    """Labels 1..n_levels, each exactly n // n_levels times, in random order."""
    assert n % n_levels == 0, (n, n_levels)
    return rng.permutation(np.repeat(np.arange(1, n_levels + 1), n // n_levels))


def simulate(model: str, n: int) -> Any:
    """The data of ``model`` at ``n`` rows (deterministic: seeded by model and n)."""
    import pandas as pd

    rng = np.random.default_rng([SEED, MODELS[model]["index"], n])
    x1 = rng.standard_normal(n)
    if model == "gauss_crossed":
        n_a = n // ROWS_PER_LEVEL
        a = _levels(rng, n, n_a)
        b = _levels(rng, n, B_LEVELS)
        ua = rng.normal(0.0, math.sqrt(0.5), n_a)
        ub = rng.normal(0.0, math.sqrt(0.25), B_LEVELS)
        y = 2.0 + 0.5 * x1 + ua[a - 1] + ub[b - 1] + rng.standard_normal(n)
        return pd.DataFrame({"y": y, "x1": x1, "a": a, "b": b})
    if model == "binomial":
        n_g = n // ROWS_PER_LEVEL
        g = _levels(rng, n, n_g)
        x2 = rng.binomial(1, 0.5, n).astype(float)
        u = rng.standard_normal(n_g)
        eta = -0.5 + 0.8 * x1 - 0.4 * x2 + u[g - 1]
        y = rng.binomial(1, 1.0 / (1.0 + np.exp(-eta))).astype(np.int64)
        return pd.DataFrame({"y": y, "x1": x1, "x2": x2, "g": g})
    raise KeyError(model)


def levels_text(model: str, n: int) -> str:
    if model == "gauss_crossed":
        return f"{n // ROWS_PER_LEVEL:,} x {B_LEVELS}"
    return f"{n // ROWS_PER_LEVEL:,}"


def fit_kwargs(model: str) -> dict[str, Any]:
    spec = MODELS[model]
    kw: dict[str, Any] = {"family": spec["family"]}
    if "fix_disp" in spec:
        kw["fix_disp"] = spec["fix_disp"]
    return kw


def prepare(case: str, n: int) -> Prepared:
    """Worker entry point (see common.py): simulate, then hand back the fit."""
    import hglm

    df = simulate(case, int(n))
    formula, kw = MODELS[case]["formula"], fit_kwargs(case)
    return Prepared(fit=lambda: hglm.hglm2(formula, data=df, **kw), summarize=fit_summary)


# --------------------------------------------------------------------------- analysis


def loglog_slope(ns: list[int], ys: list[float]) -> float | None:
    """Least-squares slope of log(y) on log(n); None with fewer than two points."""
    pts = [(math.log(n), math.log(y)) for n, y in zip(ns, ys, strict=True) if y and y > 0]
    if len(pts) < 2:
        return None
    x = np.array([p[0] for p in pts])
    y = np.array([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


def slopes(rows: list[dict]) -> dict[str, float | None]:
    ok = [r for r in rows if r["seconds"]]
    big = [r for r in ok if r["n"] >= 100_000]
    top = loglog_slope([r["n"] for r in ok[-2:]], [r["seconds"] for r in ok[-2:]])
    per_iter = [r for r in ok if r.get("n_iter")]
    mem = [r for r in ok if r.get("peak_mb")]
    return {
        "time_all": loglog_slope([r["n"] for r in ok], [r["seconds"] for r in ok]),
        "time_large": loglog_slope([r["n"] for r in big], [r["seconds"] for r in big]),
        "time_top": top if len(ok) >= 3 else None,  # the two largest sizes
        "time_per_iter": loglog_slope([r["n"] for r in per_iter],
                                      [r["seconds"] / r["n_iter"] for r in per_iter]),
        "memory": loglog_slope([r["n"] for r in mem], [r["peak_mb"] for r in mem]),
    }


def fmt_slope(s: float | None) -> str:
    return "—" if s is None else f"{s:.2f}"


def profile_fit(model: str, n: int, top: int = 15) -> str:
    """cProfile of one fit of ``model`` at ``n`` rows in this process (after one warm-up
    fit): the top functions by internal time, as text."""
    import hglm

    df = simulate(model, n)
    kw = fit_kwargs(model)
    hglm.hglm2(MODELS[model]["formula"], data=df, **kw)  # warm-up: imports, caches
    prof = cProfile.Profile()
    prof.enable()
    hglm.hglm2(MODELS[model]["formula"], data=df, **kw)
    prof.disable()

    def table(sort: str, *restrict: Any) -> str:
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf)
        if restrict and isinstance(restrict[0], str):
            # keep hglm's own functions (filter on the full path, then shorten it)
            stats.sort_stats(sort)
            keep = {k: v for k, v in stats.stats.items() if restrict[0] in k[0]}
            stats.stats = keep
            stats.fcn_list = [k for k in stats.fcn_list if k in keep]
            restrict = restrict[1:]
        stats.strip_dirs().sort_stats(sort).print_stats(*restrict)
        text = buf.getvalue()
        start = text.find("   ncalls")  # drop pstats' preamble
        return (text[start:] if start >= 0 else text).rstrip()

    return (f"top {top} by internal time:\n\n" + table("tottime", top)
            + f"\n\nhglm's own functions, top {top} by cumulative time:\n\n"
            + table("cumulative", "/hglm/", top))


def make_plot(results: dict[str, list[dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4.4))
    colors = {"gauss_crossed": "tab:blue", "binomial": "tab:orange"}
    all_n = [r["n"] for rows in results.values() for r in rows if r["seconds"]]
    for model, rows in results.items():
        ok = [r for r in rows if r["seconds"]]
        if not ok:
            continue
        c = colors.get(model)
        s = slopes(rows)
        ns = np.array([r["n"] for r in ok], float)
        for ax, key, slope in ((ax_t, "seconds", s["time_all"]),
                               (ax_m, "peak_mb", s["memory"])):
            vals = [r[key] for r in ok if r.get(key)]
            if len(vals) != len(ok):
                continue
            label = f"{MODELS[model]['short']}: slope {fmt_slope(slope)}"
            if key == "seconds" and s["time_large"] is not None:
                label += f" ({fmt_slope(s['time_large'])} for n >= 1e5)"
            ax.loglog(ns, vals, "o-", color=c, label=label)
            # slope-1 reference through the largest size's point
            ref = vals[-1] * ns / ns[-1]
            ax.loglog(ns, ref, ":", color=c, linewidth=1.2)
    for ax, ylabel, title in (
        (ax_t, "fit time, seconds (median of runs)", "Time"),
        (ax_m, "peak memory of the fit, MB", "Memory"),
    ):
        ax.plot([], [], ":", color="grey", label="slope 1 (through the largest size)")
        ax.set_xlabel("rows n (10 rows per level of the largest factor)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{title} vs rows, hglm.hglm2")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
        if all_n:
            ax.set_xlim(min(all_n) / 1.4, max(all_n) * 1.4)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-rows", type=float, default=1e6,
                    help="largest size to run (default 1e6)")
    ap.add_argument("--models", default=",".join(MODELS),
                    help=f"comma-separated, from {', '.join(MODELS)}")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0,
                    help="limit BLAS/OpenMP threads of every fit (0: library defaults)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per fit series")
    ap.add_argument("--profile", action="store_true",
                    help=f"profile the largest size even if no exponent exceeds {SLOPE_ALERT}")
    ap.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    ap.add_argument("--out", default=str(BENCH_DIR / "RESULTS_scaling.md"))
    ap.add_argument("--plot", default=str(PLOT), help="where to write the PNG")
    args = ap.parse_args(argv)

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise SystemExit(f"unknown model(s): {', '.join(unknown)}; known: {list(MODELS)}")
    sizes = [n for n in SIZES if n <= args.max_rows]
    if not sizes:
        raise SystemExit(f"--max-rows {args.max_rows:g} is below the smallest size {SIZES[0]}")

    t_start = time.monotonic()
    results: dict[str, list[dict]] = {}
    raw: dict[str, dict[str, Any]] = {}
    for model in models:
        rows = []
        for n in sizes:
            m: Measurement = measure("bench_scaling", model, params={"n": n},
                                     repeat=args.repeat, timeout=args.timeout,
                                     env=thread_env(args.threads))
            row = {"n": n, "seconds": m.seconds, "runs": len(m.times), "peak_mb": m.peak_mb,
                   "baseline_mb": m.baseline_mb, "n_iter": m.info.get("n_iter"),
                   "converged": m.info.get("converged"), "status": m.status,
                   "message": m.message, "time_text": m.time_text(),
                   "warnings": m.info.get("warnings", []), "load_avg": m.load_avg}
            rows.append(row)
            raw[f"{model}/{n}"] = m.to_dict()
            print(f"{model:14s} n={n:>9,d}  {m.time_text():>12s} s  iter {row['n_iter']}  "
                  f"fit peak {fmt_mb(m.peak_mb):>6s} MB  load {fmt_num(m.load_avg, 2)}  "
                  f"{m.message[:80]}", flush=True)
            if m.seconds is None:
                break  # a larger size would fail or time out as well
        results[model] = rows
    elapsed = time.monotonic() - t_start

    model_slopes = {model: slopes(rows) for model, rows in results.items()}
    profiles: dict[str, str] = {}
    for model, rows in results.items():
        s = model_slopes[model]
        steep = any(v is not None and v > SLOPE_ALERT
                    for v in (s["time_all"], s["time_large"], s["time_top"]))
        largest = max((r["n"] for r in rows if r["seconds"]), default=None)
        if largest and (steep or args.profile):
            print(f"profiling {model} at n={largest:,d} ...", flush=True)
            profiles[model] = profile_fit(model, largest)

    if not args.no_plot:
        make_plot(results, Path(args.plot))

    # ------------------------------------------------------------------ report
    table = []
    for model, rows in results.items():
        prev = None
        for r in rows:
            local = None
            if prev is not None and prev["seconds"] and r["seconds"]:
                local = math.log(r["seconds"] / prev["seconds"]) / math.log(r["n"] / prev["n"])
            prev = r
            per_iter = r["seconds"] / r["n_iter"] if (r["seconds"] and r["n_iter"]) else None
            us_row = r["seconds"] / r["n"] * 1e6 if r["seconds"] else None
            conv = "" if r["n_iter"] is None else (
                f"{r['n_iter']}" + ("" if r["converged"] else " (NOT converged)"))
            table.append([
                MODELS[model]["short"], f"{r['n']:,}", levels_text(model, r["n"]),
                r["time_text"], fmt_slope(local), fmt_seconds(per_iter), conv,
                "—" if us_row is None else f"{us_row:.2f}", fmt_mb(r["peak_mb"]),
                r["message"] if r["status"] != "ok" else "",
            ])
    slope_rows = [[MODELS[m]["short"], fmt_slope(s["time_all"]), fmt_slope(s["time_large"]),
                   fmt_slope(s["time_top"]), fmt_slope(s["time_per_iter"]),
                   fmt_slope(s["memory"])]
                  for m, s in model_slopes.items()]
    try:
        plot_rel = Path(args.plot).resolve().relative_to(REPO_DIR).as_posix()
    except ValueError:
        plot_rel = args.plot
    plot_link = Path(os.path.relpath(Path(args.plot).resolve(),
                                     Path(args.out).resolve().parent)).as_posix()
    design = "\n".join(
        f"- `{m}`: {MODELS[m]['label']}; `{MODELS[m]['formula']}`"
        + (", `fix_disp=1`" if "fix_disp" in MODELS[m] else "") for m in results)
    verdicts = []
    for model, s in model_slopes.items():
        fitted = max((v for v in (s["time_all"], s["time_large"]) if v is not None),
                     default=None)
        if fitted is None:
            continue
        word = ("super-linear" if fitted > SLOPE_ALERT else
                "linear" if fitted >= 0.85 else "sub-linear (fixed overheads still visible)")
        if s["time_top"] is not None and s["time_top"] > SLOPE_ALERT:
            word += (f", but super-linear between the two largest sizes (exponent "
                     f"{fmt_slope(s['time_top'])} > {SLOPE_ALERT})")
        verdicts.append(f"- {MODELS[model]['short']}: exponent {fmt_slope(s['time_all'])} "
                        f"(all sizes), {fmt_slope(s['time_large'])} (n >= 10^5) -> {word}")
    parts = [
        "# Scaling with the number of rows (issue 6)",
        f"Generated by `{command_line()}` in {elapsed:.0f} s. Each size is a simulated "
        "data set (fixed seeds, balanced levels in random order) with "
        f"{ROWS_PER_LEVEL} rows per level of the largest grouping factor:\n\n" + design
        + "\n\nThe crossed model's second factor keeps 500 levels at every size, so the "
        "Schur complement left after eliminating the diagonal block of `a` stays 502 x 502 "
        "and the growing work is the part that should be O(rows). Seconds: wall time of "
        f"`hglm.hglm2(formula, data)`, median of {args.repeat} runs in a fresh process with "
        "the data already simulated; fit MB: peak resident memory during the first fit "
        "minus the loaded process (see `benchmarks/common.py`); µs / row: seconds divided "
        "by rows, in microseconds (constant when the cost is linear); local exponent: "
        "log(time ratio) / log(rows ratio) against the size above.",
        "## Times\n\n" + md_table(
            ["model", "rows", "levels", "seconds", "local exponent", "s / iteration",
             "iterations", "µs / row", "fit MB", "notes"], table, align="lrrrrrrrrl"),
        "## Scaling exponents\n\nLeast-squares slope of log(y) against log(rows); 1 is "
        "linear.\n\n" + md_table(
            ["model", "time, all sizes", "time, n >= 10^5", "time, two largest sizes",
             "time per iteration", "fit memory"], slope_rows, align="lrrrrr")
        + "\n\n" + ("\n".join(verdicts) or "- (too few sizes for a slope)"),
        f"## Plot\n\n![time and memory against rows]({plot_link})\n\n"
        f"`{plot_rel}`: log-log axes, the dotted lines have slope 1 through each model's "
        "largest size.",
    ]
    if profiles:
        parts.append("## Profile of the largest size\n\n" + "\n\n".join(
            f"`{m}`, n = {max(r['n'] for r in results[m] if r['seconds']):,} "
            f"(cProfile):\n\n```\n{p}\n```"
            for m, p in profiles.items()))
    parts.append("## Machine\n\n" + machine_text()
                 + f"\n- threads: {threads_text(args.threads)}")
    text = "\n\n".join(parts) + "\n"
    Path(args.out).write_text(text)
    (out_dir() / f"{Path(args.out).stem}.json").write_text(json.dumps(
        {"sizes": sizes, "slopes": model_slopes, "rows": results, "raw": raw,
         "profiles": profiles}, indent=1, default=str))
    for model, s in model_slopes.items():
        print(f"{model:14s} slope all {fmt_slope(s['time_all'])}  n>=1e5 "
              f"{fmt_slope(s['time_large'])}  per-iter {fmt_slope(s['time_per_iter'])}  "
              f"memory {fmt_slope(s['memory'])}")
    print(f"\nwrote {args.out}" + ("" if args.no_plot else f" and {args.plot}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
