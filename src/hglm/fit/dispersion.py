"""The gamma GLMs of the dispersion models (DESIGN.md, EQL steps 4, 5 and 7).

Both the residual dispersion phi and each random term's dispersion lambda are fitted
by a gamma GLM of d/(1 - h) with prior weights (1 - h)/2, where d are deviance
components and h leverages of the augmented GLM.  Standard errors use the gamma
dispersion fixed at 1.  A dispersion GLM that fails inside an iteration is a
:class:`Divergence` of its round.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..spec import Gamma, Link, Problem, RandomTermModel, ResponseFamily
from .diagnostics import Divergence
from .glm import fit_glm

Array = np.ndarray

_GAMMA = Gamma().as_response()

# The dispersion GLMs are solved as R's glm() solves them: IRLS started from the
# responses, stopped when |dev - dev_old| / (|dev| + 0.1) < 1e-8.  With covariates and a
# non-canonical link, IRLS converges linearly, so this stopping point differs from the
# exact gamma MLE by ~1e-6 relative; keeping R's rule keeps R's fixed point.
GLM_TOL = 1e-8
GLM_MAXIT = 25
# how a dispersion GLM fails: inside an iteration, a Divergence of its round
GLM_FAILURES = (ValueError, np.linalg.LinAlgError)


@dataclass
class DispersionFit:
    """A fitted dispersion model.

    Attributes
    ----------
    coef, std_error : ndarray
        Coefficients on the link scale and their standard errors (dispersion 1).
    fitted : ndarray
        The fitted dispersions (phi_i or lambda_j; one value: a read-only broadcast).
    """

    coef: Array
    std_error: Array
    fitted: Array


def fit_dispersion(
    dev: Array,
    hat: Array,
    X: Array | None,
    link: Link,
) -> DispersionFit:
    """Fit g(disp) = X beta_d to the responses dev/(1 - hat) with weights (1 - hat)/2.

    Parameters
    ----------
    dev, hat : ndarray
        Deviance components and leverages of the rows the dispersion describes.
    X : ndarray or None
        Design of the dispersion model; None means an intercept only.
    link : Link
        Link of the dispersion model.
    """
    one_minus_h = 1.0 - hat
    if X is None and link.name == "log":
        return intercept_only_fit(float(np.sum(dev)), one_minus_h)
    response = dev / one_minus_h
    prior = one_minus_h / 2.0
    design = np.ones((dev.shape[0], 1)) if X is None else X
    family = dispersion_family(link)
    fit = fit_glm(response, design, family, weights=prior, tol=GLM_TOL, maxit=GLM_MAXIT)
    return DispersionFit(fit.coef, np.sqrt(np.diag(fit.cov_unscaled)), fit.mu)


def dispersion_family(link: Link) -> ResponseFamily:
    """The gamma family of a dispersion GLM with ``link``."""
    return replace(_GAMMA, link=link)


def intercept_only_fit(dev_total: float, one_minus_h: Array) -> DispersionFit:
    """Closed form of the intercept-only log-link fit (DESIGN.md, step 4), which needs
    only the sum ``dev_total`` of the deviances and the rows' 1 - h."""
    total = float(np.sum(one_minus_h))
    disp = dev_total / total
    return DispersionFit(
        np.array([np.log(disp)]),
        np.array([np.sqrt(2.0 / total)]),
        np.broadcast_to(disp, one_minus_h.shape),  # one value: read-only, no n-vector
    )


def fit_residual_dispersion(dev: Array, hat: Array, problem: Problem) -> DispersionFit | None:
    """The residual dispersion's GLM (DESIGN.md, step 4) of the n observations'
    deviances and leverages; None under ``fix_disp``.

    Raises
    ------
    Divergence
        When the GLM fails.
    """
    if problem.fix_disp is not None:
        return None
    try:
        return fit_dispersion(dev, hat, problem.x_disp, problem.link_disp)
    except GLM_FAILURES as exc:
        raise _divergence(exc) from exc


def fit_random_dispersions(
    dev: Array, hat: Array, groups: list[slice], terms: list[RandomTermModel]
) -> list[DispersionFit]:
    """The random terms' dispersion GLMs (DESIGN.md, step 5): term k's rows of the
    (n + q)-vectors ``dev`` and ``hat`` are ``groups[k]``.

    Raises
    ------
    Divergence
        When a GLM fails.
    """
    try:
        return [
            fit_dispersion(dev[g], hat[g], t.x_disp, t.link_disp)
            for g, t in zip(groups, terms, strict=True)
        ]
    except GLM_FAILURES as exc:
        raise _divergence(exc) from exc


def _divergence(exc: Exception) -> Divergence:
    return Divergence(f"a dispersion GLM failed ({exc})")
