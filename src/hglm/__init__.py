"""hglm: hierarchical generalized linear models fitted by h-likelihood (EQL).

The Python counterpart of R's hglm package: GLMs whose random effects are Gaussian,
Gamma, Beta or inverse-Gamma, with a model for the residual dispersion.
"""

from ._version import __version__ as __version__
from .api import bigrr_update, hglm, hglm2
from .fit import BoundaryWarning, ConvergenceWarning, NumericalGuardWarning
from .results import BigRRResult, HGLMResult, LRTResult, Summary, lrt
from .spec import (
    CAR,
    SAR,
    Beta,
    Binomial,
    Family,
    Gamma,
    Gaussian,
    InverseGamma,
    InverseGaussian,
    Poisson,
    Precision,
    pedigree_precision,
)

__all__ = [
    "Beta",
    "BigRRResult",
    "BoundaryWarning",
    "CAR",
    "Binomial",
    "ConvergenceWarning",
    "Family",
    "Gamma",
    "Gaussian",
    "HGLMResult",
    "LRTResult",
    "InverseGamma",
    "InverseGaussian",
    "NumericalGuardWarning",
    "Poisson",
    "Precision",
    "SAR",
    "Summary",
    "bigrr_update",
    "hglm",
    "hglm2",
    "lrt",
    "pedigree_precision",
]
