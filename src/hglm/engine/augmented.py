"""The structured Cholesky of T'WT: the Schur complement at given weights (its factor:
:mod:`.augmented_factor`).

With the unknowns in the [A | B] order of :mod:`.augmented_structure`, the
block-diagonal block D of the eliminated term A (diagonal for an indicator, q x q blocks
per level for a vector-valued term, :mod:`.level_blocks`) is inverted block by block and
the Schur complement S = F - E' D^{-1} E of the rest, small and dense, is factored by
LAPACK's Cholesky.  Leverages and standard errors need only diag(C^{-1}) (or its
per-level blocks) and the quadratic forms t_i' C^{-1} t_i, which come from the factor
by the block-inverse formulas

    C^{-1}_AA = D^{-1} + D^{-1} E S^{-1} E' D^{-1},  C^{-1}_AB = -D^{-1} E S^{-1},
    C^{-1}_BB = S^{-1};

no n x n or (n+q) x (n+q) matrix is ever formed.

The weighted products F0 = R'W1R, D0 and E are linear in the observation weights: when
these change by a common factor only (a Gaussian response whose dispersion changed) the
previous products are scaled instead of formed again, and E' diag(d) E comes, for an
indicator A, from the Gram matrices of the groups of A's levels with equal weight sums
(:mod:`.grouped_gram`: few groups, as in a balanced design) or else from E's stored pair
products (:mod:`.pair_products`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from .augmented_factor import AugmentedFactor
from .augmented_structure import AugmentedStructure
from .blocks import Block
from .grouped_gram import GroupedGram
from .level_blocks import LevelBlocks
from .pair_products import Cross, PairProducts, subtract_from
from .schur_buffer import shared_buffer

Array = np.ndarray


@dataclass
class _Products:
    """The weighted products of :meth:`AugmentedSystem.weighted_products` at weights w;
    ``stored``: their E's :class:`GroupedGram` or :class:`PairProducts` (False: neither
    within its budget); ``F0`` is kept
    only under ``scaled_weights``, as a sparse matrix (R'W1R of crossed indicators is
    mostly zeros; dense it took 10 MB at InstEval's order) or dense when small
    (:func:`_kept_gram`), else None (weights that change freely are rarely
    proportional)."""

    w: Array
    F0: Array | sparse.csr_matrix | None
    D0: LevelBlocks | None
    E: Cross | None
    stored: GroupedGram | PairProducts | None | bool = None


DENSE_KEPT_ORDER = 32  # F0 of at most this order is kept dense (8 KB)


def _proportion(w: Array, w_old: Array) -> float | None:
    """c when w = c w_old to 1e-14 (relative, elementwise), else None; 1 at once for the
    same read-only array (:func:`_kept`)."""
    if w is w_old and not w.flags.writeable:
        return 1.0
    if w_old[0] == 0 or w.shape != w_old.shape:
        return None
    c = float(w[0] / w_old[0])
    if not np.isfinite(c):
        return None
    # a cheap look first (IWLS weights usually all change): eight entries, then all
    for a, b in ((w[:8], w_old[:8]), (w, w_old)):
        cb = c * b
        if not np.all(np.abs(a - cb) <= 1e-14 * np.abs(cb)):
            return None
    return c


def _kept(w: Array) -> Array:
    """The weights to compare later ones with: a read-only array itself (its caller
    promises that it does not change: the prior weights of an outer loop), else a copy."""
    return w if not w.flags.writeable else w.copy()


def _kept_gram(F0: Array | sparse.csr_matrix) -> Array | sparse.csr_matrix:
    """F0 as kept for later scaling: sparse, or dense (a copy) up to DENSE_KEPT_ORDER,
    where a sparse matrix's conversions cost more than its memory saves."""
    if F0.shape[0] <= DENSE_KEPT_ORDER:
        return F0.toarray() if sparse.issparse(F0) else F0.copy()
    return sparse.csr_matrix(F0, copy=True)


class AugmentedSystem(AugmentedStructure):
    """The structure of T'WT (:class:`AugmentedStructure`) with its factorization at
    given weights.

    Parameters
    ----------
    X, blocks
        As for :class:`AugmentedStructure`.
    scaled_weights : bool
        The observation weights w1 of successive factorizations differ only by a
        common factor (a Gaussian identity-link response with one dispersion): the
        products that depend on w1 are then prepared for reuse from the first one.
    """

    def __init__(self, X: Array, blocks: list[Block], scaled_weights: bool = False) -> None:
        super().__init__(X, blocks)
        self.scaled_weights = scaled_weights
        self._products: _Products | None = None
        self._schur = shared_buffer()

    def factorize(
        self, w1: Array, w2: Array, trace_weights: Array | None = None
    ) -> AugmentedFactor:
        """Factor C = T'WT for observation weights w1 (n) and random-row weights w2 (q).

        ``trace_weights`` (q), when given, are the weights of a later
        :meth:`AugmentedFactor.weighted_diag_sums`: for a sparse E without pair products
        its product E' diag(c / D^2) E is then formed in the same pass as the Schur
        complement.  With pair products the trace comes from E's row forms, one pass over
        the pairs that the leverages need anyway (a second column in the Schur
        complement's pass cost p2s's EQL fit 13% of its time and 4 MB of fresh memory a
        round); with grouped Gram matrices, their inner products with S^{-1}."""
        w2_user = np.concatenate([np.zeros(self.p), w2])
        # weights that change freely: E and D0 are not kept beside the factor's
        F, D0, E, scale = self.weighted_products(w1, reuse=True, store=True,
                                                 keep=self.scaled_weights)
        F[np.diag_indices(self.m)] += w2_user[self.perm_b]
        if self.A is None:
            return AugmentedFactor(self, None, None, F)
        D = D0.plus_diagonal(w2_user[self.perm_a])
        D_inv, logdet_d = D.invert()
        stored = self._stored_products(scale)
        c = None if trace_weights is None else trace_weights[self.perm_a - self.p]
        pairs = stored if isinstance(stored, PairProducts) else None
        grouped = stored if isinstance(stored, GroupedGram) else None
        values = None if grouped is None else grouped.group_values(D_inv.diagonal())
        G = None  # E' D^{-1} diag(c) D^{-1} E, formed in the same pass as the Schur complement
        if values is not None:
            grouped.subtract_gram(F, values)
        elif pairs is not None:
            pairs.subtract_gram(F, D_inv.diagonal())
        elif c is None or not sparse.issparse(E):
            D_inv.subtract_gram(F, E)
        else:
            H, G = D_inv.gram_pair(E, D_inv.scale_diagonal(c))
            subtract_from(F, H)
        trace_gram = None if G is None else (c, G)
        return AugmentedFactor(self, D_inv, E, F, logdet_d, trace_gram=trace_gram,
                               pairs=pairs, grouped=grouped)

    def _stored_products(self, scale: float | None) -> GroupedGram | PairProducts | None:
        """The grouped Gram matrices or else the pair products of E = scale times the
        stored sparse E (scale None: the stored one) under ``scaled_weights`` and an
        indicator A (D diagonal), where every factorization reuses E (built at the
        first); None otherwise, when E is dense or when neither is within its budget
        (:meth:`GroupedGram.fits`, :meth:`PairProducts.within_budget`)."""
        if not self.scaled_weights or self.a_size > 1:
            return None
        prod = self._products
        if prod.stored is None and sparse.issparse(prod.E):
            prod.stored = self._store(prod)
        if not prod.stored:
            return None
        return prod.stored if scale is None else prod.stored.scaled(scale)

    def _store(self, prod: _Products) -> GroupedGram | PairProducts | bool:
        """The grouped Gram matrices of ``prod.E`` when within their budget, else its pair
        products when within theirs, else False."""
        keys = prod.D0.diagonal()
        if GroupedGram.fits(keys, self.m, PairProducts.count(prod.E)):
            return GroupedGram(prod.E, keys)
        if PairProducts.within_budget(prod.E, self.n):
            equal = prod.w.size and np.all(prod.w == prod.w[0])
            return PairProducts(prod.E, float(prod.w[0]) if equal else None)
        return False

    def keep_products(self, w1: Array, F0: Array | sparse.csr_matrix, D0: LevelBlocks | None,
                      E: Cross | None) -> None:
        """Keep the products at ``w1`` formed elsewhere (by congruence,
        :mod:`.congruence`) as if :meth:`weighted_products` had formed them."""
        self._products = _Products(_kept(w1), _kept_gram(F0), D0, E)

    def held_products(
        self, w1: Array
    ) -> tuple[Array | sparse.csr_matrix, LevelBlocks | None, Cross | None, float | None]:
        """:meth:`weighted_products` at ``w1`` for a caller to hold beside the
        factorizations: F0 as this system keeps it (sparse when large), formed in the
        shared buffer, so that no m x m array is held (at InstEval's order it took 10 MB
        for the whole of a REML fit)."""
        F0, D0, E, scale = self.weighted_products(w1, reuse=True)
        kept = self._products.F0 if scale is None and self.scaled_weights else None
        return (_kept_gram(F0) if kept is None else kept), D0, E, scale

    def weighted_products(
        self, w1: Array, reuse: bool = False, store: bool = False, keep: bool = True
    ) -> tuple[Array, LevelBlocks | None, Cross | None, float | None]:
        """F0 = R'W1R, D0 = Z_A'W1Z_A (block-diagonal), E = Z_A'W1R and their scale; F0 is
        the caller's to overwrite: a new array, or with ``reuse`` the memory of the
        systems' :class:`~.schur_buffer.SchurBuffer` (a factor's S, to be let go with
        the factor).  With ``store`` (a factorization's) E's stored products (pair
        products, grouped Gram matrices) are built before F0, so that their build and F0
        are not alive together; callers that never factorize leave them unbuilt.  Without
        ``keep`` products formed afresh are not kept for the next call.

        They are linear in w1, so when w1 is a multiple c of the previous weights (a
        Gaussian response whose dispersion changed) the previous products are scaled and
        c is returned as the scale; None when they were computed afresh.
        """
        if self._products is not None:
            prod = self._products
            c = _proportion(w1, prod.w)
            if c is not None:  # c = 1 (the same weights: REML's): E and D0 shared
                same = c == 1.0
                E = prod.E if prod.E is None or same else c * prod.E
                D0 = prod.D0 if prod.D0 is None or same else prod.D0.scaled(c)
                return self._scaled_gram(prod.F0, c, w1, reuse), D0, E, c
        self._products = None  # the last products go before the new ones are formed
        D0, E = None, None
        if self.A is not None:  # first: its temporaries go before F0 (m x m) is formed
            D0 = LevelBlocks.weighted_gram(self.A, w1)
            E = self._cross_a(w1)
        if keep:
            self._products = _Products(_kept(w1), None, D0, E)
            if store and self.A is not None:
                self._stored_products(None)
        F0 = self._gram_b(w1, self._gram_out(reuse))
        if keep and self.scaled_weights:
            self._products.F0 = _kept_gram(F0)
        return F0, D0, E, None

    def _gram_out(self, reuse: bool) -> Array | None:
        """The m x m zeros that F0 is formed in: the shared buffer's with ``reuse``
        (taken when F0 is formed: not alive beside the temporaries of D0 and E), else None
        (a new array)."""
        return self._schur.zeros(self.m) if reuse else None

    def _scaled_gram(self, kept: Array | sparse.csr_matrix | None, c: float, w1: Array,
                     reuse: bool) -> Array:
        """F0 at w1 = c times the kept weights: c times the kept F0, or formed at w1 when
        none is kept (in the shared buffer with ``reuse``)."""
        out = self._gram_out(reuse)
        if kept is None:
            return self._gram_b(w1, out)
        if isinstance(kept, np.ndarray):
            return np.multiply(kept, c, out=out)
        F0 = kept.toarray(out=out)
        if c != 1.0:
            F0 *= c
        return F0
