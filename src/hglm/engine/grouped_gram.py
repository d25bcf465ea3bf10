"""E' diag(d) E for a fixed E when d takes one value per group of E's rows: the groups'
Gram matrices E_g' E_g, formed once.

In the structured solver (:mod:`.augmented`) E = Z_A' W1 R has one row per level of the
eliminated indicator term A and d = D^{-1} is 1 / (D0_a + w2_a).  For a Gaussian response
the weights change by a common factor only, so E and D0 are fixed up to a scale, and w2 is
one value per term: d then takes one value over the levels of A that share their weight
sum D0_a (every level, in a balanced design).  With the levels grouped by D0_a,

    E' diag(d) E = sum_g d_g E_g' E_g,    tr(M E' diag(c) E) = sum_g c_g <M, E_g' E_g>,

so each factorization subtracts a few stored m x m matrices and each trace is a few
inner products: no pass over E's pairs of non-zeros (:class:`.pair_products.PairProducts`,
12 bytes per pair: 30 MB on a balanced 100,000-row crossed design, where one group's Gram
matrix takes 2 MB).
"""

from __future__ import annotations

import copy

import numpy as np
from scipy import sparse

Array = np.ndarray

BAND_ROWS = 64  # rows of a Gram matrix scaled at a time


class GroupedGram:
    """The Gram matrices E_g' E_g of the groups of rows of E that share a key.

    Parameters
    ----------
    E : scipy.sparse matrix (rows x m)
    keys : ndarray (rows,)
        The rows' keys (the levels' weight sums D0_a): rows with equal keys form a group.
    """

    def __init__(self, E: sparse.spmatrix, keys: Array) -> None:
        E = sparse.csr_matrix(E)
        _, first, self.group = np.unique(keys, return_index=True, return_inverse=True)
        self.first = first
        self.scale = 1.0
        self.grams = []
        for g in range(first.shape[0]):
            rows = E[self.group == g]
            self.grams.append(np.ascontiguousarray((rows.T @ rows).toarray()))

    @staticmethod
    def fits(keys: Array, m: int, pairs: int) -> bool:
        """Whether the groups' m x m matrices take no more entries than E's ``pairs``
        pairs of non-zeros per row (:meth:`.PairProducts.count`), whose products they
        replace: 8 bytes per entry against 12 per pair, and as few operations a round."""
        return np.unique(keys).shape[0] * m * m <= pairs

    def scaled(self, c: float) -> GroupedGram:
        """The grouped Gram matrices of c E (sharing the stored matrices)."""
        out = copy.copy(self)
        out.scale = self.scale * c
        return out

    def group_values(self, d: Array) -> Array | None:
        """d's one value per group, or None when d is not constant within every group."""
        values = d[self.first]
        return values if np.array_equal(values[self.group], d) else None

    def subtract_gram(self, S: Array, values: Array) -> None:
        """S -= E' diag(d) E in place, d given by its group ``values`` (S contiguous, in
        either order: the Gram matrices are symmetric)."""
        if not (S.flags.c_contiguous or S.flags.f_contiguous):
            raise ValueError("S: must be a contiguous array")
        flat, step = S.ravel(order="K"), BAND_ROWS * S.shape[0]
        for G, v in zip(self.grams, values, strict=True):
            c, g = self.scale**2 * float(v), G.reshape(-1)
            for start in range(0, flat.shape[0], step):  # a band at a time: no m x m temporary
                flat[start : start + step] -= c * g[start : start + step]

    def frobenius(self, M: Array, values: Array) -> float:
        """sum_jk M_jk (E' diag(c) E)_jk for a symmetric M, c given by its group
        ``values``."""
        flat = M.ravel(order="K")  # no copy for a contiguous M; M symmetric
        # einsum, not BLAS's dot: a tenth of the time on a vector this long
        return self.scale**2 * float(sum(v * np.einsum("i,i->", G.reshape(-1), flat)
                                         for G, v in zip(self.grams, values, strict=True)))
