"""The ML deviance and the REML criterion of a linear mixed model from the pieces of its
profiled deviance (Bates et al. 2015, eqs. 34 and 41).

With r^2(theta) the penalized residual sum of squares, on dof = n (ML) or n - p (REML)
degrees of freedom,

    ML:   -2 l   = log|L|^2 - sum log w + n (1 + log(2 pi r^2 / n)),
    REML: -2 l_R = log|L|^2 - sum log w + log|R_X|^2 + (n - p)(1 + log(2 pi r^2 / (n - p))),

so both share log|L|^2 - sum log w: the estimator's criterion of one kind, stripped of
its residual and REML terms by :func:`log_determinants`, gives the other by
:func:`criterion` (lme4's ``deviance`` of a REML fit, ``REMLcrit`` of an ML fit, and
the ML deviance that ``confint``'s profiles minimise).
"""

from __future__ import annotations

import numpy as np


def log_determinants(objective: float, r2: float, dof: int,
                     log_rx2: float | None = None) -> float:
    """log|L|^2 - sum log w at theta.

    Parameters
    ----------
    objective : float
        The profiled criterion at theta (``fit.lmm``): -2 log-likelihood on ``dof``
        degrees of freedom.
    r2 : float
        The penalized residual sum of squares at theta.
    dof : int
        n for the ML deviance, n - p for the REML criterion.
    log_rx2 : float, optional
        log|R_X|^2 (= -log|C^{-1}_xx|) of a REML criterion; None for ML.

    Returns
    -------
    float
    """
    core = objective - dof * (1.0 + np.log(2.0 * np.pi * r2 / dof))
    return float(core if log_rx2 is None else core - log_rx2)


def criterion(log_dets: float, r2: float, dof: int, log_rx2: float | None = None) -> float:
    """The ML deviance (``dof`` = n, no ``log_rx2``) or the REML criterion (``dof`` =
    n - p and log|R_X|^2) from :func:`log_determinants` and r^2."""
    out = log_dets + dof * (1.0 + np.log(2.0 * np.pi * r2 / dof))
    return float(out if log_rx2 is None else out + log_rx2)
