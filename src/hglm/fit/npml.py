"""NPML estimation of an ordinal/nominal model with k mass points (mixcat's npmlt).

The log-likelihood of :mod:`.npml_likelihood` is maximised by a trust-region Newton
method on its exact Hessian (scipy's ``trust-exact``, which accepts the indefinite
Hessians of a mixture far from its maximum), from several starts: the model without
random effects is fitted first, then the points start at Gauss-Hermite nodes of several
spreads around its thresholds with the Gauss-Hermite weights as masses.  The best
maximum is kept.  Standard errors, by default npmlt's (the inverse of the outer product
of the cluster scores) or from the observed information, are carried to npmlt's
parameters (centred points, masses, the random-effect covariance) by the delta method.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.polynomial import hermite_e
from scipy import optimize

from .._warn import warn
from ..spec import OrdinalDesign, latent_distribution
from .diagnostics import BoundaryWarning, ConvergenceWarning
from .npml_likelihood import MixtureLikelihood, MixtureValue

Array = np.ndarray

NPML_SE_KINDS = ("opg", "observed")
SPREADS = (0.5, 1.0, 2.0, 4.0)
DIVERGED = 15.0  # a point this far out (logit scale) puts probabilities within 3e-7 of 0, 1


@dataclass(frozen=True)
class NPMLFit:
    """The maximum: parameters ``phi`` of ``likelihood``, its value, the number of
    Newton iterations of the best start, whether it converged and whether the mass-point
    distribution is degenerate (a mass near 0 or two coinciding points)."""

    likelihood: MixtureLikelihood
    phi: Array
    value: MixtureValue
    n_iter: int
    converged: bool
    degenerate: bool = False


def fixed_only(design: OrdinalDesign) -> OrdinalDesign:
    """The design without its random covariates (the model without random effects)."""
    return OrdinalDesign(**{**design.__dict__, "Z": design.Z[:, :0], "z_names": ()})


def _minimize(lik: MixtureLikelihood, phi0: Array, tol: float, maxit: int) -> (
        optimize.OptimizeResult):
    cache: dict[bytes, MixtureValue] = {}

    def get(phi: Array) -> MixtureValue:
        key = phi.tobytes()
        if key not in cache:
            cache.clear()
            cache[key] = lik.value(phi, order=2)
        return cache[key]

    def fun(phi: Array) -> float:
        v = get(phi)
        return -v.loglik if np.isfinite(v.loglik) else np.inf

    def jac(phi: Array) -> Array:
        v = get(phi)
        return -v.gradient if v.gradient is not None else np.zeros_like(phi)

    def hess(phi: Array) -> Array:
        v = get(phi)
        return -v.hessian if v.hessian is not None else np.eye(phi.size)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return optimize.minimize(fun, phi0, jac=jac, hess=hess, method="trust-exact",
                                 options={"gtol": tol, "maxiter": maxit})


def _threshold_start(design: OrdinalDesign) -> Array:
    """Thresholds from the marginal category proportions, other coefficients 0."""
    q = design.q
    props = np.bincount(design.response.codes, minlength=q + 1) / design.response.codes.size
    start = np.zeros(design.n_fixed)
    if design.cumulative:
        cum = np.clip(np.cumsum(props)[:q], 1e-6, 1 - 1e-6)
        start[:q] = latent_distribution(design.link).quantile(cum)
    else:
        start[:q] = np.log(props[:q] / props[q])
    return start


def _random_start(lik: MixtureLikelihood, fixed: Array, spread: float, slope: float) -> Array:
    """phi with the points at Gauss-Hermite nodes times ``spread`` (intercept-like first
    coordinate; the others times ``slope``) around the fixed fit's shifted parameters."""
    k, d = lik.k, lik.d
    nodes, weights = hermite_e.hermegauss(k) if k > 1 else (np.zeros(1), np.ones(1))
    theta_full = fixed.copy()
    centre = np.zeros(d)
    for j, cols in enumerate(lik.shifts):
        centre[j] = fixed[cols[0]]
        theta_full[cols] -= centre[j]
    scale = np.full(d, spread * slope)
    if d:
        scale[0] = spread
    points = centre[None, :] + nodes[:, None] * scale[None, :]
    masses = weights / weights.sum()
    rho = np.log(masses[:-1] / masses[-1])
    return np.concatenate([theta_full[lik.free], points.ravel(), rho])


def fit_npml(design: OrdinalDesign, k: int, *, tol: float = 1e-8, maxit: int = 500,
             spreads: tuple[float, ...] = SPREADS) -> NPMLFit:
    """The NPML maximum with k mass points over several starts.

    Parameters
    ----------
    design : OrdinalDesign
    k : int
        Number of mass points (1: no random effects).
    tol : float
        Newton's gradient tolerance (max-norm).
    maxit : int
        Newton iterations per start.
    spreads : tuple of float
        The spreads of the starting points (one start per spread and slope setting).
    """
    base = MixtureLikelihood(fixed_only(design), 1)
    res0 = _minimize(base, _threshold_start(design), tol, maxit)
    lik = MixtureLikelihood(design, k)
    if k == 1 and lik.d == 0:
        return _fit_of(lik, res0)
    best = None
    for spread, slope in _starts(spreads, k, lik.d):
        res = _minimize(lik, _random_start(lik, res0.x, spread, slope), tol, maxit)
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun - 1e-9):
            best = res
    if best is None:
        raise RuntimeError("npmlt: no start reached a finite log-likelihood")
    return _fit_of(lik, best)


def _starts(spreads: tuple[float, ...], k: int, d: int) -> list[tuple[float, float]]:
    """(spread, slope) of each start: every spread with the slopes' coordinates at the
    centre, and for random slopes the middle spread with slopes spread +-1/2 as much."""
    if k == 1:
        return [(0.0, 0.0)]
    starts = [(s, 0.0) for s in spreads]
    if d > 1:
        middle = spreads[len(spreads) // 2]
        starts += [(middle, 0.5), (middle, -0.5)]
    return starts


def _fit_of(lik: MixtureLikelihood, res: optimize.OptimizeResult) -> NPMLFit:
    value = lik.value(res.x, order=2)
    converged = bool(res.success) or float(np.max(np.abs(value.gradient), initial=0.0)) < 1e-5
    if not converged:
        warn(f"npmlt: Newton stopped before convergence ({res.message}); "
             "raise maxit", ConvergenceWarning)
    _, points, masses = lik.constrained(res.x)
    degenerate = lik.k > 1 and (masses.min() < 1e-8 or _closest(points) < 1e-6)
    if degenerate:
        warn("npmlt: the mass-point distribution is degenerate (a mass near 0 or "
             "two coinciding points): fewer points describe it; try a smaller k",
             BoundaryWarning)
    if np.max(np.abs(points), initial=0.0) > DIVERGED:
        degenerate = True
        warn("npmlt: a mass point drifts to infinity (the likelihood keeps rising "
             "as it moves away: a class whose responses are all in one extreme "
             "category); the log-likelihood is the supremum, that point and the "
             "standard errors are not identified; try a smaller k",
             BoundaryWarning)
    return NPMLFit(lik, res.x, value, int(res.nit), converged, degenerate)


def _closest(points: Array) -> float:
    diff = points[:, None, :] - points[None, :, :]
    dist = np.sqrt((diff**2).sum(axis=2))
    return float(np.min(dist[np.triu_indices(len(points), 1)]))
