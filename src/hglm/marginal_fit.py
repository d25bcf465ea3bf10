"""The marginal-likelihood route of a fit: an assembled :class:`~hglm.spec.Problem`
fitted by maximising its (restricted) marginal likelihood and named as a
:class:`~hglm.results.MarginalResult`.

A linear mixed model (Gaussian identity response, Gaussian random effects, one residual
variance) is fitted exactly by ``fit.lmm.fit_lmm`` whatever ``nAGQ`` says (its
likelihood needs no approximation); every other model by ``fit_glmm`` (Laplace for
nAGQ = 1, fixed effects inside PIRLS for nAGQ = 0, adaptive Gauss-Hermite quadrature for
nAGQ > 1).  The arguments are checked here, before any likelihood is evaluated: the
method, nAGQ with lme4's rule for quadrature (one scalar random term), and whole
binomial and Poisson counts.
"""

from __future__ import annotations

import numpy as np

from .fit import check_nagq, check_quadrature, fit_glmm, fit_lmm
from .results import MarginalResult, start_in_term_order
from .spec import ModelDesign, Names, Problem, integer_counts, response_family

MARGINAL_METHODS = ("ML", "REML")


def check_counts(problem: Problem) -> None:
    """A binomial or Poisson likelihood needs whole counts: trials (weights) and
    successes (y * weights), or Poisson counts (the formula layer warns of them as R
    does; a likelihood of such data is not defined, so it is refused here)."""
    name = problem.family.name
    if name == "binomial":
        counts = {"trials (weights)": problem.weights,
                  "successes (y * weights)": problem.counts}
    elif name == "poisson":
        counts = {"counts (y)": problem.y}
    else:
        return
    for what, values in counts.items():
        if not integer_counts(values):
            raise ValueError(
                f"y, weights: non-integer {name} {what}; the likelihood of such data is not "
                "defined: give whole numbers (proportions r/n with weights=n, or "
                "cbind(r, n - r))"
            )


def is_linear_mixed_model(problem: Problem) -> bool:
    """Whether the exact LMM estimator applies: a Gaussian identity response with Gaussian
    (non-spatial) random effects and one residual variance without a model."""
    return (
        problem.is_linear
        and problem.x_disp is None
        and problem.fix_disp is None
        and all(t.x_disp is None and t.family.spatial is None for t in problem.terms)
    )


def fit_marginal(problem: Problem, names: Names, method: str, nAGQ: int = 1,
                 start: object = None, design: ModelDesign | None = None,
                 formula: str | None = None) -> MarginalResult:
    """Fit an assembled model by ML or REML and name the result.

    Parameters
    ----------
    problem : Problem
    names : Names
    method : {"ML", "REML"}
    nAGQ : int
        Quadrature points (GLMMs): 0, 1 (Laplace) or k > 1.
    start : optional
        Starting values as lme4 takes them: theta (array, in lme4's order of the terms),
        or a dict with "theta" (and "disp_coef", the log-dispersion coefficients of a
        GLMM's family with a scale).
    design : ModelDesign, optional
        The formula layer's design, for ``predict`` on new data.
    formula : str, optional
        The formula as written, for the printed report.

    Returns
    -------
    MarginalResult
    """
    if method not in MARGINAL_METHODS:
        raise ValueError(f"method: must be 'ML' or 'REML' here, got {method!r}")
    nAGQ = check_nagq(nAGQ)
    if nAGQ > 1:
        check_quadrature(problem, nAGQ)
    check_counts(problem)
    reml = method == "REML"
    start = start_in_term_order(start, problem)
    if is_linear_mixed_model(problem):
        theta0 = None if start is None else start.get("theta")
        fit = fit_lmm(problem, reml=reml, start=theta0)
    else:
        fit = fit_glmm(problem, nAGQ=nAGQ, reml=reml, start=start)
    return MarginalResult(fit, names, design=design, formula=formula)


_EQL_CONTROLS = ("conv", "maxit", "startval", "calc_like", "vcovmat", "bigrr", "dev_floor",
                 "accelerate")
"""Controls of the EQL iteration, which a marginal-likelihood fit does not use."""


def marginal_controls(controls: dict, defaults: dict) -> dict:
    """The controls of an ML/REML fit, checked: the EQL iteration's controls are refused
    when set, and binomial and Poisson responses get their dispersion fixed at 1 (their
    likelihood has no dispersion parameter).  For EQL, nAGQ and start are refused."""
    method = controls["method"]
    if method not in (*MARGINAL_METHODS, "EQL", "EQL1", "HL11"):
        raise ValueError(f"method: must be 'EQL' or 'EQL1' ('HL11' is EQL1), or 'ML' or "
                         f"'REML' for the marginal likelihood, got {method!r}")
    if method not in MARGINAL_METHODS:
        for name in ("nAGQ", "start"):
            if controls[name] is not defaults[name] and controls[name] != defaults[name]:
                raise ValueError(f"{name}: applies to method='ML' or 'REML', not {method!r}")
        return controls
    for name in _EQL_CONTROLS:
        value = controls[name]
        if value is not defaults[name] and not (np.isscalar(value) and value == defaults[name]):
            raise ValueError(f"{name}: controls the EQL iteration; method={method!r} does "
                             "not use it")
    out = dict(controls)
    if out["fix_disp"] is None and response_family(out["family"]).fixed_dispersion:
        out["fix_disp"] = 1.0
    return out
