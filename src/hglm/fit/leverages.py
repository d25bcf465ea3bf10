"""Leverages of the augmented GLM from the factor of T'WT (DESIGN.md, step 3).

h = diag(W^1/2 T (T'WT)^-1 T' W^1/2), n observation rows and q random-effect rows, from
the same factor as the solve.  A round computes only what its dispersion GLMs need:
sums, where an intercept-only log-link dispersion model needs nothing else; the exact
values of every row are computed once, for the report, on first use.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ..engine import (
    Block,
    Grouped,
    Indicator,
    LazyTail,
    MarginalSolver,
    SolvingFactor,
    column_norms,
)
from ..spec import Problem
from .guards import HAT_CEILING
from .random_effects import RandomEffects

Array = np.ndarray


class Leverages:
    """The leverages of one problem.

    Parameters
    ----------
    problem : Problem
    effects : RandomEffects
    q : int
        The number of random effects.
    marginal : MarginalSolver, optional
        The n-space solver, when it fits the problem.

    Attributes
    ----------
    random_sums_suffice : bool
        Every random term's dispersion model is intercept-only with a log link: a round
        needs only each term's leverage sum.
    informative_rows : ndarray of bool
        The n + q rows whose leverage is not 1 by construction (a random effect whose
        column of Z is empty has h = 1).
    """

    def __init__(
        self,
        problem: Problem,
        effects: RandomEffects,
        q: int,
        marginal: MarginalSolver | None = None,
    ) -> None:
        self.pb = problem
        self.effects = effects
        self.p, self.q = problem.X.shape[1], q
        self.marginal = marginal
        self.random_sums_suffice = all(
            t.x_disp is None and t.link_disp.name == "log" for t in problem.terms
        )
        self.observation_sum_suffices = problem.fix_disp is not None or (
            problem.x_disp is None and problem.link_disp.name == "log"
        )
        nonzero = (
            [~e for e in marginal.empty] if marginal is not None
            else [_nonzero_columns(b) for b in problem.blocks]
        )
        self.informative_rows = np.concatenate(
            [np.ones(problem.y.shape[0], dtype=bool)] + nonzero
        )
        self.informative_counts = np.array([int(np.sum(nz)) for nz in nonzero])

    def of_round(self, factor: SolvingFactor, w1: Array, w2: Array) -> Array:
        """The n + q leverages a round's dispersion GLMs need, for weights (w1, w2).

        The n observation leverages, or, when the round needs only their sum (an
        intercept-only log-link residual dispersion, or a fixed one), their mean
        everywhere: sum_i h_i = p + q - sum_j h_j, since tr(C^{-1} C) = p + q.  The
        exact values are computed once, for the report (:meth:`exact`)."""
        hat_random = self._random(factor, w2)
        n = self.pb.y.shape[0]
        out = np.empty(n + hat_random.shape[0])
        out[n:] = hat_random
        if self.observation_sum_suffices:
            out[:n] = (self.p + self.q - float(np.sum(hat_random))) / n
        else:
            np.multiply(w1, factor.rows_quadform(), out=out[:n])
        return out

    def _random(self, factor: SolvingFactor, w2: Array) -> Array:
        """The q leverages of the random-effect rows, or, when every random term's
        dispersion is intercept-only with a log link, each term's mean leverage
        everywhere: those dispersion fits need only the sums."""
        if not self.random_sums_suffice:
            return factor.random_leverages(w2)
        sizes = self.effects.sizes
        sums = factor.weighted_diag_sums(w2, self.effects.slices)
        # an effect with an empty column has h = 1 exactly (clipped at HAT_CEILING as the
        # exact values are): the mean is over the others, as in the n-space solver
        informative = self.informative_rows[self.pb.y.shape[0] :]
        counts = self.informative_counts
        means = (sums - (np.array(sizes) - counts)) / np.maximum(counts, 1)
        return np.where(informative, np.repeat(means, sizes), 1.0)

    def exact(self, factor: SolvingFactor, w1: Array, w2: Array) -> LazyTail:
        """The leverages of every row for the factor of weights (w1, w2), for the
        report, computed on first use: the q random effects' own ones with the n-space
        solver (O(n^2 q)), all of them with the augmented solver."""
        if self.marginal is not None:
            return factor.exact_leverages(HAT_CEILING)
        size = self.pb.y.shape[0] + self.q
        # the factor and weights, not the round, which will hold the vector (no cycle)
        compute = partial(_augmented_leverages, factor, w1, w2)
        return LazyTail(np.empty(0), compute, size)


def _augmented_leverages(factor: SolvingFactor, w1: Array, w2: Array) -> Array:
    """Every row's leverage from the augmented factor for weights (w1, w2), at most
    HAT_CEILING."""
    hat = np.concatenate([w1 * factor.rows_quadform(), factor.random_leverages(w2)])
    return np.minimum(hat, HAT_CEILING)


def _nonzero_columns(block: Block) -> Array:
    if isinstance(block, Indicator):
        return np.bincount(block.index, block.values != 0, minlength=block.n_levels) > 0
    if isinstance(block, Grouped):
        return np.bincount(block.columns().ravel(), (block.values != 0).ravel(),
                           minlength=block.width) > 0
    return column_norms(block) > 0  # as the n-space solver decides (MarginalSolver.empty)
