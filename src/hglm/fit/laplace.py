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

The gradient (Gaussian effects) is analytic.  With m_i = t_i' M^{-1} t_i (t_i the row of
the inner design T1: Z, or [X, Z]), g_i = m_i W'_i, a = M^{-1} T1'g, e_i = dl_i / dlog phi_i
and, per term, S_k = v_k'v_k and H_k = tr(M^{-1}) over its effects:

    d/d lambda_k = (q_k lambda_k - S_k - H_k + a_k'v_k) / lambda_k^2,
    d/d log phi_i = -2 e_i - m_i W_i - (T1 a)_i s_i,
    d/d beta      = X'(-2 s + g - W (Z a))                       (M = D, T1 = Z),

the first terms by the mode's envelope, then tr(M^{-1} dM) at the mode, then through the
mode's own movement (d delta^ = M^{-1} d(dh/d delta), with dh/d delta moved by lambda
through v / lambda^2 and by log phi through -s).  For nAGQ0 the gradient in beta reaches
the variance parameters through beta^: with b = C^{-1} (d/d beta, 0), lambda_k gains
b_k'v_k / lambda_k^2 and log phi_i gains -(T1 b)_i s_i.

A vector-valued term is in the spherical form of :mod:`.theta`: its block of Z is
Z Lambda and its effects b are N(0, I), so the formulas above hold with lambda = 1 for
them, and the systems are rebuilt for each Lambda.  The gradient in Lambda's entries is
analytic ("ML", "nAGQ0"): moving Lambda_ab moves eta by Z E b (E the unit matrix at
(a, b), per level) at fixed b, the mode's equations by E'Z's - Lambda'Z'W Z E b, and
D^{-1} Lambda'Z'WZ = (I - D^{-1}) Lambda^{-1}, so with c = -2 s + g - W (T1 a), per level
l the term's rows of Z'c, Z's, b and a,

    d/d Lambda_ab = sum_l [(Z'c)_la b_lb + (Z's)_la a_lb]
                    + 2 [(m I - sum_l D^{-1}_ll) Lambda^{-1}]_ba;

