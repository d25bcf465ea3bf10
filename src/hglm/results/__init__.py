"""The fitted model and its presentation: estimates, summaries, plots, export.

Two result classes share :class:`MixedModelResult`'s verbs: :class:`HGLMResult` (EQL,
R's hglm) and :class:`MarginalResult` (ML/REML, Laplace and quadrature fits, lme4's
verbs), with the likelihood-ratio tests of each (``lrt``; ``anova_table``).
"""

from .anova import AnovaTable, anova_table
from .base import MixedModelResult
from .bigrr_result import BigRRResult, marker_state
from .hglm_result import HGLMResult
from .likelihood_ratio import LRTResult, lrt
from .marginal import MarginalResult
from .marginal_view import MarginalFit
from .npmlt_result import NPMLTResult
from .ordinal_result import CLMMResult, OrdinalResult
from .partitioned_marginal import PartitionedMarginalResult
from .partitioned_result import PartitionedHGLMResult, RowVectors
from .plots import import_pyplot, plot_fit, save_figures
from .summary import Summary
from .term_layout import (
    lme4_term_order,
    ranef_long,
    reorder_theta,
    start_in_term_order,
    term_layouts,
)

__all__ = [
    "CLMMResult",
    "NPMLTResult",
    "OrdinalResult",
    "AnovaTable",
    "BigRRResult",
    "HGLMResult",
    "LRTResult",
    "MarginalFit",
    "MarginalResult",
    "PartitionedMarginalResult",
    "MixedModelResult",
    "PartitionedHGLMResult",
    "RowVectors",
    "Summary",
    "anova_table",
    "import_pyplot",
    "lme4_term_order",
    "lrt",
    "marker_state",
    "plot_fit",
    "ranef_long",
    "reorder_theta",
    "start_in_term_order",
    "save_figures",
    "term_layouts",
]
