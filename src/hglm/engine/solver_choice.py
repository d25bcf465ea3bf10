"""The choice of the solver for a problem: the structured Cholesky or the general sparse
factor (the n-space solver of bigRR is the estimator's choice, for Gaussian models with
many more random effects than observations).
"""

from __future__ import annotations

import numpy as np

from .augmented import AugmentedSystem
from .blocks import Block, Grouped, Indicator, level_view
from .factor import System
from .sparse import SparseSystem

Array = np.ndarray

# the structured solver's dense Schur complement from which the sparse one is considered
SPARSE_FROM_SCHUR = 2000


def nested_terms(blocks: list[Block]) -> bool:
    """Whether the random terms are level-structured blocks (indicators or vector-valued
    terms) nested in one another: for every two terms, each level of the one with more
    levels meets a single level of the other.  Then Z'Z is a forest of cliques and its
    sparse Cholesky factor has no fill beyond the fixed effects' columns."""
    if not all(isinstance(b, Indicator | Grouped) for b in blocks):
        return False
    views = [level_view(b) for b in blocks]
    used = [np.any(b.values != 0, axis=1) for b in views]
    for j, a in enumerate(views):
        for k in range(j + 1, len(views)):
            b = views[k]
            fine, coarse = (a, b) if a.n_levels >= b.n_levels else (b, a)
            rows = used[j] & used[k]
            keys = fine.index[rows].astype(np.int64) * coarse.n_levels + coarse.index[rows]
            if np.unique(keys).size != np.unique(fine.index[rows]).size:
                return False
    return True


def make_system(
    X: Array, blocks: list[Block], precisions: list | None = None,
    scaled_weights: bool = False,
) -> System:
    """The solver for a problem: the general sparse one when a term has a known
    precision, or when the terms are nested (``nested_terms``; vector-valued terms,
    :class:`~.blocks.Grouped` blocks, count as their grouping factor) and the structured
    solver's dense Schur complement would be large (order >= SPARSE_FROM_SCHUR, e.g.
    (1|a) + (1|a:b) + (1|a:b:c) with thousands of a:b levels): there the sparse factor
    has no fill and is solved in a fraction of the time (docs/benchmarks.md).  Crossed
    factors with many levels fill in and stay with the structured solver.
    ``scaled_weights`` is passed on to :class:`AugmentedSystem`."""
    if precisions is not None and any(Q is not None for Q in precisions):
        return SparseSystem(X, blocks, precisions)
    structured = AugmentedSystem(X, blocks, scaled_weights)
    if structured.m >= SPARSE_FROM_SCHUR and nested_terms(blocks):
        return SparseSystem(X, blocks)
    return structured
