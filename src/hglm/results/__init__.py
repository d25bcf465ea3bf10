"""The fitted model and its presentation: estimates, summaries, plots, export."""

from .base import MixedModelResult
from .hglm_result import HGLMResult
from .likelihood_ratio import LRTResult, lrt
from .names import Names
from .summary import Summary

__all__ = ["HGLMResult", "LRTResult", "MixedModelResult", "Names", "Summary", "lrt"]
