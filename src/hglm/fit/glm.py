"""Plain GLMs by iteratively reweighted least squares (IRLS).

Used for the starting values of the mean model, for the gamma GLMs of the dispersion
models (DESIGN.md, steps 4-5) and for the null model of ``lrt``.  The problems are small
(p columns), so each step is a least-squares solve of the weighted design.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from ..spec import ResponseFamily

Array = np.ndarray


@dataclass
class GLMFit:
    """A fitted GLM.

    Attributes
    ----------
    coef : ndarray
        Coefficients.
    eta, mu : ndarray
        Linear predictor (including the offset) and fitted means.
    working_weights : ndarray
        The IRLS weights w (dmu/deta)^2 / V(mu) of the last weighted least squares
        (evaluated at the iterate before the final update, as R's glm reports them).
    cov_unscaled : ndarray
        (X' W X)^{-1} with those weights: the covariance with dispersion 1.
    deviance : float
        Sum of prior-weighted unit deviances.
    n_iter : int
    converged : bool
    """

    coef: Array
    eta: Array
    mu: Array
    working_weights: Array
    cov_unscaled: Array
    deviance: float
    n_iter: int
    converged: bool


def fit_glm(
    y: Array,
    X: Array,
    family: ResponseFamily,
    weights: Array | None = None,
    offset: Array | None = None,
    start: Array | None = None,
    tol: float = 1e-12,
    maxit: int = 100,
) -> GLMFit:
    """Fit a GLM by IRLS with step halving on a non-finite or increasing deviance.

    Parameters
    ----------
    y, X : ndarray
        Response (n,) and full-rank design (n, p).
    family : ResponseFamily
    weights, offset : ndarray, optional
        Prior weights and offset (length n).
    start : ndarray, optional
        Starting coefficients; otherwise the family's starting means are used.
    tol : float
        Convergence when |dev - dev_old| / (|dev| + 0.1) < tol (R's glm rule).
    maxit : int
        Maximum number of IRLS steps.
    """
    n = y.shape[0]
    w = np.ones(n) if weights is None else weights
    off = np.zeros(n) if offset is None else offset
    link = family.link

    if start is None:
        mu = family.clip_mu(family.mustart(y, w))
        eta = link.link(mu)
        mu_eta = link.mu_eta(eta)
        coef = None
    else:
        coef = np.asarray(start, dtype=float)
        eta = X @ coef + off
        mean, mu_eta = link.inverse_and_mu_eta(eta)
        mu = family.clip_mu(mean)
    dev = float(np.sum(w * family.unit_deviance(y, mu)))

    converged = False
    n_iter = 0
    while n_iter < maxit:
        n_iter += 1
        ww = w * mu_eta**2 / family.variance(mu)
        z = eta - off + (y - mu) / mu_eta
        sw = np.sqrt(ww)
        new_coef = linalg.lstsq(X * sw[:, None], z * sw, lapack_driver="gelsy")[0]
        if coef is None and not _valid_mean(family, _evaluate(y, X, family, w, off, new_coef)):
            # the step from the family's starting means left the mean's space (a 1/mu^2
            # or identity link): start again from the mean of those means, inside it
            coef = _mean_start(y, X, family, w, off)
            eta, mu, mu_eta, dev = _evaluate(y, X, family, w, off, coef)[1:]
            continue
        new_coef, eta, mu, mu_eta, new_dev = _halve_until_better(
            y, X, family, w, off, coef, new_coef, dev
        )
        coef = new_coef
        if abs(new_dev - dev) / (abs(new_dev) + 0.1) < tol:
            dev = new_dev
            converged = True
            break
        dev = new_dev

    # as R's glm: the covariance uses the weights of the last weighted least squares
    cov = linalg.pinvh(X.T @ (X * ww[:, None]))
    return GLMFit(coef, eta, mu, ww, cov, dev, n_iter, converged)


def _evaluate(
    y: Array, X: Array, family: ResponseFamily, w: Array, off: Array, coef: Array
) -> tuple[Array, Array, Array, Array, float]:
    """g^{-1}(eta) unclipped, eta, mu, d mu / d eta and the deviance at ``coef``."""
    eta = X @ coef + off
    with np.errstate(all="ignore"):
        mean, mu_eta = family.link.inverse_and_mu_eta(eta)
        mu = family.clip_mu(mean)
        dev = float(np.sum(w * family.unit_deviance(y, mu)))
    return mean, eta, mu, mu_eta, dev


def _valid_mean(family: ResponseFamily, evaluated: tuple) -> bool:
    """Whether the deviance and d mu / d eta of :func:`_evaluate` are finite and the
    means in their space (:func:`in_mean_space`)."""
    mean, _, _, mu_eta, dev = evaluated
    return bool(np.isfinite(dev) and np.all(np.isfinite(mu_eta)) and in_mean_space(family, mean))


def in_mean_space(family: ResponseFamily, mean: Array) -> bool:
    """Whether the means g^{-1}(eta) are finite, and positive for a positive family
    (an identity, inverse or 1/mu^2 link can leave that space)."""
    finite = bool(np.isfinite(mean).all())
    return finite and (not positive_family(family) or bool(np.all(mean > 0)))


def positive_family(family: ResponseFamily) -> bool:
    """Whether the family's means are positive (else any finite mean is in its space)."""
    return family.name in ("poisson", "Gamma", "inverse.gaussian")


def _mean_start(y: Array, X: Array, family: ResponseFamily, w: Array, off: Array) -> Array:
    """Coefficients whose linear predictor is (in least squares) the link of the mean
    of the family's starting means: inside the mean's space for every link."""
    m = np.sum(w * family.clip_mu(family.mustart(y, w))) / np.sum(w)
    target = np.full(y.shape[0], float(family.link.link(np.array(m)))) - off
    return linalg.lstsq(X, target, lapack_driver="gelsy")[0]


def _halve_until_better(
    y: Array,
    X: Array,
    family: ResponseFamily,
    w: Array,
    off: Array,
    old: Array | None,
    new: Array,
    old_dev: float,
) -> tuple[Array, Array, Array, Array, float]:
    """Take the IRLS step, halving it while the means leave their space or the deviance
    is non-finite or increases.

    Returns the coefficients, eta, mu, d mu / d eta and the deviance."""
    for _ in range(30):
        evaluated = _evaluate(y, X, family, w, off, new)
        _, eta, mu, mu_eta, dev = evaluated
        if old is None or (
            _valid_mean(family, evaluated) and dev <= old_dev * (1 + 1e-10) + 1e-12
        ):
            return new, eta, mu, mu_eta, dev
        new = 0.5 * (new + old)
    return new, eta, mu, mu_eta, dev
