"""Penalized IRLS: the augmented GLM solved for (beta, v) at given dispersions
(DESIGN.md, step 2).

The working weights and responses of the n observations and the q pseudo-observations
of the random effects, and the IWLS loop on T'WT delta = T'Wz with its stopping rule
(Newton's steps in v for a random family's non-canonical link, the last step by the
expected information).
The fixed effects are inside the solve (EQL, as lme4's nAGQ = 0), or held at given
values as part of the offset with only v solved (the conditional modes of a Laplace fit
at given beta): then the system is built on Z alone (:func:`random_effects_system`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..engine import NotPositiveDefiniteError, SolvingFactor, System, make_system
from ..spec import Problem
from .diagnostics import Divergence
from .glm import in_mean_space, positive_family
from .random_effects import RandomEffects

Array = np.ndarray

INNER_MAXIT = 100
# halvings of one IWLS step towards the previous iterate before the IWLS gives up
MAX_HALVINGS = 100


def random_effects_system(problem: Problem, blocks: list | None = None) -> System:
    """T'WT of the random effects alone (no fixed-effect columns), on the problem's
    blocks of Z or on ``blocks``."""
    empty = np.zeros((problem.y.shape[0], 0))
    precisions = [t.precision for t in problem.terms]
    return make_system(empty, problem.blocks if blocks is None else blocks, precisions)


@dataclass(frozen=True)
class ResponseShift:
    """A shift -c of the observations' working response (an HL correction), with the
    compensation +W2^-1 Z'W1 c of the pseudo-responses, Z'y given by ``design``.

    An IWLS with a shift stops when sum(d eta^2) < ``tol`` sum(eta^2) and by this rule
    alone: where it stops is part of its result (R's EQL1)."""

    c: Array
    design: System
    tol: float

    def apply(self, w1: Array, z1: Array, w2: Array, z2: Array) -> tuple[Array, Array]:
        """The shifted working responses (z1, z2)."""
        return z1 - self.c, z2 + self.design.z_rmatvec(w1 * self.c) / w2


class Solution(NamedTuple):
    """A penalized IRLS solution: delta = (beta, v) (v alone with beta held), the linear
    predictor X beta + Z v without the offset, and the factor and weights of the last
    solve (the iterate before the final update, DESIGN.md step 3)."""

    delta: Array
    eta: Array
    factor: SolvingFactor
    w1: Array
    w2: Array


class PenalizedIRLS:
    """Penalized IRLS for one problem at given dispersions.

    Parameters
    ----------
    problem : Problem
    system : System
        T'WT of the problem (``make_system(X, blocks, ...)``), or of the random effects
        alone (:func:`random_effects_system`) with ``beta`` given.
    effects : RandomEffects
    tol : float
        The IWLS stops when the squared change of the linear predictor is below ``tol``
        times its squared length.
    beta : ndarray, optional
        Fixed effects held in the offset: the solve is for v alone.
    accelerate : bool
        Stop as soon as the extrapolated remaining change is within the tolerance
        (:meth:`_remaining`), skipping the step that would only confirm it.
    trace_sums : bool
        Form the products of the weighted leverage sums with each factorization (a
        linear problem, whose one factorization is the round's last, and leverages
        wanted as sums only).
    curvature : callable, optional
        ``curvature(eta, phi)``: the observed information -d^2 l / d eta^2 of the
        observations (eta with the offset).  Where it is positive for all, it replaces
        the Fisher weights and the step is Newton's (the same score, W1 (z1 - eta)), which
        converges quadratically where a non-canonical link's scoring converges linearly.

    Attributes
    ----------
    steps : int
        The IWLS steps taken by all :meth:`solve` calls so far.
    halvings : int
        The step halvings taken by all :meth:`solve` calls so far (:meth:`_halve`).
    """

    def __init__(
        self,
        problem: Problem,
        system: System,
        effects: RandomEffects,
        tol: float,
        beta: Array | None = None,
        accelerate: bool = False,
        trace_sums: bool = False,
        curvature: Callable[[Array, Array], Array] | None = None,
    ) -> None:
        if beta is not None and system.p != 0:
            raise ValueError("beta held in the offset needs the system of Z alone")
        self.pb = problem
        self.system = system
        self.effects = effects
        self.tol = tol
        self.p = system.p
        self.offset = problem.offset if beta is None else problem.offset + problem.X @ beta
        self.accelerate = accelerate
        self.trace_sums = trace_sums
        self.curvature = curvature
        self.steps = 0
        self.halvings = 0
        self._last_eta: tuple[Array, Array] | None = None
        self._last_mean: tuple[Array, Array, Array] | None = None

    def use_system(self, system: System) -> None:
        """Solve on another system of the same unknowns (a vector term's Z Lambda at
        another Lambda): the linear predictors kept for the last arrays are dropped."""
        self.system = system
        self._last_eta = None
        self._last_mean = None

    def working(
        self,
        delta: Array,
        eta_lin: Array,
        phi: Array,
        lam: Array,
        shift: ResponseShift | None = None,
        newton: bool = False,
    ) -> tuple[Array, Array, Array, Array]:
        """IWLS weights and working responses (w1, z1, w2, z2) at ``delta`` (DESIGN.md,
        step 2); ``eta_lin`` = X beta + Z v (Z v with beta held).  With ``newton``, the
        random effects' weights are the observed information of their deviances where it
        is positive (:meth:`RandomEffects.information`), with the same score."""
        pb, fam = self.pb, self.pb.family
        mean, mu_eta = self.mean(eta_lin)
        mu = fam.clip_mu(mean)
        w1 = pb.weights * fam.fisher_weight(mu, mu_eta) / phi
        z1 = eta_lin + (pb.y - mu) / mu_eta
        if self.curvature is not None:
            observed = self.curvature(eta_lin + self.offset, phi)
            if np.all(observed > 0):
                z1 = eta_lin + w1 * (z1 - eta_lin) / observed
                w1 = observed
        v = delta[self.p :]
        u, du_dv = self.effects.scale(v)
        w2 = du_dv**2 / (self.effects.variance(u) * lam)
        z2 = v + (self.effects.psi - u) / du_dv
        if newton:
            score = w2 * (z2 - v)
            observed = self.effects.information(u, du_dv) / lam
            w2 = np.where(observed > 0, observed, w2)
            z2 = v + score / w2
        if shift is not None:
            z1, z2 = shift.apply(w1, z1, w2, z2)
        return w1, z1, w2, z2

    def mean(self, eta_lin: Array) -> tuple[Array, Array]:
        """g^{-1}(eta) and d mu / d eta at eta = ``eta_lin`` + offset: kept for this very
        array (a round's last linear predictor starts the next round's IWLS)."""
        if self._last_mean is None or self._last_mean[0] is not eta_lin:
            mean, mu_eta = self.pb.family.link.inverse_and_mu_eta(eta_lin + self.offset)
            self._last_mean = (eta_lin, mean, mu_eta)
        return self._last_mean[1], self._last_mean[2]

    def linear_predictor(self, delta: Array) -> Array:
        """X beta + Z v at ``delta``: kept for this very array (the next round starts
        from the last round's solution)."""
        if self._last_eta is None or self._last_eta[0] is not delta:
            self._last_eta = (delta, self.system.linear_predictor(delta))
        return self._last_eta[1]

    def solve(
        self, delta: Array, phi: Array, lam: Array, shift: ResponseShift | None = None
    ) -> Solution:
        """IWLS for delta given the dispersions (phi, lam), warm-started at ``delta``.

        With a ``shift``, the first step is uncorrected and the later ones subtract it
        (R's EQL1 round), and the loop stops by the shift's rule alone.

        Raises
        ------
        Divergence
            On non-finite weights or solution at ``delta``, a T'WT that is not positive
            definite, a step that MAX_HALVINGS halvings do not bring to finite weights and
            a penalized deviance no larger than before, or no convergence in INNER_MAXIT
            steps.
        """
        sysm = self.system
        eta_lin = self.linear_predictor(delta)
        inner_tol = self.tol if shift is None else shift.tol
        previous, halvings = np.inf, self.halvings
        # Newton's steps in the random effects of a non-canonical link, whose expected
        # information's steps are too short or too long away from u = psi (Gamma
        # identity: 1 / u against 1 / u^2); a last step by the expected information
        # gives the round its factor and weights (DESIGN.md step 3)
        newton = shift is None and not self.effects.canonical
        unchecked: tuple[Array, Array, bool] | None = None
        for step in range(INNER_MAXIT):
            self.steps += 1
            factor = None  # the last step's factorization goes before the next one is formed
            with np.errstate(all="ignore"):  # non-finite weights are halved or refused
                w1, z1, w2, z2 = self.working(delta, eta_lin, phi, lam,
                                              shift if step else None, newton)
            if not self._acceptable(delta, eta_lin, w1, z1, w2, z2, lam):
                if unchecked is None:
                    raise Divergence("non-finite IWLS weights")
                delta, eta_lin = self._halve_unchecked(unchecked, delta, eta_lin, phi, lam)
                with np.errstate(all="ignore"):
                    w1, z1, w2, z2 = self.working(delta, eta_lin, phi, lam,
                                                  shift if step else None, newton)
            unchecked = None
            try:
                factor = sysm.factorize(w1, w2, trace_weights=w2 if self.trace_sums else None)
            except NotPositiveDefiniteError as exc:
                raise Divergence(str(exc)) from exc
            new = factor.solve(sysm.rhs(w1, z1, w2, z2))
            if not np.isfinite(new).all():
                raise Divergence("non-finite IWLS solution")
            full_eta = sysm.linear_predictor(new)
            # the full step's length decides convergence: a halved step is short because
            # the full one went too far, not because the iterate is near the solution
            change = _squared_norm(full_eta - eta_lin)
            shifted = shift is not None and step > 0
            if self.halvings > halvings and not shifted:
                delta, eta_lin = self._halve(delta, eta_lin, new, full_eta, phi, lam, False)
            else:
                # checked where its weights are formed: at the next step (a last step,
                # within the tolerance of its checked iterate, by :meth:`_inside`)
                unchecked = (delta, eta_lin, shifted)
                delta, eta_lin = new, full_eta
            bound = inner_tol * _squared_norm(eta_lin) + 1e-300
            # a shifted IWLS stops by its rule alone: where it stops is part of its result
            if change <= bound or shift is None and (
                self.pb.is_linear or self._remaining(change, previous) <= bound
            ):
                if unchecked is not None and not self._inside(delta, eta_lin, lam, False):
                    delta, eta_lin = self._halve_unchecked(unchecked, delta, eta_lin, phi, lam)
                    unchecked = None
                    continue
                if not newton:
                    break
                newton = False
            previous = change
        else:
            raise Divergence("the IWLS of the augmented GLM did not converge")
        self._last_eta = (delta, eta_lin)
        return Solution(delta, eta_lin, factor, w1, w2)

    def _acceptable(self, delta: Array, eta_lin: Array, w1: Array, z1: Array, w2: Array,
                    z2: Array, lam: Array) -> bool:
        """Whether an iterate can be stepped from: inside the spaces of its families
        (:meth:`_inside`), with finite IWLS weights and working responses."""
        return self._inside(delta, eta_lin, lam, True) and all(
            bool(np.isfinite(a).all()) for a in (w1, z1, w2, z2))

    def _inside(self, delta: Array, eta_lin: Array, lam: Array, means: bool) -> bool:
        """Whether the random effects of ``delta`` are inside their families' spaces (a
        finite deviance) and, with ``means`` or for a positive response family, the means
        of ``eta_lin`` inside theirs (else a finite ``eta_lin`` has finite means)."""
        if (means or positive_family(self.pb.family)) and not in_mean_space(
                self.pb.family, self.mean(eta_lin)[0]):
            return False
        with np.errstate(all="ignore"):
            u = self.effects.scale(delta[self.p :])[0]
            return bool(np.isfinite((self.effects.deviance(u) / lam).sum()))

    def _halve_unchecked(self, unchecked: tuple[Array, Array, bool], delta: Array,
                         eta_lin: Array, phi: Array, lam: Array) -> tuple[Array, Array]:
        """The last step, from ``unchecked`` = (previous iterate, its linear predictor,
        whether the step was shifted) to (``delta``, ``eta_lin``) where the weights are not
        finite, halved by :meth:`_halve`."""
        old, old_eta, shifted = unchecked
        self.halvings += 1
        return self._halve(old, old_eta, 0.5 * (old + delta), 0.5 * (old_eta + eta_lin),
                           phi, lam, shifted)

    def penalized_deviance(self, delta: Array, eta_lin: Array, phi: Array, lam: Array) -> float:
        """The penalized deviance sum w d(y, mu) / phi + sum d(psi, u) / lambda at
        ``delta`` (-2 h plus a constant at given dispersions), which the IWLS steps
        decrease: infinite where the means leave their space or the IWLS weights or the
        deviance are not finite."""
        pb, fam = self.pb, self.pb.family
        with np.errstate(all="ignore"):
            mean, mu_eta = self.mean(eta_lin)
            u, du_dv = self.effects.scale(delta[self.p :])
            if not in_mean_space(fam, mean):
                return np.inf
            mu = fam.clip_mu(mean)
            w1 = fam.fisher_weight(mu, mu_eta)
            w2 = du_dv**2 / self.effects.variance(u)
            if not (np.all(np.isfinite(w1)) and np.all(np.isfinite(w2))):
                return np.inf
            dev = np.sum(pb.weights * fam.unit_deviance(pb.y, mu) / phi)
            dev += np.sum(self.effects.deviance(u) / lam)
        return float(dev) if np.isfinite(dev) else np.inf

    def _halve(
        self,
        old: Array,
        old_eta: Array,
        new: Array,
        new_eta: Array,
        phi: Array,
        lam: Array,
        shifted: bool,
    ) -> tuple[Array, Array]:
        """The IWLS step from ``old`` to ``new``, halved towards ``old`` while it gives
        non-finite weights or deviance or (but for a ``shifted`` step, which solves
        another system) increases the penalized deviance.

        A step is halved ("guarded") from the first step of a solve whose weights were
        not finite (checked where they are formed, :meth:`solve`) to the end of that
        solve.  From a start deep in the tail of a random family (v = -20 under a log
        link) the full step overshoots to u = inf; the halved, then descending, steps
        bring it in.  A fit whose steps stay finite is never guarded: its steps are the
        plain IWLS steps (Newton's in v for a non-canonical random link, :meth:`solve`),
        and no penalized deviance is formed.

        Raises
        ------
        Divergence
            When MAX_HALVINGS halvings leave the step unacceptable.
        """
        before = None
        for _ in range(MAX_HALVINGS):
            after = self.penalized_deviance(new, new_eta, phi, lam)
            if np.isfinite(after):
                if shifted:
                    return new, new_eta
                if before is None:
                    before = self.penalized_deviance(old, old_eta, phi, lam)
                if after <= before + 1e-10 * abs(before):
                    return new, new_eta
            self.halvings += 1
            new, new_eta = 0.5 * (old + new), 0.5 * (old_eta + new_eta)
        raise Divergence(
            f"non-finite IWLS weights or an increasing penalized deviance after "
            f"{MAX_HALVINGS} step halvings"
        )

    def _remaining(self, change: float, previous: float) -> float:
        """The squared distance still to go after an IWLS step (:func:`remaining_change`),
        with acceleration only."""
        return remaining_change(change, previous) if self.accelerate else np.inf


def _squared_norm(a: Array) -> float:
    """sum a^2 in one pass without a temporary (no BLAS: no threads to wake)."""
    return float(np.einsum("i,i->", a, a))


def remaining_change(change: float, previous: float) -> float:
    """The squared distance still to go after an IWLS step, extrapolated from the last
    two steps (squared lengths ``previous`` and ``change``) as a geometric series: with
    r = |step| / |previous step| < 1/2, the rest is |step| r / (1 - r).  IWLS converges
    quadratically (canonical links) or fast linearly, so once r is small the step just
    taken is within the tolerance of the solution and the step that would only confirm
    it is skipped (accelerated iteration only)."""
    if not np.isfinite(previous) or previous <= 0:
        return np.inf
    r = np.sqrt(change / previous)
    return np.inf if r >= 0.5 else change * (r / (1.0 - r)) ** 2
