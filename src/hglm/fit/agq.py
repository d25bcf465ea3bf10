"""Adaptive Gauss-Hermite quadrature of the marginal likelihood (glmer's nAGQ > 1), for
one scalar random term whose block of Z is an indicator (one effect per group).

The effects of different groups are then independent given (beta, lambda, phi), so the
likelihood is a product of one-dimensional integrals,

    L_a = int prod_{i in a} f(y_i | eta_i + z_i v) N(v; 0, lambda) dv.

Each is taken with the k nodes x_j and weights omega_j of the Gauss-Hermite rule for the
standard normal density, centred at the conditional mode v^_a and scaled by
sigma_a = D_a^{-1/2}, D_a = sum_{i in a} z_i^2 W_i + 1 / lambda the observed curvature
there (Liu and Pierce 1994):

    log L_a = log sigma_a - log(lambda) / 2
              + log sum_j omega_j exp(x_j^2 / 2 - G_a(v^_a + sigma_a x_j) / 2) + sum_{i in a} c_i,
    G_a(v) = sum_{i in a} w_i d(y_i, mu_i(v)) / phi_i + v^2 / lambda,

with c_i the family's constant (:mod:`.densities`).  One node (x = 0, omega = 1) is the
Laplace approximation.  The value is the true log-likelihood with every constant: lme4
forms it from deviance residuals and so leaves out the saturated log-likelihood sum c_i
of a binomial response with more than one trial (cbpp, nAGQ = 20: lme4 -50.005, the
likelihood -91.98; for binary responses the two agree).
"""

from __future__ import annotations

import numpy as np
from numpy.polynomial import hermite_e
from scipy import special

from ..engine import Indicator, NotPositiveDefiniteError
from ..spec import Problem
from .conditional_mode import ModeFinder
from .densities import ResponseDensity
from .diagnostics import Divergence
from .outer_parameters import OuterParameters

Array = np.ndarray

LME4_REASON = "nAGQ > 1 is only available for models with a single, scalar random-effects term"


def check_quadrature(problem: Problem, nAGQ: int) -> None:
    """Refuse adaptive quadrature where it does not apply, with lme4's reason."""
    if len(problem.blocks) != 1 or not isinstance(problem.blocks[0], Indicator):
        raise ValueError(f"nAGQ: {LME4_REASON}; use nAGQ = 1 (Laplace) or nAGQ = 0")
    if not problem.terms[0].family.is_gaussian or problem.terms[0].precision is not None:
        raise ValueError(f"nAGQ: adaptive quadrature (nAGQ = {nAGQ}) needs independent "
                         "Gaussian random effects; use nAGQ = 1 (Laplace)")


class QuadratureDeviance:
    """-2 log-likelihood by adaptive Gauss-Hermite quadrature as a function of
    x = (sd, beta, gamma) (:mod:`.outer_parameters`).

    Parameters
    ----------
    problem : Problem
        One Gaussian random term with an indicator block (:func:`check_quadrature`).
    nAGQ : int
        The number of nodes.
    density : ResponseDensity, optional
        The response's log-density (another deviance's, to share its constants).
    """

    def __init__(self, problem: Problem, nAGQ: int,
                 density: ResponseDensity | None = None) -> None:
        check_quadrature(problem, nAGQ)
        self.pb = problem
        self.params = OuterParameters(problem, beta_outer=True)
        self.density = density or ResponseDensity(problem.y, problem.family, problem.weights,
                                                  self.params.fixed_phi)
        self.modes = ModeFinder(problem, False, self.density)
        self.block: Indicator = problem.blocks[0]
        nodes, weights = hermite_e.hermegauss(nAGQ)
        self.nodes = nodes
        self.log_weights = np.log(weights / np.sqrt(2.0 * np.pi)) + 0.5 * nodes**2
        self.n_eval = 0

    def objective(self, x: Array) -> float:
        """-2 log-likelihood at ``x`` (inf where the mode fails)."""
        self.n_eval += 1
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return self._evaluate(x)

    def _evaluate(self, x: Array) -> float:
        par = self.params
        lam, phi = float(par.lam(x)[0]), par.phi(x)
        q = self.block.n_levels
        try:
            mode = self.modes.solve(par.beta(x), phi, np.full(q, lam))
        except (Divergence, NotPositiveDefiniteError):
            return np.inf
        W = self.density.derivatives(mode.eta, phi).curvature
        idx, z = self.block.index, self.block.values
        curvature = np.bincount(idx, z**2 * W, minlength=q) + 1.0 / lam
        if not np.all(curvature > 0):
            return np.inf
        sigma = 1.0 / np.sqrt(curvature)
        v = mode.delta[self.modes.p :]
        spread = z * sigma[idx]
        terms = np.empty((q, self.nodes.shape[0]))
        for j, xj in enumerate(self.nodes):
            mu = self.density.mean(mode.eta + spread * xj)[0]
            G = np.bincount(idx, self.density.deviances(mu, phi), minlength=q)
            G += (v + sigma * xj) ** 2 / lam
            terms[:, j] = self.log_weights[j] - 0.5 * G
        log_integrals = np.log(sigma) - 0.5 * np.log(lam) + special.logsumexp(terms, axis=1)
        return float(-2.0 * (np.sum(log_integrals) + self.density.constant(phi)))
