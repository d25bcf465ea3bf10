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
- log(D_i)/2.  The outer parameters psi = (alpha, beta, log s) are found by BFGS on the
exact gradient (the total derivative through the modes and curvatures, with the third derivatives of
the interval log-likelihood: :meth:`ClusterIntegral._gradient`), then polished by Newton
steps on the Hessian from central differences of that gradient, whose inverse gives the
standard errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.polynomial import hermite_e
from scipy import optimize, special

from .._warn import warn
from ..spec import OrdinalDesign, latent_distribution
from .diagnostics import ConvergenceWarning
from .glmm import check_nagq
from .npml import fit_npml, fixed_only
from .ordinal_likelihood import (
    interval,
    interval_derivatives,
    shift_likelihood,
    shift_loglik,
)

Array = np.ndarray

# the Newton steps after BFGS (:func:`newton_polish`)
POLISH_STEPS = 3


def check_clmm_nagq(nAGQ: object) -> int:
    """nAGQ as an int: glmer's check (:func:`.glmm.check_nagq`), and at least 1 (clmm has
    no nAGQ = 0: its thresholds and coefficients are all outer parameters)."""
    nAGQ = check_nagq(nAGQ)
    if nAGQ < 1:
        raise ValueError("nAGQ: clmm fits by the Laplace approximation (nAGQ = 1) or "
                         "adaptive Gauss-Hermite quadrature (nAGQ > 1); nAGQ = 0 is glmer's")
    return nAGQ


class ClusterIntegral:
    """-2 log L(x) of a random-intercept cumulative model, x = (alpha, beta, log s)."""

    def __init__(self, design: OrdinalDesign, nAGQ: int) -> None:
        self.design = design
        self.dist = latent_distribution(design.link)
        self.interval = interval(design.fixed_jacobian(), design.response.codes)
        self.cluster, self.n_clusters = design.cluster, design.n_clusters
        n = self.cluster.size
        self.C = sp.csr_matrix((np.ones(n), (self.cluster, np.arange(n))),
                               shape=(self.n_clusters, n))
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
        b, h, hh = cluster_modes(lambda b: self._h(base, b, s2), self.modes,
                                 lambda g, hh: -g / hh)
        self.modes = b
        return b, h, -hh

    def deviance(self, x: Array) -> float:
        """-2 log L at x (inf where the thresholds are out of order)."""
        return self.evaluate(x, gradient=False)[0]

    def evaluate(self, x: Array, gradient: bool = True) -> tuple[float, Array | None]:
        """-2 log L at x and, if asked, its gradient (:meth:`_gradient`)."""
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            bounds = self.interval.bounds(x[:-1])
            s2 = float(np.exp(2.0 * x[-1]))
            b, h, D = self.solve_modes(bounds, s2)
            if not (np.all(np.isfinite(h)) and np.all(D > 0)):
                self.modes = np.zeros_like(self.modes)
                return np.inf, None
            self.curvature = D
            sd = 1.0 / np.sqrt(D)
            nodes = [self._node(bounds, b + sd * xj, s2, gradient) for xj in self.nodes]
            terms = np.column_stack([n[0] for n in nodes]) + self.log_weights
            log_int = special.logsumexp(terms, axis=1)
            total = np.sum(log_int - 0.5 * np.log(s2) - 0.5 * np.log(D))
            if not np.isfinite(total):
                return np.inf, None
            if not gradient:
                return float(-2.0 * total), None
            omega = np.exp(terms - log_int[:, None])
            return float(-2.0 * total), -2.0 * self._gradient(bounds, b, D, s2, nodes, omega)

    def _node(self, bounds: tuple[Array, Array], b: Array, s2: float,
              gradient: bool) -> tuple[Array, ...]:
        """h at a node; with ``gradient``, h' and the partial derivatives of h in
        (alpha, beta, log s) at fixed b."""
        if not gradient:
            return (self._h_only(bounds, b, s2),)
        shift = b[self.cluster]
        d = interval_derivatives(bounds[0] + shift, bounds[1] + shift, self.dist)
        h = self._sum(d.loglik) - 0.5 * b**2 / s2
        first = self._sum(d.u + d.l) - b / s2
        partial = np.column_stack([self._rows(d.u, d.l), b**2 / s2])
        return h, first, partial

    def _rows(self, on_upper: Array, on_lower: Array) -> Array:
        """Per cluster, sum_j on_upper_j U_j + on_lower_j L_j (rows of the Jacobian)."""
        rows = on_upper[:, None] * self.interval.upper + on_lower[:, None] * self.interval.lower
        return self.C @ rows

    def _gradient(self, bounds: tuple[Array, Array], b: Array, D: Array, s2: float,
                  nodes: list, omega: Array) -> Array:
        """d log L / d(alpha, beta, log s) = psi, through the modes and curvatures.

        With node weights w_ij, h_ij = h_i(b^_i + x_j sigma_i), sigma_i = D_i^{-1/2}:

            dA_i = -e_tau + sum_j w_ij d_psi h_ij + db_i sum_j w_ij h'_ij
                   + dsigma_i (1/sigma_i + sum_j w_ij x_j h'_ij),

        db = d_psi h'(b^) / D, dD = -(h3(b^) db + d_psi h''(b^)), dsigma = -sigma^3 dD / 2,
        h3 the third derivative of h in b.
        """
        shift = b[self.cluster]
        d = interval_derivatives(bounds[0] + shift, bounds[1] + shift, self.dist)
        ones = np.ones_like(b)
        d_first = np.column_stack([self._rows(d.uu + d.ul, d.ul + d.ll), 2.0 * b / s2])
        d_second = np.column_stack([self._rows(d.uuu + 2.0 * d.uul + d.ull,
                                               d.uul + 2.0 * d.ull + d.lll), 2.0 * ones / s2])
        third = self._sum(d.shift[2])
        db = d_first / D[:, None]
        dD = -(third[:, None] * db + d_second)
        sigma = 1.0 / np.sqrt(D)
        dsigma = -0.5 * (sigma**3)[:, None] * dD
        partial = sum(w[:, None] * n[2] for w, n in zip(omega.T, nodes, strict=True))
        slope = sum(w * n[1] for w, n in zip(omega.T, nodes, strict=True))
        curve = sum(w * xj * n[1] for w, xj, n in zip(omega.T, self.nodes, nodes, strict=True))
        grad = partial + db * slope[:, None] + dsigma * (1.0 / sigma + curve)[:, None]
        total = grad.sum(axis=0)
        total[-1] -= b.size
        return total


