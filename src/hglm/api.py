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

from ._warn import warn
from .augmented import as_block
from .design import (
    ModelDesign,
    design_from_formulas,
    design_from_lme4,
    disp_design,
    formula_columns,
)
from .dhglm import DoubleModel, fit_double
from .eql import Options, Problem, RandomTermModel, fit_eql
from .families import Family, ResponseFamily, random_family, response_family
from .links import get_link
from .results import HGLMResult, Names
from .spatial import rotate_block

Array = np.ndarray
ArrayLike = Array | pd.DataFrame | pd.Series | Sequence[float]


def _column_names(obj: object, prefix: str, count: int) -> list[str]:
    if isinstance(obj, pd.DataFrame):
        return [str(c) for c in obj.columns]
    if isinstance(obj, pd.Series) and obj.name is not None:
        return [str(obj.name)]
    return [f"{prefix}{j + 1}" for j in range(count)]


def _positive_number(value: object, argument: str) -> float:
    """A finite positive float, else ValueError naming ``argument``."""
    if isinstance(value, str | bytes | bool):
        raise ValueError(f"{argument}: must be a positive number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{argument}: must be a positive number, got {value!r}") from None
    if not (np.isfinite(number) and number > 0):
        raise ValueError(f"{argument}: must be a positive number, got {value!r}")
    return number


