"""The ``hglm`` command line.

``hglm demo`` simulates a data set like the vignette's (clustered data with a
heteroscedastic residual variance) and fits it.

``hglm fit data.csv "y ~ week + (1|ID)" --family binomial`` reads a CSV file with
pandas, fits the lme4-style formula with :func:`hglm.hglm2` and prints the R-style
summary; ``--json out.json`` writes every estimate (schema in :mod:`hglm.results.export`)
and ``--plot out.png`` saves the diagnostic figures (``out_1_leverages.png``, ...; see
:func:`hglm.results.plots.plot_fit`).  Bad input gives one line ``hglm: error: ...`` on stderr
and exit status 2; warnings are printed as ``hglm: warning: ...`` lines.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

import numpy as np

from .api import hglm, hglm2
from .results import HGLMResult, import_pyplot, plot_fit, save_figures
from .spec import as_family, plain_text


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


def _family(name: str, link: str | None, argument: str) -> object:
    """A family object from a name and an optional link (ValueError when unknown)."""
    fam = as_family(name, argument)
    return type(fam)(link=link) if link is not None else fam


def _rand_families(spec: str, link: str | None) -> object:
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise ValueError("--rand-family: give a family name, e.g. gaussian or gamma")
    fams = [_family(nm, link, "--rand-family") for nm in names]
    return fams[0] if len(fams) == 1 else fams


def _read_csv(path: str) -> object:
    import pandas as pd

    if not os.path.exists(path):
        raise ValueError(f"data: no such file: {path}")
    if not os.path.isfile(path):
        raise ValueError(f"data: not a file: {path}")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"data: cannot read {path} as CSV ({exc})") from exc


def _fit(args: argparse.Namespace) -> int:
    data = _read_csv(args.data)
    kwargs: dict[str, object] = {
        "family": _family(args.family, args.link, "--family"),
        "rand_family": _rand_families(args.rand_family, args.rand_link),
        "method": args.method,
        "conv": args.conv,
        "maxit": args.maxit,
        "calc_like": args.calc_like,
    }
    if args.fix_disp is not None:
        kwargs["fix_disp"] = args.fix_disp
    fit = hglm2(
        args.formula, data, disp=args.disp, weights=args.weights, offset=args.offset,
        **kwargs,
    )
    print(fit.summary(n_ranef=args.n_ranef))
    if args.json is not None:
        fit.to_json(args.json)
        print(f"\nEstimates written to {args.json}")
    if args.plot is not None:
        _save_plots(fit, args.plot)
    return 0


def _save_plots(fit: HGLMResult, path: str) -> None:
    plt = import_pyplot(backend="Agg")  # files only: never open windows from the command line
    figures = plot_fit(fit)
    try:
        files = save_figures(figures, path)
    finally:
        for fig in figures:
            plt.close(fig)
    print("Plots written to " + ", ".join(str(f) for f in files))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hglm", description="Hierarchical GLMs fitted by h-likelihood (EQL)."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="simulate a clustered heteroscedastic data set and fit it")
    demo.add_argument("--seed", type=int, default=1234, help="random seed (default 1234)")
    demo.set_defaults(run=_demo)

    fit = sub.add_parser(
        "fit",
        help="fit an lme4-style formula to a CSV file and print the summary",
        description="Fit an HGLM to a CSV file (hglm.hglm2) and print the R-style summary.",
        epilog='example: hglm fit bacteria.csv "y ~ week + (1|ID)" --family binomial',
    )
    fit.add_argument("data", help="CSV file with a header row")
    fit.add_argument("formula", help='lme4-style formula, e.g. "y ~ week + (1|ID)"')
    fit.add_argument("--family", default="gaussian",
                     help="response family: gaussian, binomial, poisson, gamma, "
                          "inverse_gaussian (default gaussian)")
    fit.add_argument("--link", default=None, help="link of the response family (default: R's)")
    fit.add_argument("--rand-family", default="gaussian",
                     help="random-effect family: gaussian, gamma, beta, inverse_gamma; "
                          "comma-separated for one per random term (default gaussian)")
    fit.add_argument("--rand-link", default=None, help="link of the random-effect family")
    fit.add_argument("--disp", default=None, help='residual-dispersion model, e.g. "~ x2 + x3"')
    fit.add_argument("--fix-disp", type=float, default=None, metavar="VALUE",
                     help="hold the residual dispersion at VALUE (e.g. 1 for binomial/poisson)")
    fit.add_argument("--weights", default=None, metavar="COLUMN", help="prior-weights column")
    fit.add_argument("--offset", default=None, metavar="COLUMN", help="offset column")
    fit.add_argument("--method", default="EQL", choices=["EQL", "EQL1", "HL11"],
                     help="EQL (default) or EQL1 (HL11 is EQL1)")
    fit.add_argument("--calc-like", action="store_true", help="compute the likelihoods")
    fit.add_argument("--conv", type=float, default=1e-6, help="convergence tolerance (1e-6)")
    fit.add_argument("--maxit", type=int, default=50, help="maximum iterations (50)")
    fit.add_argument("--n-ranef", type=int, default=3, metavar="N",
                     help="random effects shown per term (-1: all; default 3)")
    fit.add_argument("--json", default=None, metavar="FILE",
                     help="write every estimate as JSON (schema: hglm.results.export)")
    fit.add_argument("--plot", default=None, metavar="PATH",
                     help="save the diagnostic plots as PNG files: PATH is a directory or "
                          "a file prefix (out.png gives out_1_leverages.png, ...)")
    fit.set_defaults(run=_fit)
    return parser


_INPUT_ERRORS = (ValueError, OSError, KeyError, ImportError, NotImplementedError)
def _one_line(message: object) -> str:
    """A message on one line: ANSI colour codes removed, whitespace runs collapsed."""
    return " ".join(plain_text(message).split())


def _show_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int,
    file: object = None, line: str | None = None,
) -> None:
    print(f"hglm: warning: {_one_line(message)}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hglm`` console script.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 2 for bad input (one ``hglm: error:`` line on stderr).
        Set the environment variable ``HGLM_DEBUG=1`` to see tracebacks instead.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    debug = bool(os.environ.get("HGLM_DEBUG"))
    try:
        with warnings.catch_warnings():
            if not debug:
                warnings.showwarning = _show_warning
            return args.run(args)
    except BrokenPipeError:
        # Output piped into e.g. `head`: stop quietly.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("hglm: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if debug:
            raise
        message = _one_line(exc)
        if not isinstance(exc, _INPUT_ERRORS):  # a bug rather than bad input
            message = (
                f"{type(exc).__name__}: {message} (set HGLM_DEBUG=1 for a traceback and "
                "please report it)"
            )
        print(f"hglm: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
