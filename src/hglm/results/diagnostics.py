"""The numbers of R's ``plot.hglm`` diagnostics, without matplotlib: probability points,
the smoother, the standardized residuals of the residual-dispersion GLM and the gamma
quantiles of the scaled deviances (drawn by :mod:`hglm.results.plots`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._distributions import gamma_ppf
from .view import HGLMView

Array = np.ndarray


def ppoints(n: int) -> Array:
    """Probability points ``(i - a) / (n + 1 - 2a)``, ``a = 3/8`` if n <= 10 else 1/2.

    R's ``ppoints``, used by ``qqnorm`` for the theoretical quantiles.

    Parameters
    ----------
    n : int
        Number of points.

    Returns
    -------
    ndarray
        ``n`` increasing probabilities in (0, 1).
    """
    a = 3.0 / 8.0 if n <= 10 else 0.5
    return (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)


def smooth(
    x: Sequence[float] | Array,
    y: Sequence[float] | Array,
    span: float = 2.0 / 3.0,
    n_points: int = 50,
) -> tuple[Array, Array]:
    """Local linear (lowess-type) smoother evaluated on a grid, like R's ``loess.smooth``.

    At each grid point ``x0`` a weighted straight line is fitted with Gaussian weights
    ``exp(-2 (|x - x0| / h)^2)``, where ``h`` is the distance from ``x0`` to its
    ``ceil(span * n)``-th nearest observation (the radius of loess's window), at least a
    tenth of the range of x.  Unlike
    loess's tricube weights these never vanish, so the curve stays continuous when x
    takes few distinct values (e.g. a dispersion model with factor covariates).

    Parameters
    ----------
    x, y : array-like
        The points to smooth (same length).
    span : float
        Fraction of the points in each local window (R's default 2/3).
    n_points : int
        Number of equally spaced grid points between ``min(x)`` and ``max(x)``.

    Returns
    -------
    grid, fitted : ndarray
        The grid and the smoothed values on it (a single point when all x are equal).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("x, y: need two 1-d arrays of the same length")
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size == 0:
        return np.empty(0), np.empty(0)
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return np.array([lo]), np.array([float(y.mean())])
    grid = np.linspace(lo, hi, n_points)
    k = min(x.size, max(2, int(np.ceil(span * x.size))))
    fitted = np.empty_like(grid)
    for i, x0 in enumerate(grid):
        dist = np.abs(x - x0)
        h = max(float(np.partition(dist, k - 1)[k - 1]), 0.1 * (hi - lo))
        w = np.exp(-2.0 * (dist / h) ** 2)
        sw = w.sum()
        xm = float(np.sum(w * x) / sw)
        ym = float(np.sum(w * y) / sw)
        sxx = float(np.sum(w * (x - xm) ** 2))
        slope = float(np.sum(w * (x - xm) * (y - ym)) / sxx) if sxx > 1e-12 * sw * h * h else 0.0
        fitted[i] = ym + slope * (x0 - xm)
    return grid, fitted


def dispersion_residuals(fit: HGLMView) -> Array:
    """Standardized deviance residuals of the residual-dispersion GLM (R's ``disp.resid``).

    The dispersion GLM is the gamma GLM of ``y_i = d_i / (1 - h_i)`` with prior weights
    ``w_i = (1 - h_i) / 2`` and fitted values ``phi_i`` (``fit.disp_fitted``), where
    ``d_i`` and ``h_i`` are the first n deviances and hat-values.  The residual is the
    deviance residual ``sign(y_i - phi_i) * sqrt(w_i * 2 * (-log(y_i / phi_i) +
    (y_i - phi_i) / phi_i))`` divided by ``sqrt(1 - g_i)``, with ``g_i`` the leverages
    of that gamma GLM (R: ``residuals(g11) / sqrt(1 - hatvalues(g11))``).

    Parameters
    ----------
    fit : HGLMResult
        A fit whose residual dispersion was estimated (not ``fix_disp``).

    Returns
    -------
    ndarray (n,)
    """
    if fit.disp_coef is None:
        raise ValueError("fit: the residual dispersion was fixed; it has no dispersion model")
    n = fit.fitted.shape[0]
    h = np.asarray(fit.hat_values[:n], dtype=float)
    d = np.maximum(np.asarray(fit.deviances[:n], dtype=float), 1e-8)
    phi = np.asarray(fit.disp_fitted, dtype=float) * np.ones(n)
    y = d / (1.0 - h)
    w = (1.0 - h) / 2.0
    unit = 2.0 * (-np.log(y / phi) + (y - phi) / phi)
    r = np.sign(y - phi) * np.sqrt(np.maximum(w * unit, 0.0))
    return r / np.sqrt(1.0 - _dispersion_leverages(fit, w, phi))


def _dispersion_leverages(fit: HGLMView, prior: Array, phi: Array) -> Array:
    """Leverages of the gamma GLM of the residual dispersion at its fitted values."""
    problem = fit._engine.problem
    n = phi.shape[0]
    X = np.ones((n, 1)) if problem.x_disp is None else np.asarray(problem.x_disp, dtype=float)
    link = problem.link_disp
    mu_eta = link.mu_eta(link.link(phi))
    W = prior * mu_eta**2 / phi**2  # gamma variance function mu^2
    Xw = X * np.sqrt(W)[:, None]
    q, _ = np.linalg.qr(Xw)
    return np.clip(np.sum(q**2, axis=1), 0.0, 1.0 - 1e-8)


def scaled_deviance_quantiles(fit: HGLMView) -> tuple[Array, Array]:
    """The points of the gamma quantile plot of the scaled observation deviances.

    Parameters
    ----------
    fit : HGLMResult

    Returns
    -------
    theoretical, observed : ndarray
        Quantiles of chi-square(1) (Gamma with shape 1/2 and scale 2) at
        :func:`ppoints`, and the sorted ``d_i / phi_i`` of the n observations.
    """
    n = fit.fitted.shape[0]
    scaled = np.sort(np.asarray(fit.deviances[:n], dtype=float) / fit.disp_fitted)
    theoretical = gamma_ppf(ppoints(n), 0.5, 2.0)
    return theoretical, scaled
