"""Exact ML and REML for linear mixed models: the profiled deviance over theta.

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

The gradient is cheap.  With lam_k = theta_k^2, S_k = v_k' Lambda_k^{-1} v_k (the term's
share of the penalty) and H_k = tr(M^{-1} Lambda_k^{-1}) for M = C (REML) or D (ML), the
derivative of log|Lambda M| in lam_k is (q_k - H_k) / lam_k and that of r^2 is
-S_k / lam_k (the minimum's envelope), so

    d(-2 l) / d lam_k = (q_k - H_k - S_k / sigma^2) / lam_k,  sigma^2 = r^2 / (n - p or n).

For REML, H_k is the random term's leverage sum of EQL (the engine's weighted diagonal
sums): the zero of this gradient is EQL's fixed point lam_k sigma^2 = S_k sigma^2 /
(q_k - H_k), which is why EQL of an LMM is REML.  For ML, D^{-1} is the random block of
C^{-1} less B (C^{-1}_xx)^{-1} B' with B = C^{-1}_zx, from p solves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from ..engine import make_system
from ..spec import Problem
from .glmm_result import SINGULAR_TOL
from .profiled_fixed_point import iterate_profiled
from .random_effects import RandomEffects

Array = np.ndarray

# theta below this is evaluated at it: the term's effects are then ~0 and its
# contribution to log|Lambda D| is below 1e-16 (the boundary theta = 0 is reached in value)
THETA_FLOOR = 1e-8


@dataclass
class ProfiledState:
    """The profiled deviance and its pieces at one theta."""

    theta: Array
    delta: Array
    factor: object
    r2: float
    objective: float
    sigma2: float
    penalty_sums: Array
    gradient: Array = field(repr=False)


class ProfiledDeviance:
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
        check_linear_mixed_model(problem)
        self.problem = problem
        self.reml = reml
        precisions = [t.precision for t in problem.terms]
        # w1 is the prior weights at every evaluation: the structured solver keeps its
        # products of the observation weights from the first factorization
        self.system = make_system(problem.X, problem.blocks, precisions, scaled_weights=True)
        self.n, self.p = problem.X.shape
        effects = RandomEffects(problem)
        self.sizes = np.array(effects.sizes)
        self.slices = effects.slices
        self.y = problem.y - problem.offset
        self.w1 = problem.weights
        self.dof = self.n - self.p if reml else self.n
        self.constant = self.dof * (1.0 + np.log(2.0 * np.pi / self.dof)) - float(
            np.sum(np.log(self.w1))
        )
        self.n_eval = 0
        self._last: ProfiledState | None = None

    def state(self, theta: Array) -> ProfiledState:
        """Everything at ``theta`` (kept for the last theta asked for)."""
        theta = np.asarray(theta, dtype=float)
        if self._last is not None and np.array_equal(self._last.theta, theta):
            return self._last
        self.n_eval += 1
        lam = np.maximum(theta, THETA_FLOOR) ** 2
        w2 = np.repeat(1.0 / lam, self.sizes)
        factor = self.system.factorize(self.w1, w2)
        delta = factor.solve(self.system.rhs(self.w1, self.y, w2, np.zeros_like(w2)))
        resid = self.y - self.system.linear_predictor(delta)
        v = delta[self.p :]
        penalty = self._penalty_sums(v, w2)
        r2 = float(np.sum(self.w1 * resid**2) + np.sum(penalty))
        logdet_c, logdet_d = factor.logdet(), factor.logdet_random_block()
        logdet_lambda_d = logdet_d + float(np.sum(self.sizes * np.log(lam)))
        objective = logdet_lambda_d + self.dof * np.log(r2) + self.constant
        if self.reml:
            objective += logdet_c - logdet_d
        sigma2 = r2 / self.dof
        leverage_sums = self._leverage_sums(factor, w2)
        d_lam = (self.sizes - leverage_sums - penalty / sigma2) / lam
        # d/d theta = 2 theta d/d lam; at the floor the value does not move with theta
        gradient = np.where(theta > THETA_FLOOR, 2.0 * theta * d_lam, 0.0)
        self._last = ProfiledState(theta.copy(), delta, factor, r2, float(objective), sigma2,
                                   penalty, gradient)
        return self._last

    def objective(self, theta: Array) -> float:
        """-2 log-likelihood (ML) or the REML criterion at ``theta``."""
        return self.state(theta).objective

    def gradient(self, theta: Array) -> Array:
        """The derivative of :meth:`objective` in theta."""
        return self.state(theta).gradient

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

    def _leverage_sums(self, factor: object, w2: Array) -> Array:
        """H_k = tr(M^{-1} Lambda_k^{-1}) per term with M = C (REML) or D (ML)."""
        sums = factor.weighted_diag_sums(w2, self.slices)
        if self.reml or self.p == 0:
            return sums
        return sums - self._fixed_correction(factor, w2)

    def _fixed_correction(self, factor: object, w2: Array) -> Array:
        """tr(Lambda_k^{-1} B_k (C^{-1}_xx)^{-1} B_k') per term, B = C^{-1}_zx: what the
        fixed effects add to the random block of C^{-1} beyond D^{-1}."""
        B, Cxx = self.fixed_columns(factor)
        Bz = B[self.p :]
        MBt = np.linalg.solve(Cxx, Bz.T)
        out = np.empty(len(self.slices))
        for k, (sl, t) in enumerate(zip(self.slices, self.problem.terms, strict=True)):
            Bk = Bz[sl]
            if t.precision is None:
                out[k] = float(np.einsum("j,jr,rj->", w2[sl], Bk, MBt[:, sl]))
            else:
                out[k] = float(np.trace(MBt[:, sl] @ (t.precision @ Bk))) * w2[sl.start]
        return out

    def random_inverse_diag(self, factor: object) -> Array:
        """diag(D^{-1}): the random block of C^{-1} less B (C^{-1}_xx)^{-1} B'."""
        B, Cxx = self.fixed_columns(factor)
        Bz = B[self.p :]
        correction = np.einsum("jr,rj->j", Bz, np.linalg.solve(Cxx, Bz.T))
        return np.asarray(factor.diag_inverse())[self.p :] - correction

    def fixed_columns(self, factor: object) -> tuple[Array, Array]:
        """The fixed effects' columns of C^{-1} (p + q x p) and their x block."""
        unit = np.zeros((self.p + self.system.q, self.p))
        unit[np.arange(self.p), np.arange(self.p)] = 1.0
        B = np.column_stack([factor.solve(unit[:, j]) for j in range(self.p)])
        return B, B[: self.p]


@dataclass
class LMMFit:
    """The result of :func:`fit_lmm` (arrays only).

    Attributes
    ----------
    problem : Problem
    reml : bool
    theta : ndarray
        lme4's relative standard deviations, one per random term.
    sigma2 : float
        The residual variance (phi).
    beta, v : ndarray
        Fixed effects and the conditional modes of the random effects (fitted scale).
    vcov_beta : ndarray
        sigma^2 (C^{-1})_xx.
    cond_var : ndarray
        The conditional variances of the random effects given y at the estimates,
        sigma^2 diag(D^{-1}) (lme4's ``condVar``).
    objective : float
        -2 log-likelihood (ML) or the REML criterion.
    n_eval : int
        Evaluations of the profiled deviance.
    converged : bool
    message : str
        The optimizer's message.
    singular : bool
        Some theta_k below 1e-4 (lme4's rule).
    """

    problem: Problem
    reml: bool
    theta: Array
    sigma2: float
    beta: Array
    v: Array
    vcov_beta: Array
    cond_var: Array
    objective: float
    n_eval: int
    converged: bool
    message: str
    singular: bool
    deviance: ProfiledDeviance = field(repr=False)

    @property
    def lam(self) -> Array:
        """The random-effect variances sigma^2 theta_k^2 per term."""
        return self.sigma2 * self.theta**2

    @property
    def loglik(self) -> float:
        """The log-likelihood (ML) or the REML log-likelihood (lme4's logLik of a REML fit)."""
        return -0.5 * self.objective

    @property
    def method(self) -> str:
        """"REML" or "ML"."""
        return "REML" if self.reml else "ML"

    @property
    def nAGQ(self) -> int:
        """1: the likelihood of an LMM is exact (its Laplace approximation is exact)."""
        return 1

    @property
    def disp_coef(self) -> None:
        """None: one residual variance, no dispersion model."""
        return None

    @property
    def n_params(self) -> int:
        """Parameters counted by AIC: the fixed effects, one theta per term and sigma."""
        return int(self.beta.shape[0] + self.theta.shape[0] + 1)


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
    if problem.X.shape[0] <= problem.X.shape[1]:
        raise ValueError("y: needs more observations than fixed effects")


def fit_lmm(problem: Problem, reml: bool = True, start: Array | None = None,
            maxiter: int = 1000) -> LMMFit:
    """Fit a linear mixed model by maximising the (REML) profiled log-likelihood.

    Parameters
    ----------
    problem : Problem
    reml : bool
        REML (default, as lmer) or ML.
    start : ndarray, optional
        Starting theta (relative standard deviations); default 1 for every term (lme4's).
    maxiter : int
        Iterations of the optimizer (L-BFGS-B with the analytic gradient) where the
        fixed-point map of :mod:`.profiled_fixed_point` does not converge.

    Returns
    -------
    LMMFit
    """
    dev = ProfiledDeviance(problem, reml)
    k = len(problem.terms)
    theta0 = np.ones(k) if start is None else np.asarray(start, dtype=float)
    if theta0.shape != (k,) or np.any(theta0 < 0) or not np.all(np.isfinite(theta0)):
        raise ValueError(f"start: needs {k} finite non-negative relative standard deviations")
    x, converged, message = _minimize(dev, theta0, maxiter)
    theta = np.where(x < THETA_FLOOR, 0.0, x)
    st = dev.state(x)
    _, Cxx = dev.fixed_columns(st.factor)
    return LMMFit(
        problem=problem, reml=reml, theta=theta, sigma2=st.sigma2,
        beta=st.delta[: dev.p].copy(), v=st.delta[dev.p :].copy(),
        vcov_beta=st.sigma2 * Cxx, cond_var=st.sigma2 * dev.random_inverse_diag(st.factor),
        objective=st.objective, n_eval=dev.n_eval,
        converged=converged, message=message,
        singular=bool(np.any(theta < SINGULAR_TOL)), deviance=dev,
    )


def _minimize(dev: ProfiledDeviance, theta0: Array, maxiter: int) -> tuple[Array, bool, str]:
    """The minimum of the profiled deviance: the fixed-point map from theta0 (one scalar
    term per theta, none at the floor), else L-BFGS-B with the analytic gradient from the
    map's best point."""
    if np.all(theta0 > THETA_FLOOR) and dev.state(theta0).penalty_sums.shape == theta0.shape:
        fp = iterate_profiled(dev, theta0, THETA_FLOOR)
        if fp.converged:
            return fp.theta, True, "fixed point of the profiled deviance's gradient"
        theta0 = fp.theta
    res = optimize.minimize(
        dev.objective, theta0, jac=dev.gradient, method="L-BFGS-B",
        bounds=[(0.0, None)] * theta0.shape[0],
        options={"maxiter": maxiter, "ftol": 1e-15, "gtol": 1e-10, "maxcor": 20},
    )
    return res.x, bool(res.success), str(res.message)