def _finite_matrix(value: object, argument: str, n: int | None) -> Array:
    """A float 2-D array with n rows, finite."""
    try:
        arr = np.asarray(value.toarray() if sparse.issparse(value) else value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{argument}: expected numbers ({exc})") from exc
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
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"y: expected a vector, got an array of shape {arr.shape}")
    try:
        arr = arr.astype(float)
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
    fixed: str | None = None,
    random: str | None = None,
    data: object | None = None,
    disp: str | None = None,
    family: str | Family = "gaussian",
    rand_family: str | Family | Sequence[str | Family] = "gaussian",
    rand_c: Sequence[int] | None = None,
    x_disp: ArrayLike | None = None,
    link_disp: str = "log",
    x_rand_disp: ArrayLike | Sequence[ArrayLike | None] | None = None,
    link_rand_disp: str = "log",
    rand_cov: object | None = None,
    weights: ArrayLike | str | None = None,
    offset: ArrayLike | str | None = None,
    fix_disp: float | None = None,
    method: str = "EQL",
    conv: float = 1e-6,
    maxit: int = 50,
    startval: ArrayLike | None = None,
    calc_like: bool = False,
    vcovmat: bool = False,
    bigrr: bool | None = None,
    dev_floor: str = "absolute",
    accelerate: bool = True,
    verbose: bool | None = None,
) -> HGLMResult:
    """Fit a hierarchical generalized linear model by EQL (R's ``hglm``).

    Either the matrix interface (``y``, ``X``, ``Z``) or the formula interface
    (``fixed``, ``random``, ``data``) is used.

    Parameters
    ----------
    y : array-like (n,)
        Response.  Binomial: 0/1, booleans or proportions with ``weights`` = trials.
    X : array-like (n, p)
        Fixed-effect design (a DataFrame keeps its column names); must have full rank.
    Z : array-like or scipy.sparse (n, q)
        Random-effect design; sparse indicator columns stay sparse.
    fixed, random, data : str, str, DataFrame
        Formula interface: ``fixed="y ~ week"``, ``random="~ 1|ID"`` (or several
        parenthesized terms); ``data`` a DataFrame or dict of columns.  A proportion
        response is written ``"I(r/n) ~ ..."`` (or ``"r/n ~ ..."``) with ``weights="n"``.
        Rows with missing values in used columns are dropped with a warning.
    disp : str, optional
        Formula interface: the residual-dispersion model, e.g. ``"~ x2 + x3"``.
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
    rand_cov : list, optional
        Matrix interface: one entry per random term, None or a known covariance matrix A
        (q_k x q_k, positive definite) so that the term's effects have covariance
        lambda * A (pedigree or genomic relationships).  Reported ranef and se_ranef are
        on the original (correlated) scale.
    weights, offset : array-like (n,) or column name, optional
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
    calc_like : bool
        Compute the likelihoods (``fit.likelihood``) for model selection and ``lrt``.
    vcovmat : bool
        Compute the marginal covariance of y (``fit.vcov``).
    bigrr : bool, optional
        Solve in the n-dimensional space of the observations (R's bigRR), for a Gaussian
        response with Gaussian random effects and many more effects than observations.
        The estimates are the same; only the cost differs.  Default: used when the
        random effects outnumber the observations ten to one, or when dense random
        designs have more columns than rows (n <= 10,000).
    dev_floor : {"absolute", "relative"}
        Deviance components below 1e-8 are raised to 1e-8 before the dispersion GLMs, as
        R's hglm does ("absolute").  That floor biases very small variance components
        (e.g. of thousands of standardized genotype columns, lambda ~ 1e-5) and can hold a
        vanishing one away from zero; "relative" raises them to 1e-8 times their
        dispersion instead, which is scale-invariant and gives the exact REML optimum
        of such models.
    accelerate : bool
        Accelerate the EQL iteration (SQUAREM) and stop when the estimated remaining
        change of the linear predictor is below ``conv``: the same fixed point, reached
        sooner and closer.  False iterates and stops exactly as R's hglm does (plain
        rounds, stop at the first change below ``conv``), e.g. to reproduce R's printout.
    verbose : bool, optional
        True prints one line per iteration (iteration, convergence criterion,
        dispersions); False prints nothing.  By default, fits that run for more than two
        seconds show that progress on stderr when it is a terminal, and nothing otherwise.

    Returns
    -------
    HGLMResult
    """
    controls = dict(
        family=family, rand_family=rand_family, link_disp=link_disp,
        x_rand_disp=x_rand_disp, link_rand_disp=link_rand_disp, rand_cov=rand_cov,
        fix_disp=fix_disp,
        method=method, conv=conv, maxit=maxit, startval=startval, calc_like=calc_like,
        vcovmat=vcovmat, bigrr=bigrr, dev_floor=dev_floor, accelerate=accelerate,
        verbose=verbose,
    )
    if fixed is not None:
        if y is not None or X is not None or Z is not None:
            raise ValueError("fixed: give either a formula (fixed, random, data) or y, X, Z")
        if rand_c is not None or x_disp is not None:
            raise ValueError("rand_c, x_disp: belong to the matrix interface; use disp=")
        fam = response_family(family)
        design = design_from_formulas(
            fixed, random, _require_data(data), weights=weights, offset=offset,
            binomial=fam.name == "binomial", extra_columns=_disp_columns(disp),
        )
        return _fit_design(design, data, disp, controls)
    if disp is not None:
        raise ValueError("disp: is a formula of the formula interface; use x_disp with y, X, Z")
    if isinstance(weights, str) or isinstance(offset, str):
        raise ValueError("weights, offset: column names need the formula interface (data=)")
    return _fit(y, X, Z, rand_c, x_disp, weights, offset, None, controls)


def hglm2(
    formula: str,
    data: object,
    *,
    disp: str | None = None,
    weights: ArrayLike | str | None = None,
    offset: ArrayLike | str | None = None,
    cov: dict[str, object] | None = None,
    **kwargs: object,
) -> HGLMResult:
    """Fit an HGLM from an lme4-style formula (R's ``hglm2``).

    Parameters
    ----------
    formula : str
        E.g. ``"y ~ x1 + x2 + (1|z1) + (1|z2)"``; ``(0 + x|g)`` random slopes,
        ``(1|a/b)`` nesting.  Random terms are independent (hglm has no correlated
        random effects), so ``(x|g)`` means ``(1|g) + (0 + x|g)``.
    data : DataFrame or dict of columns
    disp : str, optional
        Residual-dispersion model, e.g. ``"~ x3"``.
    weights, offset : array-like or column name, optional
    cov : dict, optional
        Known covariances by grouping factor, e.g. ``{"animal": A}``: the term's effects
        have covariance lambda * A.  A is a DataFrame indexed (rows and columns) by the
        level labels, which may include levels without observations (they are dropped:
        the model of y involves only the observed levels), or an array in sorted level
        order.
    **kwargs
        The other keyword arguments of :func:`hglm` (family, rand_family, fix_disp,
        conv, maxit, calc_like, ...).

    Returns
    -------
    HGLMResult
    """
    for key in ("y", "X", "Z", "fixed", "random", "rand_c", "x_disp"):
        if key in kwargs:
            raise ValueError(f"{key}: is not an argument of hglm2; use the formula")
    controls = _controls(kwargs)
    fam = response_family(controls["family"])
    design = design_from_lme4(
        formula, _require_data(data), weights=weights, offset=offset,
        binomial=fam.name == "binomial", extra_columns=_disp_columns(disp),
    )
    if cov is not None:
        controls["rand_cov"] = _covariances_by_group(cov, design.random)
        controls["rand_cov_labels"] = [f"cov[{t.group!r}]" for t in design.random]
    return _fit_design(design, data, disp, controls)


