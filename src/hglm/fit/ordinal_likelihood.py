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

from ..spec import LatentDistribution

Array = np.ndarray


@dataclass(frozen=True)
class ObservationLikelihood:
    """Per observation: log-likelihood ``loglik`` (n,), gradient ``gradient`` (n, q) and
    Hessian ``hessian`` (n, q, q) in the linear predictors."""

    loglik: Array
    gradient: Array
    hessian: Array


@dataclass(frozen=True)
class Interval:
    """Each observation's bounding linear predictors: u = eta_i,y (or +inf for the top
    category), l = eta_i,y-1 (or -inf for the bottom one), as rows of the linear
    predictors' Jacobian (``upper``, ``lower``: (n, p), zero where infinite)."""

    upper: Array
    lower: Array
    has_upper: Array
    has_lower: Array

    def bounds(self, x: Array, shift: Array | float = 0.0) -> tuple[Array, Array]:
        """u and l at parameters x, shifted by ``shift``."""
        u = np.where(self.has_upper, self.upper @ x + shift, np.inf)
        lo = np.where(self.has_lower, self.lower @ x + shift, -np.inf)
        return u, lo


def interval(jacobian: Array, codes: Array) -> Interval:
    """The :class:`Interval` of categories ``codes`` from the Jacobian (n, q, p)."""
    n, q = jacobian.shape[:2]
    rows = np.arange(n)
    upper = jacobian[rows, np.minimum(codes, q - 1)] * (codes < q)[:, None]
    lower = jacobian[rows, np.maximum(codes - 1, 0)] * (codes > 0)[:, None]
    return Interval(upper, lower, codes < q, codes > 0)


def _interval_pieces(u: Array, lo: Array, dist: LatentDistribution) -> tuple[Array, ...]:
    """log P, f(u)/P, f(l)/P, f'(u)/P, f'(l)/P (zero at infinite bounds)."""
    has_upper, has_lower = np.isfinite(u), np.isfinite(lo)
    cu, su, fu, du = dist.pieces(np.where(has_upper, u, 0.0))
    cl, sl, fl, dl = dist.pieces(np.where(has_lower, lo, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        prob = np.where(lo > 0, np.where(has_lower, sl, 1.0) - np.where(has_upper, su, 0.0),
                        np.where(has_upper, cu, 1.0) - np.where(has_lower, cl, 0.0))
        return (np.log(prob), np.where(has_upper, fu, 0.0) / prob,
                np.where(has_lower, fl, 0.0) / prob, np.where(has_upper, du, 0.0) / prob,
                np.where(has_lower, dl, 0.0) / prob)


@dataclass(frozen=True)
class IntervalDerivatives:
    """log P(u, l) = log(F(u) - F(l)) and its partial derivatives up to the third order
    (``u``, ``l``, ``uu``, ``ul``, ``ll``, ``uuu``, ``uul``, ``ull``, ``lll``)."""

    loglik: Array
    u: Array
    l: Array  # noqa: E741
    uu: Array
    ul: Array
    ll: Array
    uuu: Array
    uul: Array
    ull: Array
    lll: Array

    @property
    def shift(self) -> tuple[Array, Array, Array]:
        """First, second and third derivatives in a shift common to u and l."""
        return (self.u + self.l, self.uu + 2.0 * self.ul + self.ll,
                self.uuu + 3.0 * self.uul + 3.0 * self.ull + self.lll)


def interval_derivatives(u: Array, lo: Array, dist: LatentDistribution) -> (
        IntervalDerivatives):
    """With a = f(u)/P, c = f(l)/P and primes on f:

        l_u = a, l_l = -c, l_uu = a' - a^2, l_ul = ac, l_ll = -c' - c^2,
        l_uuu = a'' - 3aa' + 2a^3, l_uul = c(a' - 2a^2), l_ull = a(c' + 2c^2),
        l_lll = -c'' - 3cc' - 2c^3.
    """
    loglik, a, c, a1, c1 = _interval_pieces(u, lo, dist)
    has_upper, has_lower = np.isfinite(u), np.isfinite(lo)
    with np.errstate(invalid="ignore", divide="ignore"):
        prob = np.exp(loglik)
        a2 = np.where(has_upper, dist.d2pdf(np.where(has_upper, u, 0.0)), 0.0) / prob
        c2 = np.where(has_lower, dist.d2pdf(np.where(has_lower, lo, 0.0)), 0.0) / prob
    return IntervalDerivatives(
        loglik, a, -c, a1 - a * a, a * c, -c1 - c * c,
        a2 - 3.0 * a * a1 + 2.0 * a**3, c * (a1 - 2.0 * a * a), a * (c1 + 2.0 * c * c),
        -c2 - 3.0 * c * c1 - 2.0 * c**3)


def shift_likelihood(u: Array, lo: Array, dist: LatentDistribution) -> tuple[Array, ...]:
    """log P and its first and second derivatives in a shift b common to u and l (a
    random intercept): f(u)/P - f(l)/P and f'(u)/P - f'(l)/P - (f(u)/P - f(l)/P)^2."""
    loglik, fu, fl, du, dl = _interval_pieces(u, lo, dist)
    first = fu - fl
    return loglik, first, du - dl - first**2


def shift_loglik(u: Array, lo: Array, dist: LatentDistribution) -> Array:
    """log P alone."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log(np.where(lo > 0, dist.sf(lo) - dist.sf(u), dist.cdf(u) - dist.cdf(lo)))


def cumulative_likelihood(eta: Array, codes: Array, dist: LatentDistribution) -> (
        ObservationLikelihood):
    """The cumulative model's pieces at linear predictors ``eta`` (n, q) for categories
    ``codes`` (0..q)."""
    n, q = eta.shape
    rows = np.arange(n)
    has_upper, has_lower = codes < q, codes > 0
    u = np.where(has_upper, eta[rows, np.minimum(codes, q - 1)], np.inf)
    lo = np.where(has_lower, eta[rows, np.maximum(codes - 1, 0)], -np.inf)
    loglik, fu, fl, du, dl = _interval_pieces(u, lo, dist)
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
