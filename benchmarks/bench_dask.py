"""hglm2 (or lmer) on a Dask DataFrame read from Parquet: wall time, peak memory and the
cost per pass, against the in-memory fit of a subsample.

Usage (from the repository root)::

    python benchmarks/bench_dask.py [--rows 2000000] [--rows-per-level 200]
                                    [--crossed 100] [--partitions 16]
                                    [--subsample 200000] [--workers 0]
                                    [--memory-limit 0] [--conv 1e-6] [--no-persist]
                                    [--lmer]

The model is a Poisson GLMM ``y ~ x + (1|g) + (1|h)``: ``g`` has rows / rows-per-level
levels (the partitioning term, eliminated partition by partition) and ``h`` a fixed
``--crossed`` levels (in the m x m Schur complement with the two fixed effects).  The rows
are written once to ``benchmarks/out/dask_data/rows_<n>.parquet`` in random order (so the
fit shuffles them by ``g``); the clock covers ``read_parquet`` and the fit.

``--lmer`` fits ``lmer`` (REML) to the same rows, the counts y taken as a Gaussian
response: one pass per evaluation of the profiled deviance ("rounds" are then its
evaluations).

``--no-persist`` fits with ``persist=False``: nothing is kept in the workers' memory,
every pass reads its partition from the Parquet files and encodes it again.  The rows
are then written as ``--partitions`` files, each holding its own range of ``g``'s levels
(in random order inside the file), generated file by file (the generator never holds
more than one file's rows), so that no shuffle is needed; with ``--workers k
--memory-limit MB`` this fits data larger than the memory the workers may use.

``--workers 0`` uses Dask's local threaded scheduler in this process (peak memory is this
process's); ``--workers k`` starts a LocalCluster of k worker processes with
``--memory-limit`` MB each (0: no limit; above the limit the workers spill to disk), and
reports the client's and the workers' peak memory.  The in-memory fit of a ``--subsample``
of the rows (pandas) gives the per-round cost to compare with; both are fitted at
``--conv``.  Writes ``benchmarks/out/RESULTS_dask.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from common import fmt_mb, md_table, out_dir, peak_mb, reset_peak, rss_mb

import hglm

FORMULA = "y ~ x + (1|g) + (1|h)"


def generate(path: Path, rows: int, rows_per_level: int, crossed: int, seed: int = 1) -> None:
    """The simulated rows, in random order, as one Parquet file with row groups."""
    rng = np.random.default_rng(seed)
    levels = max(rows // rows_per_level, 2)
    frame = _rows(rng, rows, 0, levels, rng.normal(0, 0.5, levels),
                  rng.normal(0, 0.3, crossed))
    frame.to_parquet(path, row_group_size=max(rows // 64, 1000))


def generate_by_level(
    path: Path, rows: int, rows_per_level: int, crossed: int, files: int, seed: int = 1
) -> None:
    """The same model as :func:`generate`, written as ``files`` Parquet files, file k
    holding the rows of its own range of g's levels, one file at a time."""
    rng = np.random.default_rng(seed)
    levels = max(rows // rows_per_level, files)
    b_g, b_h = rng.normal(0, 0.5, levels), rng.normal(0, 0.3, crossed)
    path.mkdir(parents=True)
    bounds = np.linspace(0, levels, files + 1).astype(int)
    for k in range(files):
        n_k = rows // files + (k < rows % files)
        _rows(rng, n_k, bounds[k], bounds[k + 1], b_g, b_h).to_parquet(
            path / f"part_{k:04d}.parquet")


def _rows(rng: np.random.Generator, n: int, first: int, stop: int, b_g: np.ndarray,
          b_h: np.ndarray) -> pd.DataFrame:
    """n rows with g uniform on [first, stop) and h on b_h's levels."""
    g = rng.integers(first, stop, n)
    h = rng.integers(0, b_h.shape[0], n)
    x = rng.normal(size=n)
    eta = 0.5 + 0.3 * x + b_g[g] + b_h[h]
    return pd.DataFrame({"y": rng.poisson(np.exp(eta)).astype(float), "x": x, "g": g, "h": h})


class Counter:
    """Counts the passes over the partitions (DaskPartitions.advance, .gather, .total)."""

    def __init__(self) -> None:
        from hglm.distributed.partitions import DaskPartitions

        self.passes = 0
        for name in ("advance", "gather", "total"):
            original = getattr(DaskPartitions, name)

            def counted(obj, *args, _original=original, **kwargs):
                self.passes += 1
                return _original(obj, *args, **kwargs)

            setattr(DaskPartitions, name, counted)


def _fit(frame: object, lmer: bool, conv: float, **kw: object) -> object:
    if lmer:
        return hglm.hglm2(FORMULA, data=frame, method="REML", **kw)
    return hglm.hglm2(FORMULA, data=frame, family="poisson", conv=conv, **kw)


def fit_dask(path: Path, partitions: int, conv: float, persist: bool, lmer: bool) -> dict:
    import dask.dataframe as dd

    import hglm.distributed.hglm2 as eql_route
    import hglm.distributed.marginal as lmer_route

    route = lmer_route if lmer else eql_route

    counter = Counter()
    setup = {}
    build = route.partition_frame

    def timed_build(*args, **kwargs):
        t = time.perf_counter()
        out = build(*args, **kwargs)
        setup["seconds"] = time.perf_counter() - t
        return out

    route.partition_frame = timed_build
    t0 = time.perf_counter()
    ddf = dd.read_parquet(path)
    if persist:
        ddf = ddf.repartition(npartitions=partitions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fit = _fit(ddf, lmer, conv, persist=persist)
    wall = time.perf_counter() - t0
    out = {"wall": wall, "setup": setup["seconds"], "n_iter": fit.n_iter,
           "passes": counter.passes, "fixef": fit.fixef.tolist(), "n": fit.n_obs,
           "partitions": ddf.npartitions}
    if lmer:
        return {**out, "theta": fit.theta.tolist(), "sigma": fit.sigma}
    return {**out, "var_ranef": fit.var_ranef.tolist(), "var_fix": fit.var_fix}


def fit_memory(path: Path, subsample: int, conv: float, lmer: bool) -> dict:
    if path.is_dir():  # a subsample of the files: whole levels of g, as in the Dask fit
        files = sorted(path.glob("*.parquet"))
        parts, total = [], 0
        for f in files:
            if total >= subsample:
                break
            parts.append(pd.read_parquet(f))
            total += len(parts[-1])
        frame = pd.concat(parts, ignore_index=True)
    else:
        frame = pd.read_parquet(path).iloc[:subsample]
    t0 = time.perf_counter()
    fit = _fit(frame, lmer, conv)
    wall = time.perf_counter() - t0
    return {"wall": wall, "n_iter": fit.n_iter, "n": fit.n_obs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=float, default=2e6)
    ap.add_argument("--rows-per-level", type=int, default=200)
    ap.add_argument("--crossed", type=int, default=100)
    ap.add_argument("--partitions", type=int, default=16)
    ap.add_argument("--subsample", type=float, default=2e5)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--memory-limit", type=float, default=0.0, help="MB per worker (0: none)")
    ap.add_argument("--conv", type=float, default=1e-6)
    ap.add_argument("--persist", action=argparse.BooleanOptionalAction, default=True,
                    help="keep the partitions in memory (--no-persist: read every pass)")
    ap.add_argument("--lmer", action="store_true", help="lmer (REML) instead of hglm2's EQL")
    args = ap.parse_args()
    rows = int(args.rows)
    name = f"rows_{rows}_{args.rows_per_level}_{args.crossed}"
    if args.persist:
        path = out_dir("dask_data") / f"{name}.parquet"
        if not path.exists():
            generate(path, rows, args.rows_per_level, args.crossed)
    else:
        path = out_dir("dask_data") / f"{name}_by_g_{args.partitions}"
        if not path.exists():
            generate_by_level(path, rows, args.rows_per_level, args.crossed, args.partitions)
    on_disk = sum(f.stat().st_size for f in ([path] if path.is_file() else path.iterdir()))
    client = None
    if args.workers:
        from dask.distributed import Client, LocalCluster

        limit = f"{args.memory_limit}MB" if args.memory_limit else None
        client = Client(LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                     memory_limit=limit, dashboard_address=":0"))
    base = rss_mb()
    reset_peak()
    dist = fit_dask(path, args.partitions, args.conv, args.persist, args.lmer)
    dist["peak_client_mb"] = peak_mb() - base
    if client is not None:
        dist["peak_workers_mb"] = sum(
            client.run(lambda: __import__("resource").getrusage(
                __import__("resource").RUSAGE_SELF).ru_maxrss / 1024).values()
        )
        client.close()
    reset_peak()
    base = rss_mb()
    mem = fit_memory(path, int(args.subsample), args.conv, args.lmer)
    mem["peak_mb"] = peak_mb() - base
    per_round_dist = (dist["wall"] - dist["setup"]) / dist["n_iter"]
    per_round_mem = mem["wall"] / mem["n_iter"]
    rows_table = [
        ["Dask", f"{dist['n']:,}", f"{dist['wall']:.1f}", f"{dist['setup']:.1f}",
         dist["n_iter"], dist["passes"], f"{per_round_dist:.2f}",
         f"{1e9 * (dist['wall'] - dist['setup']) / dist['passes'] / dist['n']:.0f}",
         fmt_mb(dist["peak_client_mb"])],
        ["pandas (subsample)", f"{mem['n']:,}", f"{mem['wall']:.1f}", "", mem["n_iter"], "",
         f"{per_round_mem:.2f}", "", fmt_mb(mem["peak_mb"])],
    ]
    print(md_table(["fit", "rows", "wall s", "set-up s", "rounds", "passes", "s / round",
                    "ns / row / pass", "peak MB"], rows_table))
    if "peak_workers_mb" in dist:
        print(f"workers' peak memory (sum): {fmt_mb(dist['peak_workers_mb'])}")
    # the rows as a pandas frame (4 columns of 8 bytes) and on disk
    print(f"data: {fmt_mb(32 * dist['n'] / 2**20)} MB as a pandas frame, "
          f"{fmt_mb(on_disk / 2**20)} MB of Parquet, {dist['partitions']} partitions, "
          f"persist={args.persist}, {'lmer (REML)' if args.lmer else 'hglm2 (EQL)'}")
    print(f"per round and row: Dask {1e9 * per_round_dist / dist['n']:.0f} ns, "
          f"in memory {1e9 * per_round_mem / mem['n']:.0f} ns")
    result = {"args": vars(args), "dask": dist, "memory": mem, "parquet_bytes": on_disk}
    (out_dir() / "RESULTS_dask.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
