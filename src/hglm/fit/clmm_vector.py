"""Laplace fits of cumulative link mixed models with a vector-valued random term of one
grouping factor, ``(1 + x | g)`` (ordinal's clmm with nAGQ = 1).

In npmlt's sign, eta_ijr = alpha_r + x_ij'beta + z_ij'b_i, b_i ~ N(0, Sigma), Sigma = L L'
with L lower triangular, its diagonal on the log scale (the outer parameters are alpha,
beta and L's lower triangle column by column).  Per cluster, with
h_i(b) = sum_j log P(y_ij | eta_ij + z_ij'b) - b'Sigma^{-1}b / 2, the conditional mode
b^_i comes from Newton's method (batched d x d solves over the clusters) and

    log L_i = h_i(b^_i) - log|Sigma| / 2 - log|D_i| / 2,    D_i = -h_i''(b^_i).

The outer parameters are found by BFGS on central-difference gradients, then Newton
steps on the central-difference Hessian, whose inverse gives the standard errors.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy import optimize

from .._warn import warn
from ..spec import OrdinalDesign, Unstructured, latent_distribution
from .clmm import CLMMFit, cluster_modes, fixed_start, newton_polish
from .covariance_update import from_log_cholesky
from .diagnostics import BoundaryWarning, ConvergenceWarning
from .differences import value_gradient, value_hessian
from .ordinal_likelihood import interval, shift_likelihood

Array = np.ndarray

SINGULAR = 1e-6  # smallest / largest eigenvalue of Sigma taken as a boundary fit


def covariance_factor(params: Array, d: int) -> Array:
    """L (lower triangular, diagonal exp of its parameters) from its column-wise lower
    triangle: the log-Cholesky state of :mod:`.covariance_update`."""
    return from_log_cholesky(params, Unstructured(d))


class VectorLaplace:
    """-2 log L(x) by the Laplace approximation, x = (alpha, beta, L's parameters)."""

    def __init__(self, design: OrdinalDesign) -> None:
        self.design = design
        self.dist = latent_distribution(design.link)
        self.interval = interval(design.fixed_jacobian(), design.response.codes)
        self.cluster, self.n_clusters = design.cluster, design.n_clusters
        self.Z = design.Z
        n, d = self.Z.shape
        self.d, self.p = d, design.n_fixed
        self.ZZ = (self.Z[:, :, None] * self.Z[:, None, :]).reshape(n, d * d)
        self.C = sp.csr_matrix((np.ones(n), (self.cluster, np.arange(n))),
                               shape=(self.n_clusters, n))
        self.modes = np.zeros((self.n_clusters, d))
        self.precision = np.ones((self.n_clusters, d, d))

    def _h(self, bounds: tuple[Array, Array], B: Array, Sinv: Array) -> tuple[Array, ...]:
        shift = np.einsum("nd,nd->n", self.Z, B[self.cluster])
        loglik, first, second = shift_likelihood(bounds[0] + shift, bounds[1] + shift,
                                                 self.dist)
        h = self.C @ loglik - 0.5 * np.einsum("id,de,ie->i", B, Sinv, B)
        g = self.C @ (first[:, None] * self.Z) - B @ Sinv
        H = (self.C @ (second[:, None] * self.ZZ)).reshape(-1, self.d, self.d) - Sinv
        return h, g, H

    def solve_modes(self, bounds: tuple[Array, Array], Sinv: Array) -> tuple[Array, ...]:
        """Conditional modes, h_i there and D_i."""
        B, h, H = cluster_modes(lambda B: self._h(bounds, B, Sinv), self.modes,
                                lambda g, H: np.linalg.solve(-H, g[:, :, None])[:, :, 0])
        self.modes = B
        return B, h, -H

    def deviance(self, x: Array) -> float:
        """-2 log L at x (inf where the thresholds are out of order)."""
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            L = covariance_factor(x[self.p :], self.d)
            Sinv = np.linalg.inv(L @ L.T)
            try:
                _, h, D = self.solve_modes(self.interval.bounds(x[: self.p]), Sinv)
            except np.linalg.LinAlgError:
                self.modes = np.zeros_like(self.modes)
                return np.inf
            sign, logdet = np.linalg.slogdet(D)
            if not (np.all(np.isfinite(h)) and np.all(sign > 0)):
                self.modes = np.zeros_like(self.modes)
                return np.inf
            self.precision = D
            total = np.sum(h - 0.5 * logdet) - self.n_clusters * np.sum(np.log(np.diag(L)))
        return float(-2.0 * total) if np.isfinite(total) else np.inf


def fit_clmm_vector(design: OrdinalDesign, *, tol: float = 1e-4,
                    maxit: int = 1000) -> CLMMFit:
    """Maximise the Laplace likelihood of a cumulative model with a vector random term.

    Parameters
    ----------
    design : OrdinalDesign
        Its random covariates Z (one or more columns) and clusters.
    tol : float
        Tolerance of the central-difference gradient of -2 log L (max-norm).
    maxit : int
        BFGS iterations.
    """
    lap = VectorLaplace(design)
    d = lap.d
    x = np.concatenate([fixed_start(design), np.zeros(d * (d + 1) // 2)])
    f = lap.deviance
    res = optimize.minimize(f, x, jac=lambda z: value_gradient(f, z), method="BFGS",
                            options={"gtol": tol * 1e-2, "maxiter": maxit})
    H = value_hessian(f, res.x)
    x = newton_polish(lambda z: (f(z), value_gradient(f, z)), f, res.x, H, tol)
    if x is not res.x:  # the standard errors' Hessian at the polished maximum
        H = value_hessian(f, x)
    L = covariance_factor(x[lap.p :], d)
    eig = np.linalg.eigvalsh(L @ L.T)
    singular = bool(eig.min() < SINGULAR * eig.max())
    converged = bool(np.max(np.abs(value_gradient(f, x))) < tol)
    if singular:
        warn("clmm: singular fit: the random-effect covariance is estimated at the "
             "boundary (a variance or a combination of the terms at 0); the model "
             "needs fewer random terms", BoundaryWarning)
    elif not converged:
        warn("clmm: the optimiser stopped before the gradient vanished; raise maxit",
             ConvergenceWarning)
    dev = f(x)
    condvar = np.diagonal(np.linalg.inv(lap.precision), axis1=1, axis2=2)
    return CLMMFit(x, dev, H, lap.modes.copy(), condvar.copy(), L @ L.T, int(res.nit),
                   converged, singular)
