"""The marginal log-likelihood of an ordinal model with a discrete (NPML) random-effect
distribution, with its per-cluster scores and exact Hessian, in an unconstrained
parametrisation.

The model: b_i takes one of k points a_1..a_k (d coordinates, one per random covariate)
with masses pi_1..pi_k, and

    L = sum_i log sum_l pi_l exp(l_il),    l_il = sum_{j in i} log P(y_ij | eta_ij + z_ij'a_l).

npmlt constrains the mean sum_l pi_l a_l to 0.  Each random covariate also shifts fixed
parameters (the intercept all thresholds, a covariate its coefficient or its q
category-specific ones), so here the points are free and, for each random covariate, the
first fixed parameter it shifts is held at 0 instead: the same model, without constraint.
:func:`constrained` maps back (points centred, the mean added to the fixed parameters).

The parameters phi = (theta, a_1, .., a_k, rho), with theta the remaining fixed
parameters and pi = softmax(rho, 0).  With posterior weights w_il and the score g_il of
log pi_l + l_il, the cluster scores are s_i = sum_l w_il g_il and the Hessian is

    sum_i [ sum_l w_il (H_il + g_il g_il') - s_i s_i' ].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import special

from ..spec import OrdinalDesign, latent_distribution
from .ordinal_likelihood import observation_likelihood

Array = np.ndarray


@dataclass(frozen=True)
class MixtureValue:
    """The log-likelihood, and when asked its gradient, Hessian, per-cluster scores
    (n_clusters, P) and posterior weights (n_clusters, k)."""

    loglik: float
    gradient: Array | None = None
    hessian: Array | None = None
    scores: Array | None = None
    posterior: Array | None = None


def random_shifts(design: OrdinalDesign) -> list[list[int]]:
    """Per random covariate, the fixed parameters it shifts (the first is held at 0)."""
    shifts = []
    for name in design.z_names:
        cols = design.fixed_columns(name)
        if not cols:
            raise ValueError(
                f"random: the random covariate {name!r} is not in formula (or formula_npo); "
                "the random-effect mean is constrained to 0 as in npmlt, so add it to the "
                "fixed part")
        shifts.append(cols)
    return shifts


class MixtureLikelihood:
    """L(phi) of :mod:`npml_likelihood` for a design and k mass points."""

    def __init__(self, design: OrdinalDesign, k: int) -> None:
        self.design, self.k = design, k
        self.d = len(design.z_names)
        self.shifts = random_shifts(design)
        held = {cols[0] for cols in self.shifts}
        self.free = np.array([c for c in range(design.n_fixed) if c not in held], dtype=int)
        self.pf = self.free.size
        fixed = design.fixed_jacobian()[:, :, self.free]
        n, q = fixed.shape[:2]
        self.J = np.concatenate(
            [fixed, np.broadcast_to(design.Z[:, None, :], (n, q, self.d))], axis=2)
        self.dist = latent_distribution(design.link) if design.cumulative else None
        self.C = sp.csr_matrix((np.ones(n), (design.cluster, np.arange(n))),
                               shape=(design.n_clusters, n))
        self.size = self.pf + k * self.d + k - 1

    def split(self, phi: Array) -> tuple[Array, Array, Array]:
        """theta, the points (k, d) and the log masses (k,)."""
        theta = phi[: self.pf]
        points = phi[self.pf : self.pf + self.k * self.d].reshape(self.k, self.d)
        rho = np.append(phi[self.pf + self.k * self.d :], 0.0)
        return theta, points, rho - special.logsumexp(rho)

    def _pieces(self, phi: Array) -> tuple[list, Array, Array]:
        theta, points, log_pi = self.split(phi)
        base = self.J[:, :, : self.pf] @ theta
        obs, ll = [], np.empty((self.design.n_clusters, self.k))
        for c in range(self.k):
            eta = base + (self.design.Z @ points[c])[:, None]
            o = observation_likelihood(eta, self.design.response.codes, self.dist)
            obs.append(o)
            ll[:, c] = self.C @ o.loglik
        return obs, ll, log_pi

    def value(self, phi: Array, order: int = 0) -> MixtureValue:
        """L at phi; with ``order`` 1 its gradient and cluster scores, with 2 the Hessian."""
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            obs, ll, log_pi = self._pieces(phi)
            joint = ll + log_pi
            total = special.logsumexp(joint, axis=1)
            loglik = float(np.sum(total))
        if not np.isfinite(loglik):
            return MixtureValue(-np.inf)
        if order == 0:
            return MixtureValue(loglik)
        W = np.exp(joint - total[:, None])
        G = self._component_scores(obs, np.exp(log_pi))
        scores = np.matmul(W[:, None, :], G)[:, 0, :]
        gradient = scores.sum(axis=0)
        if order == 1:
            return MixtureValue(loglik, gradient, None, scores, W)
        hessian = self._hessian(obs, W, G, scores, np.exp(log_pi))
        if not np.all(np.isfinite(hessian)):
            return MixtureValue(-np.inf)
        return MixtureValue(loglik, gradient, hessian, scores, W)

    def _embed(self, c: int) -> Array:
        """Positions in phi of (theta, a_c)."""
        start = self.pf + c * self.d
        return np.concatenate([np.arange(self.pf), np.arange(start, start + self.d)])

    def _component_scores(self, obs: list, pi: Array) -> Array:
        """g_il, shape (n_clusters, k, P)."""
        G = np.zeros((self.design.n_clusters, self.k, self.size))
        mass = self.pf + self.k * self.d
        for c, o in enumerate(obs):
            G[:, c, self._embed(c)] = self.C @ np.matmul(o.gradient[:, None, :], self.J)[:, 0]
            G[:, c, mass:] = -pi[: self.k - 1]
            if c < self.k - 1:
                G[:, c, mass + c] += 1.0
        return G

    def _hessian(self, obs: list, W: Array, G: Array, scores: Array, pi: Array) -> Array:
        flat = G.reshape(-1, self.size)
        H = (flat * W.reshape(-1, 1)).T @ flat - scores.T @ scores
        n, q, width = self.J.shape
        for c, o in enumerate(obs):
            weights = W[self.design.cluster, c]
            JH = np.matmul(o.hessian, self.J).reshape(n * q, width)
            block = (self.J * weights[:, None, None]).reshape(n * q, width).T @ JH
            idx = self._embed(c)
            H[np.ix_(idx, idx)] += block
        mass = self.pf + self.k * self.d
        p = pi[: self.k - 1]
        H[mass:, mass:] -= self.design.n_clusters * (np.diag(p) - np.outer(p, p))
        return H

    def constrained(self, phi: Array) -> tuple[Array, Array, Array]:
        """npmlt's parameters: fixed (n_fixed,), centred points (k, d), masses (k,)."""
        theta, points, log_pi = self.split(phi)
        pi = np.exp(log_pi)
        fixed = np.zeros(self.design.n_fixed)
        fixed[self.free] = theta
        mean = pi @ points
        for j, cols in enumerate(self.shifts):
            fixed[cols] += mean[j]
        return fixed, points - mean, pi
