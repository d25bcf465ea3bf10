"""EQL fits of vector-valued terms at the boundary: lme4's singular flag and, for a
Gaussian response, the restart from the REML optimum.

The covariance update of :mod:`.covariance_update` holds a Cholesky diagonal that heads
to 0 just off it, so the iteration has a fixed point on the boundary.  Near it the update
moves the other entries very slowly (the h-likelihood is flat there: R's criterion on the
linear predictor is met long before they settle).  For a Gaussian response the fixed
point is REML's (Lee & Nelder), so a fit that has not converged or ends on the boundary
is restarted at the optimum of the profiled REML criterion (:func:`.lmm.fit_lmm`), from
which the EQL rounds confirm it in a few steps.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..spec import Problem
from .covariance_update import HELD, hold_boundary
from .diagnostics import BoundaryWarning
from .lmm import fit_lmm
from .profiled_deviance import check_linear_mixed_model
from .theta import SINGULAR_TOL, ThetaLayout

Array = np.ndarray

NOT_SETTLED = ("; EQL's other entries of that covariance converge very slowly on the "
               "boundary and may be far from their fixed point (conv=1e-12 with a large "
               "maxit gets closer)")


def reml_start(problem: Problem, sizes: list[int], hl_correction: bool
               ) -> tuple[Array, Array, list[Array | None]] | None:
    """(phi, lambda, factors) at the REML optimum of a Gaussian fit with a vector-valued
    term, or None for another model (lambda: each term's per effect, 1 for a vector
    term's; factors: L of each vector term, held off the boundary).

    Parameters
    ----------
    problem : Problem
    sizes : list of int
        The number of effects of each random term.
    hl_correction : bool
        EQL1: no restart (its fixed point is not REML's).
    """
    layout = ThetaLayout(problem)
    if hl_correction or not layout.any_vector:
        return None
    try:
        check_linear_mixed_model(problem)
    except ValueError:
        return None
    with warnings.catch_warnings():  # the EQL fit says whether it is singular
        warnings.simplefilter("ignore", BoundaryWarning)
        lmm = fit_lmm(problem, reml=True)
    sigma2 = lmm.sigma2
    floor = HELD**2 * sigma2
    lam = np.concatenate([
        np.ones(size) if vec else np.full(size, max(float(cov[0, 0]), floor))
        for size, vec, cov in zip(sizes, layout.vector, lmm.covariances, strict=True)])
    factors = [None if f is None else hold_boundary(np.sqrt(sigma2) * f, sigma2)
               for f in layout.factors(lmm.theta)]
    return np.full(problem.y.shape[0], sigma2), lam, factors


def at_boundary(factors: list[Array | None], scale: float) -> bool:
    """Whether a vector term's factor L has a diagonal entry below lme4's singularity
    tolerance (relative to sigma = sqrt(``scale``))."""
    return any(f is not None and np.diag(f).min() < SINGULAR_TOL * np.sqrt(scale)
               for f in factors)


def is_singular(layout: ThetaLayout, theta: Array, linear: bool) -> bool:
    """lme4's isSingular on an EQL fit's theta (:attr:`.eql_result.EngineFit.theta`).

    With a vector-valued term it is warned about (BoundaryWarning, as lme4), for a
    non-``linear`` model with the caution that the covariance's other entries are not
    settled (the module docstring); a scalar term whose variance went to 0 has had its
    own warning (:func:`.diagnostics.warn_if_terms_collapsed`)."""
    if layout.any_vector:
        return layout.singular(theta, "" if linear else NOT_SETTLED)
    return bool(np.any(theta < SINGULAR_TOL))
