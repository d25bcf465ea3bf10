"""The ML and REML profiled deviance of a linear mixed model over theta, and its gradient.

For a Gaussian response with the identity link, prior weights w and Gaussian random
effects v_k ~ N(0, sigma^2 theta_k^2 A_k) (A_k = I, or a known precision Q_k = A_k^{-1}),
theta holds lme4's relative standard deviations.  With Lambda = diag(theta_k^2) and the
augmented matrix of the engine at W1 = diag(w), W2 = Lambda^{-1} (no sigma^2: it is
profiled out),

    C = [[X'WX, X'WZ], [Z'WX, D]],   D = Z'WZ + Lambda^{-1},

the joint mode (beta, v) solves C (beta, v) = (X'Wy, Z'Wy) and its penalized residual sum
of squares is r^2 = sum w (y - X beta - Z v)^2 + v' Lambda^{-1} v.  The profiled
deviances (Bates et al. 2015, lme4's eqs. 34 and 41) are

    ML:   -2 l   = log|Lambda D| + n (1 + log(2 pi r^2 / n))             - sum log w,
    REML: -2 l_R = log|Lambda D| + log|C / D| + (n - p)(1 + log(2 pi r^2 / (n - p)))
                                                                           - sum log w,

where |C / D| = |C| / |D| is the determinant of the fixed effects' Schur complement
(lme4's |R_X|^2).  The engine gives log|C| and log|D| from one factorization.

A vector-valued term (lme4's ``(1 + x | g)``, :mod:`.theta`) enters in the spherical
form: its block of Z is Z Lambda and its effects b have weight 1, so its share of
log|Lambda D| is that of log|Lambda'Z'WZ Lambda + I| in D itself and its share of r^2
is |b|^2.  Its entries of theta are optimised with the others (the diagonal of Lambda
bounded by 0, the rest free).  The prior weights w1 never change, so the system at each
Lambda is that of Z T (T: I_m kron Lambda on the term's columns) whose weighted products
are congruences of those at Z, formed once (:func:`hglm.engine.transformed_system`); its
right-hand side is T' of that at Z and its residuals those of u = T b.  No evaluation
passes over the rows: with delta_u = (beta, u), T1'W1 r = T1'W1y - (T1'W1T1) delta_u from
those products (:func:`hglm.engine.gram_matvec`) and sum w1 r^2 = y'W1y - delta_u'
(T1'W1y + T1'W1 r), on y less its least-squares fit on X (a shift of beta) so that the
cancellation stays within RSS_BUDGET of the objective; beyond, from the residuals.
Its gradient: :mod:`.profiled_gradient`.
"""

from __future__ import annotations

import numpy as np

from ..engine import (
    gram_matvec,
    inverse_diag_blocks,
    kept_products,
    make_system,
    transformed_system,
)
from ..spec import Problem, Unstructured
from .profiled_gradient import ProfiledGradient
from .profiled_state import ProfiledState
from .random_effects import RandomEffects
from .theta import (
    THETA_FLOOR,
    ThetaLayout,
    check_vector_terms,
    effects_scale,
    effects_variances,
    factors_key,
)

Array = np.ndarray

# r^2 from the weighted products, y'Wy - 2 delta'T1'Wy + delta'(T1'WT1)delta, loses
# about RSS_ROUNDING y'Wy to cancellation: used where that moves the objective
# (dof log r^2) by at most RSS_BUDGET, else r^2 from the residuals (a pass over the rows)
RSS_ROUNDING = 16.0 * np.finfo(float).eps
RSS_BUDGET = 1e-8


