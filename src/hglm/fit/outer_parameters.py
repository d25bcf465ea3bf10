"""The parameters a marginal-likelihood fit optimises, as one vector.

x = (covariance parameters, beta, gamma): for a scalar random term the log standard
deviation of its effects v_k (its variance lambda_k = sd_k^2; lme4's theta is sd for
binomial and Poisson), for a vector-valued term the lower triangle of its (absolute)
Cholesky factor Lambda in lme4's order (:mod:`.theta`), the diagonal on the log scale as
an sd, the off-diagonal entries as they are; then the fixed effects when they are
outside the conditional mode (Laplace and quadrature; nAGQ = 0 and REML solve them with
the random effects), and the coefficients of
the log residual dispersion, log phi_i = x_disp_i' gamma (one coefficient, log phi,
without a dispersion model), when the dispersion is estimated: not for binomial and
Poisson responses (phi = 1, as lme4) nor under ``fix_disp``.

On the log scale the optimisation is unbounded and smooth; in sd the objective is even,
its derivative vanishes at the bound 0 and a quasi-Newton method that comes near it does
not leave.  A variance whose optimum is 0 goes to -inf on the log scale until the
objective no longer moves (the fit is then singular, and :mod:`.glmm` sets it to 0).  An
sd below SD_FLOOR times the root of the (geometric mean) dispersion is evaluated at that
floor (the v scale needs lambda > 0); the value there is that of sd = 0 to ~1e-10
relative.  A diagonal entry of Lambda at its floor is 0 (the spherical form of
:mod:`.theta` needs no positive variance).
"""

from __future__ import annotations

import numpy as np

from ..engine import block_width
from ..spec import Problem
from .theta import ThetaLayout

Array = np.ndarray

# an sd below this times the root of the (geometric mean) dispersion is evaluated there
SD_FLOOR = 1e-5
BELOW_FLOOR = 1e-9  # log-scale distance below the floor where a parameter is 0
# log sd above this is evaluated there (lambda ~ 1e260: the objective is then huge)
LOG_SD_CAP = 300.0


