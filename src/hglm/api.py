"""The public fitting functions: argument checking and names around the engine.

``hglm(y=, X=, Z=, ...)`` is the matrix interface of API.md.  The formula interfaces
build the same matrices (module ``design``) and come here too.  Every argument is
checked before the engine sees it; bad input raises ``ValueError`` naming the argument.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from .augmented import as_block
from .eql import Options, Problem, RandomTermModel, fit_eql
from .families import Family, ResponseFamily, random_family, response_family
from .links import get_link
from .results import HGLMResult, Names

Array = np.ndarray
ArrayLike = Array | pd.DataFrame | pd.Series | Sequence[float]


def _column_names(obj: object, prefix: str, count: int) -> list[str]:
    if isinstance(obj, pd.DataFrame):
        return [str(c) for c in obj.columns]
    if isinstance(obj, pd.Series) and obj.name is not None:
        return [str(obj.name)]
    return [f"{prefix}{j + 1}" for j in range(count)]


def _finite_matrix(value: object, argument: str, n: int | None) -> Array:
    """A float 2-D array with n rows, finite."""
    arr = np.asarray(value.toarray() if sparse.issparse(value) else value, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{argument}: expected a 2-D matrix, got {arr.ndim} dimensions")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{argument}: has {arr.shape[0]} rows but y has {n} values")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{argument}: contains missing (NaN) or infinite values")
    return arr


def _vector(value: object, argument: str, n: int) -> Array:
    try:
        arr = np.asarray(value, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{argument}: expected numbers ({exc})") from exc
    if arr.shape[0] != n:
        raise ValueError(f"{argument}: has length {arr.shape[0]} but y has {n} values")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{argument}: contains missing (NaN) or infinite values")
    return arr


def _check_full_rank(X: Array, names: list[str], argument: str) -> None:
    rank = np.linalg.matrix_rank(X)
    if rank < X.shape[1]:
        _, r = np.linalg.qr(X)
        tol = np.abs(np.diag(r)).max() * max(X.shape) * np.finfo(float).eps
        bad = [names[j] for j in range(X.shape[1]) if abs(r[j, j]) <= tol]
        raise ValueError(
            f"{argument}: is rank deficient (rank {rank} < {X.shape[1]} columns); "
            f"drop linearly dependent columns such as {bad or names[-1:]}"
        )


def _split_z(Z: object, rand_c: Sequence[int] | None, n: int) -> list[Array | sparse.spmatrix]:
    if sparse.issparse(Z):
        Zm = sparse.csc_matrix(Z, dtype=float)
        if Zm.shape[0] != n:
            raise ValueError(f"Z: has {Zm.shape[0]} rows but y has {n} values")
        if not np.all(np.isfinite(Zm.data)):
            raise ValueError("Z: contains missing (NaN) or infinite values")
    else:
        Zm = _finite_matrix(Z, "Z", n)
    q = Zm.shape[1]
    if q == 0:
        raise ValueError("Z: has no columns; an HGLM needs at least one random effect")
    if rand_c is None:
        rand_c = [q]
    sizes = [int(c) for c in rand_c]
    if any(c <= 0 for c in sizes) or sum(sizes) != q:
        raise ValueError(
            f"rand_c: the numbers of columns per random term {sizes} must be positive and "
            f"sum to the {q} columns of Z"
        )
    ends = np.cumsum(sizes)
    return [Zm[:, e - s : e] for s, e in zip(sizes, ends, strict=True)]


def _rand_families(rand_family: object, k: int) -> list:
    specs = rand_family if isinstance(rand_family, list | tuple) else [rand_family] * k
    if len(specs) != k:
        raise ValueError(f"rand_family: got {len(specs)} families for {k} random terms")
    return [random_family(s, "rand_family") for s in specs]


def _response(y: object, family: ResponseFamily) -> tuple[Array, str]:
    name = str(y.name) if isinstance(y, pd.Series) and y.name is not None else "y"
    arr = np.asarray(y)
    if arr.dtype == bool:
        arr = arr.astype(float)
    try:
        arr = arr.astype(float).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"y: expected numbers ({exc})") from exc
    if not np.all(np.isfinite(arr)):
        raise ValueError("y: contains missing (NaN) or infinite values")
    problem = family.support_error(arr)
    if problem:
        raise ValueError(f"y: {problem}")
    return arr, name


def _x_rand_disp(x_rand_disp: object, sizes: list[int]) -> list[tuple[Array | None, list | None]]:
    k = len(sizes)
    if x_rand_disp is None:
        return [(None, None)] * k
    items = x_rand_disp if isinstance(x_rand_disp, list | tuple) else [x_rand_disp]
    if len(items) != k:
        raise ValueError(f"x_rand_disp: got {len(items)} designs for {k} random terms")
    out = []
    for j, (item, q_k) in enumerate(zip(items, sizes, strict=True)):
        if item is None:
            out.append((None, None))
            continue
        arr = _finite_matrix(item, f"x_rand_disp[{j}]", q_k)
        names = _column_names(item, "", arr.shape[1])
        _check_full_rank(arr, names, f"x_rand_disp[{j}]")
        out.append((arr, names))
    return out


def hglm(
    y: ArrayLike | None = None,
    X: ArrayLike | None = None,
    Z: ArrayLike | sparse.spmatrix | None = None,
    *,
    family: str | Family = "gaussian",
    rand_family: str | Family | Sequence[str | Family] = "gaussian",
    rand_c: Sequence[int] | None = None,
    x_disp: ArrayLike | None = None,
    link_disp: str = "log",
    x_rand_disp: ArrayLike | Sequence[ArrayLike | None] | None = None,
    link_rand_disp: str = "log",
    weights: ArrayLike | None = None,
    offset: ArrayLike | None = None,
    fix_disp: float | None = None,
    method: str = "EQL",
    conv: float = 1e-6,
    maxit: int = 50,
    startval: ArrayLike | None = None,
    calc_like: bool = False,
    vcovmat: bool = False,
    bigrr: bool = False,
    verbose: bool = False,
) -> HGLMResult:
    """Fit a hierarchical generalized linear model by EQL (R's ``hglm``).

    Parameters
    ----------
    y : array-like (n,)
        Response.  Binomial: 0/1, booleans or proportions with ``weights`` = trials.
    X : array-like (n, p)
        Fixed-effect design (a DataFrame keeps its column names); must have full rank.
    Z : array-like or scipy.sparse (n, q)
        Random-effect design; sparse indicator columns stay sparse.
    family : str or Family
        Response family, e.g. ``"binomial"`` or ``hglm.Gamma(link="log")``.
    rand_family : str, Family or list
        Random-effect family, one for all terms or one per term.
    rand_c : list of int, optional
        Columns of Z per random term (R's RandC); default one term.
    x_disp, link_disp : optional
        Design and link of the residual-dispersion model (R's X.disp).
    x_rand_disp, link_rand_disp : optional
        Design (one per term, q_k rows) and link of the random-effect dispersion models.
    weights, offset : array-like (n,), optional
        Prior weights (positive) and offset of the linear predictor.
    fix_disp : float, optional
        Hold the residual dispersion at this value (e.g. 1 for binomial/Poisson).
    method : {"EQL", "EQL1"}
    conv, maxit : float, int
        Stop when sum((eta_old - eta)^2) < conv * sum(eta^2) (R's rule), at most maxit
        iterations.
    startval : array-like, optional
        Starting values (fixed effects, random effects on the v scale, one dispersion per
        random term, then the residual dispersion unless ``fix_disp``), as in R.
    calc_like, vcovmat, bigrr : bool
        Likelihoods, marginal covariance of y, the p >> n path (later releases).
    verbose : bool
        Print one line per iteration.

    Returns
    -------
    HGLMResult
    """
    if y is None or X is None or Z is None:
        raise ValueError("y, X and Z: the matrix interface needs all three")
    fam = response_family(family)
    y_arr, y_name = _response(y, fam)
    n = y_arr.shape[0]
    X_arr = _finite_matrix(X, "X", n)
    fixed_names = _column_names(X, "X.", X_arr.shape[1])
    if X_arr.shape[1] == 0:
        raise ValueError("X: has no columns; include at least an intercept")
    _check_full_rank(X_arr, fixed_names, "X")
    z_blocks = _split_z(Z, rand_c, n)
    sizes = [b.shape[1] for b in z_blocks]
    random_names = _column_names(Z, "Z.", sum(sizes))
    rand_fams = _rand_families(rand_family, len(z_blocks))

    w = np.ones(n) if weights is None else _vector(weights, "weights", n)
    if np.any(w <= 0):
        raise ValueError("weights: prior weights must be positive")
    off = np.zeros(n) if offset is None else _vector(offset, "offset", n)
    if fix_disp is not None and not (np.isfinite(fix_disp) and fix_disp > 0):
        raise ValueError(f"fix_disp: must be a positive number, got {fix_disp!r}")
    _check_controls(method, conv, maxit, calc_like, vcovmat, bigrr)

    xd_arr, disp_names = None, None
    if x_disp is not None:
        xd_arr = _finite_matrix(x_disp, "x_disp", n)
        disp_names = _column_names(x_disp, "", xd_arr.shape[1])
        _check_full_rank(xd_arr, disp_names, "x_disp")
    rd_link = get_link(link_rand_disp, "link_rand_disp")
    rand_disp = _x_rand_disp(x_rand_disp, sizes)
    terms = [
        RandomTermModel(f, xd, rd_link) for f, (xd, _) in zip(rand_fams, rand_disp, strict=True)
    ]
    problem = Problem(
        y_arr, X_arr, [as_block(b) for b in z_blocks], terms, fam, w, off, xd_arr,
        get_link(link_disp, "link_disp"), None if fix_disp is None else float(fix_disp),
    )
    options = Options(
        conv=float(conv), maxit=int(maxit),
        startval=None if startval is None else np.asarray(startval, dtype=float),
        verbose=verbose,
    )
    names = Names(
        fixed_names, random_names, [f"Random{k + 1}" for k in range(len(z_blocks))],
        disp_names, [nm for _, nm in rand_disp], y_name,
    )
    return HGLMResult(fit_eql(problem, options), names, method)


def _check_controls(
    method: str, conv: float, maxit: int, calc_like: bool, vcovmat: bool, bigrr: bool
) -> None:
    if method not in ("EQL", "EQL1"):
        raise ValueError(f"method: must be 'EQL' or 'EQL1', got {method!r}")
    if method == "EQL1":
        raise NotImplementedError("method='EQL1' is not available yet")
    if not (np.isfinite(conv) and conv > 0):
        raise ValueError(f"conv: must be a positive number, got {conv!r}")
    if int(maxit) < 1:
        raise ValueError(f"maxit: must be at least 1, got {maxit!r}")
    for flag, name in ((calc_like, "calc_like"), (vcovmat, "vcovmat"), (bigrr, "bigrr")):
        if flag:
            raise NotImplementedError(f"{name}=True is not available yet")
