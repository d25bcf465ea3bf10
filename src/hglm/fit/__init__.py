"""Estimators: given a model as arrays and term descriptions, return estimates.

EQL / HL(0,1) and its HL(1,1) correction (R's hglm), the dispersion GLMs, double HGLMs
and the likelihoods of a fitted model; exact ML/REML of linear mixed models (lmm) and the
marginal-likelihood fits of GLMMs (glmm: Laplace, nAGQ = 0, Laplace-REML, adaptive
quadrature).

The pieces an estimator is built from stand on their own: starting values (start),
penalized IRLS at given dispersions (pirls), the random families term by term
(random_effects), leverages and R's numerical guards (leverages, guards), the
dispersion GLMs (dispersion), the outer fixed-point iteration with SQUAREM (iteration)
and the warnings and checks of a fit (diagnostics).  The marginal-likelihood fits are
built from the response's and random effects' log-densities with their derivatives
(densities), the conditional modes (conditional_mode), the parameter vector
(outer_parameters), the Laplace and quadrature deviances (laplace, agq), a quasi-Newton
method (newton) and finite differences (differences).  Ordinal and nominal responses:
one observation's likelihood pieces (ordinal_likelihood), NPML mass points (npml_likelihood,
npml, npml_inference: mixcat's npmlt) and the random-intercept Laplace/AGQ fit (clmm).
"""

from .agq import check_quadrature
from .bigrr import MarkerFit, check_markers, fit_markers, hem_weights, use_markers
from .clmm import CLMMFit, check_clmm_nagq, fit_clmm
from .clmm_vector import fit_clmm_vector
from .dhglm import DoubleModel, fit_double
from .diagnostics import BoundaryWarning, ConvergenceWarning, NumericalGuardWarning
from .eql import (
    EngineFit,
    Options,
    fit_eql,
)
from .glmm import check_nagq, fit_glmm
from .glmm_result import GLMMFit
from .likelihood import fit_likelihoods, glm_loglik
from .lmm import LMMFit, fit_lmm
from .npml import NPML_SE_KINDS, NPMLFit, fit_npml
from .npml_inference import NPMLEstimates, npml_estimates
from .ordinal_likelihood import category_probabilities
from .partition_chunk import Chunk, ChunkState, level_report, row_report
from .partition_laplace import count_check, laplace_row_report
from .partitioned import fit_partitioned
from .partitioned_laplace import fit_partitioned_glmm
from .partitioned_lmm import fit_partitioned_lmm
from .partitioned_model import PartitionedFit, PartitionedModel

__all__ = [
    "CLMMFit",
    "NPML_SE_KINDS",
    "NPMLEstimates",
    "NPMLFit",
    "category_probabilities",
    "check_clmm_nagq",
    "fit_clmm",
    "fit_clmm_vector",
    "fit_npml",
    "npml_estimates",
    "BoundaryWarning",
    "ConvergenceWarning",
    "DoubleModel",
    "EngineFit",
    "MarkerFit",
    "GLMMFit",
    "LMMFit",
    "NumericalGuardWarning",
    "Options",
    "check_nagq",
    "check_quadrature",
    "fit_double",
    "fit_eql",
    "fit_glmm",
    "fit_lmm",
    "fit_likelihoods",
    "check_markers",
    "fit_markers",
    "glm_loglik",
    "hem_weights",
    "use_markers",
    # fits on partitioned rows (Dask)
    "Chunk",
    "ChunkState",
    "PartitionedFit",
    "PartitionedModel",
    "fit_partitioned",
    "fit_partitioned_glmm",
    "fit_partitioned_lmm",
    "count_check",
    "laplace_row_report",
    "level_report",
    "row_report",
]
