"""The EQL estimator (R's hglm): interconnected GLMs iterated to their fixed point
(DESIGN.md, "The EQL algorithm").

The rounds (:mod:`.eql_round`) are iterated on the log dispersions by :mod:`.iteration`
until R's criterion holds; a fit of a vector-valued term that ends unconverged or on the
boundary restarts from the REML optimum (:mod:`.eql_boundary`).  The result is an
:class:`~.eql_result.EngineFit`, with the warnings of :mod:`.diagnostics`.

The engine sees arrays only: no formulas, names or DataFrames.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

import numpy as np

from .._warn import warn
from ..engine import optimizer_threads
from ..spec import Problem
from .diagnostics import (
    ConvergenceWarning,
    Divergence,
    dispersion_collapsed,
    divergence_cause,
    dominant_term,
    nonconvergence_reason,
    warn_guards,
    warn_if_collapsed,
    warn_if_terms_collapsed,
)
from .eql_boundary import at_boundary, is_singular, reml_start
from .eql_result import EngineFit
from .eql_round import EQLFitter, Options, Round
from .iteration import FixedPointIteration
from .start import starting_values
from .theta import residual_scale

Array = np.ndarray

__all__ = ["EQLFitter", "EngineFit", "Options", "Round", "fit_eql"]


def fit_eql(problem: Problem, options: Options) -> EngineFit:
    """Fit an HGLM by EQL.

    Parameters
    ----------
    problem : Problem
    options : Options

    Returns
    -------
    EngineFit

    Warns
    -----
    ConvergenceWarning
        When the iteration stops at ``maxit`` or a random term holds nearly all the
        dispersion.
    BoundaryWarning
        When a vector-valued term's covariance is singular (:mod:`.eql_boundary`).
    """
    fitter = EQLFitter(problem, options)
    # one BLAS thread where the structured system's dense factorizations run on one (its
    # numpy products' second thread cost InstEval's fit 3 MB of OpenBLAS buffers, and
    # time); the other solvers keep the library's setting (the n-space solver's products
    # with Z are threaded, engine._blas)
    order = getattr(fitter.system, "m", None)
    with nullcontext() if order is None else optimizer_threads(order):
        return _fit(problem, options, fitter)


def _fit(problem: Problem, options: Options, fitter: EQLFitter) -> EngineFit:
    """:func:`fit_eql` with its fitter."""
    start = starting_values(problem, fitter.effects.sizes, options.startval, fitter.marginal)
    fitter.use_factors(start.factors)
    default_delta = None
    if options.startval is not None:
        def default_delta() -> Array:
            return starting_values(problem, fitter.effects.sizes, None, fitter.marginal).delta
    it = _iterate(fitter, options, start.delta,
                  fitter.pack(start.phi, start.lam, start.factors), start.phi0, default_delta)
    rounds = 0
    if not it.converged or at_boundary(it.last.factors_next,
                                       residual_scale(problem, it.last.phi_next)):
        restart = reml_start(problem, fitter.effects.sizes, options.hl_correction)
        if restart is not None:
            rounds = it.n_iter
            it = _iterate(fitter, options, it.last.delta, fitter.pack(*restart), start.phi0)
    last = it.last
    fitter.use_factors(last.factors)  # a rejected extrapolation may have moved them
    round_hat = last.hat  # exact sums per term, without the report's per-effect values
    last.observation_leverage_sum = float(np.sum(round_hat[: problem.y.shape[0]]))
    last.hat = fitter.leverages.exact(last.factor, last.w1, last.w2)
    warn_guards(last.guards)
    phi_last = np.require(last.phi_next, requirements="W")  # a round's may be a broadcast
    engine = EngineFit(problem, fitter, last, phi_last, last.lam_next, rounds + it.n_iter,
                       False, it.converged, it.criterion)
    engine.singular = is_singular(fitter.vectors.layout, engine.theta, problem.is_linear)
    variances = engine.variances
    warn_if_collapsed(problem, phi_last, start.phi0)
    warn_if_terms_collapsed(
        problem, fitter.term_slices, fitter.leverages.informative_rows, variances, round_hat
    )
    dominant = dominant_term(fitter.term_slices, phi_last, variances)
    engine.converged = it.converged and it.n_iter < options.maxit and dominant is None
    if not engine.converged:
        reason = nonconvergence_reason(
            it.n_iter, options.maxit, it.criterion, options.conv, it.settled, dominant
        )
        warn(f"EQL is not converged: {reason}; the estimates are not reliable",
             ConvergenceWarning)
    return engine


def _release_round(rnd: Round) -> None:
    """Drop what a round holds for the fit's result before the next round forms its own:
    its factorization (one m x m array, 10 MB at InstEval's order) and its n-vectors of
    means, weights, leverages and deviances; only the last round's reach the result (a
    round restored after a failed extrapolation is followed by another), and the next
    round needs only its effects and linear predictor."""
    rnd.factor = rnd.mu = rnd.w1 = rnd.w2 = rnd.hat = rnd.dev = None


def _iterate(fitter: EQLFitter, options: Options, delta: Array, state: Array,
             phi0: float, default_delta: Callable[[], Array] | None = None
             ) -> FixedPointIteration:
    """The EQL rounds from ``state`` (rounds warm-started from ``delta``) until R's rule
    or ``maxit``.

    When the first round's IWLS fails from the user's ``delta`` (a start so deep in a
    family's tail that the IWLS weights vanish), it is solved again from
    ``default_delta()``, the default start of (beta, v), at the same dispersions: the
    IWLS only seeks the minimum of the penalized deviance at those dispersions, so its
    start changes how it gets there, not where.

    Raises
    ------
    ValueError
        When the fit diverged for a reason the model's data explain (a collapsed residual
        dispersion, :func:`.diagnostics.divergence_cause`).
    RuntimeError
        When it diverged otherwise.
    """
    problem = fitter.pb

    def step(theta: Array, last: Round | None) -> tuple[Round, Array]:
        if last is not None:
            return fitter.step(theta, last.delta)
        try:
            return fitter.step(theta, delta)
        except Divergence:
            if default_delta is None:
                raise
            return fitter.step(theta, default_delta())

    it = FixedPointIteration(
        step, fitter.describe, options.conv, options.maxit, options.accelerate, options.verbose,
        expand=fitter.expand, release=_release_round,
    )
    try:
        it.run(state)
    except Divergence as exc:
        cause = divergence_cause(problem)
        if cause is not None:
            raise ValueError(cause) from exc
        if it.last is not None and dispersion_collapsed(problem, it.last.phi_next, phi0):
            raise ValueError(
                f"fix_disp: the estimated residual dispersion collapsed towards 0 "
                f"({float(np.mean(it.last.phi_next)):.3g}) and the fit diverged at round "
                f"{it.n_iter + 1}: the random effects interpolate y; fix the dispersion "
                "(fix_disp=1 for a binomial or Poisson GLMM) or simplify the model"
            ) from exc
        raise RuntimeError(
            f"the EQL iteration diverged at round {it.n_iter + 1} ({exc}); try other "
            "starting values (startval) or a simpler model"
        ) from exc
    return it
