"""R's ``lrt``: the likelihood-ratio test of variance components between fitted models.

A verb on results, not on the estimator: it compares the likelihoods that fitted models
report (``likelihood`` and ``null_loglik()``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .._distributions import chi2_sf
from .hglm_result import HGLMResult


@dataclass
class LRTResult:
    """A likelihood-ratio test of variance components."""

    statistic: float
    df: int
    p_value: float
    data_name: str

    def __str__(self) -> str:
        return (
            "\n\tLikelihood-ratio test\n\n"
            f"data:  {self.data_name}\n"
            f"LRT statistic = {self.statistic:.5g}, df = {self.df}, "
            f"p-value = {self.p_value:.4g}\n"
        )

    __repr__ = __str__


def lrt(fit1: HGLMResult, fit2: HGLMResult | None = None, *,
        boundary: bool = True) -> LRTResult:
    """R's ``lrt``: likelihood-ratio test of the variance components.

    With one model, it is tested against its GLM without random effects using
    2 |pvh - logLik(glm)| on as many df as random terms; with two models,
    2 |pbvh1 - pbvh2| on the difference in their numbers of random terms.

    Parameters
    ----------
    fit1, fit2 : HGLMResult
        Fits made with ``calc_like=True``.
    boundary : bool
        True (R's ``lrt``, the default): the p-value is half the chi-square tail, R's
        reading of a variance tested at its boundary zero, whose statistic follows a
        50:50 mixture of chi-square(0) and chi-square(1) (Self & Liang 1987; for df > 1
        R halves the df's tail all the same).  False: the chi-square tail, as the
        ``Pr(>Chisq)`` column of :func:`hglm.anova` (whose ``boundary=True`` adds the
        mixture's p-value, off by default as in lme4).
    """
    for j, f in enumerate((fit1, fit2)):
        if f is not None and getattr(f, "likelihood", None) is None:
            raise ValueError(f"fit{j + 1}: was fitted without calc_like=True; refit with it")
    if fit2 is None:
        stat = 2.0 * abs(fit1.likelihood["pvh"] - fit1.null_loglik())
        df = _n_variance_parameters(fit1)
        name = "fit1"
    else:
        stat = 2.0 * abs(fit1.likelihood["pbvh"] - fit2.likelihood["pbvh"])
        df = abs(_n_variance_parameters(fit1) - _n_variance_parameters(fit2))
        if df == 0:
            raise ValueError("fit2: has as many random terms as fit1; lrt compares nested models")
        name = "fit1 v.s. fit2"
    tail = float(chi2_sf(stat, df))
    return LRTResult(stat, df, tail / 2.0 if boundary else tail, name)


def _n_variance_parameters(fit: object) -> int:
    """The random terms' variance parameters: one per scalar term, q (q + 1) / 2 per
    vector-valued term."""
    return sum(t.n_theta for t in fit._engine.problem.terms)
