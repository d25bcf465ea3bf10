"""What a marginal-likelihood fit is made of, and what its presentations read of it.

:class:`MarginalFit` is the interface every marginal-likelihood estimator returns
(``fit.lmm.LMMFit`` for linear mixed models, ``GLMMFit`` for Laplace, nAGQ = 0 and
adaptive quadrature): the same names wherever they mean the same thing.
:class:`MarginalView` is the fitted model as its summary, confidence intervals, anova
table and plots read it; :class:`~hglm.results.marginal.MarginalResult` satisfies it and
calls them, so that they depend on no result class.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import pandas as pd

from ..spec import Problem, ResponseFamily

Array = np.ndarray


class MarginalFit(Protocol):
    """An estimator's result.

    Attributes
    ----------
    problem : Problem
    method : str
        "REML", "ML", "Laplace", "AGQ" or "nAGQ0".
    nAGQ : int
    reml : bool
    theta : ndarray
        lme4's theta, one per random term.
    lam : ndarray
        The variance of each term's effects v_k.
    sigma2 : float
        The residual dispersion phi (1 for binomial and Poisson).
    disp_coef : ndarray or None
        The residual-dispersion model's coefficients (log scale).
    beta, v : ndarray
        Fixed effects and the conditional modes (fitted scale).
    vcov_beta : ndarray
        Covariance of the fixed effects (p x p).
    cond_var : ndarray
        Conditional variances of the v (q).
    objective : float
        -2 log-likelihood, or the REML criterion.
    loglik : float
        The log-likelihood with every normalising constant.
    n_params : int
        Parameters counted by AIC.
    n_eval : int
    converged, singular : bool
    message : str
    """

    beta: Array
    vcov_beta: Array
    v: Array
    cond_var: Array
    theta: Array
    lam: Array
    sigma2: float
    disp_coef: Array | None
    problem: Problem
    method: str
    reml: bool
    nAGQ: int
    objective: float
    n_params: int
    n_eval: int
    converged: bool
    singular: bool
    message: str

    @property
    def loglik(self) -> float: ...


class MarginalView(Protocol):
    """A fitted model as its presentations read it (see ``MarginalResult`` for the
    meaning of each member; the statistics from ``nobs`` on are read-only properties
    there)."""

    problem: Problem
    family: ResponseFamily
    method: str
    nAGQ: int
    reml: bool
    formula: str | None
    n_obs: int
    fixef: pd.Series
    se_fixef: pd.Series
    vcov: pd.DataFrame
    theta: Array
    term_order: Array
    sigma: float
    converged: bool
    singular: bool
    message: str
    n_iter: int
    disp_coef: pd.Series | None

    nobs: int
    is_lmm: bool
    loglik: float
    aic: float
    bic: float
    n_params: int
    df_resid: int
    reml_criterion: float
    deviance: float
    varcorr: pd.DataFrame
    ranef: pd.DataFrame
    fitted: Array
    resid: Array

    def residuals(self, type: str | None = None, scaled: bool = False) -> Array: ...

    def residual_quantiles(self, probs: list[float]) -> Array: ...
