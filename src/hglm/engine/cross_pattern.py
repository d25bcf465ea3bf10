"""The pattern of E = Z_A' W1 R for a grouping A of one column per level.

E's entry (a, c) sums w_i a_i r_ic over the rows i of level a, so its sparsity pattern
depends on the rows' codes alone.  The pattern (with R's dense columns stored at the end
of every row) and the position in it of every row's entry of each level-structured term
are found once; each factorization then adds the weighted values at those positions:
no sparse product with a transposed Z_A, and no copy of E to set the dense columns beside
it (at InstEval's size these temporaries took 4 MB beside the Schur complement).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

Array = np.ndarray


class CrossPattern:
    """Where E = Z_A' W1 R's entries are, for A of one column per level.

    Parameters
    ----------
    a_index : ndarray of int (n,)
        The rows' levels of A.
    q_a : int
        A's number of levels (E's rows).
    terms : list of (list of ndarray of int, int)
        Per level-structured term of R, in column order: the column within the term of
        each of its entries in every row (one n-array per entry) and the term's first
        column in R.
    dense_start, m : int
        The first of R's dense columns, and R's width.
    """

    def __init__(self, a_index: Array, q_a: int, terms: list[tuple[list[Array], int]],
                 dense_start: int, m: int) -> None:
        self.shape = (q_a, m)
        self.n_dense = m - dense_start
        found = [_level_columns(a_index, codes, dense_start) for codes, _ in terms]
        counts = [np.bincount(keys // dense_start, minlength=q_a) for keys, _ in found]
        per_row = sum(counts, np.full(q_a, self.n_dense))
        index_type = np.int32 if max(m, int(per_row.sum())) < 2**31 else np.int64
        self.indptr = np.zeros(q_a + 1, dtype=index_type)
        np.cumsum(per_row, out=self.indptr[1:])
        self.indices = np.empty(self.indptr[-1], dtype=index_type)
        self.positions: list[Array] = []
        n = a_index.shape[0]
        row_start = self.indptr[:-1].astype(np.int64)
        for (keys, inverse), count, (codes, first) in zip(found, counts, terms, strict=True):
            # the term's keys of level a go, in order, to row_start[a] onwards
            shift = row_start - (np.cumsum(count) - count)
            self.indices[np.arange(keys.shape[0]) + shift[keys // dense_start]] = (
                keys % dense_start + first)
            for e in range(len(codes)):
                self.positions.append(
                    (inverse[e * n : (e + 1) * n] + shift[a_index]).astype(index_type))
            row_start += count
        self.dense_positions = self.indptr[1:, None] - self.n_dense + np.arange(self.n_dense)
        self.indices[self.dense_positions] = dense_start + np.arange(self.n_dense)

    def cross(self, entry_weights: list[Array], dense_sums: Array | None) -> sparse.csr_matrix:
        """E with the weighted values of every entry (``entry_weights``: w_i a_i r_ie,
        one n-array per entry, in the order of the terms' entries) and the dense columns'
        sums by level (q_a x dense columns)."""
        data = np.zeros(self.indptr[-1])
        for positions, weights in zip(self.positions, entry_weights, strict=True):
            np.add.at(data, positions, weights)  # no temporary of E's size, as bincount's
        if self.n_dense:
            data[self.dense_positions] = dense_sums
        E = sparse.csr_matrix((data, self.indices, self.indptr), shape=self.shape, copy=False)
        E.has_sorted_indices = True
        return E


def _level_columns(a_index: Array, codes: list[Array], width: int) -> tuple[Array, Array]:
    """The distinct (level, column) pairs of one term's entries as sorted keys
    level * width + column, and every row entry's index among them (entry by entry)."""
    keys = np.concatenate([a_index.astype(np.int64) * width + c for c in codes])
    return np.unique(keys, return_inverse=True)
