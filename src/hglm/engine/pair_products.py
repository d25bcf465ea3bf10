"""The Gram products E' diag(d) E of the cross block E = Z_A' W1 R of the structured
solver (:mod:`.augmented`), and E's row forms e_a' M e_a.

E' D^{-1} E is a sparse product when E is sparse (crossed factors).  For a Gaussian
response the weights change by a common factor only, so E is fixed up to a scale: the
products E_aj E_ak of the pairs of non-zeros in each row of E are then stored once
(:class:`PairProducts`, while they take at most 48 MB or 96 bytes per row of data), and
each round forms E' D^{-1} E in one pass over the pairs and the row forms of the
leverages in another.  Otherwise each product is a sparse
matrix product (:func:`scaled_gram`, :func:`scaled_gram_pair`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np
from scipy import sparse

Array = np.ndarray

Cross = Array | sparse.csr_matrix


Gram = Array | sparse.csr_matrix

SUBTRACT_ROWS = 64  # rows of a sparse product densified at a time by subtract_from


def scaled_gram(E: Cross, d: Array) -> Gram:
    """E' diag(d) E: sparse (CSR) for a sparse E, dense for a dense one."""
    if sparse.issparse(E):
        return (E.T @ _scale_rows(E, d)).tocsr()
    return E.T @ (d[:, None] * E)


def scaled_gram_pair(E: sparse.csr_matrix, d1: Array, d2: Array) -> tuple[Gram, Gram]:
    """E' diag(d1) E and E' diag(d2) E for a sparse E, in one sparse product (both CSR).

    For a real E, E' diag(d1 + i d2) E has real part E' diag(d1) E and imaginary part
    E' diag(d2) E: one symbolic pass and one complex numeric pass cost about 60% of
    two real products."""
    return split_complex((E.T @ _scale_rows(E, d1 + 1j * d2)).tocsr())


def split_complex(G: sparse.csr_matrix) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """The real and imaginary parts of a complex CSR matrix, on its pattern."""
    parts = (G.data.real.copy(), G.data.imag.copy())
    return tuple(sparse.csr_matrix((v, G.indices, G.indptr), shape=G.shape) for v in parts)


def subtract_from(S: Array, G: Gram) -> None:
    """S -= G in place for a dense or sparse (CSR) G, a few rows of G densified at a
    time: no temporary of S's size (10 MB at InstEval's order 1,142)."""
    if not sparse.issparse(G):
        S -= G
        return
    for start in range(0, G.shape[0], SUBTRACT_ROWS):
        stop = min(start + SUBTRACT_ROWS, G.shape[0])
        S[start:stop] -= G[start:stop].toarray()


def subtract_scaled_gram(S: Array, E: Cross, d: Array) -> None:
    """S -= E' diag(d) E in place; for a sparse E by bands of rows of the product
    (:func:`_gram_bands`)."""
    if not sparse.issparse(E):
        S -= E.T @ (d[:, None] * E)
        return
    for rows, band in _gram_bands(E, d):
        S[rows] -= band.toarray()


def scaled_gram_frobenius(M: Array, E: Cross, d: Array) -> float:
    """sum_jk M_jk (E' diag(d) E)_jk for a dense M; for a sparse E by bands of rows of
    the product (:func:`_gram_bands`)."""
    if not sparse.issparse(E):
        return frobenius(M, scaled_gram(E, d))
    return float(sum(band.multiply(M[rows]).sum() for rows, band in _gram_bands(E, d)))


def _gram_bands(E: sparse.csr_matrix, d: Array) -> Iterator[tuple[slice, sparse.csr_matrix]]:
    """The bands of SUBTRACT_ROWS rows of E' diag(d) E (with their rows), each from
    E' diag(d) restricted to them (E's columns, as CSR) times E: the sparse m x m product
    is never whole (7 MB at InstEval's order, twice that while it was converted)."""
    scaled = E.T.tocsr()
    scaled.data *= d[scaled.indices]
    m = E.shape[1]
    for start in range(0, m, SUBTRACT_ROWS):
        rows = slice(start, min(start + SUBTRACT_ROWS, m))
        yield rows, scaled[rows] @ E


def frobenius(M: Array, G: Gram) -> float:
    """sum_jk M_jk G_jk for a dense M and a dense or sparse G."""
    if sparse.issparse(G):
        return float(G.multiply(M).sum())
    return float(np.sum(M * G))


def _scale_rows(E: sparse.csr_matrix, d: Array) -> sparse.csr_matrix:
    """diag(d) E for a CSR matrix E, without a sparse product."""
    rows = np.repeat(np.arange(E.shape[0]), np.diff(E.indptr))
    return sparse.csr_matrix((E.data * d[rows], E.indices, E.indptr), shape=E.shape)


