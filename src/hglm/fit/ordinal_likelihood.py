"""The likelihood of one ordinal or nominal observation given its q linear predictors
eta_i1..eta_iq (:mod:`hglm.spec.ordinal`), with its first and second derivatives in them:
the pieces every ordinal estimator (NPML mass points, Laplace, quadrature) sums.

Cumulative model, y_i = r (categories 0..q):

    P_i = F(eta_ir) - F(eta_i,r-1),    eta_i,-1 = -inf, eta_iq = +inf,

so with u = eta_ir and l = eta_i,r-1 the derivatives are f(u)/P and -f(l)/P, and

    d2/du2 = f'(u)/P - (f(u)/P)^2,  d2/dl2 = -f'(l)/P - (f(l)/P)^2,  d2/dudl = f(u)f(l)/P^2.

P is taken as F(u) - F(l) when l <= 0 and as (1 - F(l)) - (1 - F(u)) otherwise, so that
neither tail loses its digits.  Baseline-category model: P_ir = exp(eta_ir) / (1 +
sum_s exp(eta_is)), P_iq = 1 / (1 + ...), with gradient e_r - p and Hessian pp' - diag(p).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from ..spec.ordinal import LatentDistribution

Array = np.ndarray


@dataclass(frozen=True)
class ObservationLikelihood:
    """Per observation: log-likelihood ``loglik`` (n,), gradient ``gradient`` (n, q) and
    Hessian ``hessian`` (n, q, q) in the linear predictors."""

    loglik: Array
    gradient: Array
    hessian: Array


def cumulative_likelihood(eta: Array, codes: Array, dist: LatentDistribution) -> (
        ObservationLikelihood):
    """The cumulative model's pieces at linear predictors ``eta`` (n, q) for categories
    ``codes`` (0..q)."""
    n, q = eta.shape
    rows = np.arange(n)
    has_upper, has_lower = codes < q, codes > 0
    u = np.where(has_upper, eta[rows, np.minimum(codes, q - 1)], np.inf)
    lo = np.where(has_lower, eta[rows, np.maximum(codes - 1, 0)], -np.inf)
    upper_tail = lo > 0
    with np.errstate(invalid="ignore"):
        prob = np.where(upper_tail, dist.sf(lo) - dist.sf(u), dist.cdf(u) - dist.cdf(lo))
        fu = np.where(has_upper, dist.pdf(np.where(has_upper, u, 0.0)), 0.0) / prob
        fl = np.where(has_lower, dist.pdf(np.where(has_lower, lo, 0.0)), 0.0) / prob
        du = np.where(has_upper, dist.dpdf(np.where(has_upper, u, 0.0)), 0.0) / prob
        dl = np.where(has_lower, dist.dpdf(np.where(has_lower, lo, 0.0)), 0.0) / prob
        loglik = np.log(prob)
    gradient = np.zeros((n, q))
    hessian = np.zeros((n, q, q))
    iu, il = np.flatnonzero(has_upper), np.flatnonzero(has_lower)
    cu, cl = codes[iu], codes[il] - 1
    gradient[iu, cu] = fu[iu]
    gradient[il, cl] = -fl[il]
    hessian[iu, cu, cu] = du[iu] - fu[iu] ** 2
    hessian[il, cl, cl] = -dl[il] - fl[il] ** 2
    both = np.flatnonzero(has_upper & has_lower)
    cross = fu[both] * fl[both]
    hessian[both, codes[both], codes[both] - 1] = cross
    hessian[both, codes[both] - 1, codes[both]] = cross
    return ObservationLikelihood(loglik, gradient, hessian)


def baseline_likelihood(eta: Array, codes: Array) -> ObservationLikelihood:
    """The baseline-category logit's pieces (category q is the baseline)."""
    n, q = eta.shape
    full = np.concatenate([eta, np.zeros((n, 1))], axis=1)
    norm = special.logsumexp(full, axis=1)
    loglik = full[np.arange(n), codes] - norm
    p = np.exp(eta - norm[:, None])
    gradient = -p
    inner = codes < q
    gradient[np.flatnonzero(inner), codes[inner]] += 1.0
    hessian = p[:, :, None] * p[:, None, :]
    hessian[:, np.arange(q), np.arange(q)] -= p
    return ObservationLikelihood(loglik, gradient, hessian)


def observation_likelihood(eta: Array, codes: Array, dist: LatentDistribution | None) -> (
        ObservationLikelihood):
    """The cumulative pieces for a latent distribution, the baseline-category ones for
    None."""
    if dist is None:
        return baseline_likelihood(eta, codes)
    return cumulative_likelihood(eta, codes, dist)


def category_probabilities(eta: Array, dist: LatentDistribution | None) -> Array:
    """P(y = r) for r = 0..q at linear predictors ``eta`` (n, q): shape (n, q+1)."""
    n = eta.shape[0]
    if dist is None:
        full = np.concatenate([eta, np.zeros((n, 1))], axis=1)
        return special.softmax(full, axis=1)
    cum = np.concatenate([np.zeros((n, 1)), dist.cdf(eta), np.ones((n, 1))], axis=1)
    return np.diff(cum, axis=1)