def _covariances_by_group(cov: dict[str, object], terms: list) -> list[object | None]:
    """The ``cov`` dict as one entry per random term, ordered as the term's levels."""
    groups = [t.group for t in terms]
    unknown = sorted(set(cov) - set(groups))
    if unknown:
        raise ValueError(f"cov: no random term is grouped by {unknown[0]!r}; terms: {groups}")
    out: list[object | None] = []
    for t in terms:
        A = cov.get(t.group)
        if isinstance(A, pd.DataFrame):
            A = A.copy()
            A.index, A.columns = A.index.map(str), A.columns.map(str)
            missing = [lv for lv in t.levels if lv not in A.index or lv not in A.columns]
            if missing:
                raise ValueError(
                    f"cov[{t.group!r}]: has no row/column for level(s) {missing[:5]}"
                )
            A = A.loc[t.levels, t.levels].to_numpy(dtype=float)
        out.append(A)
    return out


_CONTROL_DEFAULTS = dict(
    family="gaussian", rand_family="gaussian", link_disp="log", x_rand_disp=None,
    link_rand_disp="log", rand_cov=None, fix_disp=None, method="EQL", conv=1e-6, maxit=50,
    startval=None, calc_like=False, vcovmat=False, bigrr=None, dev_floor="absolute",
    accelerate=True, verbose=None,
)


def _controls(kwargs: dict) -> dict:
    unknown = sorted(set(kwargs) - set(_CONTROL_DEFAULTS) - {"rand_cov_labels"})
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown argument")
    return {**_CONTROL_DEFAULTS, **kwargs}


def _require_data(data: object) -> object:
    if data is None:
        raise ValueError("data: the formula interface needs a DataFrame (or dict of columns)")
    return data


def _disp_columns(disp: str | None) -> list[str]:
    return [] if disp is None else formula_columns(disp)


def _fit_design(design: ModelDesign, data: object, disp: str | None, controls: dict) -> HGLMResult:
    """Fit a model built by the formula layer."""
    if not design.random:
        raise ValueError(
            "formula: an HGLM needs at least one random term, e.g. '(1|group)' in hglm2 "
            "or random='~ 1|group' in hglm; for a plain GLM use statsmodels"
        )
    x_disp, disp_terms = (None, []) if disp is None else disp_design(disp, data, design.rows)
    Z, rand_c, labels = _stack_terms(design.random)
    y = pd.Series(design.y, name=design.response_name)
    if disp_terms:
        fit = _fit_double_design(design, y, Z, rand_c, labels, x_disp, disp_terms, controls)
    else:
        fit = _fit(y, design.X, Z, rand_c, x_disp, design.weights, design.offset, labels,
                   controls)
    fit.design = design
    return fit


def _stack_terms(terms: list) -> tuple[sparse.csc_matrix, list[int], tuple[list, list]]:
    """Z, rand_c and the (effect names, term labels) of the formula layer's terms."""
    Z = sparse.hstack([t.Z for t in terms], format="csc")
    names = [nm for t in terms for nm in t.names]
    return Z, [len(t.levels) for t in terms], (names, [t.label for t in terms])