class ProfiledDeviance(ProfiledGradient):
    """The ML or REML profiled deviance of an LMM as a function of theta.

    Parameters
    ----------
    problem : Problem
        A Gaussian identity-link response with Gaussian random terms whose dispersions
        have no covariates.
    reml : bool
        REML (True) or ML (False).
    """

    def __init__(self, problem: Problem, reml: bool) -> None:
        check_vector_terms(problem, "ML/REML")
        check_linear_mixed_model(problem)
        self.problem = problem
        self.reml = reml
        self.layout = ThetaLayout(problem)
        self.vector_entries = self.layout.vector_entries
        # read-only: the engine's systems know these weights again without comparing them
        self.w1 = problem.weights.copy()
        self.w1.flags.writeable = False
        self.base = make_system(problem.X, problem.blocks, [t.precision for t in problem.terms],
                                scaled_weights=True)
        self._products = kept_products(self.base, self.w1)
        self._key: bytes | None = None
        self.system = self._system_at(self.layout.factors(self.layout.start()))
        self.n, self.p = problem.X.shape
        # y less its weighted least-squares fit (beta shifted by beta0: the same model),
        # so that r^2 from the products cancels no more than that fit leaves
        y = problem.y - problem.offset
        self.beta0 = _least_squares(problem.X, self.w1, y)
        self.y = y - problem.X @ self.beta0
        self._yy = float(np.sum(self.w1 * self.y**2))
        self._rhs = self.base.rhs(self.w1, self.y, np.zeros(self.base.q), np.zeros(self.base.q))
        effects = RandomEffects(problem)
        self.sizes = np.array(effects.sizes)
        self.slices = effects.slices
        self.scalar = ~np.array(self.layout.vector, dtype=bool)
        self.dof = self.n - self.p if reml else self.n
        self.constant = self.dof * (1.0 + np.log(2.0 * np.pi / self.dof)) - float(
            np.sum(np.log(self.w1))
        )
        self.n_eval = 0
        self._last: ProfiledState | None = None
        # the only random term's (Z'WZ)_ll and (X'WZ)_l (w1 never changes)
        self._level_products: tuple[Array, Array] | None = None
        self._columns: tuple[object, tuple[Array, Array]] | None = None

    @property
    def system_size(self) -> int:
        """The order of the dense part of each factorization (BLAS threads)."""
        return int(getattr(self.base, "m", 0))

    def _system_at(self, factors: list[Array | None]) -> object:
        """The engine system at the vector terms' ``factors``: that of Z without vector
        terms, else that of Z T (kept for the last factors).  w1 is the prior weights at
        every evaluation: the structured solver keeps its products of the observation
        weights from the first factorization."""
        if not self.layout.any_vector:
            return self.base
        key = factors_key(factors)
        if self._key != key:
            self.system = transformed_system(self.base, factors, self.w1, self._products)
            self._key = key
        return self.system

    def state(self, theta: Array) -> ProfiledState:
        """Everything at ``theta`` (kept for the last theta asked for)."""
        theta = np.asarray(theta, dtype=float)
        if self._last is not None and np.array_equal(self._last.theta, theta):
            return self._last
        self.n_eval += 1
        # the last state's factorization goes before the next one is formed
        self._last = self._columns = None
        # a vector term's effects b have weight 1 (lam = 1: no share of log|Lambda|)
        lam = np.ones(len(self.sizes))
        lam[self.scalar] = np.maximum(theta[self.layout.scalar_index], THETA_FLOOR) ** 2
        w2 = np.repeat(1.0 / lam, self.sizes)
        factors = self.layout.factors(theta)
        factor = self._system_at(factors).factorize(self.w1, w2)
        rhs = self._rhs.copy()
        rhs[self.p :] = effects_scale(rhs[self.p :], self.slices,
                                      [None if f is None else f.T for f in factors])
        delta = factor.solve(rhs)
        v = delta[self.p :]
        u = effects_scale(v, self.slices, factors)
        penalty = self._penalty_sums(v, w2)
        rss, score = self._residual_parts(np.concatenate([delta[: self.p], u]))
        r2 = rss + float(np.sum(penalty))
        logdet_c, logdet_d = factor.logdet(), factor.logdet_random_block()
        logdet_lambda_d = logdet_d + float(np.sum(self.sizes * np.log(lam)))
        objective = logdet_lambda_d + self.dof * np.log(r2) + self.constant
        if self.reml:
            objective += logdet_c - logdet_d
        delta[: self.p] += self.beta0
        self._last = ProfiledState(theta.copy(), delta, factor, r2, float(objective),
                                   r2 / self.dof, penalty, lam, w2, score)
        return self._last

    def _residual_parts(self, delta: Array) -> tuple[float, Array]:
        """sum w1 r^2 and T1'W1 r for r = y - T1 delta (delta: beta less beta0, u): from
        the weighted products, without a pass over the rows, where their cancellation is
        within RSS_BUDGET of the objective; else from r."""
        if self._products is not None:
            score = self._rhs - gram_matvec(self.base, self._products, delta)
            rss = self._yy - float(delta @ (self._rhs + score))
            if self.dof * RSS_ROUNDING * self._yy <= RSS_BUDGET * rss:
                return rss, score
        resid = self.y - self.base.linear_predictor(delta)
        zeros = np.zeros(self.base.q)
        return float(np.sum(self.w1 * resid**2)), self.base.rhs(self.w1, resid, zeros, zeros)

    def objective(self, theta: Array) -> float:
        """-2 log-likelihood (ML) or the REML criterion at ``theta``."""
        return self.state(theta).objective

    def _penalty_sums(self, v: Array, w2: Array) -> Array:
        """S_k = v_k' Lambda_k^{-1} v_k (with a known precision, u' Q u / lam)."""
        out = np.empty(len(self.slices))
        for k, (sl, t) in enumerate(zip(self.slices, self.problem.terms, strict=True)):
            vk = v[sl]
            out[k] = (
                float(np.sum(w2[sl] * vk**2)) if t.precision is None
                else float(vk @ (t.precision @ vk)) * w2[sl.start]
            )
        return out

    def random_inverse_diag(self, factor: object, factors: list[Array | None]) -> Array:
        """diag(D^{-1}) on the scale of u: the random block of C^{-1} less
        B (C^{-1}_xx)^{-1} B', for a vector term diag(Lambda D^{-1}_ll Lambda') per level
        (``factors``: its Lambda)."""
        p = self.p
        fixed = self._fixed_parts(factor)
        Bz, MBt = fixed
        diag = np.asarray(factor.diag_inverse())[p:] - np.einsum("jr,rj->j", Bz, MBt)

        def blocks_of(sl: slice, size: int) -> Array:
            return self._random_blocks(factor, sl, size, fixed)

        return effects_variances(diag, self.slices, factors, blocks_of)

    def _fixed_parts(self, factor: object) -> tuple[Array, Array]:
        """B_z = C^{-1}_zx and (C^{-1}_xx)^{-1} B_z': D^{-1} = C^{-1}_zz - B_z of it."""
        B, Cxx = self.fixed_columns(factor)
        Bz = B[self.p :]
        return Bz, np.linalg.solve(Cxx, Bz.T)

    def _random_blocks(self, factor: object, sl: slice, size: int,
                       fixed: tuple[Array, Array] | None) -> Array:
        """The per-level blocks of C^{-1} (``fixed`` None) or D^{-1} on a vector term's
        effects ``sl``."""
        p, count = self.p, (sl.stop - sl.start) // size
        blocks = inverse_diag_blocks(factor, p + sl.start, size, count)
        if fixed is None:
            return blocks
        Bz, MBt = fixed
        return blocks - np.einsum("lir,ljr->lij", Bz[sl].reshape(count, size, p),
                                  MBt[:, sl].T.reshape(count, size, p))

    def fixed_columns(self, factor: object) -> tuple[Array, Array]:
        """The fixed effects' columns of C^{-1} (p + q x p) and their x block (p solves,
        kept for the last factor: the gradient and the fit's covariance ask again)."""
        if self._columns is not None and self._columns[0] is factor:
            return self._columns[1]
        unit = np.zeros((self.p + self.system.q, self.p))
        unit[np.arange(self.p), np.arange(self.p)] = 1.0
        B = factor.solve(unit)
        self._columns = (factor, (B, B[: self.p]))
        return B, B[: self.p]


