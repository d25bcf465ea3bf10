"""The fitted model and its presentation: estimates, summaries, plots, export."""

from .result import HGLMResult, Names, Summary

__all__ = ["HGLMResult", "Names", "Summary"]
