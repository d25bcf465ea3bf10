"""The outer fixed-point iteration theta -> F(theta) of an estimator, plain or
SQUAREM-accelerated, with R's stopping rule and the progress printer.

One evaluation of F is a *round* of the estimator (for EQL: PIRLS at the dispersions
theta, leverages and deviances, the dispersion GLMs giving the next theta).  A round's
outcome carries the linear predictor ``eta``, whose relative change
sum((eta_old - eta)^2) / sum(eta^2) < conv is R's criterion.  A fixed-point iteration
converges linearly (slowly when a variance component is poorly determined), so it is
accelerated with SQUAREM (Varadhan & Roland 2008); the fixed point, and so every
estimate, is unchanged.  A round that raises :class:`Divergence` at an extrapolated
point rejects the extrapolation.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import numpy as np

from .diagnostics import Divergence

Array = np.ndarray

LOG_MAX_EXTRAPOLATION = float(np.log(10.0))
PROGRESS_AFTER_SECONDS = 2.0


class Outcome(Protocol):
    """What the iteration reads of a round: its linear predictor."""

    eta: Array


R = TypeVar("R", bound=Outcome)


class FixedPointIteration(Generic[R]):
    """Iterates a round theta -> F(theta) until R's stopping rule holds or ``maxit``.

    Parameters
    ----------
    step : callable
        ``step(theta, last)`` runs one round at ``theta``, warm-started from ``last``, the
        last accepted round (None at the start); returns the round and F(theta).
    describe : callable
        ``describe(round)``: the estimates part of a progress line.
    conv, maxit : float, int
        R's convergence tolerance and the maximum number of rounds.
    accelerate : bool
        SQUAREM (with the stricter stopping rule of :meth:`_threshold`) or plain rounds.
    verbose : bool, None or callable
        Where the progress lines go (:func:`_printer`).
    relative_change : callable, optional
        ``relative_change(last, round)``: R's criterion between two rounds; by default
        from their linear predictors (:func:`eta_change`).  A round whose linear
        predictor lives elsewhere (on the partitions of a Dask frame) brings its own.
    multiplicity : ndarray, optional
        How many entries of the full state each entry of theta stands for, in the
        squared norms of SQUAREM and of the stopping rule: a compact state (one log
        dispersion per term) then takes the steps of the full one (one per row).  A
        matrix M gives the squared norm x'Mx (a state of coefficients gamma standing for
        the rows' log dispersions X_d gamma: M = X_d'X_d).
    expand : callable, optional
        ``expand(theta)``: the full state that a compact theta stands for, whose squared
        norms SQUAREM and the stopping rule take (formed one at a time for the norm,
        summed in the full state's order: the same numbers as a full state's).
    release : callable, optional
        ``release(round)``: frees what the last round holds for the fit's result (its
        factorization), called before any round follows it: that round replaces it,
        ends the iteration with an error, or (an extrapolated round) fails back to it,
        and then a plain round follows, which replaces it or ends with an error.

    Attributes
    ----------
    last : round or None
        The last accepted round.
    n_iter : int
        Rounds evaluated (rejected extrapolations are not counted).
    criterion : float
        R's criterion at the last plain round.
    converged : bool
        Whether the stopping rule holds.
    settled : bool
        Whether the dispersions' last step was within the rule (:meth:`_dispersions_settled`).
    """

    def __init__(
        self,
        step: Callable[[Array, R | None], tuple[R, Array]],
        describe: Callable[[R], str],
        conv: float,
        maxit: int,
        accelerate: bool,
        verbose: bool | None | Callable[[str], None],
        relative_change: Callable[[R, R], float] | None = None,
        multiplicity: Array | None = None,
        expand: Callable[[Array], Array] | None = None,
        release: Callable[[R], None] | None = None,
    ) -> None:
        self.step = step
        self.expand = expand
        self.release = release
        self.relative_change = eta_change if relative_change is None else relative_change
        self.multiplicity = multiplicity
        self.describe = describe
        self.conv = conv
        self.maxit = maxit
        self.accelerate = accelerate
        self.n_iter = 0
        self.last: R | None = None
        self.criterion = np.inf
        self.converged = False
        self.settled = True
        self._last_input: Array | None = None
        self._rate = 0.9
        self._say = _printer(verbose)

    def evaluate(self, theta: Array, plain: bool) -> Array:
        """One round at dispersions theta; returns the next dispersions.

        ``plain`` says that theta is the previous round's output, so the change of the
        linear predictor is R's convergence criterion.
        """
        if self.release is not None and self.last is not None:
            self.release(self.last)
        rnd, theta_next = self.step(theta, self.last)
        self.n_iter += 1
        if plain and self.last is not None and self.n_iter >= 2:
            self.criterion = self.relative_change(self.last, rnd)
            self.settled = self._dispersions_settled(theta, theta_next)
            self.converged = self.criterion < self._threshold(theta, theta_next) and self.settled
        self.last, self._last_input = rnd, theta
        self._report(rnd, plain)
        return theta_next

    def _threshold(self, theta: Array, theta_next: Array) -> float:
        """The bound for the criterion.

        Plain iteration uses R's rule, criterion < conv.  Accelerated, it bounds the
        estimated remaining change instead of the last step: with the linear rate rho
        estimated from the last two plain steps, the distance to the fixed point is about
        step / (1 - rho), so the criterion is compared with conv * (1 - rho)^2.  The
        estimate of rho from two steps is noisy and approaches the asymptotic rate from
        below, so the largest estimate so far is used, at least 0.9 and at most 0.99: the
        rule is always at least a hundred times stricter than R's.
        """
        if not self.accelerate or self._last_input is None:
            return self.conv
        before = np.sqrt(self._sqnorm(theta - self._last_input))
        rate = np.sqrt(self._sqnorm(theta_next - theta)) / before if before > 0 else 0.0
        self._rate = min(max(self._rate, rate), 0.99)
        return self.conv * (1.0 - self._rate) ** 2

    def _dispersions_settled(self, theta: Array, theta_next: Array) -> bool:
        """Accelerated iteration only: the dispersions' estimated remaining relative
        change, max |step of log dispersion| / (1 - rho), is below sqrt(conv).

        On a flat stretch of the likelihood (a start near a boundary) the linear
        predictor hardly moves while the dispersions still travel; R's criterion alone
        would then stop far from the fixed point and call it converged."""
        if not self.accelerate:
            return True
        step = float(np.max(np.abs(theta_next - theta), initial=0.0))
        return step / (1.0 - self._rate) < np.sqrt(self.conv)

    def _report(self, rnd: R, plain: bool) -> None:
        if self._say is None:
            return
        step = f"criterion {self.criterion:.3e}" if plain else "extrapolated (SQUAREM)"
        self._say(f"iteration {self.n_iter:4d}  {step}  {self.describe(rnd)}")

    def _sqnorm(self, x: Array) -> float:
        """x'x, each entry counted :attr:`multiplicity` times (x'Mx for a matrix), or that
        of the full state :attr:`expand` gives."""
        if self.expand is not None:
            return _sqnorm(self.expand(x))
        if self.multiplicity is None:
            return _sqnorm(x)
        if self.multiplicity.ndim == 2:
            return float(x @ self.multiplicity @ x)
        return float(np.einsum("i,i,i->", self.multiplicity, x, x))

    def done(self) -> bool:
        return self.converged or self.n_iter >= self.maxit

    def run(self, theta: Array) -> Array:
        """Iterate from ``theta`` until :meth:`done`; returns the last F(theta)."""
        if not self.accelerate:
            while not self.done():
                theta = self.evaluate(theta, True)
            return theta
        return self._squarem(theta)

    def _squarem(self, theta: Array) -> Array:
        """SQUAREM, scheme S3, with the step bound grown as in Varadhan & Roland (2008).

        The loop keeps a pair (theta, F(theta)) whose round was the last evaluated.
        """
        step_max = 1.0
        theta1 = self.evaluate(theta, True)
        while not self.done():
            theta2 = self.evaluate(theta1, True)
            if self.done():
                return theta2
            r = theta1 - theta
            v = theta2 - 2.0 * theta1 + theta
            vv = self._sqnorm(v)
            alpha = min(-np.sqrt(self._sqnorm(r) / vv) if vv > 0 else -1.0, -1.0)
            if alpha <= -step_max:
                alpha, step_max = -step_max, 4.0 * step_max
            if alpha == -1.0:
                theta, theta1 = theta1, theta2
                continue
            saved = (self.last, self.n_iter)
            # at most a factor MAX_EXTRAPOLATION per dispersion beyond the plain iterate:
            # a longer jump towards 0 lands on the deviance/leverage floors, whose
            # dispersion estimate (sum of floors) restarts the iteration
            theta_x = theta2 + np.clip(
                theta - 2.0 * alpha * r + alpha**2 * v - theta2,
                -LOG_MAX_EXTRAPOLATION,
                LOG_MAX_EXTRAPOLATION,
            )
            try:
                theta, theta1 = theta_x, self.evaluate(theta_x, False)
            except Divergence:
                self.last, self.n_iter = saved
                step_max = max(1.0, step_max / 4.0)
                theta, theta1 = theta1, theta2
            del saved  # not kept alive through the next rounds
        return theta1


def eta_change(last: Outcome, rnd: Outcome) -> float:
    """R's criterion sum((eta_last - eta)^2) / sum(eta^2) between two rounds."""
    change = float(np.sum((last.eta - rnd.eta) ** 2))
    return change / max(float(np.sum(rnd.eta**2)), 1e-300)


def _sqnorm(x: Array) -> float:
    """x'x without BLAS: the state holds one log phi per observation, and a threaded
    BLAS dot product of that length is a hundred times slower on a busy machine
    (``_blas``)."""
    return float(np.einsum("i,i->", x, x))


def _printer(
    verbose: bool | None | Callable[[str], None],
) -> Callable[[str], None] | None:
    """Where the per-iteration lines go: a callable; stdout (True); nowhere (False); or,
    by default (None), stderr when it is a terminal and the fit has run for more than
    PROGRESS_AFTER_SECONDS."""
    if callable(verbose):
        return verbose
    if verbose is not None:
        return print if verbose else None
    if not sys.stderr.isatty():
        return None
    started = time.monotonic()

    def progress(line: str) -> None:
        if time.monotonic() - started > PROGRESS_AFTER_SECONDS:
            print(line, file=sys.stderr, flush=True)

    return progress
