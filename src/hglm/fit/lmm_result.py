"""The result of an exact ML/REML fit of a linear mixed model (:func:`.lmm.fit_lmm`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..spec import Problem

Array = np.ndarray


@dataclass
class LMMFit:
    """The result of :func:`fit_lmm` (arrays only).

    Attributes
    ----------
    problem : Problem
    reml : bool
    theta : ndarray
        lme4's theta, term after term (:mod:`.theta`): the relative standard deviation
        of a scalar term, the lower triangle of Lambda of a vector term.
    covariances : list of ndarray
        Each term's covariance of its effects per level (1 x 1 for a scalar term).
    sigma2 : float
        The residual variance (phi).
    beta, v : ndarray
        Fixed effects and the conditional modes of the random effects u (a vector
        term's level-major, u_l = Lambda b_l: lme4's ``ranef``).
    vcov_beta : ndarray
        sigma^2 (C^{-1})_xx.
    cond_var : ndarray
        The conditional variances of the random effects given y at the estimates,
        sigma^2 diag(D^{-1}) on the scale of u (lme4's ``condVar``).
    objective : float
        -2 log-likelihood (ML) or the REML criterion.
    n_eval : int
        Evaluations of the profiled deviance.
    converged : bool
    message : str
        The optimizer's message.
    singular : bool
        Some theta_k below 1e-4 (lme4's rule).
    """

    problem: Problem
    reml: bool
    theta: Array
    covariances: list[Array]
    sigma2: float
    beta: Array
    v: Array
    vcov_beta: Array
    cond_var: Array
    objective: float
    n_eval: int
    converged: bool
    message: str
    singular: bool
    deviance: object = field(repr=False)  # the ProfiledDeviance (profiles, refits)

    @property
    def lam(self) -> Array:
        """The random-effect variance sigma^2 theta_k^2 of each scalar term (NaN for a
        vector term: see ``covariances``)."""
        return np.array([c[0, 0] if c.shape == (1, 1) else np.nan for c in self.covariances])

    @property
    def loglik(self) -> float:
        """The log-likelihood (ML) or the REML log-likelihood (lme4's logLik of a REML fit)."""
        return -0.5 * self.objective

    @property
    def method(self) -> str:
        """"REML" or "ML"."""
        return "REML" if self.reml else "ML"

    @property
    def nAGQ(self) -> int:
        """1: the likelihood of an LMM is exact (its Laplace approximation is exact)."""
        return 1

    @property
    def disp_coef(self) -> None:
        """None: one residual variance, no dispersion model."""
        return None

    @property
    def n_params(self) -> int:
        """Parameters counted by AIC: the fixed effects, theta and sigma."""
        return int(self.beta.shape[0] + self.theta.shape[0] + 1)
