"""Ordinal and nominal mixed models: mixcat's ``npmlt`` (mass-point random effects) and
ordinal's ``clmm`` (Gaussian random intercept), with R's argument names."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .fit import (
    NPML_SE_KINDS,
    check_clmm_nagq,
    fit_clmm,
    fit_clmm_vector,
    fit_npml,
    npml_estimates,
)
from .results import CLMMResult, NPMLTResult
from .spec import CUMULATIVE_LINKS, clmm_design, ordinal_design

NPMLT_LINKS = ("clogit", "blogit")
AUTO_K_MAX = 6


def _check_k(k: object, n_clusters: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a whole number of mass points or 'auto' (k >= 1), "
                         f"not {k!r}")
    if k > n_clusters:
        raise ValueError(f"k = {k} mass points exceeds the number of clusters "
                         f"({n_clusters}); choose k <= {n_clusters}")
    return int(k)


def npmlt(
    formula: str,
    data: pd.DataFrame,
    random: str | None = None,
    id: str | None = None,
    k: int | str = 1,
    formula_npo: str | None = None,
    link: str = "clogit",
    eb: bool | None = None,
    se: str = "opg",
    EB: bool | None = None,
    tol: float = 1e-8,
    maxit: int = 500,
) -> NPMLTResult:
    """Ordinal or nominal mixed model with a nonparametric (mass-point) random-effect
    distribution, as mixcat's ``npmlt``.

    Model: F^{-1}(P(y <= r | b_i)) = alpha_r + x'beta + x_npo'gamma_r + z'b_i (npmlt's
    sign; ``link="blogit"``: log P(y = r)/P(y = q+1) with the same right-hand side), b_i
    one of k points with masses summing to 1 and mean 0.

    Parameters
    ----------
    formula : str
        ``y ~ covariates``; y takes 1..q+1 (or is an ordered Categorical).
    data : DataFrame
    random : str, optional
        One-sided formula of the random covariates (``"~ 1"``, ``"~ 1 + trt"``); each
        must be in ``formula`` or ``formula_npo`` (the mean is constrained to 0).
    id : str
        The cluster column.
    k : int or "auto"
        Number of mass points; 1 is the model without random effects.  "auto" fits
        k = 1, 2, ... while BIC improves and the fit is not degenerate, and keeps the best
        (its table: ``fit.k_table``).
    formula_npo : str, optional
        One-sided formula of the covariates with category-specific coefficients.
    link : {"clogit", "blogit"}
        Cumulative or baseline-category logit.
    eb : bool, default False
        Attach the empirical Bayes estimates E[b_i | y_i] (``fit.eb``, also
        ``fit.ranef``) and the posterior masses P(b_i = a_l | y_i) (``fit.posterior``);
        without it those attributes raise AttributeError saying how to ask for them.
        Conditional predictions (``fit.fitted``, ``predict(conditional=True)``) do not
        need it.
    se : {"opg", "observed"}
        npmlt's outer product of the cluster scores (default), or the observed
        information.
    EB : bool, optional
        mixcat's spelling of ``eb`` (give one of the two).
    tol, maxit : Newton's gradient tolerance and iterations per start.

    Returns
    -------
    NPMLTResult
    """
    if link not in NPMLT_LINKS:
        raise ValueError(f"link must be one of {', '.join(NPMLT_LINKS)}, not {link!r}")
    if se not in NPML_SE_KINDS:
        raise ValueError(f"se must be one of {', '.join(NPML_SE_KINDS)}, not {se!r}")
    if id is None:
        raise ValueError("id: name the column of the clusters (id='id')")
    eb = _check_eb(eb, EB)
    design = ordinal_design(formula, data, id=id, random=random, formula_npo=formula_npo,
                            cumulative=link == "clogit")
    call = _call(formula, formula_npo, random, id, k, link, eb)
    if isinstance(k, str) and k == "auto":
        return _auto_k(design, se, eb, tol, maxit, call)
    k = _check_k(k, design.n_clusters)
    fit = fit_npml(design, k, tol=tol, maxit=maxit)
    return NPMLTResult(design, fit, npml_estimates(fit, se), k, se, call, eb=eb)


def _check_eb(eb: bool | None, EB: bool | None) -> bool:
    """npmlt's ``eb`` flag, spelt ``eb`` or (mixcat's) ``EB``, not both."""
    if eb is not None and EB is not None:
        raise ValueError("eb, EB: give one of them (EB is mixcat's spelling of eb)")
    flag = EB if eb is None else eb
    if flag is None:
        return False
    if not isinstance(flag, (bool, np.bool_)):
        raise ValueError(f"eb must be True or False, not {flag!r}")
    return bool(flag)


def _call(formula: str, formula_npo: str | None, random: str | None, id: str,
          k: int | str, link: str, eb: bool) -> str:
    """npmlt's call as R prints it: the arguments given."""
    parts = [f"formula = {formula}"]
    if formula_npo is not None:
        parts.append(f"formula.npo = {formula_npo}")
    if random is not None:
        parts.append(f"random = {random}")
    parts += [f"id = {id}", f"k = {k}"]
    if link != "clogit":
        parts.append(f"link = {link}")
    if eb:
        parts.append("EB = TRUE")
    return f"npmlt({', '.join(parts)})"


def _auto_k(design, se: str, eb: bool, tol: float, maxit: int, call: str) -> NPMLTResult:
    """Fit k = 1, 2, ... while BIC improves and the fit is not degenerate (at most
    AUTO_K_MAX points); the warnings of the fits not chosen are dropped."""
    rows, best, best_warnings = [], None, []
    for k in range(1, min(AUTO_K_MAX, design.n_clusters) + 1):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = fit_npml(design, k, tol=tol, maxit=maxit)
            result = NPMLTResult(design, fit, npml_estimates(fit, se), k, se, call, eb=eb)
        rows.append({"k": k, "logLik": result.loglik, "AIC": result.aic, "BIC": result.bic})
        if best is not None and (result.degenerate or result.bic >= best.bic):
            break
        best, best_warnings = result, caught
    for w in best_warnings:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    best.k_table = pd.DataFrame(rows).set_index("k")
    return best


def clmm(formula: str, data: pd.DataFrame, link: str = "logit", nAGQ: int = 1) -> CLMMResult:
    """Cumulative link mixed model with a Gaussian random intercept, as ordinal's
    ``clmm``.

    Model: F^{-1}(P(y <= r)) = theta_r - x'beta - z'b_i, b_i ~ N(0, Sigma).

    Parameters
    ----------
    formula : str
        ``y ~ covariates + (1 | group)`` or ``(1 + x | group)`` (one random term); y
        takes 1..q+1 or is an ordered Categorical.
    data : DataFrame
    link : {"logit", "probit", "cloglog"}
    nAGQ : int
        1: Laplace approximation; > 1: adaptive Gauss-Hermite quadrature with nAGQ nodes
        (a random intercept only).

    Returns
    -------
    CLMMResult
    """
    if link not in CUMULATIVE_LINKS:
        raise ValueError(f"link must be one of {', '.join(CUMULATIVE_LINKS)}, not {link!r}")
    nAGQ = check_clmm_nagq(nAGQ)
    design = clmm_design(formula, data, link)
    if design.z_names == ("(Intercept)",):
        return CLMMResult(design, fit_clmm(design, nAGQ), nAGQ, formula)
    if nAGQ > 1:
        raise ValueError("nAGQ: nAGQ > 1 is only available for models with a single, scalar "
                         "random intercept (1 | group); use nAGQ = 1 (Laplace)")
    return CLMMResult(design, fit_clmm_vector(design), nAGQ, formula)