def _fit_double_design(
    design: ModelDesign,
    y: pd.Series,
    Z: sparse.csc_matrix,
    rand_c: list[int],
    labels: tuple[list, list],
    x_disp: pd.DataFrame,
    disp_terms: list,
    controls: dict,
) -> HGLMResult:
    """A double HGLM: random effects in the dispersion formula (module ``dhglm``)."""
    if controls["fix_disp"] is not None:
        raise ValueError("fix_disp: a double HGLM models the residual dispersion; drop it")
    z_disp, rand_c_disp, disp_labels = _stack_terms(disp_terms)
    model = DoubleModel(y, design.X, Z, rand_c, design.weights, design.offset, x_disp,
                        z_disp, rand_c_disp)

    def fit_one(y_, X_, Z_, rc, w, off, c):
        labels_ = labels if Z_ is Z else disp_labels
        return _fit(y_, X_, Z_, rc, None, w, off, labels_, c)

    return fit_double(model, fit_one, controls, conv=controls["conv"],
                      maxit=controls["maxit"])


def _fit(
    y: object,
    X: object,
    Z: object,
    rand_c: Sequence[int] | None,
    x_disp: object,
    weights: object,
    offset: object,
    random_labels: tuple[list[str], list[str]] | None,
    c: dict,
) -> HGLMResult:
    """Check the arrays and arguments, run the engine and name the result."""
    if y is None or X is None or Z is None:
        raise ValueError("y, X and Z: the matrix interface needs all three")
    fam = response_family(c["family"])
    y_arr, y_name = _response(y, fam)
    n = y_arr.shape[0]
    X_arr = _finite_matrix(X, "X", n)
    fixed_names = _column_names(X, "X.", X_arr.shape[1])
    if X_arr.shape[1] == 0:
        raise ValueError("X: has no columns; include at least an intercept")
    _check_full_rank(X_arr, fixed_names, "X")
    z_blocks = _split_z(Z, rand_c, n)
    sizes = [b.shape[1] for b in z_blocks]
    rand_fams = _rand_families(c["rand_family"], len(z_blocks))

    w = np.ones(n) if weights is None else _vector(weights, "weights", n)
    if np.any(w <= 0):
        raise ValueError("weights: prior weights must be positive")
    off = np.zeros(n) if offset is None else _vector(offset, "offset", n)
    fix_disp = None if c["fix_disp"] is None else _positive_number(c["fix_disp"], "fix_disp")
    _check_controls(c["method"], c["conv"], c["maxit"])
    if c["dev_floor"] not in ("absolute", "relative"):
        raise ValueError(f"dev_floor: must be 'absolute' or 'relative', got {c['dev_floor']!r}")
    if c["calc_like"] and fam.fixed_dispersion and fix_disp is None:
        raise ValueError(
            f"calc_like: likelihoods are not defined for the {fam.name} family with an "
            "estimated (quasi-likelihood) dispersion; set fix_disp=1 to compute them"
        )

    xd_arr, disp_names = None, None
    if x_disp is not None:
        xd_arr = _finite_matrix(x_disp, "x_disp", n)
        disp_names = _column_names(x_disp, "", xd_arr.shape[1])
        _check_full_rank(xd_arr, disp_names, "x_disp")
    rd_link = get_link(c["link_rand_disp"], "link_rand_disp")
    rand_disp = _x_rand_disp(c["x_rand_disp"], sizes)
    rd_links = [rd_link] * len(sizes)
    transforms: list[Array | None] = [None] * len(sizes)
    for k, f in enumerate(rand_fams):
        if f.spatial is not None:
            if rand_disp[k][0] is not None:
                raise ValueError(
                    f"x_rand_disp[{k}]: a {f.name} term has its own dispersion model "
                    "(on the eigenvalues of D)"
                )
            z_blocks[k] = rotate_block(f.spatial, z_blocks[k], "Z")
            rand_disp[k] = (f.spatial.disp_design, ["(Intercept)", "eigenvalue"])
            rd_links[k] = f.spatial.disp_link
            transforms[k] = f.spatial.vectors
    cov_factors = _covariance_factors(c["rand_cov"], sizes, rand_fams, c.get("rand_cov_labels"))
    for k, L in enumerate(cov_factors):
        if L is not None:
            z_blocks[k] = _times(z_blocks[k], L)
            transforms[k] = L
    terms = [
        RandomTermModel(f, xd, lk, tr)
        for f, (xd, _), lk, tr in zip(rand_fams, rand_disp, rd_links, transforms, strict=True)
    ]
    problem = Problem(
        y_arr, X_arr, [as_block(b) for b in z_blocks], terms, fam, w, off, xd_arr,
        get_link(c["link_disp"], "link_disp"), fix_disp,
    )
    startval = c["startval"]
    method = _effective_method(c["method"], rand_fams)
    options = Options(
        conv=float(c["conv"]), maxit=int(c["maxit"]),
        startval=None if startval is None else np.asarray(startval, dtype=float),
        verbose=c["verbose"], hl_correction=method == "EQL1", bigrr=c["bigrr"],
        dev_floor=c["dev_floor"], accelerate=bool(c["accelerate"]),
    )
    if random_labels is None:
        random_labels = (
            _column_names(Z, "Z.", sum(sizes)), [f"Random{k + 1}" for k in range(len(sizes))]
        )
    names = Names(
        fixed_names, random_labels[0], random_labels[1], disp_names,
        [nm for _, nm in rand_disp], y_name,
    )
    return HGLMResult(
        fit_eql(problem, options), names, method, calc_like=c["calc_like"],
        vcovmat=c["vcovmat"],
    )


