"""A quasi-Newton method for an objective whose gradient is exact (or taken by differences
of values): BFGS from a Hessian formed by differences of the gradient.

H starts as the caller's or as forward differences of the gradient at the start (one
gradient per coordinate) and is carried by BFGS updates from the steps' gradients, formed
again by differences where a step along it fails.  Each iteration solves H d = -g and
backtracks along x + t d until the objective falls by Armijo's rule.  It stops when the
Newton decrement g'H^{-1}g (in the objective's units) is below ``tol``.  Where H is not
positive definite, a multiple of the identity is added (Levenberg's damping) until it is,
and while a freshly formed H is not, the next is formed by differences too (BFGS, which
keeps H positive definite, would carry a poor model of the negative curvature on: a
vector term's log Cholesky diagonals start in such a region).
The line search starts from the longest step that moves no coordinate by more than its
``max_step`` (a quadratic model far from its validity, such as one in a log standard
deviation near 0, can ask for steps of dozens of units).

A log standard deviation whose optimum is the bound 0 is approached by Newton steps of
about -1/2 (f ~ f0 + a sd^2 makes g = 2 a sd^2 and H = 4 a sd^2 on the log scale): from
sd ~ 0.1 to the floor 1e-5 that is ~20 iterations.  A caller's ``to_bound`` maps a trial
point to one with such coordinates at their bound, tried before the line search and taken
when it decreases the objective by Armijo's rule for the Newton step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import linalg

from ..engine import cholesky_solve
from .differences import gradient_hessian

Array = np.ndarray

# Armijo's sufficient decrease and the objective's rounding allowance (relative)
ARMIJO = 1e-4
ROUNDING = 1e-13
MAX_HALVINGS = 40


@dataclass
class Minimum:
    """The result of :func:`minimize_newton`.

    Attributes
    ----------
    x : ndarray
    fun : float
    grad : ndarray
    hessian : ndarray
        The last H (updated by BFGS: not the Hessian at x to the accuracy that standard
        errors need).
    n_iter : int
    converged : bool
    message : str
    """

    x: Array
    fun: float
    grad: Array
    hessian: Array
    n_iter: int
    converged: bool
    message: str


def _newton_step(H: Array, g: Array) -> Array:
    """d with H d = -g, H damped until it is positive definite."""
    scale = float(np.max(np.abs(np.diag(H)), initial=1.0))
    tau = 0.0
    for _ in range(60):
        chol = _cholesky(H + tau * np.eye(H.shape[0]))
        if chol is not None:
            return -cholesky_solve(chol, g)
        tau = max(2.0 * tau, 1e-8 * scale)
    raise linalg.LinAlgError("the Hessian could not be made positive definite")


def minimize_newton(
    objective: Callable[[Array], float],
    gradient: Callable[[Array], Array],
    x0: Array,
    tol: float = 1e-9,
    maxiter: int = 100,
    hessian: Array | None = None,
    max_step: Array | None = None,
    to_bound: Callable[[Array, Array], Array | None] | None = None,
) -> Minimum:
    """Minimise ``objective`` by the quasi-Newton method of the module docstring.

    Parameters
    ----------
    objective, gradient : callable
        The objective and its gradient.
    x0 : ndarray
        The start.
    tol : float
        Stop when the Newton decrement g'H^{-1}g is below this.
    maxiter : int
    hessian : ndarray, optional
        The starting H (by default, differences of the gradient at the start).
    max_step : ndarray, optional
        The largest move of each coordinate in one step (default: none).
    to_bound : callable, optional
        ``to_bound(x, xn)``: the trial point ``xn`` with the coordinates it moves toward
        their bound put there, or None (module docstring).

    Returns
    -------
    Minimum
    """
    x = np.asarray(x0, dtype=float)
    max_step = np.full(x.shape[0], np.inf) if max_step is None else max_step
    f, g = objective(x), gradient(x)
    if not np.isfinite(f):
        return Minimum(x, f, g, np.full((x.size, x.size), np.nan), 0, False,
                       "the objective is not finite at the start")
    fresh = hessian is None
    H = gradient_hessian(gradient, x, g) if fresh else hessian
    for it in range(maxiter):
        if not (np.all(np.isfinite(H)) and np.all(np.isfinite(g))):
            return Minimum(x, f, g, H, it, False, "the gradient or the Hessian is not finite")
        try:
            d = _newton_step(H, g)
        except linalg.LinAlgError as exc:
            return Minimum(x, f, g, H, it, False, str(exc))
        if float(-g @ d) < tol:
            return Minimum(x, f, g, H, it, True, "Newton decrement below tolerance")
        step = None if to_bound is None else _bound_step(objective, to_bound, x, f, g, d,
                                                         max_step)
        step = step or _line_search(objective, x, f, g, d, max_step)
        if step is None and not fresh:  # the updated Hessian misleads: form it here
            H, fresh = gradient_hessian(gradient, x, g), True
            continue
        if step is None:
            return Minimum(x, f, g, H, it, False, "no decrease along the Newton direction")
        xn, fn = step
        gn = gradient(xn)
        if fresh and not _positive_definite(H):
            # an indefinite H: BFGS, which keeps H positive definite, would carry a poor
            # model of the negative curvature on; form H again until it is definite
            H = gradient_hessian(gradient, xn, gn)
        else:
            H, fresh = _bfgs_update(H, xn - x, gn - g), False
        x, f, g = xn, fn, gn
    return Minimum(x, f, g, H, maxiter, False, "iteration limit reached")


def _positive_definite(H: Array) -> bool:
    return _cholesky(H) is not None


def _cholesky(H: Array) -> Array | None:
    """The lower Cholesky factor of H, or None where H is not positive definite (or
    not finite)."""
    if not np.all(np.isfinite(H)):
        return None
    chol, info = linalg.lapack.dpotrf(H, lower=1, clean=1)
    return chol if info == 0 else None


def _first_step(d: Array, max_step: Array) -> float:
    """The longest t <= 1 with t d within ``max_step``."""
    return min(1.0, float(np.min(max_step / np.maximum(np.abs(d), 1e-300))))


def _bound_step(objective: Callable[[Array], float],
                to_bound: Callable[[Array, Array], Array | None], x: Array, f: float,
                g: Array, d: Array, max_step: Array) -> tuple[Array, float] | None:
    """The first step of the line search with the coordinates ``to_bound`` names at their
    bound, when it decreases the objective by Armijo's rule for that step; else None."""
    t = _first_step(d, max_step)
    xb = to_bound(x, x + t * d)
    if xb is None:
        return None
    fb = objective(xb)
    if fb <= f + ARMIJO * t * float(g @ d) + ROUNDING * abs(f):
        return xb, fb
    return None


def _line_search(objective: Callable[[Array], float], x: Array, f: float, g: Array,
                 d: Array, max_step: Array) -> tuple[Array, float] | None:
    """Backtracking along x + t d from the longest t <= 1 within ``max_step`` to Armijo's
    decrease, or None."""
    t = _first_step(d, max_step)
    for _ in range(MAX_HALVINGS):
        xn = x + t * d
        fn = objective(xn)
        if fn <= f + ARMIJO * t * float(g @ d) + ROUNDING * abs(f):
            return xn, fn
        t *= 0.5
    return None


def _bfgs_update(H: Array, s: Array, y: Array) -> Array:
    """H + y y'/y's - H s s'H / s'Hs, kept when the curvature y's is not positive."""
    ys, Hs = float(y @ s), H @ s
    sHs = float(s @ Hs)
    if ys <= 1e-12 * np.sqrt(float(y @ y) * float(s @ s)) or sHs <= 0:
        return H
    return H + np.outer(y, y) / ys - np.outer(Hs, Hs) / sHs
