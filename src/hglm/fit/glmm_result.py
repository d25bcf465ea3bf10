"""The result of a GLMM fit (:mod:`.glmm`) and what is derived from its optimum: lme4's
theta and its scale, the singular flag, and the fixed effects' covariance from the
Hessian of the deviance."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..spec import Problem
from .outer_parameters import OuterParameters

Array = np.ndarray


@dataclass
class GLMMFit:
    """The result of :func:`fit_glmm` (arrays only; attribute names as ``LMMFit``).

    Attributes
    ----------
    problem : Problem
    method : str
        "Laplace", "AGQ", "nAGQ0" or "REML" (Laplace-REML).
    nAGQ : int
    reml : bool
    theta : ndarray
        lme4's theta, term after term (:mod:`.theta`): sd(v_k) / sigma for a scalar term
        with a family with a scale, sd(v_k) for binomial and Poisson (and with a
        dispersion model, where sigma2 is 1); the lower triangle of Lambda / sigma of a
        vector term.
    lam : ndarray
        The variance of each scalar term's effects (NaN for a vector term).
    covariances : list of ndarray
        Each term's covariance of its effects per level (1 x 1 for a scalar term).
    sigma2 : float
        The residual dispersion phi (1 for binomial and Poisson; 1 with a dispersion
        model, whose phi_i are in ``phi``).
    disp_coef : ndarray or None
        The dispersion model's coefficients (log scale), when it has one.
    phi : ndarray
        The residual dispersion of each observation.
    beta, v : ndarray
        Fixed effects and the conditional modes of the random effects (fitted scale;
        a vector term's u_l = Lambda b_l, level-major: lme4's ``ranef``).
    vcov_beta : ndarray
    cond_var : ndarray
        The conditional variances of the v (diagonal of D^{-1} at the mode; of u for a
        vector term).
    objective : float
        -2 log-likelihood, or the Laplace-REML criterion.
    n_params : int
        Parameters counted by AIC: fixed effects, variances and dispersion coefficients.
    hessian : ndarray or None
        The Hessian of ``objective`` at the optimum in (the covariance parameters of
        :mod:`.outer_parameters`, beta, the log dispersion's coefficients), by
        differences (None for nAGQ = 0 and REML); twice its inverse is the covariance of
        those estimates.
    n_eval, n_pirls : int
        Evaluations of the objectives and penalized IRLS steps, over all stages.
    converged : bool
    message : str
    singular : bool
        Some theta with lower bound 0 below 1e-4 (lme4's isSingular).
    """

    problem: Problem
    method: str
    nAGQ: int
    reml: bool
    theta: Array
    lam: Array
    covariances: list[Array]
    sigma2: float
    disp_coef: Array | None
    phi: Array = field(repr=False)
    beta: Array
    v: Array = field(repr=False)
    vcov_beta: Array
    cond_var: Array = field(repr=False)
    objective: float
    n_params: int
    hessian: Array | None = field(repr=False)
    n_eval: int
    n_pirls: int
    converged: bool
    message: str
    singular: bool

    @property
    def loglik(self) -> float:
        """The log-likelihood with every constant (for REML, the REML criterion's)."""
        return -0.5 * self.objective


def theta_scale(problem: Problem, params: OuterParameters, x: Array) -> float:
    """The scale theta is relative to: phi for a family with one estimated or fixed
    dispersion, 1 for binomial and Poisson and with a dispersion model."""
    if problem.family.fixed_dispersion or problem.x_disp is not None:
        return 1.0
    return float(params.phi(x)[0])


def beta_covariance(hessian: Array, params: OuterParameters, x: Array,
                    singular: Array) -> Array | None:
    """2 H^{-1} on beta, the ``singular`` covariance parameters left out (the deviance is
    flat in their log sd); None when H is not positive definite there."""
    keep = np.ones(x.shape[0], dtype=bool)
    keep[params.sd_slice] = ~singular
    H = hessian[np.ix_(keep, keep)]
    try:
        chol = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return None
    inverse_chol = np.linalg.inv(chol)
    inv = 2.0 * inverse_chol.T @ inverse_chol
    position = np.cumsum(keep) - 1
    beta = position[params.beta_slice]
    return inv[np.ix_(beta, beta)]
