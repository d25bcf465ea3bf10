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
    """Take the IRLS step, halving it while the deviance is non-finite or increases.

    Returns the coefficients, eta, mu, d mu / d eta and the deviance."""
    for _ in range(30):
        eta = X @ new + off
        mean, mu_eta = family.link.inverse_and_mu_eta(eta)
        mu = family.clip_mu(mean)
        dev = float(np.sum(w * family.unit_deviance(y, mu)))
        if old is None or (np.isfinite(dev) and dev <= old_dev * (1 + 1e-10) + 1e-12):
            return new, eta, mu, mu_eta, dev
        new = 0.5 * (new + old)
    return new, eta, mu, mu_eta, dev
