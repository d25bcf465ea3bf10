"""The fitted model and its presentation: estimates, summaries, plots, export."""

from .base import MixedModelResult
from .bigrr_result import BigRRResult, marker_state
from .hglm_result import HGLMResult
from .likelihood_ratio import LRTResult, lrt
from .plots import import_pyplot, plot_fit, save_figures
from .summary import Summary

__all__ = [
    "BigRRResult",
    "HGLMResult",
    "LRTResult",
    "MixedModelResult",
    "Summary",
    "import_pyplot",
    "lrt",
    "marker_state",
    "plot_fit",
    "save_figures",
]