PAIR_PRODUCTS_MAX = 4_000_000  # pairs of PairProducts: 48 MB whatever the rows,
PAIRS_PER_ROW = 8  # and up to 96 bytes per row of data beyond
PAIR_CHUNK = 65_536  # pairs built at a time (about 1.5 MB of temporaries)


class PairProducts:
    """E' diag(d) E and the row forms e_a' M e_a for a fixed sparse E (q_a x m).

    Holds the products of the pairs of non-zeros of each row a of E (each unordered pair
    once, j <= k) as a sparse matrix K with K[a, j m + k] = (2 - [j = k]) E_aj E_ak.
    Then K' d holds E' diag(d) E on the upper triangle (off-diagonal entries doubled),
    and e_a' M e_a = (K vec(M))_a for M symmetric: one pass over the pairs each, without
    the symbolic phase and row merging of a sparse matrix product.  Doubling is exact,
    so the numbers are those of the single products.

    Parameters
    ----------
    E : scipy.sparse matrix
    """

    def __init__(self, E: sparse.spmatrix) -> None:
        E = sparse.csr_matrix(E, copy=True)
        E.sum_duplicates()
        self.shape = E.shape
        self.scale = 1.0
        m = E.shape[1]
        counts = np.diff(E.indptr)
        rows = np.argsort(counts, kind="stable")
        self.rows = rows[counts[rows] > 0]
        sizes = counts[self.rows]
        indptr = np.concatenate([[0], np.cumsum(sizes * (sizes + 1) // 2)])
        cols = np.empty(indptr[-1], dtype=np.int32 if m * m < 2**31 else np.int64)
        vals = np.empty(indptr[-1])
        start = 0
        for same in np.split(self.rows, np.flatnonzero(np.diff(sizes)) + 1):
            k = counts[same[0]]
            first, second = np.triu_indices(k)
            factor = np.where(first == second, 1.0, 2.0)
            # rows with k non-zeros, a few at a time (bounded temporaries)
            for group in np.array_split(same, -(-same.shape[0] * first.shape[0] // PAIR_CHUNK)):
                at = E.indptr[group][:, None] + np.arange(k)
                c, v = E.indices[at].astype(cols.dtype), E.data[at]
                stop = start + group.shape[0] * first.shape[0]
                out = cols[start:stop].reshape(group.shape[0], -1)
                np.multiply(np.take(c, first, axis=1), m, out=out)
                out += np.take(c, second, axis=1)
                out = vals[start:stop].reshape(group.shape[0], -1)
                np.multiply(np.take(v, first, axis=1), np.take(v, second, axis=1), out=out)
                out *= factor
                start = stop
        self.K = sparse.csr_matrix((vals, cols, indptr), shape=(self.rows.shape[0], m * m))

    @staticmethod
    def count(E: sparse.spmatrix) -> int:
        """The number of pairs that E's row counts imply (duplicates counted)."""
        counts = np.diff(sparse.csr_matrix(E).indptr).astype(np.int64)
        return int(np.sum(counts * (counts + 1) // 2))

    @staticmethod
    def within_budget(E: sparse.spmatrix, n: int) -> bool:
        """Whether the pairs of E fit in the larger of PAIR_PRODUCTS_MAX and
        PAIRS_PER_ROW n pairs, for n rows of data (memory O(n))."""
        return PairProducts.count(E) <= max(PAIR_PRODUCTS_MAX, PAIRS_PER_ROW * n)

    def scaled(self, c: float) -> PairProducts:
        """The pair products of c E (sharing K)."""
        out = copy.copy(self)
        out.scale = self.scale * c
        return out

    def _upper(self, d: Array) -> Array:
        """K' d as an m x m matrix: E' diag(d) E on the upper triangle, off-diagonal
        entries doubled."""
        m = self.shape[1]
        return np.asarray(self.K.T @ (self.scale**2 * d[self.rows])).reshape(m, m)

    def subtract_gram(self, S: Array, d: Array) -> None:
        """S -= E' diag(d) E in place, without an m x m temporary."""
        T = self._upper(d)
        diagonal = np.diag(T).copy()
        T *= 0.5
        np.einsum("ii->i", T)[:] = 0.0
        S -= T
        S -= T.T
        np.einsum("ii->i", S)[:] -= diagonal

    def row_forms(self, M: Array) -> Array:
        """e_a' M e_a for every row e_a of E (M symmetric and contiguous, m x m)."""
        if not (M.flags.c_contiguous or M.flags.f_contiguous):
            M = np.ascontiguousarray(M)
        out = np.zeros(self.shape[0])
        out[self.rows] = self.scale**2 * (self.K @ M.ravel(order="K"))  # M symmetric
        return out
