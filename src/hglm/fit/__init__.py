"""Estimators: given a model as arrays and term descriptions, return estimates.

EQL / HL(0,1) and its HL(1,1) correction (R's hglm), the dispersion GLMs, double HGLMs
and the likelihoods of a fitted model.
"""

from .dhglm import DoubleModel, fit_double
from .diagnostics import BoundaryWarning, ConvergenceWarning, NumericalGuardWarning
from .eql import (
    EngineFit,
    Options,
    fit_eql,
)
from .likelihood import LRTResult, fit_likelihoods, glm_loglik, lrt

__all__ = [
    "BoundaryWarning",
    "ConvergenceWarning",
    "DoubleModel",
    "EngineFit",
    "LRTResult",
    "NumericalGuardWarning",
    "Options",
    "fit_double",
    "fit_eql",
    "fit_likelihoods",
    "glm_loglik",
    "lrt",
]
