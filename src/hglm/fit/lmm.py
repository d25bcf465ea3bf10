"""Exact ML and REML fits of linear mixed models: the profiled deviance of
:mod:`.profiled_deviance` minimised over lme4's theta (the fixed-point map of its gradient,
:mod:`.profiled_fixed_point`, then L-BFGS-B), with lme4's restart at the edge.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from ..engine import optimizer_threads
from ..spec import Problem
from .lmm_result import LMMFit
from .profiled_deviance import ProfiledDeviance
from .profiled_fixed_point import iterate_profiled
from .theta import THETA_FLOOR, effects_scale

Array = np.ndarray

# where lme4's restart_edge restarts a theta that ended on its bound 0
RESTART_THETA = 1e-3
# a projected gradient below this times max(1, |objective|) is at the objective's
# rounding: an optimizer that stops there for want of a decrease has converged
GRADIENT_RTOL = 1e-8


def fit_lmm(problem: Problem, reml: bool = True, start: Array | None = None,
            maxiter: int = 1000) -> LMMFit:
    """Fit a linear mixed model by maximising the (REML) profiled log-likelihood.

    Parameters
    ----------
    problem : Problem
    reml : bool
        REML (default, as lmer) or ML.
    start : ndarray, optional
        Starting theta (:mod:`.theta`); default lme4's (1 for a scalar term, Lambda = I).
    maxiter : int
        Iterations of the optimizer (L-BFGS-B with the analytic gradient; for a vector
        term's entries, differences) where the fixed-point map of
        :mod:`.profiled_fixed_point` is not used or does not converge.  A theta that ends
        on its bound 0 is restarted from RESTART_THETA and the better optimum kept (lme4's
        restart_edge).

    Returns
    -------
    LMMFit
    """
    dev = ProfiledDeviance(problem, reml)
    layout = dev.layout
    res, theta = minimize_profiled(dev, start, maxiter)
    with optimizer_threads(dev.system_size):
        st = dev.state(res.x)
        _, Cxx = dev.fixed_columns(st.factor)
    factors = layout.factors(res.x)
    return LMMFit(
        problem=problem, reml=reml, theta=theta,
        covariances=layout.covariances_of(theta, st.sigma2), sigma2=st.sigma2,
        beta=st.delta[: dev.p].copy(),
        v=effects_scale(st.delta[dev.p :], dev.slices, factors),
        vcov_beta=st.sigma2 * Cxx,
        cond_var=st.sigma2 * dev.random_inverse_diag(st.factor, factors),
        objective=st.objective, n_eval=dev.n_eval,
        converged=converged_at(res, layout.bounded), message=str(res.message),
        singular=layout.singular(theta), deviance=dev,
    )


def minimize_profiled(dev: ProfiledDeviance, start: Array | None, maxiter: int
                      ) -> tuple[optimize.OptimizeResult, Array]:
    """The optimizer's result and the estimate of theta (a theta below THETA_FLOOR on
    its bound set to 0) for a profiled deviance ``dev`` (:class:`ProfiledDeviance`, or
    one with its interface: ``layout``, ``objective``, ``gradient``, ``state``,
    ``system_size``), from ``start`` (None: lme4's); see :func:`fit_lmm`."""
    layout = dev.layout
    theta0 = layout.start() if start is None else np.asarray(start, dtype=float)
    if (theta0.shape != (layout.size,) or np.any(theta0[layout.bounded] < 0)
            or not np.all(np.isfinite(theta0))):
        raise ValueError(f"start: needs {layout.size} finite values of theta (lme4's order), "
                         "those of the scalar terms and Lambda's diagonals >= 0")
    bounds = [(0.0, None) if b else (None, None) for b in layout.bounded]
    # one BLAS thread where the factorizations run on one (their numpy products' second
    # thread and L-BFGS-B's tiny LAPACK calls only cost memory and time)
    with optimizer_threads(dev.system_size):
        res = _minimize(dev, theta0, bounds, maxiter)
        edge = layout.bounded & (res.x < THETA_FLOOR)
        if edge.any():
            again = _minimize(dev, np.where(edge, RESTART_THETA, res.x), bounds, maxiter)
            res = again if again.fun < res.fun else res
    return res, np.where(layout.bounded & (res.x < THETA_FLOOR), 0.0, res.x)


def converged_at(res: optimize.OptimizeResult, bounded: Array) -> bool:
    """L-BFGS-B's success, or a stop for want of a decrease (its line search) where the
    projected gradient is at the objective's rounding (a large n: -2 l ~ 3e5 at 1e5
    rows, whose last digits no step can improve)."""
    if res.success:
        return True
    grad = np.where(bounded & (res.x <= 0.0), np.minimum(res.jac, 0.0), res.jac)
    return bool(np.max(np.abs(grad), initial=0.0) <= GRADIENT_RTOL * max(1.0, abs(res.fun)))


def _minimize(dev: ProfiledDeviance, theta0: Array, bounds: list,
              maxiter: int) -> optimize.OptimizeResult:
    """The minimum of the profiled deviance from ``theta0``: the fixed-point map of
    :mod:`.profiled_fixed_point` where every term is scalar and none starts at the floor,
    else (or where the map does not converge) L-BFGS-B from the map's best point."""
    if not dev.layout.any_vector and np.all(theta0 > THETA_FLOOR):
        fp = iterate_profiled(dev, theta0, THETA_FLOOR)
        if fp.converged:
            return optimize.OptimizeResult(
                x=fp.theta, fun=dev.objective(fp.theta), success=True,
                message="fixed point of the profiled deviance's gradient")
        theta0 = fp.theta
    # a projected gradient at the objective's rounding is converged (:func:`converged_at`):
    # further steps only probe the last digits
    gtol = GRADIENT_RTOL * max(1.0, abs(dev.objective(theta0)))
    return optimize.minimize(
        dev.objective, theta0, jac=dev.gradient, method="L-BFGS-B", bounds=bounds,
        options={"maxiter": maxiter, "ftol": 1e-15, "gtol": gtol, "maxcor": 20},
    )
