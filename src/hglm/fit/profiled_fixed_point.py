"""The fixed-point map of the (REML) profiled deviance of an LMM, SQUAREM-accelerated.

With lam_k = theta_k^2, S_k the term's share of the penalty and H_k its leverage sum
(:mod:`.lmm`), the derivative of the profiled deviance in u_k = log lam_k is

    g_k = q_k - H_k - S_k / sigma^2,

whose zero is the fixed point of

    lam_k <- lam_k (S_k / sigma^2) / (q_k - H_k),

EQL's update of a Gaussian variance (Harville's, MacKay's).  In u the map moves by
log(1 - g_k / (q_k - H_k)) ~ -g_k / (q_k - H_k): a gradient step preconditioned by
diag(q_k - H_k), which is close to the Hessian in u when the data hold much information
about each term (the map's linear rate rho is then small: 0.004 on the crossed 100,000-row
benchmark p2s, 0.15 on InstEval).  The map is iterated in u and accelerated by SQUAREM
(Varadhan & Roland 2008, scheme S3, with the global safeguard: an extrapolated point is
kept only where the deviance is not higher than at the last plain iterate).

Every evaluation gives the deviance and its gradient at the evaluated point, so the
stopping rule is judged there: with the Hessian taken as diag(q_k - H_k)(1 - rho), the
Newton decrement sum g_k^2 / (q_k - H_k) / (1 - rho) is below ``tol`` and the map's next
step, divided by 1 - rho, moves no u_k by more than ``xtol``; the evaluated point is
then the estimate.  The defaults (1e-10 and 1e-7) reach the optimum of a tightly
converged quasi-Newton fit to 1e-8 in theta also where few levels make the map slow
(Dyestuff's 6 batches).  The iteration gives up (and the caller's quasi-Newton method takes
over from the best point) when a plain step raises the deviance, when a theta reaches
the floor (a fit on the boundary, where the map slows to a crawl), or after ``max_eval``
evaluations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Array = np.ndarray

# the longest extrapolation, as a factor of lam beyond the second plain iterate
LOG_MAX_EXTRAPOLATION = float(np.log(10.0))
RATE_MAX = 0.99
ROUNDING = 1e-13


@dataclass
class FixedPointResult:
    """Where :func:`iterate_profiled` stopped.

    Attributes
    ----------
    theta : ndarray
        The estimate (converged) or the best point evaluated.
    converged : bool
    n_eval : int
        Evaluations of the deviance by the iteration.
    """

    theta: Array
    converged: bool
    n_eval: int


@dataclass
class _Point:
    """What the iteration keeps of an evaluated state: not its factorization (10 MB at
    InstEval's order), so that one factorization at most is alive (the deviance's last)."""

    theta: Array
    objective: float


class _Map:
    """The fixed-point map in u = log theta^2 read off one evaluation of the deviance."""

    def __init__(self, dev, floor: float) -> None:
        self.dev = dev
        self.floor = floor
        self.n_eval = 0

    def __call__(self, u: Array) -> tuple[_Point, Array, Array]:
        """(point, g, q - H) at u."""
        theta = np.exp(0.5 * u)
        before = self.dev.n_eval
        st = self.dev.state(theta)
        gradient = self.dev.gradient(theta)
        self.n_eval += self.dev.n_eval - before
        # the gradient in theta is 2 theta d/d lam, so g = d/du = theta gradient / 2
        g = 0.5 * theta * gradient
        return _Point(st.theta, st.objective), g, g + st.penalty_sums / st.sigma2


def iterate_profiled(dev, theta0: Array, floor: float, tol: float = 1e-10,
                     xtol: float = 1e-7, max_eval: int = 30) -> FixedPointResult:
    """Iterate the map of the module docstring from ``theta0``.

    Parameters
    ----------
    dev : ProfiledDeviance
        Its ``state(theta)`` gives the objective, its gradient in theta (one entry per
        scalar term), the penalty sums S_k and sigma^2.
    theta0 : ndarray
        The start (every entry above ``floor``).
    floor : float
        theta at or below which a term counts as on the boundary.
    tol, xtol : float
        The stopping rule's Newton decrement and largest remaining step in log theta^2.
    max_eval : int
        Evaluations allowed.

    Returns
    -------
    FixedPointResult
    """
    fmap = _Map(dev, floor)
    log_floor = 2.0 * np.log(floor)
    u0 = 2.0 * np.log(np.asarray(theta0, dtype=float))
    st0, g0, room0 = fmap(u0)
    best = st0
    rate, step_max = 0.0, 1.0
    while True:
        u1 = _next(u0, g0, room0)
        if _converged(g0, room0, u1 - u0, rate, tol, xtol):
            return FixedPointResult(st0.theta, True, fmap.n_eval)
        if fmap.n_eval >= max_eval or np.any(u1 <= log_floor) or not np.all(np.isfinite(u1)):
            return FixedPointResult(best.theta, False, fmap.n_eval)
        st1, g1, room1 = fmap(u1)
        if not st1.objective <= st0.objective + ROUNDING * abs(st0.objective):
            return FixedPointResult(best.theta, False, fmap.n_eval)
        best = st1
        u2 = _next(u1, g1, room1)
        r, v = u1 - u0, u2 - 2.0 * u1 + u0
        rate = min(float(np.linalg.norm(u2 - u1) / max(np.linalg.norm(r), 1e-300)), RATE_MAX)
        if _converged(g1, room1, u2 - u1, rate, tol, xtol):
            return FixedPointResult(st1.theta, True, fmap.n_eval)
        vv = float(v @ v)
        alpha = min(-np.sqrt(float(r @ r) / vv) if vv > 0 else -1.0, -1.0)
        if alpha <= -step_max:
            alpha, step_max = -step_max, 4.0 * step_max
        if alpha == -1.0 or fmap.n_eval >= max_eval:
            u0, st0, g0, room0 = u1, st1, g1, room1
            continue
        ux = u2 + np.clip(u0 - 2.0 * alpha * r + alpha**2 * v - u2,
                          -LOG_MAX_EXTRAPOLATION, LOG_MAX_EXTRAPOLATION)
        stx = None if np.any(ux <= log_floor) else fmap(ux)
        if stx is not None and stx[0].objective <= st1.objective:
            stx, gx, roomx = stx
            u0, st0, g0, room0, best = ux, stx, gx, roomx, stx
        else:
            step_max = max(1.0, step_max / 4.0)
            u0, st0, g0, room0 = u1, st1, g1, room1


def _next(u: Array, g: Array, room: Array) -> Array:
    """The map at u: u + log(S / sigma^2 / (q - H)) = u + log(1 - g / (q - H))."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return u + np.log((room - g) / room)


def _converged(g: Array, room: Array, step: Array, rate: float, tol: float,
               xtol: float) -> bool:
    """The stopping rule of the module docstring at a point with gradient g."""
    slack = 1.0 - rate
    decrement = float(np.sum(g**2 / room)) / slack
    return decrement < tol and float(np.max(np.abs(step), initial=0.0)) / slack < xtol
