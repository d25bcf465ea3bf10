"""Cumulative link mixed models with a Gaussian random intercept (ordinal's clmm):
Laplace (nAGQ = 1) and adaptive Gauss-Hermite quadrature (nAGQ > 1).

In npmlt's sign, eta_ijr = alpha_r + x_ij'beta + b_i with b_i ~ N(0, s^2) (clmm's theta_r
- x'beta - b is the same model with beta and b negated).  Per cluster, with
h_i(b) = sum_j log P(y_ij | eta_ij + b) - b^2 / (2 s^2), the conditional mode b^_i is
found by Newton's method, vectorised over clusters (h_i is concave for the logit, probit
and cloglog links), and D_i = -h_i''(b^_i).  With the nodes x_j and weights w_j of the
Gauss-Hermite rule for exp(-x^2/2),

    log L_i = -log s - log(D_i)/2
              + log sum_j w_j/sqrt(2 pi) exp(x_j^2/2 + h_i(b^_i + x_j/sqrt(D_i))),

which for one node (x = 0, w = sqrt(2 pi)) is the Laplace approximation h_i(b^_i) - log s
- log(D_i)/2.  The outer parameters (alpha, beta, log s) are found by BFGS on central-
difference gradients, then polished by Newton steps on the central-difference Hessian,
whose inverse gives the standard errors.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.polynomial import hermite_e
from scipy import optimize, special

from ..spec.ordinal import OrdinalDesign, latent_distribution
from .diagnostics import ConvergenceWarning
from .npml import fit_npml
from .ordinal_likelihood import interval, shift_likelihood, shift_loglik

Array = np.ndarray


def check_nagq(nAGQ: object) -> int:
    """nAGQ must be a whole number >= 1 (1: Laplace)."""
    if isinstance(nAGQ, bool) or not isinstance(nAGQ, (int, np.integer)) or nAGQ < 1:
        raise ValueError(f"nAGQ must be an integer >= 1 (1: Laplace; > 1: adaptive "
                         f"Gauss-Hermite quadrature), not {nAGQ!r}")
    return int(nAGQ)


class ClusterIntegral:
    """-2 log L(x) of a random-intercept cumulative model, x = (alpha, beta, log s)."""

    def __init__(self, design: OrdinalDesign, nAGQ: int) -> None:
        self.design = design
        self.dist = latent_distribution(design.link)
        self.interval = interval(design.fixed_jacobian(), design.response.codes)
        self.cluster, self.n_clusters = design.cluster, design.n_clusters
        nodes, weights = hermite_e.hermegauss(nAGQ)
        self.nodes = nodes
        self.log_weights = np.log(weights / np.sqrt(2.0 * np.pi)) + 0.5 * nodes**2
        self.modes = np.zeros(design.n_clusters)
        self.curvature = np.ones(design.n_clusters)

    def _sum(self, values: Array) -> Array:
        return np.bincount(self.cluster, values, minlength=self.n_clusters)

    def _h(self, bounds: tuple[Array, Array], b: Array, s2: float) -> tuple[Array, ...]:
        shift = b[self.cluster]
        loglik, first, second = shift_likelihood(bounds[0] + shift, bounds[1] + shift,
                                                 self.dist)
        h = self._sum(loglik) - 0.5 * b**2 / s2
        return h, self._sum(first) - b / s2, self._sum(second) - 1.0 / s2

    def _h_only(self, bounds: tuple[Array, Array], b: Array, s2: float) -> Array:
        shift = b[self.cluster]
        loglik = shift_loglik(bounds[0] + shift, bounds[1] + shift, self.dist)
        return self._sum(loglik) - 0.5 * b**2 / s2

    def solve_modes(self, base: tuple[Array, Array], s2: float) -> tuple[Array, Array, Array]:
        """Conditional modes, h_i there and D_i."""
        b = self.modes.copy()
        h, g, hh = self._h(base, b, s2)
        for _ in range(100):
            step = -g / hh
            new = b + step
            h_new, g_new, hh_new = self._h(base, new, s2)
            worse = ~(h_new >= h - 1e-12 * np.abs(h))
            for _ in range(30):
                if not worse.any():
                    break
                step = np.where(worse, 0.5 * step, step)
                new = b + step
                h_new, g_new, hh_new = self._h(base, new, s2)
                worse = ~(h_new >= h - 1e-12 * np.abs(h))
            b, h, g, hh = new, h_new, g_new, hh_new
            if np.max(np.abs(step)) < 1e-11:
                break
        self.modes = b
        return b, h, -hh

    def deviance(self, x: Array) -> float:
        """-2 log L at x (inf where the thresholds are out of order)."""
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            base = self.interval.bounds(x[:-1])
            s2 = float(np.exp(2.0 * x[-1]))
            b, h, D = self.solve_modes(base, s2)
            if not (np.all(np.isfinite(h)) and np.all(D > 0)):
                self.modes = np.zeros_like(self.modes)
                return np.inf
            self.curvature = D
            sd = 1.0 / np.sqrt(D)
            if self.nodes.size == 1:
                log_int = h
            else:
                terms = np.column_stack([self._h_only(base, b + sd * xj, s2) + lw
                                         for xj, lw in zip(self.nodes, self.log_weights,
                                                           strict=True)])
                log_int = special.logsumexp(terms, axis=1)
            total = np.sum(log_int - 0.5 * np.log(s2) - 0.5 * np.log(D))
        return float(-2.0 * total) if np.isfinite(total) else np.inf


def _gradient(f, x: Array, h: float = 1e-5) -> Array:
    g = np.empty_like(x)
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = h
        g[j] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def _hessian(f, x: Array, h: float = 1e-4) -> Array:
    p = x.size
    H = np.empty((p, p))
    for j in range(p):
        for k in range(j, p):
            ej, ek = np.zeros(p), np.zeros(p)
            ej[j], ek[k] = h, h
            H[j, k] = H[k, j] = (f(x + ej + ek) - f(x + ej - ek) - f(x - ej + ek)
                                 + f(x - ej - ek)) / (4 * h * h)
    return H


@dataclass(frozen=True)
class CLMMFit:
    """The maximum: x = (alpha, beta [npmlt's sign], log s), -2 log L, the Hessian of
    -2 log L in x, the conditional modes and their curvatures D_i, the number of BFGS
    iterations and the convergence flag."""

    x: Array
    deviance: float
    hessian: Array
    modes: Array
    curvature: Array
    n_iter: int
    converged: bool


def fit_clmm(design: OrdinalDesign, nAGQ: int = 1, *, tol: float = 1e-6,
             maxit: int = 1000) -> CLMMFit:
    """Maximise the Laplace (nAGQ = 1) or quadrature likelihood of a random-intercept
    cumulative model.

    Parameters
    ----------
    design : OrdinalDesign
        With one random covariate, the intercept.
    nAGQ : int
        Number of quadrature nodes (1: Laplace).
    tol : float
        Gradient tolerance on -2 log L (max-norm) after the Newton polish.
    maxit : int
        BFGS iterations.
    """
    nAGQ = check_nagq(nAGQ)
    fixed_only = OrdinalDesign(**{**design.__dict__, "Z": design.Z[:, :0], "z_names": ()})
    start = fit_npml(fixed_only, 1)
    integral = ClusterIntegral(design, nAGQ)
    x = np.append(start.likelihood.constrained(start.phi)[0], 0.0)
    f = integral.deviance
    res = optimize.minimize(f, x, jac=lambda z: _gradient(f, z), method="BFGS",
                            options={"gtol": 1e-7, "maxiter": maxit})
    x = res.x
    for _ in range(5):
        g = _gradient(f, x)
        if np.max(np.abs(g)) < tol * 1e-2:
            break
        H = _hessian(f, x)
        try:
            x_new = x - np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        if not f(x_new) <= f(x) + 1e-10:
            break
        x = x_new
    H = _hessian(f, x)
    dev = f(x)
    converged = bool(np.max(np.abs(_gradient(f, x))) < tol)
    if not converged:
        warnings.warn("clmm: the optimiser stopped before the gradient vanished; raise maxit",
                      ConvergenceWarning, stacklevel=2)
    f(x)
    return CLMMFit(x, dev, H, integral.modes.copy(), integral.curvature.copy(),
                   int(res.nit), converged)