def _least_squares(X: Array, w: Array, y: Array) -> Array:
    """The weighted least-squares coefficients of y on X from the normal equations
    (minimum norm if X is rank-deficient): only a shift of beta, exact whatever its
    accuracy."""
    if X.shape[1] == 0:
        return np.zeros(0)
    wX = w[:, None] * X
    return np.linalg.lstsq(X.T @ wX, wX.T @ y, rcond=None)[0]


def check_linear_mixed_model(problem: Problem) -> None:
    """Refuse what the profiled deviance does not cover, naming the argument."""
    fam = problem.family
    if fam.name != "gaussian" or fam.link.name != "identity":
        raise ValueError(
            "family: exact ML/REML of a linear mixed model needs the Gaussian family with "
            f"the identity link, got {fam.name}({fam.link.name})"
        )
    for k, t in enumerate(problem.terms):
        if not t.family.is_gaussian or t.family.spatial is not None:
            raise ValueError(
                f"rand_family: random term {k + 1} must be Gaussian (not {t.family.name}) "
                "for ML/REML"
            )
        if t.x_disp is not None:
            raise ValueError(f"x_rand_disp: random term {k + 1} has a dispersion model; "
                             "ML/REML fits one variance per term")
    if problem.x_disp is not None:
        raise ValueError("x_disp: a residual-dispersion model is not supported by ML/REML "
                         "for linear mixed models yet; fit it by EQL")
    if problem.fix_disp is not None:
        raise ValueError("fix_disp: ML/REML estimates the residual variance; drop fix_disp")
    n = problem.X.shape[0]
    if n <= problem.X.shape[1]:
        raise ValueError("y: needs more observations than fixed effects")
    for k, (b, t) in enumerate(zip(problem.blocks, problem.terms, strict=True)):
        if isinstance(t.covariance, Unstructured) and n <= b.width:
            raise ValueError(
                f"blocks: {n} observations for the {b.width} random effects of vector-valued "
                f"term {k + 1}: its variances and the residual variance are unidentifiable "
                "(lme4's check.nobs.vs.nRE); drop a slope or use (1 + x || g)")
