"""How a fit goes wrong: the warnings it gives, the signal of a diverging round, and the
checks for a collapsed or degenerate fit.

Every estimator reports through these: a round that leaves the parameter space raises
:class:`Divergence` (an accelerated iteration then steps back), and a finished fit is
checked for a residual dispersion or random term collapsed to its boundary.
"""

from __future__ import annotations

import numpy as np

from .._warn import warn
from ..spec import Problem
from .glm import fit_glm

Array = np.ndarray

# A random term whose effects keep less than this fraction of their data's information
# on average (mean 1 - h of its rows) is at the boundary: its variance is ~0.
COLLAPSED_SHRINKAGE = 1e-2


class ConvergenceWarning(UserWarning):
    """The EQL iteration did not converge."""


class NumericalGuardWarning(UserWarning):
    """Deviances or leverages were clipped at their numerical bounds (R's guards)."""


class BoundaryWarning(UserWarning):
    """The fit sits on the boundary of the parameter space."""


class Divergence(RuntimeError):
    """A round left the parameter space (non-finite weights or estimates, a factorization
    that is not positive definite, a dispersion GLM that failed)."""


def warn_guards(guards: set[str]) -> None:
    """One :class:`NumericalGuardWarning` per guard that changed the fit."""
    for msg in sorted(guards):
        warn(msg, NumericalGuardWarning)


def dispersion_collapsed(problem: Problem, phi: Array, phi_start: float) -> bool:
    """Whether an estimated residual dispersion has collapsed towards 0 (the random effects
    then interpolate y, a boundary optimum): for a Gaussian response below 1e-6 var(y),
    otherwise below 1e-3 of the starting value (from the GLM)."""
    if problem.fix_disp is not None:
        return False
    scale = float(np.var(problem.y)) * 1e-6 if problem.family.name == "gaussian" else (
        1e-3 * phi_start
    )
    return float(np.mean(phi)) < scale


def warn_if_collapsed(problem: Problem, phi: Array, phi_start: float) -> None:
    """Warn when the estimated residual dispersion has collapsed towards 0
    (:func:`dispersion_collapsed`)."""
    if dispersion_collapsed(problem, phi, phi_start):
        warn(
            f"the residual dispersion collapsed to {float(np.mean(phi)):.3g}: the random "
            "effects interpolate y (a boundary optimum); try other starting values "
            "(startval) or a simpler model",
            BoundaryWarning,
        )


def warn_if_terms_collapsed(
    problem: Problem,
    term_slices: list[slice],
    informative_rows: Array,
    lam: Array,
    hat: Array,
) -> None:
    """Warn for each random term whose variance went to its boundary 0: its effects are
    shrunk to 0 (1 - h of its rows, the share of the data in each effect, is ~0).

    ``hat`` holds the last round's leverages, whose sum per term is exact (effects with
    an empty column of Z have h = 1 and are not counted: ``informative_rows`` is False
    there).  The term's effective number of parameters, sum(1 - h), is compared with the
    most it could have: one per effect, and at most n in all (many more effects than
    observations).  ``lam`` holds the random effects' dispersions."""
    n = problem.y.shape[0]
    for k, sl in enumerate(term_slices):
        rows = slice(n + sl.start, n + sl.stop)
        possible = min(int(np.sum(informative_rows[rows])), n)
        kept = float(np.sum(1.0 - hat[rows]))
        if possible == 0 or kept / possible >= COLLAPSED_SHRINKAGE:
            continue
        term_lam = float(np.mean(lam[sl]))
        spatial = problem.terms[k].family.spatial
        extra = (
            f"; its {spatial.kind} correlation parameter is then not identified"
            if spatial is not None
            else ""
        )
        warn(
            f"random term {k + 1}: the variance of its effects went to 0 (dispersion "
            f"{term_lam:.3g}, effects shrunk to 0): the data show no variation between its "
            f"levels, a boundary estimate{extra}; consider removing the term",
            BoundaryWarning,
        )


def dominant_term(term_slices: list[slice], phi: Array, lam: Array) -> int | None:
    """The random term holding more than 1 - 1e-4 of the total dispersion (R's check of a
    degenerate fit), or None."""
    lams = np.array([lam[sl].mean() for sl in term_slices])
    total = lams.sum() + float(np.mean(phi))
    share = lams / total
    k = int(np.argmax(share))
    return k if share[k] >= 1.0 - 1e-4 else None


def nonconvergence_reason(
    n_iter: int, maxit: int, criterion: float, conv: float, settled: bool, dominant: int | None
) -> str:
    """Why an EQL fit is not converged, in words that do not contradict its numbers."""
    if dominant is not None:
        return (
            f"random term {dominant + 1} holds more than 1 - 1e-4 of the total dispersion "
            "(the residual dispersion is ~0 beside it: R's check of a degenerate fit); "
            "the model cannot separate the two variances: try a simpler model"
        )
    if criterion < conv and settled:
        return (
            f"the stopping rule held only at the last allowed iteration (maxit={maxit}), "
            "which R counts as not converged; raise maxit"
        )
    if criterion < conv:
        return (
            f"stopped at maxit={maxit} with the linear predictor settled (criterion "
            f"{criterion:.3g} < conv={conv:g}) but the dispersions still moving (a flat "
            "likelihood); raise maxit or try other starting values (startval)"
        )
    return (
        f"did not converge in {n_iter} iterations (criterion {criterion:.3g}, "
        f"conv={conv:g}); raise maxit or try other starting values (startval)"
    )


def divergence_cause(problem: Problem) -> str | None:
    """The property of the data that makes a fit leave its parameter space, named with
    the argument to change (checked after a divergence only), or None."""
    return _degenerate_response(problem) or _separation(problem)


def _degenerate_response(problem: Problem) -> str | None:
    y, family = problem.y, problem.family.name
    if family == "binomial" and (np.all(y == 1.0) or np.all(y == 0.0)):
        outcome = "a success (y = 1)" if y[0] == 1.0 else "a failure (y = 0)"
        return (
            f"y: every observation is {outcome}: the binomial fixed effects go to infinity; "
            "the model needs both outcomes"
        )
    if family == "poisson" and np.all(y == 0.0):
        return (
            "y: every count is 0: the Poisson means go to 0 and the fixed effects to "
            "-infinity; the model needs a non-zero count"
        )
    return None


def _separation(problem: Problem) -> str | None:
    """Binomial outcomes that the fixed effects separate: in the GLM without random
    effects the fitted probabilities of the rows go to 0 or 1."""
    pb = problem
    if pb.family.name != "binomial":
        return None
    glm = fit_glm(pb.y, pb.X, pb.family, pb.weights, pb.offset)
    fitted = np.abs(glm.mu - pb.y) < 1e-8
    if np.mean(fitted) < 0.5:
        return None
    return (
        f"y, X: the fixed effects separate the outcomes (perfect separation: {fitted.sum()} "
        f"of {fitted.size} fitted probabilities are numerically 0 or 1 without random "
        "effects), so their estimates go to infinity; remove or combine the separating "
        "covariates"
    )