def _hessian(integral: ClusterIntegral, x: Array, h: float = 1e-5) -> Array:
    """Central differences of the exact gradient, symmetrised."""
    cols = []
    for j in range(x.size):
        e = np.zeros_like(x)
        e[j] = h
        cols.append((integral.evaluate(x + e)[1] - integral.evaluate(x - e)[1]) / (2 * h))
    H = np.column_stack(cols)
    return 0.5 * (H + H.T)


@dataclass(frozen=True)
class CLMMFit:
    """The maximum: x = (alpha, beta [npmlt's sign], the covariance parameters), -2 log L,
    the Hessian of -2 log L in x, the conditional modes (clusters x terms, npmlt's sign)
    and conditional variances, the random-effect covariance, the number of BFGS
    iterations and the convergence flag."""

    x: Array
    deviance: float
    hessian: Array
    modes: Array
    condvar: Array
    cov_ranef: Array
    n_iter: int
    converged: bool
    singular: bool = False


def fixed_start(design: OrdinalDesign) -> Array:
    """alpha and beta of the model without random effects (npmlt's sign)."""
    start = fit_npml(fixed_only(design), 1)
    return start.likelihood.constrained(start.phi)[0]


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
    nAGQ = check_clmm_nagq(nAGQ)
    integral = ClusterIntegral(design, nAGQ)
    x = np.append(fixed_start(design), 0.0)

    def fun(z: Array) -> tuple[float, Array]:
        value, grad = integral.evaluate(z)
        return value, grad if grad is not None else np.zeros_like(z)

    res = optimize.minimize(fun, x, jac=True, method="BFGS",
                            options={"gtol": tol * 1e-2, "maxiter": maxit})
    H = _hessian(integral, res.x)
    x = newton_polish(integral.evaluate, integral.deviance, res.x, H, tol)
    if x is not res.x:  # the standard errors' Hessian at the polished maximum
        H = _hessian(integral, x)
    dev, g = integral.evaluate(x)  # last: the modes and curvatures at x
    converged = bool(np.max(np.abs(g)) < tol)
    if not converged:
        warn("clmm: the optimiser stopped before the gradient vanished; raise maxit",
             ConvergenceWarning)
    return CLMMFit(x, dev, H, integral.modes[:, None].copy(),
                   1.0 / integral.curvature[:, None], np.array([[np.exp(2.0 * x[-1])]]),
                   int(res.nit), converged)


def newton_polish(evaluate: Callable[[Array], tuple[float, Array]],
                  deviance: Callable[[Array], float], x: Array, H: Array,
                  tol: float) -> Array:
    """Up to POLISH_STEPS Newton steps on the fixed Hessian ``H`` from the optimiser's
    ``x``, while the gradient of ``evaluate(x) = (-2 log L, gradient)`` is at least
    tol / 100 (max-norm) and the deviance does not rise."""
    for _ in range(POLISH_STEPS):
        dev, g = evaluate(x)
        if np.max(np.abs(g)) < tol * 1e-2:
            break
        x_new = x - np.linalg.solve(H, g)
        if not deviance(x_new) <= dev:
            break
        x = x_new
    return x


def cluster_modes(evaluate: Callable[[Array], tuple[Array, Array, Array]], start: Array,
                  newton_step: Callable[[Array, Array], Array]) -> tuple[Array, Array, Array]:
    """The maxima of the clusters' concave h_i(b_i), all clusters at once: Newton steps
    (``newton_step(g, H)``) halved per cluster until h_i does not fall.

    ``evaluate(b)`` gives (h, g, H) per cluster (b: one row per cluster, or one value for
    a scalar effect); returns b, h and H at the modes."""
    b = start.copy()
    h, g, H = evaluate(b)
    for _ in range(100):
        step = newton_step(g, H)
        new = b + step
        h_new, g_new, H_new = evaluate(new)
        worse = ~(h_new >= h - 1e-12 * np.abs(h))
        for _ in range(30):
            if not worse.any():
                break
            step = np.where(worse.reshape(worse.shape + (1,) * (step.ndim - 1)),
                            0.5 * step, step)
            new = b + step
            h_new, g_new, H_new = evaluate(new)
            worse = ~(h_new >= h - 1e-12 * np.abs(h))
        b, h, g, H = new, h_new, g_new, H_new
        if np.max(np.abs(step)) < 1e-11:
            break
    return b, h, H