class OuterParameters:
    """The layout of x for one problem.

    Parameters
    ----------
    problem : Problem
    beta_outer : bool
        Whether the fixed effects are in x.
    """

    def __init__(self, problem: Problem, beta_outer: bool) -> None:
        n, p = problem.X.shape
        self.n_terms = len(problem.blocks)
        self.layout = ThetaLayout(problem)
        self.n_cov = self.layout.size
        # the entries on the log scale: scalar sds and the diagonals of Lambda
        self.log_scale = self.layout.bounded
        self.vector_entries = self.layout.vector_entries
        self.scalar = ~np.array(self.layout.vector, dtype=bool)
        self.n_beta = p if beta_outer else 0
        self.sizes = np.array([block_width(b) for b in problem.blocks])
        self.fixed_phi: Array | None = None
        self.disp_design: Array | None = None
        if problem.fix_disp is not None or problem.family.fixed_dispersion:
            fixed = 1.0 if problem.fix_disp is None else float(problem.fix_disp)
            self.fixed_phi = np.broadcast_to(fixed, (n,))  # read-only, no n-vector
        else:
            self.disp_design = np.ones((n, 1)) if problem.x_disp is None else problem.x_disp
        self.n_disp = 0 if self.disp_design is None else self.disp_design.shape[1]
        if self.disp_design is None:
            self._fixed_log_phi = float(np.mean(np.log(self.fixed_phi)))
        else:
            self._mean_disp_row = self.disp_design.mean(axis=0)
        self.size = self.n_cov + self.n_beta + self.n_disp
        self.sd_slice = slice(0, self.n_cov)
        self.beta_slice = slice(self.n_cov, self.n_cov + self.n_beta)
        self.disp_slice = slice(self.n_cov + self.n_beta, self.size)

    def pack(self, cov: Array, beta: Array | None, gamma: Array | None) -> Array:
        """x from its parts: ``cov`` the covariance parameters on their own scale (sds
        of scalar terms, the entries of each Lambda), ``beta`` ignored when the fixed
        effects are inner, ``gamma`` when the dispersion is not estimated; an sd or a
        diagonal of Lambda below the floor goes to it."""
        parts = [np.zeros(self.n_cov)]
        if self.n_beta:
            parts.append(np.asarray(beta, dtype=float))
        if self.n_disp:
            parts.append(np.asarray(gamma, dtype=float))
        x = np.concatenate(parts)
        cov = np.asarray(cov, dtype=float)
        x[self.sd_slice] = np.where(
            self.log_scale, np.log(np.maximum(cov, self.floor(x))), cov)
        return x

    def covariance(self, x: Array) -> Array:
        """The covariance parameters on their own scale (the inverse of :meth:`pack`),
        an entry at its floor 0."""
        out = x[self.sd_slice].copy()
        natural = np.exp(np.minimum(out[self.log_scale], LOG_SD_CAP))
        out[self.log_scale] = np.where(self.at_floor(x)[self.log_scale], 0.0, natural)
        return out

    def factors(self, x: Array) -> list[Array | None]:
        """Lambda of each vector term (None for a scalar term)."""
        return self.layout.factors(self.covariance(x))

    def sd(self, x: Array) -> Array:
        """The sd of each scalar term's effects, floored (module docstring); 1 for a
        vector term's effects b (spherical form)."""
        out = np.ones(self.n_terms)
        log_sd = x[self.layout.scalar_index]
        out[self.scalar] = np.maximum(np.exp(np.minimum(log_sd, LOG_SD_CAP)), self.floor(x))
        return out

    def beta(self, x: Array) -> Array:
        return x[self.beta_slice]

    def gamma(self, x: Array) -> Array:
        return x[self.disp_slice]

    def lam(self, x: Array) -> Array:
        """The variance of each term's (fitted) effects."""
        return self.sd(x) ** 2

    def at_floor(self, x: Array) -> Array:
        """Which covariance parameters on the log scale are at their floor (over those
        parameters; False for the others)."""
        return self.log_scale & (
            np.exp(np.minimum(x[self.sd_slice], LOG_SD_CAP)) <= self.floor(x))

    def to_floor(self, x: Array, which: Array) -> Array:
        """x with the covariance parameters ``which`` (a mask over them, on the log
        scale) just below their floor, where their value is 0."""
        out = x.copy()
        below = np.log(self.floor(x)) - BELOW_FLOOR
        out[self.sd_slice] = np.where(which, below, x[self.sd_slice])
        return out

    def floor(self, x: Array) -> float:
        """SD_FLOOR times the root of the geometric mean of the dispersions."""
        if self.disp_design is None:
            log_phi = self._fixed_log_phi
        else:
            log_phi = float(self._mean_disp_row @ self.gamma(x))
        return SD_FLOOR * float(np.exp(0.5 * log_phi))

    def lam_effects(self, lam: Array) -> Array:
        """The variance of each of the q effects."""
        return np.repeat(lam, self.sizes)

    def phi(self, x: Array) -> Array:
        """The residual dispersion of each observation."""
        if self.disp_design is None:
            return self.fixed_phi
        return np.exp(self.disp_design @ self.gamma(x))

    def sd_gradient(self, x: Array, d_lam: Array) -> Array:
        """d/d log sd = 2 lambda d/d lambda for the scalar terms (0 at the floor and the
        cap, where the value does not move), over the covariance parameters (0 for a
        vector term's, which the caller differences)."""
        out = np.zeros(self.n_cov)
        index = self.layout.scalar_index
        moves = ~self.at_floor(x)[index] & (x[index] < LOG_SD_CAP)
        out[index] = np.where(moves, 2.0 * self.lam(x)[self.scalar] * d_lam[self.scalar], 0.0)
        return out
