"""The Laplace approximation of the marginal likelihood, and its REML-type version, as a
function of the outer parameters (:mod:`.outer_parameters`).

With the conditional mode delta^ of the h-likelihood h = log f(y | v) + log f(v) in the
inner unknowns (:mod:`.conditional_mode`) and M = -d^2 h / d delta^2 there (the observed
curvature, :mod:`.densities`):

    ML:    -2 l = -2 h(beta, v^) + log|D / 2 pi|,  M = D = Z'WZ + R,
    REML:  -2 p_{beta,v}(h) = -2 h(beta^, v^) + log|C / 2 pi|,  M = C = T'WT,

R = diag(r) the random effects' curvature (1 / lambda for Gaussian effects).  For Gaussian
effects, in lme4's notation -2 h + log|D| = sum d_i + |u|^2 + log|L|^2 (up to the family's
constant), and the REML form of a Gaussian identity-link response is exact REML.

For conjugate random effects (Gamma, Beta, inverse-Gamma) this is HL(1,1)-ML, the Laplace
approximation on the scale of v, and its error is Stirling's.  A Poisson response with
Gamma effects u = e^v (mean 1, variance lambda, a = 1 / lambda) is a negative binomial:
each group's integral is that of u^(y_a + a) exp(-(mu_a + a) u) over v, whose Laplace
approximation replaces Gamma(y_a + a) by Stirling's formula, so the Laplace log-likelihood
is the negative binomial's less sum_a [log Gamma(z_a) - log Gamma*(z_a)] ~ sum_a 1/(12 z_a),
z_a = y_a + a.  On the pump data that is 0.18: the Laplace fit has log-likelihood -30.008
against glm.nb's -29.826, lambda 0.757 against 0.770 and the fixed effects within 5e-4.

Where the fixed effects stand is the ``kind``:

    "ML":     in x;
    "nAGQ0":  at the joint mode of h (lme4's nAGQ = 0, the ML form);
    "REML":   at the joint mode of h.

A term with a known precision Q (effects u ~ N(0, lambda Q^{-1})) enters M as Q / lambda
and -2 log f(u) as u'Qu / lambda + q log(2 pi lambda) - log|Q| (:func:`.likelihood.
precision_loglik`; the engine's log-determinants leave out the same log|Q|); its
gradient is by differences.

The gradient (Gaussian effects) is analytic (:mod:`.laplace_gradient`).
"""

from __future__ import annotations

import numpy as np

from ..engine import (
    NotPositiveDefiniteError,
    transformed_blocks,
)
from ..spec import Problem
from .conditional_mode import Mode, ModeFinder
from .densities import ResponseDensity, ResponseDerivatives, random_curvature
from .diagnostics import Divergence
from .differences import value_gradient
from .kept_states import KeptStates
from .laplace_gradient import LaplaceGradient
from .laplace_state import LaplaceState
from .likelihood import precision_loglik, random_loglik
from .outer_parameters import OuterParameters
from .pirls import random_effects_system
from .theta import factors_key

Array = np.ndarray
LOG_2PI = float(np.log(2.0 * np.pi))

KINDS = ("ML", "nAGQ0", "REML")


