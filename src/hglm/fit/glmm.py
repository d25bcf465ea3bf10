"""Maximum-likelihood fits of GLMMs (glmer's Laplace, adaptive quadrature and nAGQ = 0) and
Laplace-REML, for every response family and link, with Gaussian or conjugate random
effects and the residual dispersion estimated by the same likelihood.

nAGQ = 0 and REML minimise their deviance over the variance and dispersion parameters,
the fixed effects at the joint mode (:mod:`.laplace`).  The Laplace fit starts where
glmer's stage 2 does, at the fixed effects of the nAGQ = 0 mode, but at the starting
variances (lme4's theta = 1) rather than at the nAGQ = 0 optimum: its Hessian in beta is
nearly twice the inverse curvature at that mode (with a vector-valued term, at the
nAGQ = 0 optimum, as glmer's stage 2), and with that Hessian and differences of
the gradient in the few variance and dispersion coordinates the Laplace deviance is
minimised over (log sd, beta, gamma) in a few steps (p1l, 100,000 rows: 11 evaluations
and 13 IRLS steps in all, the standard errors' Hessian included: the gradients of a
difference Hessian are taken at predicted modes, without IRLS,
:meth:`.laplace.LaplaceDeviance.difference_gradients`).  For
nAGQ > 1 the quadrature deviance (:mod:`.agq`) is then minimised from the Laplace optimum,
with its Hessian as the start.  Each stage is :func:`.glmm_stage.minimize_stage`
(quasi-Newton with the boundary's rules).

The fixed effects' covariance is glmer's: twice the inverse Hessian of the deviance in
all the parameters, restricted to beta (singular terms left out), the Hessian by
differences of the gradient (of values for quadrature); where that Hessian is not positive
definite, and for nAGQ = 0 and REML, the fixed effects' block of the inverse curvature at
the mode (warned about in the first case).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import NamedTuple

import numpy as np

from .._warn import warn
from ..engine import inverse_diag_blocks, schur_memory, single_thread
from ..spec import Problem, integer_counts
from .agq import QuadratureDeviance, check_quadrature
from .diagnostics import ConvergenceWarning
from .differences import gradient_hessian, gradients_hessian, value_hessian
from .glmm_result import GLMMFit, beta_covariance, theta_scale
from .glmm_stage import TOL, deviance_gradient, minimize_stage, to_boundary
from .laplace import LaplaceDeviance, LaplaceState
from .newton import Minimum
from .theta import SINGULAR_TOL, check_vector_terms, effects_scale, effects_variances

Array = np.ndarray

# the factors of the starting theta tried in turn
STARTING_SHRINK = (1.0, 0.1, 0.01)
RANDOM_FAMILIES = ("gaussian", "Gamma", "Beta", "inverse.gamma")


def check_nagq(nAGQ: object) -> int:
    """nAGQ as an int, or ValueError: a whole number of at least 0."""
    if isinstance(nAGQ, bool) or not isinstance(nAGQ, int | np.integer) or nAGQ < 0:
        raise ValueError(
            f"nAGQ: must be a whole number of at least 0 (0: fixed effects inside PIRLS, "
            f"1: Laplace, k > 1: adaptive Gauss-Hermite quadrature), got {nAGQ!r}"
        )
    return int(nAGQ)


def check_glmm(problem: Problem, nAGQ: int, reml: bool) -> None:
    """Refuse what the marginal-likelihood fits do not cover, naming the argument."""
    check_nagq(nAGQ)
    check_vector_terms(problem, "marginal-likelihood fits")
    for k, t in enumerate(problem.terms):
        if t.family.name not in RANDOM_FAMILIES or t.family.spatial is not None:
            raise ValueError(f"rand_family: random term {k + 1} is {t.family.name}; "
                             f"marginal-likelihood fits take {list(RANDOM_FAMILIES)}")
        if t.x_disp is not None:
            raise ValueError(f"x_rand_disp: random term {k + 1} has a dispersion model; "
                             "marginal-likelihood fits estimate one variance per term")
    if nAGQ > 1:
        check_quadrature(problem, nAGQ)
    gaussian = all(t.family.is_gaussian for t in problem.terms)
    if not gaussian and nAGQ != 1:
        raise ValueError("nAGQ: non-Gaussian random effects are fitted by the Laplace "
                         "approximation on the scale of v; use nAGQ = 1")
    if reml and nAGQ != 1:
        raise ValueError("reml: Laplace-REML has no quadrature or nAGQ = 0 form; use nAGQ = 1")
    if problem.family.fixed_dispersion and problem.fix_disp not in (None, 1.0):
        raise ValueError(f"fix_disp: a {problem.family.name} likelihood has dispersion 1; "
                         "drop fix_disp (an overdispersed response: add an observation-level "
                         "random effect)")
    if problem.family.name == "binomial":
        if not integer_counts(problem.counts):
            raise ValueError("weights: a binomial response needs whole numbers of successes "
                             "y * weights (proportions y with the numbers of trials as "
                             "weights); round the counts or use another family")
    if problem.X.shape[0] <= problem.X.shape[1]:
        raise ValueError("y: needs more observations than fixed effects")


def _start(joint: LaplaceDeviance, start: Mapping | None) -> Array:
    """Where the variance and dispersion parameters start: lme4's theta = 1 (sd = sigma
    for families with a scale) and a dispersion with mean scaled deviance 1 at the joint
    mode (found with phi = 1: the ratio of the variances is what the mode depends on), or
    the user's ``start``.

    Raises
    ------
    RuntimeError
        When the mode cannot be found there.
    """
    params = joint.params
    start = dict(start or {})
    unknown = set(start) - {"theta", "disp_coef"}
    if unknown:
        raise ValueError(f"start: unknown keys {sorted(unknown)}; use 'theta' and "
                         "'disp_coef' (the fixed effects start at the joint mode)")
    theta = np.asarray(start.get("theta", params.layout.start()), dtype=float)
    if (theta.shape != (params.n_cov,) or np.any(theta[params.log_scale] < 0)
            or not np.all(np.isfinite(theta))):
        raise ValueError(f"start: 'theta' needs {params.n_cov} finite values (lme4's order), "
                         "those of scalar terms and Lambda's diagonals >= 0")
    gamma = np.asarray(start.get("disp_coef", np.zeros(params.n_disp)), dtype=float)
    if gamma.shape != (params.n_disp,) or not np.all(np.isfinite(gamma)):
        raise ValueError(f"start: 'disp_coef' needs {params.n_disp} finite values")
    theta, st = _starting_state(joint, theta, gamma, "theta" in start)
    if params.n_disp and "disp_coef" not in start:
        log_ratio = np.log(float(np.mean(joint.density.deviances(st.deriv.mu, st.phi))))
        design = params.disp_design
        gamma = np.linalg.lstsq(design, np.full(design.shape[0], log_ratio), rcond=None)[0]
        if joint.pb.x_disp is None:
            theta = theta * np.exp(0.5 * log_ratio)
        theta, st = _starting_state(joint, theta, gamma, True)
    return st.x


def _starting_state(joint: LaplaceDeviance, theta: Array, gamma: Array,
                    given: bool) -> tuple[Array, LaplaceState]:
    """The joint deviance's state at (theta, gamma): where its mode cannot be found and
    theta is not the user's, at theta shrunk by STARTING_SHRINK (smaller effects keep the
    means nearer the GLM's, inside a bounded link's domain); else a RuntimeError that says
    what to do."""
    for shrink in (1.0,) if given else STARTING_SHRINK:
        st = joint.state(joint.params.pack(theta * shrink, None, gamma))
        if st.mode is not None:
            return theta * shrink, st
    raise RuntimeError(
        "the conditional mode of the random effects could not be found at the starting "
        "values (its IRLS left the family's domain or did not converge); give other "
        "starting values (start={'theta': ...}) or a link whose domain is unbounded")


def fit_glmm(problem: Problem, nAGQ: int = 1, reml: bool = False,
             start: Mapping | None = None, maxiter: int = 100) -> GLMMFit:
    """Fit a GLMM by maximum likelihood (Laplace, adaptive quadrature, nAGQ = 0) or by
    Laplace-REML.

    Parameters
    ----------
    problem : Problem
        Any response family and link; Gaussian, Gamma, Beta or inverse-Gamma random
        terms, each with one variance; a residual-dispersion model (``x_disp``) or
        ``fix_disp``.  Binomial and Poisson responses have dispersion 1.
    nAGQ : int
        0 (fixed effects at the joint mode), 1 (Laplace, default) or the number of
        quadrature nodes (one scalar random term with an indicator block).
    reml : bool
        Laplace-REML, -2 p_{beta,v}(h) (exact REML for a Gaussian identity-link response).
    start : mapping, optional
        'theta' (lme4's theta per term) and 'disp_coef' (log dispersion coefficients) to
        start from.
    maxiter : int
        Iterations of each stage's quasi-Newton method.

    Returns
    -------
    GLMMFit

    Warns
    -----
    ConvergenceWarning
        When a stage does not converge, or the Hessian is not positive definite (the
        standard errors then come from the curvature at the mode).
    """
    check_glmm(problem, nAGQ, reml)
    if not isinstance(maxiter, int | np.integer) or maxiter < 1:
        raise ValueError(f"maxiter: a whole number >= 1, got {maxiter!r}")
    # thousands of small products with X: on a busy machine each would wake OpenBLAS's
    # threads (p5: 0.44 s of CPU time on two threads, 0.16 s on one); one memory for the
    # Schur complements of every stage
    with single_thread(), schur_memory():
        return _fit(problem, nAGQ, reml, start, maxiter)


def fit_laplace_stages(problem: Problem, make_deviance: Callable[[str, object], object],
                       start: Mapping | None = None, maxiter: int = 100) -> GLMMFit:
    """The Laplace fit (nAGQ = 1) of :func:`fit_glmm` on other deviance objects (the
    interface of :class:`.laplace.LaplaceDeviance` that the stages use: rows on
    partitions, :mod:`.partitioned_laplace`).

    Parameters
    ----------
    problem : Problem
        The model's description (what the result reads: family, terms, p).
    make_deviance : callable
        ``make_deviance(kind, density)``: the deviance of kind "nAGQ0" or "ML".
    start, maxiter
        As for :func:`fit_glmm`.
    """
    return _fit(problem, 1, False, start, maxiter, make_deviance)


def _fit(problem: Problem, nAGQ: int, reml: bool, start: Mapping | None,
         maxiter: int, make_deviance: Callable[[str, object], object] | None = None
         ) -> GLMMFit:
    """The stages of :func:`fit_glmm` (module docstring), on the deviances of
    ``make_deviance(kind, density)`` (default: :class:`LaplaceDeviance`)."""
    make = make_deviance or partial(LaplaceDeviance, problem)
    if reml or nAGQ == 0:
        joint = make("REML" if reml else "nAGQ0", None)
        res = to_boundary(joint, minimize_stage(joint, _start(joint, start), TOL, maxiter))
        return _result(problem, joint, joint, res, None, nAGQ, reml, [joint])
    begin = _joint_start(make, start, maxiter)
    laplace = make("ML", begin.density)
    x = laplace.params.pack(begin.cov, begin.mode.delta[: problem.X.shape[1]], begin.gamma)
    laplace.start_at(x, begin.mode)
    first_hessian = _laplace_start_hessian(laplace, x, begin.beta_block)
    spent = begin.spent
    del begin  # with the mode's linear predictor, an n-vector the Laplace states form again
    res = minimize_stage(laplace, x, TOL, maxiter, first_hessian)
    devs = [laplace]
    dev = laplace
    if nAGQ > 1:
        H = _gradient_differences(laplace, res.x)
        dev = QuadratureDeviance(problem, nAGQ, laplace.density)
        res = minimize_stage(dev, res.x, TOL, maxiter, H)
        devs.append(dev)
    res = to_boundary(dev, res)

    def hessian() -> Array:
        if laplace.analytic_gradient and nAGQ == 1:
            return _gradient_differences(laplace, res.x)
        return value_hessian(dev.objective, res.x)

    return _result(problem, laplace, dev, res, hessian, nAGQ, reml, devs, spent)


class _JointStart(NamedTuple):
    """Where the Laplace fit starts (:func:`_joint_start`)."""

    mode: object
    cov: Array
    gamma: Array
    beta_block: Array
    density: object
    spent: tuple[int, int]


def _joint_start(make: Callable[[str, object], object], start: Mapping | None,
                 maxiter: int) -> _JointStart:
    """Where the Laplace fit starts, from the nAGQ = 0 deviance at :func:`_start` (a vector
    term: at its optimum): its variance parameters, mode and twice the inverse of the
    fixed effects' covariance there (the Laplace Hessian in beta less the curvature of
    log|D|); its density, evaluations and IWLS steps.  The deviance itself goes with this
    call, before the Laplace one is made (its systems and states: 20 MB at InstEval's)."""
    joint = make("nAGQ0", None)
    x0 = _start(joint, start)
    if joint.params.vector_entries.size:
        # a vector term's Lambda starts where the nAGQ = 0 fit ends (glmer's stage 1):
        # from Lambda = I the Laplace deviance's curvature in it is far from its optimum's
        x0 = minimize_stage(joint, x0, TOL, maxiter).x
    mode = joint.mode(joint.state(x0))
    beta_block = 2.0 * np.linalg.inv(joint.fixed_covariance(x0))
    return _JointStart(mode, joint.params.covariance(x0), joint.params.gamma(x0), beta_block,
                       joint.density, (joint.n_eval, joint.modes.n_steps))


def _laplace_start_hessian(laplace: LaplaceDeviance, x: Array, beta_block: Array) -> Array:
    """The Hessian the Laplace fit starts from at ``x``: its columns in the variance and
    dispersion parameters by differences of the gradient, in beta ``beta_block``
    (:func:`_joint_start`)."""
    params = laplace.params
    H = _gradient_differences(laplace, x, np.r_[params.sd_slice, params.disp_slice])
    H[params.beta_slice, params.beta_slice] = beta_block
    return H


def _gradient_differences(dev, x: Array, columns: Array | None = None) -> Array:
    """The Hessian of ``dev`` at ``x`` by differences of its gradient (analytic, or by
    differences of values), in ``columns`` (default all); an analytic one taken at the
    steps by ``dev.difference_gradients`` (at modes predicted from x's,
    :meth:`.laplace.LaplaceDeviance.difference_gradients`)."""
    gradient = deviance_gradient(dev)
    g = gradient(x)
    if dev.analytic_gradient:
        return gradients_hessian(partial(dev.difference_gradients, base=x), x, g, columns)
    return gradient_hessian(gradient, x, g, columns)


def _result(problem: Problem, laplace: LaplaceDeviance, dev, res: Minimum,
            hessian_of: Callable[[], Array] | None, nAGQ: int, reml: bool,
            devs: list, spent: tuple[int, int] = (0, 0)) -> GLMMFit:
    """The fit at the optimum ``res`` of ``dev``, the modes and curvatures from
    ``laplace`` (a :class:`LaplaceDeviance` at the same parameters; taken before the
    Hessian by ``hessian_of``, whose differences move it away)."""
    par, x = dev.params, res.x
    st = laplace.state(x)
    factors = par.factors(x)
    cond_var = _conditional_variances(laplace.random_factor(x), laplace.slices, factors)
    hessian = None if hessian_of is None else hessian_of()
    p = problem.X.shape[1]
    sigma2 = theta_scale(problem, par, x)
    theta = par.covariance(x) / np.sqrt(sigma2)
    covariances = par.layout.covariances_of(theta, sigma2)
    lam = np.array([c[0, 0] if c.shape == (1, 1) else np.nan for c in covariances])
    singular = par.log_scale & (theta < SINGULAR_TOL)
    vcov = None if hessian is None else beta_covariance(hessian, par, x, singular)
    if vcov is None:
        if hessian is not None:
            warn("the Hessian of the deviance is not positive definite; the standard errors "
                 "come from the curvature of the h-likelihood at the mode", ConvergenceWarning)
        vcov = laplace.fixed_covariance(x)
    if not res.converged:
        warn(f"the {_method(nAGQ, reml)} fit did not converge: {res.message}",
             ConvergenceWarning)
    return GLMMFit(
        problem=problem, method=_method(nAGQ, reml), nAGQ=nAGQ, reml=reml, theta=theta,
        lam=lam, covariances=covariances, sigma2=sigma2,
        disp_coef=par.gamma(x).copy() if problem.x_disp is not None else None,
        phi=par.phi(x), beta=st.mode.delta[:p].copy(),
        v=effects_scale(st.mode.delta[p:], laplace.slices, factors),
        vcov_beta=vcov, cond_var=cond_var,
        objective=float(res.fun), n_params=p + par.n_cov + par.n_disp, hessian=hessian,
        n_eval=spent[0] + sum(d.n_eval for d in devs),
        n_pirls=spent[1] + sum(d.modes.n_steps for d in devs),
        converged=bool(res.converged), message=res.message,
        singular=par.layout.singular(theta),
    )


def _conditional_variances(factor: object, slices: list[slice],
                           factors: list[Array | None]) -> Array:
    """diag of the conditional covariance of u from the factor of D (module docstring
    of :mod:`.theta`)."""

    def blocks_of(sl: slice, size: int) -> Array:
        return inverse_diag_blocks(factor, sl.start, size, (sl.stop - sl.start) // size)

    return effects_variances(factor.diag_inverse(), slices, factors, blocks_of)


def _method(nAGQ: int, reml: bool) -> str:
    if reml:
        return "REML"
    return {0: "nAGQ0", 1: "Laplace"}.get(nAGQ, "AGQ")
