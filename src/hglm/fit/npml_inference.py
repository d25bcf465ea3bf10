"""What an NPML fit reports: npmlt's parameters with standard errors, the random-effect
covariance, empirical Bayes estimates.

The reported quantities psi = (fixed parameters, centred mass points, masses, the lower
triangle of the random-effect covariance sum_l pi_l a_l a_l') are smooth functions of
the unconstrained phi of :mod:`.npml_likelihood`; their covariance is J V J' with J the
Jacobian of psi(phi) (central differences) and V either npmlt's inverse outer product of
the cluster scores (``"opg"``) or the inverse observed information (``"observed"``).  Both
are invariant to the parametrisation, so they equal npmlt's own.  The points are listed
in increasing order of their first coordinate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._warn import warn
from .diagnostics import NumericalGuardWarning
from .npml import NPML_SE_KINDS, NPMLFit

Array = np.ndarray

SINGULAR = 1e-10  # smallest / largest eigenvalue of an information matrix taken as singular


@dataclass(frozen=True)
class NPMLEstimates:
    """npmlt's estimates with standard errors, EB estimates and posterior masses."""

    fixed: Array
    se_fixed: Array
    points: Array
    se_points: Array
    masses: Array
    se_masses: Array
    ranef_cov: Array
    se_ranef_var: Array
    posterior: Array
    eb: Array
    covariance: Array


def _order(fit: NPMLFit) -> Array:
    _, points, _ = fit.likelihood.constrained(fit.phi)
    return np.lexsort(points.T[::-1]) if points.shape[1] else np.arange(points.shape[0])


def _psi(fit: NPMLFit, phi: Array, order: Array) -> Array:
    fixed, points, masses = fit.likelihood.constrained(phi)
    points, masses = points[order], masses[order]
    cov = (points * masses[:, None]).T @ points
    low = cov[np.tril_indices(points.shape[1])]
    return np.concatenate([fixed, points.ravel(), masses, low])


def _jacobian(fit: NPMLFit, order: Array) -> Array:
    phi = fit.phi
    cols = []
    for j in range(phi.size):
        h = 1e-6 * max(1.0, abs(phi[j]))
        up, down = phi.copy(), phi.copy()
        up[j] += h
        down[j] -= h
        cols.append((_psi(fit, up, order) - _psi(fit, down, order)) / (2 * h))
    return np.column_stack(cols) if cols else np.zeros((_psi(fit, phi, order).size, 0))


def phi_covariance(fit: NPMLFit, se: str) -> Array:
    """V of phi: the inverse outer product of the cluster scores or observed information."""
    if se not in NPML_SE_KINDS:
        raise ValueError(f"se must be one of {', '.join(NPML_SE_KINDS)}, not {se!r}")
    v = fit.value
    info = v.scores.T @ v.scores if se == "opg" else -v.hessian
    eig = np.linalg.eigvalsh(info) if info.size else np.ones(1)
    if not eig.min() > SINGULAR * eig.max():
        warn("npmlt: the information matrix is singular (a degenerate mass-point "
             "distribution or a point at infinity); standard errors are NaN",
             NumericalGuardWarning)
        return np.full_like(info, np.nan)
    return np.linalg.inv(info)


def npml_estimates(fit: NPMLFit, se: str = "opg") -> NPMLEstimates:
    """npmlt's estimates and standard errors at the maximum ``fit``.

    Parameters
    ----------
    fit : NPMLFit
    se : {"opg", "observed"}
        npmlt's outer product of the cluster scores (default) or the observed information.
    """
    lik, order = fit.likelihood, _order(fit)
    k, d, p = lik.k, lik.d, lik.design.n_fixed
    psi = _psi(fit, fit.phi, order)
    J = _jacobian(fit, order)
    cov_psi = J @ phi_covariance(fit, se) @ J.T
    se_psi = np.sqrt(np.clip(np.diag(cov_psi), 0.0, None))
    points = psi[p : p + k * d].reshape(k, d)
    masses = psi[p + k * d : p + k * d + k]
    low = np.tril_indices(d)
    cov = np.zeros((d, d))
    cov[low] = psi[p + k * d + k :]
    cov = cov + np.tril(cov, -1).T
    diag_pos = np.flatnonzero(low[0] == low[1])
    posterior = fit.value.posterior[:, order]
    return NPMLEstimates(
        fixed=psi[:p], se_fixed=se_psi[:p],
        points=points, se_points=se_psi[p : p + k * d].reshape(k, d),
        masses=masses, se_masses=se_psi[p + k * d : p + k * d + k],
        ranef_cov=cov, se_ranef_var=se_psi[p + k * d + k :][diag_pos],
        posterior=posterior, eb=posterior @ points, covariance=cov_psi[:p, :p],
    )
