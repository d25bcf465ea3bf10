"""The mode of the h-likelihood at given variance and dispersion parameters, warm-started
from the last one.

The inner unknowns are the random effects v with the fixed effects held in the offset
(Laplace and quadrature at given (theta, beta)), or the fixed and random effects together
(nAGQ = 0 and Laplace-REML at given theta).  Each mode is penalized IRLS
(:class:`.pirls.PenalizedIRLS`) on one engine system built once, so its symbolic work is
kept across evaluations; the mode starts at the previous one, and again from zero when
that IRLS fails.  For a non-canonical link the IRLS takes Newton's steps (the observed
information as weights) wherever that information is positive, and scoring steps
otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import NamedTuple

import numpy as np

from ..engine import make_system
from ..spec import Problem
from .densities import ResponseDensity
from .diagnostics import Divergence
from .pirls import PenalizedIRLS, System, random_effects_system
from .random_effects import RandomEffects

Array = np.ndarray

# IWLS stops when the squared change of the linear predictor is below this times its
# squared length.  With a canonical link its steps are Newton's: a last change of 1e-9
# (relative) leaves an error of ~1e-18.  Other links' steps may converge linearly; they
# stop at 1e-11.
MODE_TOL_CANONICAL = 1e-18
MODE_TOL = 1e-22
# the prediction is linear in the precisions 1 / lambda: made only when no variance moved
# by more than this factor (log scale), beyond which it may overshoot by orders
PREDICT_WITHIN = float(np.log(2.0))


class Mode(NamedTuple):
    """A conditional mode: delta = (beta, v) in user order (beta the given one when held)
    and the linear predictor eta with the offset (None where a kept Laplace state let it
    go: :meth:`.laplace.LaplaceDeviance.mode` forms it again)."""

    delta: Array
    eta: Array | None


class ModeFinder:
    """Conditional modes of one problem.

    Parameters
    ----------
    problem : Problem
    inner_beta : bool
        Solve the fixed effects with the random effects (True) or hold them (False).
    density : ResponseDensity, optional
        The response's log-density, whose observed curvature gives Newton's steps for a
        non-canonical link (and whose link sets the IWLS tolerance: MODE_TOL_CANONICAL
        or MODE_TOL).

    Notes
    -----
    With Gaussian random effects a new mode starts from the first-order prediction of
    the last one: the mode's equations T1's(eta) - Lambda^{-1} v = 0 move with the
    precisions Lambda^{-1} by -(0, d(Lambda^{-1}) v) and with fixed effects held in the
    offset by -Z'W X d(beta), so d delta = M^{-1} (0, -d(Lambda^{-1}) v - Z'W X d(beta))
    with M and W the last IWLS factor and weights (one solve), or the factor and
    weights at the last mode that its caller formed (:meth:`predict_with`), where no
    variance moved by more than a factor of 2.  The factor goes once the prediction is
    made: the IWLS forms its own.
    """

    def __init__(self, problem: Problem, inner_beta: bool,
                 density: ResponseDensity | None = None) -> None:
        self.pb = problem
        self.inner_beta = inner_beta
        self.p = problem.X.shape[1]
        self.effects = RandomEffects(problem)
        self.system: System = self._system(problem.blocks)
        self.q = self.system.q
        self.predict = all(t.family.is_gaussian for t in problem.terms)
        canonical = density is not None and density.canonical
        self.curvature = None if density is None or canonical else density.curvature
        self.tol = MODE_TOL_CANONICAL if canonical else MODE_TOL
        self.n_steps = 0
        self._last: Array | None = None  # None: at the cold start
        self._last_fit: tuple[Array | None, Array, object, Array] | None = None

    def _system(self, blocks: list) -> System:
        pb = self.pb
        if self.inner_beta:
            return make_system(pb.X, blocks, [t.precision for t in pb.terms])
        return random_effects_system(pb, blocks)

    def use_blocks(self, blocks: list, carry: list[Array | None] | None = None) -> None:
        """Solve on other blocks of Z of the same shapes (a vector term's Z Lambda at
        another Lambda, :mod:`.theta`): the next IWLS starts at the last mode, each
        level's effects of term k multiplied by ``carry[k]`` (q x q, None: as they are;
        Lambda_new^+ Lambda_old keeps the linear predictor where the last mode left it)."""
        self.system = self._system(blocks)
        self._last_fit = None
        if carry is None or not any(c is not None for c in carry) or self._last is None:
            return
        last = self._last.copy()
        shift = self._last.shape[0] - self.q
        for sl, c in zip(self.effects.slices, carry, strict=True):
            if c is not None:
                part = last[shift + sl.start : shift + sl.stop]
                part[:] = (part.reshape(-1, c.shape[0]) @ c.T).ravel()
        self._last = last

    def cold_start(self) -> Array:
        """The inner unknowns at the random effects' means, with the fixed effects (when
        inner) the least-squares fit of g(mu0) - offset, mu0 the family's starting means
        (R's glm starts its IRLS there), g(mean mu0) where g(mu0) is undefined (a log
        link with y <= 0); where that fit's means leave the family's space (a bounded
        link's domain), the fit of the constant g(mean mu0)."""
        v0 = np.concatenate([np.full(s, t.family.link.link(np.array(t.family.psi)))
                             for s, t in zip(self.effects.sizes, self.pb.terms, strict=True)])
        if not self.inner_beta:
            return v0
        pb = self.pb
        fam, link = pb.family, pb.family.link
        mu0 = fam.mustart(pb.y, pb.weights)
        central = link.link(np.average(mu0, weights=pb.weights))
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            eta0 = link.link(mu0)
            eta0 = np.where(np.isfinite(eta0), eta0, central)
            beta0 = np.linalg.lstsq(pb.X, eta0 - pb.offset, rcond=None)[0]
            mean = link.inverse(pb.X @ beta0 + pb.offset)
        if not np.all(np.isfinite(mean) & (fam.clip_mu(mean) == mean)):
            beta0 = np.linalg.lstsq(pb.X, central - pb.offset, rcond=None)[0]
        return np.concatenate([beta0, v0])

    def start_at(self, mode: Mode, fit: tuple[Array | None, Array, object, Array] | None = None
                 ) -> None:
        """Start the next IWLS at ``mode`` (another finder's, of the same problem); with
        ``fit`` = (beta, lambda, factor, W): the mode is this finder's at beta and lambda,
        and the next one is predicted from it with the factor of T'WT + R at W (as after
        :meth:`solve`)."""
        self._last = mode.delta if self.inner_beta else mode.delta[self.p :]
        self._last_fit = fit

    def solve(self, beta: Array | None, phi: Array, lam: Array,
              keep_factor: bool = True) -> Mode:
        """The mode at fixed effects ``beta`` (ignored when inner), observation dispersions
        ``phi`` and effect variances ``lam``; without ``keep_factor`` the last IWLS
        factorization goes (the caller forms the factor at the mode, :meth:`predict_with`).

        Raises
        ------
        Divergence
            When the IWLS fails from the predicted mode, the last mode and the cold start.
        """
        pirls = PenalizedIRLS(self.pb, self.system, self.effects, self.tol,
                              beta=None if self.inner_beta else beta, accelerate=True,
                              curvature=self.curvature)
        sol = None
        prediction = self._prediction(beta, lam)
        self._last_fit = None  # its factorization goes before the IWLS forms its own
        for start in self._starts(prediction):
            try:
                sol = pirls.solve(start, phi, lam)
                break
            except Divergence as exc:
                failure = exc
        self.n_steps += pirls.steps
        if sol is None:
            raise failure
        self._last = sol.delta
        self._last_fit = (beta, lam, sol.factor if keep_factor else None, sol.w1)
        delta = sol.delta if self.inner_beta else np.concatenate([beta, sol.delta])
        return Mode(delta, sol.eta + pirls.offset)

    def predict_with(self, factor: object, w1: Array) -> None:
        """Predict the next mode (class notes) by ``factor`` and the observation weights
        ``w1`` at the last mode, on :attr:`system`."""
        if self._last_fit is not None:
            self._last_fit = (*self._last_fit[:2], factor, w1)

    def release_factor(self) -> None:
        """Let the factor kept for the next prediction go (the next IWLS starts at the
        last mode instead)."""
        if self._last_fit is not None:
            self._last_fit = (*self._last_fit[:2], None, None)

    def _starts(self, prediction: Array | None) -> Iterator[Array]:
        """Where the IWLS starts, in turn: the ``prediction`` (class notes), the last mode,
        the cold start (formed only when asked for)."""
        if self._last is None:
            yield self._cold_start
            return
        if prediction is not None:
            yield prediction
        yield self._last
        yield self._cold_start

    @cached_property
    def _cold_start(self) -> Array:
        return self.cold_start()

    def _prediction(self, beta: Array | None, lam: Array) -> Array | None:
        """The mode predicted from the last one to first order (class notes), or None."""
        if not self.predict or self._last_fit is None or self._last_fit[2] is None:
            return None
        beta_old, lam_old, factor, w1 = self._last_fit
        if np.any(np.abs(np.log(lam / lam_old)) > PREDICT_WITHIN):
            return None
        n_fixed = self._last.shape[0] - self.q
        moved = -(1.0 / lam - 1.0 / lam_old) * self._last[n_fixed:]
        if not self.inner_beta:
            moved -= self.system.z_rmatvec(w1 * (self.pb.X @ (beta - beta_old)))
        return self._last + factor.solve(np.concatenate([np.zeros(n_fixed), moved]))
