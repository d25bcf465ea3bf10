"""hglm: hierarchical generalized linear models fitted by h-likelihood (EQL) and by
marginal likelihood (ML, REML).

The Python counterpart of R's hglm package: GLMs whose random effects are Gaussian,
Gamma, Beta or inverse-Gamma, with a model for the residual dispersion; and of lme4's
``lmer``, ``glmer`` and ``anova``; and ordinal/nominal mixed models as mixcat's ``npmlt``
and ordinal's ``clmm``.
"""

from ._version import __version__ as __version__
from .api import hglm, hglm2
from .fit import BoundaryWarning, ConvergenceWarning, NumericalGuardWarning
from .hem import bigrr_update
from .lme4 import anova, glmer, lmer
from .ordinal import clmm, npmlt
from .results import (
    AnovaTable,
    BigRRResult,
    CLMMResult,
    HGLMResult,
    LRTResult,
    MarginalResult,
    NPMLTResult,
    Summary,
    lrt,
)
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
    "AnovaTable",
    "Beta",
    "BigRRResult",
    "BoundaryWarning",
    "CAR",
    "CLMMResult",
    "Binomial",
    "ConvergenceWarning",
    "Family",
    "Gamma",
    "Gaussian",
    "HGLMResult",
    "LRTResult",
    "MarginalResult",
    "NPMLTResult",
    "InverseGamma",
    "InverseGaussian",
    "NumericalGuardWarning",
    "Poisson",
    "Precision",
    "SAR",
    "Summary",
    "anova",
    "bigrr_update",
    "clmm",
    "glmer",
    "hglm",
    "hglm2",
    "lmer",
    "lrt",
    "npmlt",
    "pedigree_precision",
]
