"""Time the engine on vector-valued terms: make_system + factorize + rows_quadform +
inverse_diag_blocks (+ diag_inverse) for a 10^5-row problem with (1 + x | g), by
make_system's choice (the structured solver) against the general sparse solver, beside
(1 | g) alone, and the structured solver on scalar terms (p1l-, p2s-like).  Each time is
the best of ``--repeat`` runs.

Usage (from the repository root)::

    PYTHONPATH=src python benchmarks/bench_grouped.py [--repeat 3] [--rows 100000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from hglm.engine import Grouped, Indicator, inverse_diag_blocks, make_system
from hglm.engine.augmented import AugmentedSystem
from hglm.engine.sparse import SparseSystem


def grouped_problem(n: int, levels: int, seed: int = 0) -> tuple[np.ndarray, list]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    g = rng.integers(0, levels, n)
    return X, [Grouped.from_codes(g, np.column_stack([np.ones(n), x]), levels)]


def scalar_problem(n: int, levels: list[int], seed: int = 0) -> tuple[np.ndarray, list]:
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    return X, [Indicator.from_codes(rng.integers(0, m, n), None, m) for m in levels]


def run(system_of: Callable, X: np.ndarray, blocks: list, q: int) -> dict[str, float]:
    n = X.shape[0]
    rng = np.random.default_rng(1)
    w1 = rng.uniform(0.5, 2.0, n)
    total = sum(b.width if isinstance(b, Grouped) else b.n_levels for b in blocks)
    w2 = rng.uniform(0.5, 2.0, total)
    times = {}
    t = time.perf_counter()
    system = system_of(X, blocks)
    times["system"] = time.perf_counter() - t
    t = time.perf_counter()
    factor = system.factorize(w1, w2)
    times["factorize"] = time.perf_counter() - t
    t = time.perf_counter()
    factor.rows_quadform()
    times["rows_quadform"] = time.perf_counter() - t
    t = time.perf_counter()
    first = blocks[0]
    count = first.n_levels
    inverse_diag_blocks(factor, X.shape[1], q, count)
    times["inverse_diag_blocks"] = time.perf_counter() - t
    t = time.perf_counter()
    factor.diag_inverse()
    times["diag_inverse"] = time.perf_counter() - t
    times["total"] = sum(times.values())
    return times


def best(system_of, X, blocks, q, repeat) -> dict[str, float]:
    runs = [run(system_of, X, blocks, q) for _ in range(repeat)]
    return {k: min(r[k] for r in runs) for k in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--scalar-only", action="store_true")
    args = parser.parse_args()
    n = args.rows
    cases = [("p1l-like (1|g), 10000 levels", scalar_problem(n, [10_000]), 1,
              {"structured": AugmentedSystem}),
             ("p2s-like (1|a)+(1|b), 2000 x 500", scalar_problem(n, [2000, 500]), 1,
              {"structured": AugmentedSystem})]
    if not args.scalar_only:
        for levels in (1000, 10_000):
            cases.append((f"(1 + x | g), {levels} levels", grouped_problem(n, levels), 2,
                          {"make_system": make_system, "sparse": SparseSystem}))
            cases.append((f"(1 | g) for comparison, {levels} levels",
                          scalar_problem(n, [levels]), 1, {"make_system": make_system}))
    for name, (X, blocks), q, solvers in cases:
        for label, system_of in solvers.items():
            times = best(system_of, X, blocks, q, args.repeat)
            cells = "  ".join(f"{k} {v:7.3f}" for k, v in times.items())
            print(f"{name:36s} {label:12s} {cells}")


if __name__ == "__main__":
    main()
