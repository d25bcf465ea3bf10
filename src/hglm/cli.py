"""The ``hglm`` command line.

``hglm demo`` simulates a data set like the vignette's (clustered data with a
heteroscedastic residual variance) and fits it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from .api import hglm


def simulate_heteroscedastic(
    n_clusters: int = 5, per_cluster: int = 20, seed: int = 1234
) -> dict[str, np.ndarray]:
    """The vignette's heteroscedastic LMM: y = mu + a_cluster + e, var(e) = exp(x_d).

    Returns a dict with y, cluster (int labels) and xd (0/1 covariate of the residual
    variance).
    """
    rng = np.random.default_rng(seed)
    n = n_clusters * per_cluster
    cluster = np.repeat(np.arange(1, n_clusters + 1), per_cluster)
    a = rng.normal(0.0, np.sqrt(0.2), n_clusters)
    xd = rng.binomial(1, 0.5, n).astype(float)
    e = rng.normal(0.0, np.sqrt(np.exp(xd)), n)
    return {"y": a[cluster - 1] + e, "cluster": cluster, "xd": xd}


def _demo(args: argparse.Namespace) -> int:
    data = simulate_heteroscedastic(seed=args.seed)
    n = data["y"].shape[0]
    levels = np.unique(data["cluster"])
    Z = (data["cluster"][:, None] == levels[None, :]).astype(float)
    print("Simulated: 5 clusters x 20 rows, residual variance exp(xd) (true coefficient 1),")
    print("cluster variance 0.2.  Fitting y ~ 1 + (1|cluster) with disp ~ 1 + xd ...\n")
    fit = hglm(
        y=data["y"],
        X=np.ones((n, 1)),
        Z=Z,
        x_disp=np.column_stack([np.ones(n), data["xd"]]),
    )
    print(fit.summary())
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hglm", description="Hierarchical GLMs fitted by h-likelihood (EQL)."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="simulate a clustered heteroscedastic data set and fit it")
    demo.add_argument("--seed", type=int, default=1234, help="random seed (default 1234)")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hglm`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, OSError) as exc:
        print(f"hglm: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
