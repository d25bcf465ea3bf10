"""The deviance of a GLMM fit profiled over one parameter at a time (lme4's ``profile``
of a glmer fit, which ``confint`` reads).

The deviance is the fit's own: the Laplace approximation (nAGQ = 1) or adaptive
quadrature (nAGQ > 1) of -2 log-likelihood, as a function of x = (log sd, beta, log phi)
(:mod:`.outer_parameters`).  Holding one parameter -- a term's sd, the residual sd
sigma = phi^(1/2) of a family with a dispersion, or a fixed effect -- at a value, the
profiled deviance is the minimum over the others, found by the fit's quasi-Newton method
restricted to them, started from the last point of the same profile with the fit's
Hessian less the held coordinate.  lme4 profiles glmer fits the same way on the same
scales (sds, not variances) and interpolates the profile by splines; here each bound is
the root of the profile itself.
"""

from __future__ import annotations

import numpy as np

from .agq import QuadratureDeviance
from .glmm_result import GLMMFit
from .glmm_stage import TOL, deviance_gradient, step_limits
from .laplace import LaplaceDeviance
from .newton import minimize_newton

Array = np.ndarray

PROFILE_MAXITER = 200


def check_profile(fit: GLMMFit) -> None:
    """Refuse, naming what to use instead, a fit whose deviance is not profiled here."""
    pb = fit.problem
    reason = None
    if fit.reml or fit.nAGQ == 0:
        reason = (f"a {fit.method} fit is not profiled (its fixed effects are at the joint "
                  "mode, not parameters of its deviance)")
    elif pb.x_disp is not None:
        reason = "a fit with a residual-dispersion model is not profiled"
    elif any(t.n_theta > 1 for t in pb.terms):
        reason = "a model with a vector-valued random term (1 + x|g) is not profiled"
    elif not all(t.family.is_gaussian for t in pb.terms):
        reason = "a model with non-Gaussian random effects is not profiled"
    if reason is not None:
        raise ValueError(f"method: 'profile' intervals are not available: {reason}; use "
                         "method='wald'")


class GLMMProfile:
    """The profiled deviance of a GLMM fit over its standard deviations, sigma (when the
    family has an estimated dispersion) and its fixed effects, in that order.

    Parameters
    ----------
    fit : GLMMFit
        A Laplace or adaptive-quadrature ML fit with scalar Gaussian random terms
        (:func:`check_profile`).

    Attributes
    ----------
    k, has_sigma, p, n_parameters : int, bool, int, int
        The parameters: k sds, then sigma if ``has_sigma``, then p fixed effects.
    estimates : ndarray
        The parameters at the optimum, on their own scales.
    minimum : float
        The deviance there.
    """

    def __init__(self, fit: GLMMFit) -> None:
        check_profile(fit)
        pb = fit.problem
        self.dev = (LaplaceDeviance(pb, "ML") if fit.nAGQ == 1
                    else QuadratureDeviance(pb, fit.nAGQ))
        par = self.dev.params
        self.k, self.p = par.n_cov, pb.X.shape[1]
        self.has_sigma = par.n_disp == 1
        self.n_parameters = self.k + int(self.has_sigma) + self.p
        gamma = [np.log(fit.sigma2)] if self.has_sigma else None
        x = par.pack(np.sqrt(fit.lam), fit.beta, gamma)
        self._gradient = deviance_gradient(self.dev)
        self._max_step = step_limits(self.dev)
        # the fit's Hessian of its deviance (every fit check_profile accepts has one)
        self._hessian = fit.hessian
        self.x_hat = self._minimize(x, np.arange(par.size), x).x
        self.minimum = float(self.dev.objective(self.x_hat))
        self.estimates = np.array([self._natural(j, self.x_hat) for j in
                                   range(self.n_parameters)])
        self._se_beta = np.sqrt(np.diag(fit.vcov_beta))
        self._last: dict[int, Array] = {}

    def _coordinate(self, j: int) -> int:
        """The coordinate of x holding parameter j."""
        par = self.dev.params
        if j < self.k:
            return j
        if self.has_sigma and j == self.k:
            return par.disp_slice.start
        return par.beta_slice.start + j - self.k - int(self.has_sigma)

    def _natural(self, j: int, x: Array) -> float:
        """Parameter j on its own scale at x."""
        c = self._coordinate(j)
        if j < self.k:
            return float(self.dev.params.covariance(x)[j])
        if self.has_sigma and j == self.k:
            return float(np.exp(0.5 * x[c]))
        return float(x[c])

    def _on_x_scale(self, j: int, value: float) -> float:
        if j < self.k:
            return float(np.log(max(value, self.dev.params.floor(self.x_hat))))
        if self.has_sigma and j == self.k:
            return float(2.0 * np.log(value))
        return float(value)

    def _minimize(self, x0: Array, free: Array, x_fixed: Array):
        """The minimum over the coordinates ``free`` of x, the others as in ``x_fixed``."""
        def full(xr: Array) -> Array:
            x = x_fixed.copy()
            x[free] = xr
            return x

        return minimize_newton(
            lambda xr: self.dev.objective(full(xr)),
            lambda xr: self._gradient(full(xr))[free],
            x0[free], TOL, PROFILE_MAXITER, self._hessian[np.ix_(free, free)],
            self._max_step[free])

    def deviance_at(self, j: int, value: float) -> float:
        """The deviance minimised over every parameter but j, which is held at
        ``value`` (a sd at 0 is held at the fit's floor)."""
        c = self._coordinate(j)
        x_fixed = self._last.get(j, self.x_hat).copy()
        x_fixed[c] = self._on_x_scale(j, value)
        free = np.delete(np.arange(x_fixed.shape[0]), c)
        res = self._minimize(x_fixed, free, x_fixed)
        x_fixed[free] = res.x
        if np.isfinite(res.fun):
            self._last[j] = x_fixed
        return float(res.fun)

    def initial_step(self, j: int) -> float:
        """The first step of the search for a bound: the standard error of a fixed
        effect, a quarter of a positive sd or sigma."""
        if j >= self.k + int(self.has_sigma):
            return float(self._se_beta[j - self.k - int(self.has_sigma)])
        estimate = abs(float(self.estimates[j]))
        return 0.25 * estimate if estimate > 0.0 else 1.0

    def lower_limit(self, j: int) -> float | None:
        """Where the search down stops: 0 for a sd, a vanishing sigma (whose deviance
        is infinite at 0), none for a fixed effect."""
        if j < self.k:
            return 0.0
        if self.has_sigma and j == self.k:
            return 1e-8 * float(self.estimates[j])
        return None