def _times(Zk: object, L: Array) -> Array:
    return np.asarray(Zk @ L) if sparse.issparse(Zk) else np.asarray(Zk) @ L


def _covariance_factors(
    rand_cov: object, sizes: list[int], rand_fams: list, labels: list[str] | None = None
) -> list[Array | None]:
    """Cholesky factors L (A = L L') of the known covariances, one entry per term.

    ``labels`` names the entries in error messages (default ``rand_cov[k]``; the formula
    interface passes ``cov['group']``)."""
    k = len(sizes)
    if rand_cov is None:
        return [None] * k
    items = list(rand_cov) if isinstance(rand_cov, list | tuple) else [rand_cov]
    if len(items) != k:
        raise ValueError(f"rand_cov: got {len(items)} entries for {k} random terms")
    labels = labels or [f"rand_cov[{j}]" for j in range(k)]
    out = []
    for A, q_k, fam, name in zip(items, sizes, rand_fams, labels, strict=True):
        if A is None:
            out.append(None)
            continue
        if not fam.is_gaussian or fam.spatial is not None:
            raise ValueError(f"{name}: a known covariance needs a Gaussian random term")
        mat = _finite_matrix(A, name, None)
        if mat.shape != (q_k, q_k):
            raise ValueError(
                f"{name}: must be {q_k} x {q_k} (one row and column per random effect of "
                f"the term), got {mat.shape[0]} x {mat.shape[1]}"
            )
        if not np.allclose(mat, mat.T, rtol=1e-10, atol=1e-12 * np.abs(mat).max()):
            raise ValueError(f"{name}: must be symmetric")
        try:
            out.append(np.linalg.cholesky(mat))
        except np.linalg.LinAlgError:
            raise ValueError(f"{name}: must be positive definite") from None
    return out


def _effective_method(method: str, rand_fams: list) -> str:
    """EQL1 corrects Gaussian random effects only; otherwise EQL is used, as R does."""
    if method == "EQL1" and not all(f.is_gaussian for f in rand_fams):
        warn(
            "method: EQL1 is defined for Gaussian random effects only; fitting by EQL",
            UserWarning,
        )
        return "EQL"
    if method == "EQL1":
        warn(
            "method: EQL1 applies the HL(1,1) correction of the fixed effects derived from "
            "the adjusted profile likelihood p_v(h) (DESIGN.md); it does not yet reproduce "
            "R's hglm EQL1 estimates",
            UserWarning,
        )
    return method


def _check_controls(method: str, conv: float, maxit: int) -> None:
    if method not in ("EQL", "EQL1"):
        raise ValueError(f"method: must be 'EQL' or 'EQL1', got {method!r}")
    _positive_number(conv, "conv")
    if isinstance(maxit, bool) or not isinstance(maxit, int | np.integer) or maxit < 1:
        raise ValueError(f"maxit: must be a whole number of at least 1, got {maxit!r}")
