"""The factor of C = T'WT: the interface that every solver of the augmented system offers.

The IWLS step of the augmented GLM (DESIGN.md, EQL step 2) solves C delta = T'Wz with
T = [[X, Z], [0, I_q]] and weights W = diag(W1, W2):

    C = T'WT = [[X'W1X, X'W1Z], [Z'W1X, Z'W1Z + W2]].

Vectors are in user order, delta = (beta, v) with v in term order.  For a term with a
known sparse precision Q_k the general sparse solver replaces its block of W2 by
W2_k^{1/2} Q_k W2_k^{1/2}; its per-effect values are then the term's means and its
log-determinants those of the scale of independent effects (:mod:`.sparse`).

Three solvers factor C: the structured Cholesky (:mod:`.augmented`), the general sparse
LDL' with its selected inverse (:mod:`.sparse`) and the n-space solver of bigRR
(:mod:`.nspace`), which factors the n x n marginal covariance instead and reaches the
same quantities.  Whichever it is, one factor serves the leverages, the standard errors
and the log-determinants of the likelihoods (:class:`Factor`); the two that work in the
space of the unknowns also solve with C (:class:`SolvingFactor`) and are made by a
:class:`System` at given weights.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from .lazy import LazyTail

Array = np.ndarray


class NotPositiveDefiniteError(np.linalg.LinAlgError):
    """The augmented system T'WT is not numerically positive definite."""


@runtime_checkable
class Factor(Protocol):
    """A factorization of C = T'WT at given weights (module docstring)."""

    def diag_inverse(self) -> Array | LazyTail:
        """diag(C^{-1}) in user order: times the dispersion, the variances of beta and
        the prediction variances of v (their standard errors).

        The n-space factor returns a :class:`LazyTail` whose random-effect part is
        computed on first use."""

    def rows_quadform(self) -> Array:
        """t_i' C^{-1} t_i for the n observation rows t_i of T1 = [X, Z]; times W1_i,
        the observations' leverages (the diagonal of T C^{-1} T'W on those rows)."""

    def inverse_block(self, index: Array) -> Array:
        """The block of C^{-1} on the unknowns ``index`` (user order): the covariance of
        those estimates up to the dispersion.  The n-space factor serves the effects of
        one random term at a time."""

    def logdet(self) -> float:
        """log det C, the determinant of the adjusted profile likelihood over
        (beta, v)."""

    def logdet_random_block(self) -> float:
        """log det(Z'W1Z + W2), the random-effect block of C: the determinant of the
        adjusted profile likelihood over v."""


@runtime_checkable
class SolvingFactor(Factor, Protocol):
    """A factor of C in the space of the unknowns (beta, v), which also solves with C."""

    def solve(self, b: Array) -> Array:
        """C^{-1} b for b in user order (the IWLS step: b = T'Wz), b a vector or a
        matrix of right-hand sides in its columns."""

    def random_leverages(self, weights: Array) -> Array:
        """weights_j (C^{-1})_jj for the q random rows: their leverages for weights W2."""

    def weighted_diag_sums(self, weights: Array, slices: list[slice]) -> Array:
        """sum_j weights_j (C^{-1})_jj over each slice of v: the leverage sum of each
        term, which is all that the dispersion GLM of an intercept-only term needs (a
        solver may compute it without the per-effect values)."""


@runtime_checkable
class System(Protocol):
    """The fixed structure of T'WT for a design X and the random blocks of Z, which
    factors C at given weights.

    Attributes
    ----------
    n, p, q : int
        Observations, fixed effects and random effects.
    """

    n: int
    p: int
    q: int

    def factorize(
        self, w1: Array, w2: Array, trace_weights: Array | None = None
    ) -> SolvingFactor:
        """The factor of C for observation weights w1 (n) and random-row weights w2 (q).

        ``trace_weights`` (q), when given, are the weights of a later
        :meth:`SolvingFactor.weighted_diag_sums`, which a solver may prepare in the same
        pass as the factorization."""

    def rhs(self, w1: Array, z1: Array, w2: Array, z2: Array) -> Array:
        """T'Wz in user order for the working responses z = (z1, z2)."""

    def t1_rmatvec(self, y: Array) -> Array:
        """T1'y = (X'y, Z'y) in user order (no random rows)."""

    def linear_predictor(self, delta: Array) -> Array:
        """X beta + Z v for delta = (beta, v) in user order."""

    def z_matvec(self, v: Array) -> Array:
        """Z v for v in term order."""

    def z_rmatvec(self, y: Array) -> Array:
        """Z' y in term order."""


def inverse_diag_blocks(factor: Factor, start: int, size: int, count: int) -> Array:
    """The ``count`` diagonal blocks of C^{-1} of order ``size`` on the unknowns
    start + l size, ..., start + l size + size - 1 (user order, l = 0..count-1): the
    per-level blocks C^{-1}_ll of a vector-valued term, shape (count, size, size).

    A factor with a faster way provides ``inverse_diag_blocks(start, size, count)``
    itself; otherwise the blocks are read from :meth:`Factor.inverse_block`."""
    own = getattr(factor, "inverse_diag_blocks", None)
    if own is not None:
        return own(start, size, count)
    out = np.empty((count, size, size))
    for level in range(count):
        index = start + level * size + np.arange(size)
        out[level] = factor.inverse_block(index)
    return out
