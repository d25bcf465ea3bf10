"""Likelihoods of a fitted HGLM (DESIGN.md, "Likelihoods").

All are evaluated at the final estimates with the final dispersions: the conditional
log-likelihood of y given v, the h-likelihood, the adjusted profile likelihoods pvh
(over v) and pbvh (over beta and v, the REML-like one), and the conditional AIC.  The
log-determinants come from the structured Cholesky factor of T'WT.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from ..spec import RandomFamily, ResponseFamily
from .eql_result import EngineFit
from .glm import fit_glm

Array = np.ndarray
LOG_2PI = float(np.log(2.0 * np.pi))


def conditional_loglik(
    y: Array, mu: Array, family: ResponseFamily, phi: Array, weights: Array
) -> float:
    """log f(y | v): the family's log-density of the n observations.

    ``phi`` is the dispersion of each observation before prior weights, so the
    variance of y_i is phi_i V(mu_i) / weights_i.
    """
    name = family.name
    if name == "binomial":
        return _binomial_loglik(np.round(weights * y), np.round(weights), mu)
    d = weights * family.unit_deviance(y, mu) / phi
    if name == "gaussian":
        return float(-0.5 * np.sum(LOG_2PI + np.log(phi / weights)) - 0.5 * np.sum(d))
    if name == "poisson":
        const = special.xlogy(y, y) - y - special.gammaln(y + 1.0)
        return float(np.sum(weights * const) - 0.5 * np.sum(d))
    if name == "Gamma":
        shape = weights / phi
        const = -np.log(y) - shape + shape * np.log(shape) - special.gammaln(shape)
        return float(np.sum(const) - 0.5 * np.sum(d))
    if name == "inverse.gaussian":
        return float(-0.5 * np.sum(LOG_2PI + np.log(phi / weights) + 3.0 * np.log(y))
                     - 0.5 * np.sum(d))
    raise ValueError(f"family: no likelihood for the {name} family")


def _binomial_loglik(successes: Array, trials: Array, mu: Array) -> float:
    """sum log C(n, k) + k log mu + (n - k) log(1 - mu): the binomial log-probabilities
    (the log binomial coefficients only where a trial count exceeds 1)."""
    if (trials == 1.0).all():  # Bernoulli: the log of the probability of what was seen
        with np.errstate(divide="ignore"):  # log 0 = -inf, as xlogy's
            return float(np.log(np.where(successes > 0.5, mu, 1.0 - mu)).sum())
    failures = trials - successes
    ll = float(np.sum(special.xlogy(successes, mu) + special.xlog1py(failures, -mu)))
    if np.any(trials > 1.0):
        ll += float(np.sum(special.gammaln(trials + 1.0) - special.gammaln(successes + 1.0)
                           - special.gammaln(failures + 1.0)))
    return ll


def random_loglik(v: Array, family: RandomFamily, lam: Array) -> float:
    """sum log f_v(v; lambda): the random effects' log-density on the v scale."""
    u = family.link.inverse(v)
    log_jacobian = np.log(np.abs(family.link.mu_eta(v)))
    name = family.name
    if name in ("gaussian", "CAR", "SAR"):
        logf = -0.5 * (LOG_2PI + np.log(lam)) - 0.5 * u**2 / lam
    elif name == "Gamma":
        a = 1.0 / lam
        logf = a * np.log(a) + (a - 1.0) * np.log(u) - a * u - special.gammaln(a)
    elif name == "Beta":
        a = family.psi / lam
        b = (1.0 - family.psi) / lam
        logf = (a - 1.0) * np.log(u) + (b - 1.0) * np.log1p(-u) - special.betaln(a, b)
    elif name == "inverse.gamma":
        a, scale = 1.0 + 1.0 / lam, 1.0 / lam
        logf = a * np.log(scale) - special.gammaln(a) - (a + 1.0) * np.log(u) - scale / u
    else:
        raise ValueError(f"rand_family: no likelihood for the {name} family")
    return float(np.sum(logf + log_jacobian))


def precision_loglik(u: Array, Q: object, lam: Array) -> float:
    """sum log f(v; lambda) of a term with a known precision Q, on the scale of its
    independent effects v = R u (R'R = Q), as for a known covariance: v'v = u'Qu.  The
    Jacobian log det R is left out here and in the log-determinants alike
    (``engine.sparse``), as the dense path leaves out log det L."""
    quad = float(u @ (Q @ u))
    return float(-0.5 * np.sum(LOG_2PI + np.log(lam)) - 0.5 * quad / float(np.mean(lam)))


@dataclass
class Likelihoods:
    """hlik, pvh, pbvh and cAIC of a fit (R's ``likelihood`` component)."""

    hlik: float
    pvh: float
    pbvh: float
    cAIC: float

    def as_dict(self) -> dict[str, float]:
        return {"hlik": self.hlik, "pvh": self.pvh, "pbvh": self.pbvh, "cAIC": self.cAIC}


def fit_likelihoods(engine: EngineFit) -> Likelihoods:
    """hlik, pvh, pbvh and cAIC at the final estimates with the final dispersions.

    With W1 and W2 the IWLS weights there, H = Z'W1Z + W2 and A = T'WT:
    pvh = hlik - log det(H / 2 pi) / 2 and pbvh = hlik - log det(A / 2 pi) / 2;
    cAIC = -2 log f(y|v) + 2 sum_i h_i with the observation leverages of the fit.
    """
    pb, fitter = engine.problem, engine.fitter
    system = fitter.system
    w1, w2 = engine.final_weights()
    cond = conditional_loglik(pb.y, engine.last.mu, pb.family, engine.phi, pb.weights)
    rand = sum(
        random_loglik(engine.fitted_v[sl], t.family, engine.lam[sl]) if t.precision is None
        else precision_loglik(engine.fitted_v[sl], t.precision, engine.lam[sl])
        for sl, t in zip(fitter.term_slices, pb.terms, strict=True)
    )
    # a vector term's u = L b: the Jacobian -m log|L| of log f(u) (pvh, pbvh: cancelled
    # by the log-determinants on the scale of b)
    jacobian = sum(
        -(sl.stop - sl.start) / L.shape[0] * float(np.sum(np.log(np.diag(L))))
        for sl, L in zip(fitter.term_slices, engine.last.factors, strict=True)
        if L is not None
    )
    factor = fitter.factorize(w1, w2)
    hlik = cond + rand
    logdet_h = factor.logdet_random_block() - system.q * LOG_2PI
    logdet_a = factor.logdet() - (system.q + system.p) * LOG_2PI
    # cAIC counts the effective parameters as the leverages of the last solve (R's hv)
    leverage = engine.last.observation_leverage_sum
    return Likelihoods(
        hlik + jacobian, hlik - 0.5 * logdet_h, hlik - 0.5 * logdet_a,
        -2.0 * cond + 2.0 * leverage
    )


def glm_loglik(
    y: Array, X: Array, family: ResponseFamily, weights: Array, offset: Array
) -> float:
    """Log-likelihood of the GLM y ~ X without random effects, as R's logLik(glm)."""
    fit = fit_glm(y, X, family, weights, offset)
    n = y.shape[0]
    if family.name == "gaussian":
        rss = fit.deviance
        return float(-0.5 * (n * (LOG_2PI + np.log(rss / n) + 1.0) - np.sum(np.log(weights))))
    if family.name in ("poisson", "binomial"):
        return conditional_loglik(y, fit.mu, family, np.ones(n), weights)
    disp = fit.deviance / (n if family.name == "Gamma" else float(np.sum(weights)))
    return conditional_loglik(y, fit.mu, family, np.full(n, disp), weights)
