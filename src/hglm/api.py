"""The public fitting functions ``hglm()`` and ``hglm2()``: from the user's arguments
to a fitted model.

The arguments are collected and checked here: the interface (matrices, or formulas and
their data), the controls completed by their defaults, the rows of ``weights`` and
``offset`` matched to the data's; the formula layer of ``spec`` builds the design.  The
fit itself (assemble, estimate, name) is :mod:`hglm.hglm_fit`'s, and a Dask DataFrame is
routed to :mod:`hglm.distributed`.  The docstrings of ``hglm()`` and ``hglm2()`` are
API.md's reference of the arguments.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse

from .distributed import is_dask_frame
from .hglm_fit import ENGINE_HOOKS, fit_arrays, fit_design
from .marginal_fit import marginal_controls
from .results import HGLMResult, MarginalResult
from .spec import (
    Family,
    align_covariances,
    align_rows,
    align_to_index,
    check_parentheses,
    check_unique_columns,
    design_from_formulas,
    design_from_lme4,
    dispersion_columns,
    response_family,
)

Array = np.ndarray
ArrayLike = Array | pd.DataFrame | pd.Series | Sequence[float]


def hglm(
    y: ArrayLike | None = None,
    X: ArrayLike | None = None,
    Z: ArrayLike | sparse.spmatrix | None = None,
    *,
    fixed: str | None = None,
    random: str | None = None,
    data: object | None = None,
    disp: str | None = None,
    rand_disp: str | dict[str, str] | None = None,
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
    nAGQ: int = 1,
    start: object | None = None,
    conv: float = 1e-6,
    maxit: int = 50,
    startval: ArrayLike | None = None,
    calc_like: bool = False,
    vcovmat: bool = False,
    bigrr: bool | None = None,
    dev_floor: str = "relative",
    accelerate: bool = True,
    verbose: bool | None = None,
) -> HGLMResult | MarginalResult:
    """Fit a hierarchical generalized linear model by EQL (R's ``hglm``), or by ML/REML.

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
    rand_disp : str or dict, optional
        Formula interface: the model of the random effects' dispersion (log link), on
        covariates constant within each level of the grouping factor, e.g. ``"~ region"``
        for every term, or ``{"school": "~ size"}`` by grouping factor.
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
        on the original (correlated) scale.  An entry may instead be a known precision
        ``hglm.Precision(Q)`` with Q = A^{-1} sparse (e.g. ``hglm.pedigree_precision``),
        fitted by the sparse solver without forming any q x q dense matrix; a
        scipy.sparse A whose inverse is as sparse (small connected components) is
        inverted block by block and fitted the same way.
    weights, offset : array-like (n,) or column name, optional
        Prior weights (positive) and offset of the linear predictor.
    fix_disp : float, optional
        Hold the residual dispersion at this value (e.g. 1 for binomial/Poisson).
    method : {"EQL", "EQL1", "ML", "REML"}
        EQL (h-likelihood, HL(0,1)), or EQL1: R's HL(1,1)-type correction of the fixed
        effects (DESIGN.md, "EQL1"; Gaussian random effects only, else EQL with a
        warning).  "HL11", the tutorial's name, is EQL1.  "ML" and "REML" maximise the
        (restricted) marginal likelihood as lme4's lmer and glmer do (exact for a linear
        mixed model, Laplace or quadrature otherwise; binomial and Poisson dispersion 1)
        and return a :class:`~hglm.results.MarginalResult`; the EQL controls (conv,
        maxit, startval, calc_like, vcovmat, bigrr, dev_floor, accelerate) do not apply.
    nAGQ : int
        ML of a GLMM: 1 Laplace, 0 fixed effects inside PIRLS, k > 1 adaptive
        Gauss-Hermite quadrature with k points (one scalar random term), as glmer.
    start : array-like or dict, optional
        ML/REML starting values: theta (lme4's order of the terms), or a dict with
        "theta" (and "disp_coef" for a GLMM's dispersion model).
    conv, maxit : float, int
        Stop when sum((eta_old - eta)^2) < conv * sum(eta^2) (R's rule), at most maxit
        iterations.
    startval : array-like, optional
        Starting values (fixed effects, random effects on the v scale, one dispersion per
        random term, then the residual dispersion unless ``fix_disp``), as in R; as in
        R, the residual dispersion may be left out (it then starts at 1) but for the
        Gaussian and Gamma families.
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
    dev_floor : {"relative", "absolute"}
        The floor of the deviance components before the dispersion GLMs: 1e-8 times
        their dispersion ("relative", the default), so that the estimates are
        equivariant to the units of y (y times c: variances times c^2, the same
        iterations), or 1e-8 whatever the units, as R's hglm ("absolute"), to reproduce
        R where its floor binds: R's floor makes the variances of a response measured in
        small units (Dyestuff's yield times 1e-6) several times too large, biases very
        small variance components (thousands of standardized genotype columns, lambda ~
        1e-5) and can hold a vanishing one away from zero.
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
    HGLMResult, or MarginalResult for method "ML" or "REML"
    """
    controls = marginal_controls(dict(
        family=family, rand_family=rand_family, link_disp=link_disp,
        x_rand_disp=x_rand_disp, link_rand_disp=link_rand_disp, rand_cov=rand_cov,
        fix_disp=fix_disp, method=method, nAGQ=nAGQ, start=start,
        conv=conv, maxit=maxit, startval=startval, calc_like=calc_like,
        vcovmat=vcovmat, bigrr=bigrr, dev_floor=dev_floor, accelerate=accelerate,
        verbose=verbose,
    ), _CONTROL_DEFAULTS)
    if fixed is not None:
        if y is not None or X is not None or Z is not None:
            raise ValueError("fixed: give either a formula (fixed, random, data) or y, X, Z")
        if rand_c is not None or x_disp is not None:
            raise ValueError("rand_c, x_disp: belong to the matrix interface; use disp=")
        fam = response_family(family)
        _check_formulas(fixed=fixed, random=random, disp=disp)
        data = _require_data(data)
        design = design_from_formulas(
            fixed, random, data, weights=_by_data_rows(weights, data, "weights"),
            offset=_by_data_rows(offset, data, "offset"), binomial=fam.name == "binomial",
            extra_columns=dispersion_columns(disp, rand_disp),
        )
        return fit_design(design, data, disp, controls, rand_disp)
    if disp is not None or rand_disp is not None:
        raise ValueError(
            "disp, rand_disp: are formulas of the formula interface; use x_disp and "
            "x_rand_disp with y, X, Z"
        )
    if isinstance(weights, str) or isinstance(offset, str):
        raise ValueError("weights, offset: column names need the formula interface (data=)")
    rows = align_rows(dict(y=y, X=X, Z=Z, weights=weights, offset=offset, x_disp=x_disp))
    return fit_arrays(rows["y"], rows["X"], rows["Z"], rand_c, rows["x_disp"],
                      rows["weights"], rows["offset"], None, controls)


def hglm2(
    formula: str,
    data: object,
    *,
    disp: str | None = None,
    rand_disp: str | dict[str, str] | None = None,
    weights: ArrayLike | str | None = None,
    offset: ArrayLike | str | None = None,
    cov: dict[str, object] | None = None,
    persist: bool = True,
    **kwargs: object,
) -> HGLMResult:
    """Fit an HGLM from an lme4-style formula (R's ``hglm2``).

    Parameters
    ----------
    formula : str
        E.g. ``"y ~ x1 + x2 + (1|z1) + (1|z2)"``; ``(0 + x|g)`` random slopes,
        ``(1|a/b)`` nesting.  As in lme4, ``(x|g)`` is one vector-valued term with
        correlated effects, and ``(x||g)`` the independent terms ``(1|g) + (0 + x|g)``
        (R's hglm2 reads ``(x|g)`` so: docs/from_r.md).
    data : DataFrame, dict of columns or dask.dataframe.DataFrame
        A Dask DataFrame is fitted on its partitions (docs/scale.md): EQL with
        intercept-only random-effect dispersions (``disp=`` with a log link), or
        ``method="ML"``/``"REML"`` with scalar Gaussian terms (an LMM; binomial(logit)
        or Poisson(log) by ML: the Laplace fit); weights and offset as column names.
    disp : str, optional
        Residual-dispersion model, e.g. ``"~ x3"``.
    rand_disp : str or dict, optional
        Random-effect dispersion model (see :func:`hglm`).
    weights, offset : array-like or column name, optional
    cov : dict, optional
        Known covariances by grouping factor, e.g. ``{"animal": A}``: the term's effects
        have covariance lambda * A.  A is a DataFrame indexed (rows and columns) by the
        level labels, which may include levels without observations (they are dropped:
        the model of y involves only the observed levels), or an array in sorted level
        order.  A known precision is given as ``hglm.Precision(Q)`` (e.g.
        ``hglm.pedigree_precision(animal, sire, dam)``, or a DataFrame or labelled sparse
        matrix): its levels without observations (ancestors) are kept as random effects
        and reported after the observed levels.
    persist : bool
        A Dask DataFrame only: keep the encoded partitions in the workers' memory
        between passes (default), or, False, read them from their source at every pass
        (data larger than the cluster's memory; docs/scale.md).
    **kwargs
        The other keyword arguments of :func:`hglm` (family, rand_family, fix_disp,
        method, nAGQ, start, conv, maxit, calc_like, ...).

    Returns
    -------
    HGLMResult, or MarginalResult for method "ML" or "REML"
    """
    for key in ("y", "X", "Z", "fixed", "random", "rand_c", "x_disp"):
        if key in kwargs:
            raise ValueError(f"{key}: is not an argument of hglm2; use the formula")
    controls = _controls(kwargs)
    fam = response_family(controls["family"])
    _check_formulas(formula=formula, disp=disp)
    if is_dask_frame(data):
        from .distributed.hglm2 import fit_hglm2_dask

        given = {**kwargs, "rand_disp": rand_disp, "cov": cov}
        return fit_hglm2_dask(formula, data, weights=weights, offset=offset, family=fam,
                              controls=controls, given=given, engine=ENGINE_HOOKS, disp=disp,
                              persist=persist)
    if persist is not True:
        raise ValueError("persist: applies to a Dask DataFrame only (a pandas frame is "
                         "in memory); drop it")
    data = _require_data(data)
    design = design_from_lme4(
        formula, data, weights=_by_data_rows(weights, data, "weights"),
        offset=_by_data_rows(offset, data, "offset"), binomial=fam.name == "binomial",
        extra_columns=dispersion_columns(disp, rand_disp),
    )
    if cov is not None:
        design.random, controls["rand_cov"] = align_covariances(cov, design.random)
        controls["rand_cov_labels"] = [f"cov[{t.group!r}]" for t in design.random]
    result = fit_design(design, data, disp, controls, rand_disp)
    if isinstance(result, MarginalResult):
        result.formula = formula
    return result


_CONTROL_DEFAULTS = dict(
    family="gaussian", rand_family="gaussian", link_disp="log", x_rand_disp=None,
    link_rand_disp="log", rand_cov=None, fix_disp=None, method="EQL", nAGQ=1, start=None,
    conv=1e-6, maxit=50,
    startval=None, calc_like=False, vcovmat=False, bigrr=None, dev_floor="relative",
    accelerate=True, verbose=None,
)


def _controls(kwargs: dict) -> dict:
    unknown = sorted(set(kwargs) - set(_CONTROL_DEFAULTS) - {"rand_cov_labels"})
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown argument")
    return marginal_controls({**_CONTROL_DEFAULTS, **kwargs}, _CONTROL_DEFAULTS)


def _require_data(data: object) -> object:
    if is_dask_frame(data):
        raise ValueError("data: a Dask DataFrame is fitted by hglm2 (an lme4-style formula, "
                         "docs/scale.md); use hglm2 or a pandas DataFrame")
    if data is None:
        raise ValueError("data: the formula interface needs a DataFrame (or dict of columns)")
    check_unique_columns(data, "data")
    return data


def _check_formulas(**formulas: str | None) -> None:
    """Formula arguments given as text must have their parentheses closed."""
    for argument, formula in formulas.items():
        if isinstance(formula, str):
            check_parentheses(formula, argument)


def _by_data_rows(value: object, data: object, argument: str) -> object:
    """A ``weights``/``offset`` argument in the order of a DataFrame's rows (by label)."""
    if isinstance(data, pd.DataFrame):
        return align_to_index(value, data.index, argument, "data")
    return value
