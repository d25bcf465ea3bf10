"""One stage of the GLMM fits (:mod:`.glmm`): the deviance minimised by the quasi-Newton
method of :mod:`.newton`, on the analytic gradient where the random effects are Gaussian
and on differences of values otherwise, with limited steps and the rules of the boundary.

A term whose theta ends below lme4's singularity tolerance is set to 0 when that does not
raise the objective (its optimum is then the boundary, which the log scale only
approaches, by steps of about -1/2: a log sd moving down below TO_BOUND_THETA is tried at
its floor in each step, and one that ends there while the gradient at PROBE_THETA says
the objective falls upward is released and minimised again; sleepstudy's binomial
slopes: 35 iterations of nAGQ = 0 to 16).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from .differences import value_gradient, value_hessian
from .glmm_result import theta_scale
from .newton import ROUNDING, Minimum, minimize_newton
from .theta import SINGULAR_TOL

Array = np.ndarray

# Newton decrement (in -2 log-likelihood) at which a stage has converged
TOL = 1e-9
# the largest move in one step of a log sd or log dispersion (a factor of e^3 = 20), and
# of the linear predictor through one fixed effect: further out the IRLS of the mode may
# not converge (it has no step-halving)
MAX_LOG_STEP = 3.0
MAX_ETA_STEP = 2.0
# a log sd or log diagonal of Lambda moving down below this theta is tried at its floor
TO_BOUND_THETA = 5e-2
# a parameter that ends at its floor is probed at this theta (module docstring)
PROBE_THETA = 1e-3


def deviance_gradient(dev) -> Callable[[Array], Array]:
    """The gradient of a deviance: analytic, or central differences of its values."""
    if getattr(dev, "analytic_gradient", False):
        return dev.gradient
    return partial(value_gradient, dev.objective)


def minimize_stage(dev, x0: Array, tol: float, maxiter: int,
                   hessian: Array | None = None) -> Minimum:
    """One stage: quasi-Newton on the deviance's gradient, from ``hessian`` (by default
    differences of the gradient, or second differences of values), moving the log sds and
    log dispersions by at most MAX_LOG_STEP a step and the linear predictor through each
    fixed effect by at most MAX_ETA_STEP, a log sd moving down below TO_BOUND_THETA tried
    at its floor; a parameter that ends at its floor while the objective falls from there
    (at PROBE_THETA) is minimised again from that probe without the floor's trials."""
    gradient = deviance_gradient(dev)
    if hessian is None and not getattr(dev, "analytic_gradient", False):
        hessian = value_hessian(dev.objective, x0)
    par, max_step = dev.params, step_limits(dev)
    res = minimize_newton(dev.objective, gradient, x0, tol, maxiter, hessian, max_step,
                          partial(_bound_trial, dev))
    probe = _probe(dev, res.x)
    if probe is None or not np.any(gradient(probe)[par.sd_slice][par.at_floor(res.x)] < 0):
        return res
    return minimize_newton(dev.objective, gradient, probe, tol, maxiter, res.hessian, max_step)


def step_limits(dev) -> Array:
    """The largest move of each coordinate of x in one quasi-Newton step: MAX_LOG_STEP for
    the log sds and log dispersions, MAX_ETA_STEP of the linear predictor through each
    fixed effect."""
    par = dev.params
    max_step = np.full(par.size, MAX_LOG_STEP)
    if par.n_beta:
        scale = np.max(np.abs(dev.pb.X), axis=0)
        max_step[par.beta_slice] = MAX_ETA_STEP / np.where(scale > 0, scale, 1.0)
    return max_step


def _bound_trial(dev, x: Array, xn: Array) -> Array | None:
    """``xn`` with its log sds that move down from ``x`` to a theta below TO_BOUND_THETA
    at their floor (:func:`.newton.minimize_newton`'s ``to_bound``), or None."""
    par, sd = dev.params, dev.params.sd_slice
    theta = par.covariance(xn) / np.sqrt(theta_scale(dev.pb, par, xn))
    near = (par.log_scale & (xn[sd] < x[sd]) & (theta < TO_BOUND_THETA)
            & ~par.at_floor(xn))
    return par.to_floor(xn, near) if np.any(near) else None


def _probe(dev, x: Array) -> Array | None:
    """``x`` with its parameters at their floor at theta = PROBE_THETA, or None."""
    par = dev.params
    low = par.at_floor(x)
    if not np.any(low):
        return None
    out = x.copy()
    log_theta = np.log(PROBE_THETA * np.sqrt(theta_scale(dev.pb, par, x)))
    out[par.sd_slice] = np.where(low, log_theta, x[par.sd_slice])
    return out


def to_boundary(dev, res: Minimum) -> Minimum:
    """``res`` with the sds (and diagonals of Lambda) whose theta is below SINGULAR_TOL at
    their floor, when the objective is not higher there (module docstring)."""
    par = dev.params
    theta = par.covariance(res.x) / np.sqrt(theta_scale(dev.pb, par, res.x))
    small = par.log_scale & (theta < SINGULAR_TOL)
    if not np.any(small) or np.all(par.at_floor(res.x)[small]):
        return res
    x = par.to_floor(res.x, small)
    f = dev.objective(x)
    if f > res.fun + ROUNDING * max(1.0, abs(res.fun)):
        return res
    return Minimum(x, f, res.grad, res.hessian, res.n_iter, res.converged, res.message)
