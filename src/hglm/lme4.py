"""lme4's interface: ``lmer``, ``glmer`` and ``anova``, with lme4's names, defaults and
semantics, so that R code runs with only its quotes changed.

``lmer`` and ``glmer`` are thin wrappers over :func:`hglm.hglm2` with ``method="REML"``
or ``"ML"``: the formula layer builds the design, the marginal route
(:mod:`hglm.marginal_fit`) fits it and the result is a
:class:`~hglm.results.MarginalResult` with lme4's verbs.  ``anova`` is R's
likelihood-ratio table of nested fits (:mod:`hglm.results.anova`), refitting REML fits
by ML first, as lme4 does.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ._warn import warn
from .api import hglm2
from .fit import check_nagq
from .marginal_fit import fit_marginal
from .results import AnovaTable, MarginalResult, PartitionedMarginalResult, anova_table
from .spec import Family, response_family


def lmer(
    formula: str,
    data: object,
    REML: bool = True,
    weights: object | None = None,
    offset: object | None = None,
    start: object | None = None,
) -> MarginalResult:
    """Fit a linear mixed model by REML or ML (lme4's ``lmer``): :func:`hglm.hglm2` with
    ``method="REML"`` or ``"ML"``.

    Parameters
    ----------
    formula : str
        lme4's formula, e.g. ``"Yield ~ 1 + (1 | Batch)"``; ``offset(x)`` terms are added
        to the linear predictor.  ``(x || g)`` gives independent terms; ``(x | g)`` is
        lme4's correlated (vector-valued) term with an unstructured covariance.
    data : DataFrame, dict of columns or dask.dataframe.DataFrame
        A Dask DataFrame is fitted on its partitions (scalar random terms; weights and
        offset as column names; docs/scale.md).
    REML : bool
        Maximise the REML criterion (default, as lme4) or the log-likelihood.
    weights : array-like or column name, optional
        Prior weights: observation i has residual variance sigma^2 / weights[i].
    offset : array-like or column name, optional
        A known component of the linear predictor.
    start : array-like or dict, optional
        Starting theta (relative standard deviations, one per random term in lme4's
        order: by decreasing number of levels), or ``{"theta": ...}``; default 1 for
        every term, as lme4.

    Returns
    -------
    MarginalResult
        ``summary()``, ``loglik``, ``aic``, ``bic``, ``deviance``, ``reml_criterion``,
        ``fixef``, ``vcov``, ``ranef``, ``varcorr``, ``theta``, ``sigma``,
        ``predict``, ``simulate``, ``confint``, ...

    Examples
    --------
    >>> fit = hglm.lmer("Yield ~ 1 + (1 | Batch)", data=dyestuff)   # doctest: +SKIP
    >>> fit.varcorr                                                  # doctest: +SKIP
    """
    if not isinstance(REML, bool):
        raise ValueError(f"REML: must be True or False, got {REML!r}")
    return hglm2(formula, data, weights=weights, offset=offset,
                 method="REML" if REML else "ML", start=start)


def glmer(
    formula: str,
    data: object,
    family: str | Family | type[Family] = "binomial",
    nAGQ: int = 1,
    weights: object | None = None,
    offset: object | None = None,
    start: object | None = None,
) -> MarginalResult:
    """Fit a generalized linear mixed model by maximum likelihood (lme4's ``glmer``):
    :func:`hglm.hglm2` with ``method="ML"`` and ``nAGQ``.

    Parameters
    ----------
    formula : str
        lme4's formula, e.g. ``"cbind(incidence, size - incidence) ~ period + (1 | herd)"``
        or ``"y ~ trt + offset(log(t)) + (1 | id)"``.
    data : DataFrame, dict of columns or dask.dataframe.DataFrame
        A Dask DataFrame is fitted on its partitions by the Laplace approximation
        (binomial(logit) or Poisson(log), scalar random terms; weights and offset as
        column names; docs/scale.md).
    family : str or Family
        lme4's family names ("binomial", "poisson", "Gamma", "inverse.gaussian",
        "gaussian") or a family object such as ``hglm.Binomial(link="probit")``.
        Binomial and Poisson have their dispersion fixed at 1.  A binomial response is
        0/1, a two-level factor, ``cbind(successes, failures)``, or proportions with the
        numbers of trials as ``weights``; the counts must be whole numbers.
    nAGQ : int
        1: the Laplace approximation (default); 0: the fixed effects estimated inside
        penalized IRLS and only the variance parameters outside (faster, less exact);
        k > 1: adaptive Gauss-Hermite quadrature with k points, for a model with a
        single scalar random-effects term.  Its ``loglik`` is the true marginal
        log-likelihood (lme4's leaves out the binomial coefficients).
    weights : array-like or column name, optional
        Prior weights; for a binomial proportion, the numbers of trials.
    offset : array-like or column name, optional
    start : array-like or dict, optional
        Starting values: theta in lme4's order of the terms (lme4's ``start``), or
        ``{"theta": ..., "disp_coef": ...}`` (log-dispersion coefficients of a family
        with a scale); the fixed effects start at the joint mode.

    Returns
    -------
    MarginalResult

    Raises
    ------
    ValueError
        For nAGQ other than a whole number >= 0, nAGQ > 1 with more than one random term
        or a vector-valued one, non-integer binomial or Poisson counts, or an unknown family.
    """
    nAGQ = check_nagq(nAGQ)
    fam = response_family(family)
    if fam.name == "gaussian" and fam.link.name == "identity":
        warn("family: calling glmer() with family='gaussian' (identity link) fits a "
             "linear mixed model by ML; call lmer() directly", UserWarning)
    return hglm2(formula, data, family=family, weights=weights, offset=offset,
                 method="ML", nAGQ=nAGQ, start=start)


def anova(*fits: MarginalResult, refit: bool = True, boundary: bool = False,
          model_names: Sequence[str] | None = None) -> AnovaTable:
    """R's ``anova`` of nested mixed models: the likelihood-ratio table.

    Parameters
    ----------
    *fits : MarginalResult
        Two or more fits of the same data (lmer, glmer, or hglm/hglm2 with method "ML"
        or "REML").
    refit : bool
        Refit REML fits by ML first, with the message "refitting model(s) with ML
        (instead of REML)", as lme4 does (default).  With False, REML fits are compared
        only when their fixed effects are the same.
    boundary : bool
        Add the column "Pr(>Chisq) boundary": the p-value of a variance component tested
        at zero (a 50:50 mixture of chi-square(0) and chi-square(1): half the chi-square
        tail) for the rows that add exactly one variance parameter to the same fixed
        effects.  Off by default: lme4's ``anova`` reports the chi-square tail only
        (``Pr(>Chisq)``, conservative at the boundary); R's hglm ``lrt``
        (:func:`hglm.lrt`) halves its p-value by default.
    model_names : sequence of str, optional
        Row labels (default ``fit1``, ``fit2``, ... in the order given).

    Returns
    -------
    AnovaTable
        A DataFrame (npar, AIC, BIC, logLik, deviance, Chisq, Df, Pr(>Chisq)), ordered by
        the number of parameters, printed as R prints it.
    """
    for j, f in enumerate(fits):
        if not isinstance(f, MarginalResult):
            raise ValueError(f"fits: argument {j + 1} is not an ML/REML fit (lmer, glmer, or "
                             "method='ML'); EQL fits are compared with hglm.lrt")
    names = list(model_names) if model_names is not None else [
        f"fit{j + 1}" for j in range(len(fits))]
    if len(names) != len(fits):
        raise ValueError(f"model_names: {len(names)} names for {len(fits)} fits")
    fits_ = list(fits)
    if refit and any(f.reml for f in fits_):
        print("refitting model(s) with ML (instead of REML)", file=sys.stderr)
        fits_ = [_refit_ml(f) if f.reml else f for f in fits_]
    return anova_table(fits_, names, [f.formula for f in fits_], boundary=boundary)


def _refit_ml(fit: MarginalResult) -> MarginalResult:
    """The same model refitted by ML, started at the REML estimates (lme4's refitML)."""
    if isinstance(fit, PartitionedMarginalResult):
        raise ValueError("refit: a REML fit on a Dask DataFrame is not refitted here (its "
                         "rows are on the partitions); fit it with REML=False, or pass "
                         "refit=False")
    return fit_marginal(fit.problem, fit.names, "ML", fit.nAGQ, {"theta": fit.theta},
                        design=fit.design, formula=fit.formula)
