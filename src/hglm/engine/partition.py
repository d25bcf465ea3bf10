"""The structured Cholesky of T'WT split over partitions of the rows.

When the rows are partitioned by the grouping factor of the eliminated term A (every
level of A in one partition), the diagonal block D of A is block diagonal over the
partitions and the Schur complement S = F - E' D^{-1} E of the rest is a sum over them:
each partition eliminates its own levels of A and contributes an m x m piece S_p and an
m-vector s_p (m = p + the levels of the other terms).  The sum is factored once; the
partition then recovers its levels of A by back-substitution, and, given the factor of S,
answers what :class:`~.augmented_factor.AugmentedFactor` answers for its own rows (leverages,
diag(C^{-1}) on A, log det D).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from ._blas import lapack_threads
from .augmented import AugmentedSystem
from .augmented_factor import AugmentedFactor
from .augmented_structure import AugmentedStructure
from .blocks import Block, Indicator
from .factor import NotPositiveDefiniteError
from .level_blocks import LevelBlocks
from .pair_products import Cross
from .schur_products import symmetrize_lower

Array = np.ndarray


@dataclass
class Elimination:
    """A partition's levels of A eliminated at given weights.

    Attributes
    ----------
    S : ndarray (m, m)
        The partition's piece of the Schur complement, in B order.
    s : ndarray (m,)
        Its piece of the reduced right-hand side, r_B - E' D^{-1} r_A.
    D_inv, logdet_d, E, r_a
        The inverse of A's (block-)diagonal block and its log det, the cross block
        Z_A'W1R and A's right-hand side.
    """

    S: Array
    s: Array
    D_inv: LevelBlocks
    logdet_d: float
    E: Cross
    r_a: Array


def schur_cholesky(S: Array) -> Array:
    """The lower Cholesky factor of the summed Schur complement S.

    Raises
    ------
    NotPositiveDefiniteError
    """
    with lapack_threads(S.shape[0]):
        chol, info = linalg.lapack.dpotrf(S, lower=1, clean=1)
    if info != 0:
        raise NotPositiveDefiniteError("T'WT is not positive definite")
    return chol


def schur_inverse(chol: Array) -> Array:
    """S^{-1} from its lower Cholesky factor (LAPACK potri)."""
    if chol.size == 0:
        return chol
    with lapack_threads(chol.shape[0]):
        inv, info = linalg.lapack.dpotri(chol, lower=1)
    if info != 0:
        raise NotPositiveDefiniteError("T'WT is not positive definite")
    return symmetrize_lower(inv)


class PartitionSystem(AugmentedSystem):
    """T'WT of one partition of the rows, with its term ``eliminate`` as A.

    Parameters
    ----------
    X, blocks
        The partition's rows; the blocks of the other terms span all their levels, so
        that B (and m) is the same in every partition.
    eliminate : int
        The indicator term whose levels are this partition's own.
    scaled_weights : bool
        As for :class:`~.augmented.AugmentedSystem`.
    """

    def __init__(
        self, X: Array, blocks: list[Block], eliminate: int, scaled_weights: bool = False
    ) -> None:
        if not isinstance(blocks[eliminate], Indicator):
            raise ValueError("the partitioning term must be an indicator block")
        AugmentedStructure.__init__(self, X, blocks, eliminate)
        self.scaled_weights = scaled_weights
        self._products = None

    def eliminate(self, w1: Array, w2: Array, z1: Array, z2: Array) -> Elimination:
        """The piece (S_p, s_p) at weights (w1, w2) and working responses (z1, z2).

        The weights w2 of the B block's random rows enter S_p as given: they belong to
        one partition only (the others pass zeros), so that the sum holds them once.

        Raises
        ------
        NotPositiveDefiniteError
            When a diagonal entry of A's block is not positive.
        """
        F0, D0, E, _ = self.weighted_products(w1)
        w2_user = np.concatenate([np.zeros(self.p), w2])
        rhs = self.rhs(w1, z1, w2, z2)
        r_a, r_b = rhs[self.perm_a], rhs[self.perm_b]
        S = F0
        S[np.diag_indices(self.m)] += w2_user[self.perm_b]
        D_inv, logdet_d = D0.plus_diagonal(w2_user[self.perm_a]).invert()
        D_inv.subtract_gram(S, E)
        s = r_b - E.T @ D_inv.matvec(r_a)
        return Elimination(S, np.asarray(s).ravel(), D_inv, logdet_d, E, r_a)

    def gram_b(self, w1: Array) -> Array:
        """F0 = R'W1R (m x m) at observation weights w1."""
        return self._gram_b(w1)

    def level_products(self, w1: Array) -> tuple[Array, Cross]:
        """The diagonal of Z_A'W1Z_A (q_a) and E = Z_A'W1R (q_a x m) at observation
        weights w1, computed afresh (nothing kept): with F0, the sufficient statistics
        of a Gaussian model at fixed weights."""
        return LevelBlocks.weighted_gram(self.A, w1).diagonal(), self._cross_a(w1)

    def back_substitute(self, elim: Elimination, x_b: Array) -> Array:
        """The solution (beta, v) in user order from the solution ``x_b`` of the summed
        reduced system."""
        x = np.empty(self.p + self.q)
        x[self.perm_b] = x_b
        x[self.perm_a] = elim.D_inv.matvec(elim.r_a - np.asarray(elim.E @ x_b).ravel())
        return x

    def factor(self, elim: Elimination, chol: Array, s_inverse: Array) -> AugmentedFactor:
        """The partition's view of the factor of C: its own D and E with the Cholesky
        factor ``chol`` (lower) of the summed Schur complement and its inverse."""
        return PartitionFactor(self, elim.D_inv, elim.E, chol, s_inverse, elim.logdet_d)


class PartitionFactor(AugmentedFactor):
    """:class:`~.augmented_factor.AugmentedFactor` of one partition's rows, on the factor of
    the summed Schur complement (never factored again)."""

    def __init__(
        self,
        system: PartitionSystem,
        D_inv: LevelBlocks,
        E: Cross,
        chol: Array,
        s_inverse: Array,
        logdet_d: float,
    ) -> None:
        self.system, self.D_inv, self.E, self.S = system, D_inv, E, chol
        self.logdet_d = logdet_d
        self.trace_gram, self.pairs = None, None
        self._chol, self._chol_diagonal = chol, np.diag(chol).copy()
        self.__dict__["s_inverse"] = s_inverse