class LaplaceDeviance(LaplaceGradient, KeptStates):
    """-2 log-likelihood by the Laplace approximation, or the Laplace-REML criterion, as a
    function of x.

    Parameters
    ----------
    problem : Problem
    kind : str
        Where the fixed effects stand: "ML", "nAGQ0" or "REML" (module docstring).
    density : ResponseDensity, optional
        The response's log-density (another deviance's, to share its constants).
    """

    def __init__(self, problem: Problem, kind: str,
                 density: ResponseDensity | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind: one of {KINDS}, got {kind!r}")
        self.pb = problem
        self.kind = kind
        self.params = OuterParameters(problem, beta_outer=kind == "ML")
        self.density = density or ResponseDensity(problem.y, problem.family, problem.weights,
                                                  self.params.fixed_phi)
        self.modes = ModeFinder(problem, kind != "ML", self.density)
        self.z_system = self.modes.system if kind == "ML" else random_effects_system(problem)
        self.inner = self.modes.system if kind == "REML" else self.z_system
        # the analytic gradient: Gaussian effects without a known precision
        self.gaussian_effects = all(t.family.is_gaussian and t.precision is None
                                    for t in problem.terms)
        self.slices = self.modes.effects.slices
        self.n_eval = 0
        self._key: bytes | None = None
        self._factors: list[Array | None] = [None] * len(problem.blocks)

    @property
    def analytic_gradient(self) -> bool:
        """Whether :meth:`gradient` is analytic (Gaussian random effects, none with a
        known precision)."""
        return self.gaussian_effects

    def gradient(self, x: Array) -> Array:
        """The analytic gradient (Gaussian random effects; zeros where the objective is
        infinite), in the entries of a vector term's Lambda by differences."""
        st = self.state(x)
        if st.gradient is None and self.gaussian_effects and np.isfinite(st.objective):
            self._at(st.x)
            st.gradient = self._gradient(st)
        if st.gradient is None:
            return np.zeros_like(st.x)
        entries = self.params.vector_entries
        if not entries.size or st.vector_gradient:
            return st.gradient
        differences = value_gradient(self.objective, st.x, entries)
        self.keep(st)
        return st.gradient + differences

    def derivatives(self, st: LaplaceState) -> ResponseDerivatives:
        """The response's derivatives at the state's mode, formed again when let go."""
        if st.deriv is None:
            eta = self.mode(st).eta
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                st.deriv = self.density.derivatives(eta, st.phi)
        return st.deriv

    def mode(self, st: LaplaceState) -> Mode:
        """The state's mode, its linear predictor offset + X beta + Z v formed again when
        let go."""
        if st.mode.eta is None:
            self._at(st.x)
            p = self.modes.p
            eta = (self.pb.offset + self.pb.X @ st.mode.delta[:p]
                   + self.z_system.linear_predictor(st.mode.delta[p:]))
            st.mode = Mode(st.mode.delta, eta)
        return st.mode

    def factor(self, st: LaplaceState) -> object:
        """The state's factorization of M at its mode, formed again when let go."""
        if st.factor is None:
            self._at(st.x)
            st.factor = self.inner.factorize(self.derivatives(st).curvature,
                                             st.random_curvature)
        return st.factor

    def _release(self, st: LaplaceState) -> None:
        # n-vectors and m x m factors, formed again from the mode's (beta, v) when asked for
        if st.mode is not None:
            st.deriv = st.factor = st.joint_factor = None
            st.mode = Mode(st.mode.delta, None)

    def _at(self, x: Array) -> None:
        """The systems on the blocks of Z at the vector terms' Lambda of ``x``."""
        factors = self.params.factors(x)
        key = factors_key(factors)
        if key == self._key or not key:
            return
        self._key = key
        blocks = transformed_blocks(self.pb.blocks, factors)
        # the last mode's effects carried to the new Lambda at the same linear predictor
        carry = [None if f is None or old is None else np.linalg.pinv(f) @ old
                 for f, old in zip(factors, self._factors, strict=True)]
        self._factors = factors
        self.modes.use_blocks(blocks, carry)
        ml = self.kind == "ML"
        self.z_system = self.modes.system if ml else random_effects_system(self.pb, blocks)
        self.inner = self.modes.system if self.kind == "REML" else self.z_system

    def _evaluate(self, x: Array) -> LaplaceState:
        par = self.params
        lam, phi = par.lam(x), par.phi(x)
        lam_eff = par.lam_effects(lam)
        self._at(x)
        try:
            mode = self.modes.solve(par.beta(x), phi, lam_eff, keep_factor=False)
            st = self._state_at_mode(x, mode, phi, lam, lam_eff)
        except (Divergence, NotPositiveDefiniteError):
            return LaplaceState(x, np.inf)
        # the factor at the mode predicts the next mode (on the modes' own system: this
        # one; for nAGQ = 0 the joint one, :meth:`_joint_factor`): the last IWLS
        # factorization went before it was formed (10 MB at InstEval's order)
        if np.isfinite(st.objective) and self.inner is self.modes.system:
            self.modes.predict_with(st.factor, st.deriv.curvature)
        return st

    def _state_at_mode(self, x: Array, mode: Mode, phi: Array, lam: Array,
                       lam_eff: Array, objective: bool = True) -> LaplaceState:
        """The objective and its pieces at ``x`` whose mode is ``mode`` (infinite at the
        edge of a bounded link's domain); without ``objective``, the pieces alone (the
        objective nan where they are finite: a state for its gradient, never kept).

        Raises
        ------
        NotPositiveDefiniteError
            When the curvature at the mode is not positive definite.
        """
        deriv = self.density.derivatives(mode.eta, phi)
        v = mode.delta[self.modes.p :]
        r = self._random_curvature(v, lam_eff)
        factor = self.inner.factorize(deriv.curvature, r)
        finite = all(np.isfinite(a).all() for a in deriv)
        if not objective:
            return LaplaceState(x, np.nan if finite else np.inf, mode, phi, lam, deriv, r,
                                factor)
        if self.kind == "REML":
            logdet, dim = factor.logdet(), self.inner.p + self.inner.q
        else:
            logdet, dim = factor.logdet_random_block(), self.inner.q
        objective = (self.density.minus_two_loglik(mode.eta, phi, deriv.mu)
                     - 2.0 * self._random_loglik(v, lam_eff) + logdet - dim * LOG_2PI)
        if not (finite and np.isfinite(objective)):
            return LaplaceState(x, np.inf)  # at the edge of a bounded link's domain
        # the gradient is formed when asked for (:meth:`gradient`): a starting point's is
        # not, and nAGQ = 0's needs a factorization of the joint system
        return LaplaceState(x, float(objective), mode, phi, lam, deriv, r, factor)

    def start_at(self, x: Array, mode: Mode) -> None:
        """Keep the state at ``x`` whose mode is known to be ``mode`` (the joint mode at
        x's variances and fixed effects: the mode of h in v at those fixed effects), with
        no IWLS, and predict the next modes from it."""
        par = self.params
        lam, phi = par.lam(x), par.phi(x)
        lam_eff = par.lam_effects(lam)
        self._at(x)
        try:
            st = self._state_at_mode(np.array(x, dtype=float), mode, phi, lam, lam_eff)
        except NotPositiveDefiniteError:
            st = LaplaceState(x, np.inf)
        if not (np.isfinite(st.objective) and self.inner is self.modes.system):
            self.modes.start_at(mode)  # the IWLS starts there instead
            return
        self.n_eval += 1
        self.keep(st)
        self.modes.start_at(mode, (par.beta(x), lam_eff, st.factor, st.deriv.curvature))

    def difference_gradients(self, points: list[Array], base: Array) -> list[Array]:
        """The gradients at ``points``, difference steps from ``base`` (a difference
        Hessian's columns), at the modes predicted from base's, without IWLS
        (:meth:`_near_effects`).  Every mode is predicted before base's factor goes, so that
        one factorization is alive at a time (10 MB at InstEval's order); the last step's
        factor then predicts the next mode in place of base's (a step of 1e-4 away: as good
        a Jacobian for the prediction).  Where that prediction is not available (other
        than "ML" with scalar Gaussian terms, a step in the dispersion parameters) or
        fails, :meth:`gradient`."""
        st = self.state(base)
        nears = [self._near_effects(st, x) if self._predicts(st, x) else None
                 for x in points]
        if any(v is not None for v in nears):
            self._release(st)
            self.modes.release_factor()
        gradients, last = [], None
        for x, v in zip(points, nears, strict=True):
            last = None  # the last step's state goes before the next forms its factor
            near = None if v is None else self._near_state(st, x, v)
            gradients.append(self.gradient(x) if near is None else self._gradient(near))
            last, near = near, None
        if last is not None:
            self.modes.predict_with(last.factor, last.deriv.curvature)
        return gradients

    def _predicts(self, st: LaplaceState, x: Array) -> bool:
        """Whether the mode at ``x`` is predicted from the state's (:meth:`_near_effects`)."""
        par = self.params
        return (self.kind == "ML" and self.gaussian_effects and not par.vector_entries.size
                and np.isfinite(st.objective)
                and np.array_equal(par.gamma(x), par.gamma(st.x)))

    def _near_state(self, st: LaplaceState, x: Array, v: Array) -> LaplaceState | None:
        """The pieces at ``x`` whose mode has the random effects ``v`` (predicted from the
        state's, :meth:`_near_effects`); None where that mode's curvature fails."""
        self.n_eval += 1
        par, system = self.params, self.z_system
        beta, lam = par.beta(x), par.lam(x)
        eta = (self.mode(st).eta + self.pb.X @ (beta - st.mode.delta[: self.modes.p])
               + system.linear_predictor(v - st.mode.delta[self.modes.p :]))
        mode = Mode(np.concatenate([beta, v]), eta)
        try:
            near = self._state_at_mode(x, mode, st.phi, lam, par.lam_effects(lam),
                                       objective=False)
        except NotPositiveDefiniteError:
            return None
        return None if np.isinf(near.objective) else near

    def _near_effects(self, st: LaplaceState, x: Array) -> Array:
        """The random effects of the mode at ``x`` near the state's ("ML", scalar
        Gaussian terms), from its factor D alone: the mode's equations Z's - v / lambda = 0
        move by -Z'W X d(beta) and -(d 1/lambda) v, so to first order dv = D^{-1} of that;
        one more step with D (a chord step: D is the Jacobian at a distance of the step)
        leaves an error of third order in the step, as small as the IWLS tolerance's."""
        p, X, system = self.modes.p, self.pb.X, self.z_system
        beta, v = st.mode.delta[:p], st.mode.delta[p:]
        lam_eff = self.params.lam_effects(self.params.lam(x))
        eta_beta = X @ (self.params.beta(x) - beta)
        factor = self.factor(st)
        moved = (-(1.0 / lam_eff - 1.0 / self.params.lam_effects(st.lam)) * v
                 - system.z_rmatvec(self.derivatives(st).curvature * eta_beta))
        dv = factor.solve(moved)
        v, eta = v + dv, self.mode(st).eta + eta_beta + system.linear_predictor(dv)
        score = self.density.score(eta, st.phi)
        return v + factor.solve(system.z_rmatvec(score) - v / lam_eff)

    def random_factor(self, x: Array) -> object:
        """The factor of D = -d^2 h / dv^2 at the mode of ``x`` (its inverse: the
        conditional covariance of v)."""
        st = self.state(x)
        self._at(x)
        if self.inner is self.z_system:
            return self.factor(st)
        return self.z_system.factorize(self.derivatives(st).curvature, st.random_curvature)

    def fixed_covariance(self, x: Array) -> Array:
        """The fixed effects' block of C^{-1}, C = -d^2 h / d(beta, v)^2 at the mode of
        ``x``: their covariance given the variance parameters.  With M = D (ML, nAGQ = 0)
        the inverse of C's Schur complement X'WX - X'WZ D^{-1} Z'WX, by p solves with the
        state's factor of D (no factorization of C: 10 MB at InstEval's order)."""
        st = self.state(x)
        self._at(x)
        p = self.pb.X.shape[1]
        factor = self.factor(st)
        if self.kind == "REML" or p == 0:
            return factor.inverse_block(np.arange(p))
        X, W = self.pb.X, self.derivatives(st).curvature
        cross = np.column_stack([self.z_system.z_rmatvec(W * X[:, j]) for j in range(p)])
        solved = np.column_stack([factor.solve(c) for c in cross.T])
        inverse = np.linalg.inv(X.T @ (W[:, None] * X) - cross.T @ solved)
        return 0.5 * (inverse + inverse.T)

    def _joint_factor(self, st: LaplaceState) -> object:
        """nAGQ = 0: the factor of the joint system in (beta, v) (the modes' system) at
        the state's curvatures (the state's ``x`` must be the systems' current one,
        :meth:`_at`), kept in the state; for the newest state it predicts the next mode."""
        if st.joint_factor is None:
            curvature = self.derivatives(st).curvature
            st.joint_factor = self.modes.system.factorize(curvature, st.random_curvature)
            if self._kept and self._kept[0] is st:
                self.modes.predict_with(st.joint_factor, curvature)
        return st.joint_factor

    def _random_curvature(self, v: Array, lam_eff: Array) -> Array:
        out = np.empty_like(v)
        for sl, t in zip(self.slices, self.pb.terms, strict=True):
            out[sl] = random_curvature(v[sl], t.family, lam_eff[sl])
        return out

    def _random_loglik(self, v: Array, lam_eff: Array) -> float:
        return sum(random_loglik(v[sl], t.family, lam_eff[sl]) if t.precision is None
                   else precision_loglik(v[sl], t.precision, lam_eff[sl])
                   for sl, t in zip(self.slices, self.pb.terms, strict=True))
