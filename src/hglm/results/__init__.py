"""The fitted model and its presentation: estimates, summaries, plots, export."""

from .likelihood_ratio import LRTResult, lrt
from .result import HGLMResult, Names, Summary

__all__ = ["HGLMResult", "LRTResult", "Names", "Summary", "lrt"]
