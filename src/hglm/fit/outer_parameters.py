"""The parameters a marginal-likelihood fit optimises, as one vector.

x = (log sd_1, ..., log sd_K, beta, gamma): the log standard deviation of each random
term's effects v_k (its variance lambda_k = sd_k^2; lme4's theta is sd for binomial and
Poisson), the fixed effects when they are outside the conditional mode (Laplace and
quadrature; nAGQ = 0 and REML solve them with the random effects), and the coefficients of
the log residual dispersion, log phi_i = x_disp_i' gamma (one coefficient, log phi,
without a dispersion model), when the dispersion is estimated: not for binomial and
Poisson responses (phi = 1, as lme4) nor under ``fix_disp``.

On the log scale the optimisation is unbounded and smooth; in sd the objective is even,
its derivative vanishes at the bound 0 and a quasi-Newton method that comes near it does
not leave.  A variance whose optimum is 0 goes to -inf on the log scale until the
objective no longer moves (the fit is then singular, and :mod:`.glmm` sets it to 0).  An
sd below SD_FLOOR times the root of the (geometric mean) dispersion is evaluated at that
floor (the v scale needs lambda > 0); the value there is that of sd = 0 to ~1e-10
relative.
"""

from __future__ import annotations

import numpy as np

from ..engine import block_width
from ..spec import Problem

Array = np.ndarray

# an sd below this times the root of the (geometric mean) dispersion is evaluated there
SD_FLOOR = 1e-5
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
        self.n_beta = p if beta_outer else 0
        self.sizes = np.array([block_width(b) for b in problem.blocks])
        self.fixed_phi: Array | None = None
        self.disp_design: Array | None = None
        if problem.fix_disp is not None:
            self.fixed_phi = np.full(n, float(problem.fix_disp))
        elif problem.family.fixed_dispersion:
            self.fixed_phi = np.ones(n)
        else:
            self.disp_design = np.ones((n, 1)) if problem.x_disp is None else problem.x_disp
        self.n_disp = 0 if self.disp_design is None else self.disp_design.shape[1]
        if self.disp_design is None:
            self._fixed_log_phi = float(np.mean(np.log(self.fixed_phi)))
        else:
            self._mean_disp_row = self.disp_design.mean(axis=0)
        self.size = self.n_terms + self.n_beta + self.n_disp
        self.sd_slice = slice(0, self.n_terms)
        self.beta_slice = slice(self.n_terms, self.n_terms + self.n_beta)
        self.disp_slice = slice(self.n_terms + self.n_beta, self.size)

    def pack(self, sd: Array, beta: Array | None, gamma: Array | None) -> Array:
        """x from its parts (``beta`` ignored when the fixed effects are inner, ``gamma``
        when the dispersion is not estimated); an sd below the floor goes to it."""
        parts = [np.zeros(self.n_terms)]
        if self.n_beta:
            parts.append(np.asarray(beta, dtype=float))
        if self.n_disp:
            parts.append(np.asarray(gamma, dtype=float))
        x = np.concatenate(parts)
        x[self.sd_slice] = np.log(np.maximum(np.asarray(sd, dtype=float), self.floor(x)))
        return x

    def sd(self, x: Array) -> Array:
        """The sds, floored (module docstring)."""
        return np.maximum(np.exp(np.minimum(x[self.sd_slice], LOG_SD_CAP)), self.floor(x))

    def beta(self, x: Array) -> Array:
        return x[self.beta_slice]

    def gamma(self, x: Array) -> Array:
        return x[self.disp_slice]

    def lam(self, x: Array) -> Array:
        """The variance of each term's effects."""
        return self.sd(x) ** 2

    def at_floor(self, x: Array) -> Array:
        """Which sds are at their floor."""
        return np.exp(np.minimum(x[self.sd_slice], LOG_SD_CAP)) <= self.floor(x)

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
        """d/d log sd = 2 lambda d/d lambda (0 at the floor and the cap, where the value
        does not move)."""
        moves = ~self.at_floor(x) & (x[self.sd_slice] < LOG_SD_CAP)
        return np.where(moves, 2.0 * self.lam(x) * d_lam, 0.0)