for nAGQ0, beta^'s movement adds the same with c -= W (T1 b) and a += b_v (b as above).
Below VECTOR_GRADIENT_FLOOR, when the vector term is the only random term, Z'WZ is
block-diagonal over its levels and (m I - sum_l D^{-1}_ll) Lambda^{-1} = sum_l D^{-1}_ll
Lambda' (Z'WZ)_ll, which needs no Lambda^{-1} and holds at a singular Lambda (a singular
fit's optimum is on that boundary).  For REML, and near the boundary with other terms,
the gradient is by central differences of the objective.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..engine import (
    LevelBlocks,
    NotPositiveDefiniteError,
    inverse_diag_blocks,
    transformed_blocks,
)
from ..spec import Problem
from .conditional_mode import Mode, ModeFinder
from .densities import ResponseDensity, ResponseDerivatives, random_curvature
from .diagnostics import Divergence
from .differences import value_gradient
from .kept_states import KeptStates
from .likelihood import precision_loglik, random_loglik
from .outer_parameters import OuterParameters
from .pirls import System, random_effects_system
from .theta import VECTOR_GRADIENT_FLOOR, factors_key, inverse_trace, level_trace

Array = np.ndarray
LOG_2PI = float(np.log(2.0 * np.pi))

KINDS = ("ML", "nAGQ0", "REML")


@dataclass
class LaplaceState:
    """The objective and its pieces at one x (``objective`` inf where the mode or the
    factorization failed); ``deriv``, ``factor`` and ``joint_factor`` None once let go
    (:meth:`LaplaceDeviance.derivatives` and :meth:`LaplaceDeviance.factor` form the first
    two again)."""

    x: Array
    objective: float
    mode: Mode | None = None
    phi: Array | None = None
    lam: Array | None = None
    deriv: ResponseDerivatives | None = None
    random_curvature: Array | None = None
    factor: object | None = None
    gradient: Array | None = None
    # the factor of the joint system in (beta, v) at the mode's curvatures (nAGQ = 0's
    # gradient and the fixed effects' covariance), formed on first use
    joint_factor: object | None = None
    # whether ``gradient`` holds the vector terms' entries (else they are differenced)
    vector_gradient: bool = False


class LaplaceDeviance(KeptStates):
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
            st.gradient = self._gradient(st, self.derivatives(st))
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
            with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
                st.deriv = self.density.derivatives(st.mode.eta, st.phi)
        return st.deriv

    def factor(self, st: LaplaceState) -> object:
        """The state's factorization of M at its mode, formed again when let go."""
        if st.factor is None:
            self._at(st.x)
            st.factor = self.inner.factorize(self.derivatives(st).curvature,
                                             st.random_curvature)
        return st.factor

    def _release(self, st: LaplaceState) -> None:
        # n-vectors and m x m factors, formed again from the mode when asked for
        if st.mode is not None:
            st.deriv = st.factor = st.joint_factor = None

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
        if not objective:
            finite = all(np.all(np.isfinite(a)) for a in deriv)
            return LaplaceState(x, np.nan if finite else np.inf, mode, phi, lam, deriv, r,
                                factor)
        if self.kind == "REML":
            logdet, dim = factor.logdet(), self.inner.p + self.inner.q
        else:
            logdet, dim = factor.logdet_random_block(), self.inner.q
        objective = (self.density.minus_two_loglik(mode.eta, phi, deriv.mu)
                     - 2.0 * self._random_loglik(v, lam_eff) + logdet - dim * LOG_2PI)
        if not (np.isfinite(objective) and all(np.all(np.isfinite(a)) for a in deriv)):
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
        self.modes.start_at(mode)
        try:
            st = self._state_at_mode(np.array(x, dtype=float), mode, phi, lam, lam_eff)
        except NotPositiveDefiniteError:
            return
        if np.isfinite(st.objective) and self.inner is self.modes.system:
            self.n_eval += 1
            self.keep(st)
            self.modes.start_at(mode, (par.beta(x), lam_eff, st.factor, st.deriv.curvature))

    def difference_gradient(self, x: Array, base: Array) -> Array:
        """The gradient at ``x``, a difference step from ``base`` (a difference Hessian's
        column), at the mode predicted from base's, without IWLS (:meth:`_near_mode`).
        Where that prediction is not available (other than "ML" with scalar Gaussian
        terms, a step in the dispersion parameters) or fails, :meth:`gradient`."""
        par, st = self.params, self.state(base)
        if (self.kind != "ML" or not self.gaussian_effects or par.vector_entries.size
                or not np.isfinite(st.objective)
                or not np.array_equal(par.gamma(x), par.gamma(st.x))):
            return self.gradient(x)
        self.n_eval += 1
        lam = par.lam(x)
        lam_eff = par.lam_effects(lam)
        try:
            near = self._state_at_mode(x, self._near_mode(st, x, lam_eff), st.phi, lam,
                                       lam_eff, objective=False)
        except NotPositiveDefiniteError:
            return self.gradient(x)
        if np.isinf(near.objective):
            return self.gradient(x)
        return self._gradient(near, near.deriv)

    def _near_mode(self, st: LaplaceState, x: Array, lam_eff: Array) -> Mode:
        """The mode at ``x`` near the state's ("ML", scalar Gaussian terms), from its
        factor D alone: the mode's equations Z's - v / lambda = 0 move by -Z'W X d(beta)
        and -(d 1/lambda) v, so to first order dv = D^{-1} of that; one more step with D
        (a chord step: D is the Jacobian at a distance of the step) leaves an error of
        third order in the step, as small as the IWLS tolerance's."""
        p, X, system = self.modes.p, self.pb.X, self.z_system
        beta, v = st.mode.delta[:p], st.mode.delta[p:]
        eta_beta = X @ (self.params.beta(x) - beta)
        factor = self.factor(st)
        moved = (-(1.0 / lam_eff - 1.0 / self.params.lam_effects(st.lam)) * v
                 - system.z_rmatvec(self.derivatives(st).curvature * eta_beta))
        dv = factor.solve(moved)
        v, eta = v + dv, st.mode.eta + eta_beta + system.linear_predictor(dv)
        score = self.density.score(eta, st.phi)
        dv = factor.solve(system.z_rmatvec(score) - v / lam_eff)
        return Mode(np.concatenate([self.params.beta(x), v + dv]),
                    eta + system.linear_predictor(dv))

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
        n, q = X.shape[0], self.z_system.q
        cross = np.column_stack([self.z_system.rhs(W * X[:, j], np.ones(n), np.zeros(q),
                                                   np.zeros(q)) for j in range(p)])
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

    def _curvature_terms(self, factor: object, system: System,
                         deriv: ResponseDerivatives) -> tuple[Array, Array, Array, Array]:
        """m = diag(T1 M^{-1} T1'), g = m W', a = M^{-1} T1'g and T1 a."""
        n, q = deriv.mu.shape[0], system.q
        m = factor.rows_quadform()
        g = m * deriv.dcurvature
        a = factor.solve(system.rhs(g, np.ones(n), np.zeros(q), np.zeros(q)))
        return m, g, a, system.linear_predictor(a)

    def _gradient(self, st: LaplaceState, deriv: ResponseDerivatives) -> Array:
        """The analytic gradient at ``st`` (module docstring)."""
        par, q = self.params, self.z_system.q
        v = st.mode.delta[self.modes.p :]
        s, W = deriv.score, deriv.curvature
        factor = self.factor(st)
        m, g, a, t1a = self._curvature_terms(factor, self.inner, deriv)
        traces = factor.weighted_diag_sums(np.ones(q), self.slices)
        moved = self._per_term(a[self.inner.p :], v)
        sizes = par.sizes
        d_lam = (sizes * st.lam - self._per_term(v, v) - traces + moved) / st.lam**2
        d_logphi = -m * W - t1a * s
        if self.kind != "REML":
            # c and a_v: for the vector terms' Lambda (module docstring)
            c, a_v = -2.0 * s + g - W * t1a, a[self.inner.p :]
            d_beta = self.pb.X.T @ c
        if self.kind == "nAGQ0":
            joint = self.modes.system
            b = self._joint_factor(st).solve(np.concatenate([d_beta, np.zeros(q)]))
            d_lam = d_lam + self._per_term(b[joint.p :], v) / st.lam**2
            tb = joint.linear_predictor(b)
            d_logphi = d_logphi - tb * s
            c, a_v = c - W * tb, a_v + b[joint.p :]
        grad = np.zeros(par.size)
        grad[par.sd_slice] = par.sd_gradient(st.x, d_lam)
        if par.n_beta:
            grad[par.beta_slice] = d_beta
        if self.kind != "REML" and par.vector_entries.size:
            vector = self._vector_gradient(st, c, s, a_v)
            if vector is not None:
                grad[par.sd_slice] += vector
                st.vector_gradient = True
        if par.n_disp:
            d_logphi = d_logphi - 2.0 * self.density.dispersion_score(deriv.mu, st.phi)
            grad[par.disp_slice] = par.disp_design.T @ d_logphi
        return grad

    def _vector_gradient(self, st: LaplaceState, c: Array, s: Array,
                         a: Array) -> Array | None:
        """The ML gradient in the vector terms' entries of x (module docstring); None
        when a diagonal of some Lambda is below VECTOR_GRADIENT_FLOOR and the term is
        not the only one."""
        par = self.params
        out = np.zeros(par.n_cov)
        v = st.mode.delta[self.modes.p :]
        for k, L in enumerate(par.factors(st.x)):
            if L is None:
                continue
            sl, size, block = self.slices[k], L.shape[0], self.pb.blocks[k]
            count = (sl.stop - sl.start) // size
            X = self._log_det_term(st, k, L)
            if X is None:
                return None
            zc = block.rmatvec(c).reshape(count, size)
            zs = block.rmatvec(s).reshape(count, size)
            d_lambda = (zc.T @ v[sl].reshape(count, size) + zs.T @ a[sl].reshape(count, size)
                        + 2.0 * X.T)
            out[par.layout.slices[k]] = par.layout.covariances[k].theta(d_lambda)
        # a diagonal is on the log scale: d/d log Lambda_jj = Lambda_jj d/d Lambda_jj
        log_scale = par.log_scale
        out[log_scale] *= par.covariance(st.x)[log_scale]
        return out

    def _log_det_term(self, st: LaplaceState, k: int, L: Array) -> Array | None:
        """sum_l (D^{-1} Lambda'Z'WZ)_ll over the levels l of vector term k (the part
        of d log|D| / d Lambda, module docstring): (m I - sum_l D^{-1}_ll) Lambda^{-1};
        below VECTOR_GRADIENT_FLOOR, for the only random term (Z'WZ block-diagonal),
        sum_l D^{-1}_ll Lambda' (Z'WZ)_ll, which needs no Lambda^{-1} and holds at a
        singular Lambda, and None with other terms."""
        sl, size = self.slices[k], L.shape[0]
        count = (sl.stop - sl.start) // size
        inverse = inverse_diag_blocks(self.factor(st), sl.start, size, count)
        if np.min(np.diag(L)) < VECTOR_GRADIENT_FLOOR:
            if len(self.pb.blocks) > 1:
                return None
            gram = LevelBlocks.weighted_gram(self.pb.blocks[k],
                                             self.derivatives(st).curvature).blocks
            return level_trace(inverse, L, gram)
        return inverse_trace(inverse, L)

    def _per_term(self, a: Array, v: Array) -> Array:
        """a_k'v_k for each term k."""
        return np.array([float(a[sl] @ v[sl]) for sl in self.slices])
