"""The structure of the augmented system T'WT that the structured Cholesky exploits.

For T = [[X, Z], [0, I_q]] and weights W = diag(W1, W2) the IWLS step solves
C delta = T' W z with C = T' W T (DESIGN.md, EQL step 2).  C is never formed as one
matrix.  Its unknowns are ordered as [A | B]:

* A: the random term with the most columns among those whose rows each lie in one level
  of a grouping factor: an indicator block (one non-zero per row, possibly a slope
  value) or a vector-valued term (q effects per level, lme4's ``(1 + x | g)``).  Its
  block of C is block-diagonal (D, one q x q block per level, :mod:`.level_blocks`), so
  it is eliminated first, as MixedModels.jl does.
* B: everything else (other random terms, then X).  The Schur complement
  S = F - E' D^{-1} E is small and dense (:mod:`.augmented`).

Here E = Z_A' W1 R and F = R' W1 R + diag(W2_B, 0), with R = [Z_B, X] the rows' B part.
Rows of R are stored by pattern: each remaining level-structured block contributes q
(column, value) pairs per row (one for an indicator), and general (dense) blocks plus X
form a dense part.  This module holds that structure and the products with it: with
T1 = [X, Z], the weighted products R'W1R and Z_A'W1R, and the quadratic forms of the rows
of R from which the factor's leverages come.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import sparse

from .blocks import (
    Block,
    Grouped,
    Indicator,
    block_csr,
    block_matvec,
    block_width,
    level_view,
    times_values,
)
from .cross_pattern import CrossPattern
from .pair_products import Cross

Array = np.ndarray


@dataclass
class _Group:
    """A level-structured block placed in B at the columns ``span``."""

    block: Grouped
    span: slice

    @cached_property
    def entries(self) -> list[tuple[Array, Array]]:
        """The block's q (column in the block, value) pairs of every row, one array each
        (an indicator's columns are its levels, and a random intercept's ones stay
        broadcast from one number: no n-vector of either)."""
        b = self.block
        if b.size == 1:
            return [(b.index, _column(b.values, 0))]
        base = b.index * b.size
        return [(base + j, _column(b.values, j)) for j in range(b.size)]

    @cached_property
    def transposed(self) -> sparse.csr_matrix:
        """Z_g' as a CSR matrix (width x n)."""
        return block_csr(self.block, self.block.index.shape[0]).T.tocsr()


class AugmentedStructure:
    """The fixed structure of T'WT for a design X and random blocks of Z.

    Parameters
    ----------
    X : ndarray (n, p)
        Fixed-effect design.
    blocks : list of Indicator, Grouped or ndarray
        The columns of Z of each random term, in term order.
    eliminate : int, optional
        The indicator term eliminated as A (default: the one with the most levels); a
        partition of rows eliminates its own term's levels (:mod:`.partition`).

    Notes
    -----
    Vectors in "user order" are (beta, v) with v in term order; internally unknowns are
    permuted to [A | B] (see the module docstring).
    """

    def __init__(self, X: Array, blocks: list[Block], eliminate: int | None = None) -> None:
        self.X = np.asarray(X, dtype=float)
        self.blocks = blocks
        self.n, self.p = self.X.shape
        widths = [block_width(b) for b in blocks]
        self.q = int(sum(widths))
        user_offsets = self.p + np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(int)

        leveled = [k for k, b in enumerate(blocks) if isinstance(b, Indicator | Grouped)]
        self.a_term = (
            max(leveled, key=lambda k: widths[k], default=None)
            if eliminate is None else eliminate
        )
        self.A: Grouped | None = None if self.a_term is None else level_view(
            blocks[self.a_term])
        self.q_a = 0 if self.A is None else self.A.width
        self.a_size = 1 if self.A is None else self.A.size

        groups, dense_parts, perm_b = [], [], []
        offset = 0
        for k, b in enumerate(blocks):
            if k == self.a_term or not isinstance(b, Indicator | Grouped):
                continue
            groups.append(_Group(level_view(b), slice(offset, offset + widths[k])))
            perm_b.append(user_offsets[k] + np.arange(widths[k]))
            offset += widths[k]
        self.dense_start = offset
        for k, b in enumerate(blocks):
            if not isinstance(b, Indicator | Grouped):
                dense_parts.append(np.asarray(b, dtype=float))
                perm_b.append(user_offsets[k] + np.arange(widths[k]))
        dense_parts.append(self.X)
        perm_b.append(np.arange(self.p))
        self.groups: list[_Group] = groups
        self._dense_parts = dense_parts
        self.perm_b = np.concatenate(perm_b).astype(np.int64)
        self.m = self.perm_b.shape[0]
        self.perm_a = (
            np.arange(0)
            if self.A is None
            else user_offsets[self.a_term] + np.arange(self.q_a)
        )
        # the random columns of B come first, X last: Z-only Schur block is S[:m_z, :m_z]
        self.m_z = self.m - self.p

    @property
    def entries(self) -> list[tuple[Array, Array, slice]]:
        """Every (column, value) pair per row of R's level-structured part, with the
        columns of its term in B: the column in B is the term's first plus the column
        given, which counts within the term."""
        return [(c, v, g.span) for g in self.groups for c, v in g.entries]

    @cached_property
    def a_columns(self) -> Array:
        """The (n, q) columns of A (within A) of each row's entries."""
        return self.A.columns()

    @cached_property
    def dense(self) -> Array:
        """[dense random blocks, X], built on first use: bigRR's n-space solver never
        needs this copy of Z."""
        parts = self._dense_parts
        return np.hstack(parts) if len(parts) > 1 else self.X

    # --- products with T1 = [X, Z] -------------------------------------------------

    def z_matvec(self, v: Array) -> Array:
        """Z v for v in term order (summed into the first term's product)."""
        out = None
        start = 0
        for b in self.blocks:
            w = block_width(b)
            part = block_matvec(b, v[start : start + w])
            if out is None:
                out = np.asarray(part, dtype=float).ravel()
            else:
                out += part
            start += w
        return np.zeros(self.n) if out is None else out

    def z_rmatvec(self, y: Array) -> Array:
        """Z' y in term order."""
        return np.concatenate(
            [b.rmatvec(y) if isinstance(b, Indicator | Grouped) else b.T @ y for b in self.blocks]
        )

    def linear_predictor(self, delta: Array) -> Array:
        """X beta + Z v for delta = (beta, v) in user order."""
        out = self.z_matvec(delta[self.p :])
        if self.p:
            out += self.X @ delta[: self.p]
        return out

    def t1_rmatvec(self, y: Array) -> Array:
        """T1' y = (X'y, Z'y) in user order."""
        return np.concatenate([self.X.T @ y, self.z_rmatvec(y)])

    def rhs(self, w1: Array, z1: Array, w2: Array, z2: Array) -> Array:
        """T' W z in user order."""
        out = self.t1_rmatvec(w1 * z1)
        out[self.p :] += w2 * z2
        return out

    # --- weighted products of R: F0 = R'W1R, E = Z_A'W1R --------------------------------

    def _gram_b(self, w: Array, out: Array | None = None) -> Array:
        """F without W2: R' diag(w) R as a dense m x m matrix (in ``out``, m x m zeros,
        when given)."""
        F = np.zeros((self.m, self.m)) if out is None else out
        ds = slice(self.dense_start, self.m)
        diagonal = np.einsum("ii->i", F)
        entries = self.entries
        for e, (ce, ve, se) in enumerate(entries):
            wv = times_values(w, ve)
            diagonal[se] += np.bincount(ce, times_values(wv, ve), minlength=se.stop - se.start)
            for ch, vh, sh in entries[e + 1 :]:
                cross = sparse.coo_matrix(
                    (times_values(wv, vh), (ce, ch)),
                    shape=(se.stop - se.start, sh.stop - sh.start),
                ).toarray()
                F[se, sh] += cross
                F[sh, se] += cross.T
        if self.m == self.dense_start:  # no dense columns (the random effects' system)
            return F
        narrow = self._narrow_dense
        weighted = None if narrow else w[:, None] * self.dense
        for g in self.groups:
            cross = (_level_sums(g.block, w, self._dense_rows) if narrow
                     else g.transposed @ weighted)
            F[g.span, ds] = cross
            F[ds, g.span] = cross.T
        F[ds, ds] = _column_gram(self._dense_rows, w) if narrow else self.dense.T @ weighted
        return F

    def _cross_a(self, w: Array) -> Cross:
        """E = Z_A' W1 R (q_a x m): dense when R has no level-structured blocks and E is
        small (column sums by level), else sparse: for an A of one column per level on
        the pattern found once (:mod:`.cross_pattern`), else Z_A' times W1 R's
        level-structured part (a CSR matrix of the rows' entries, formed here: 2 MB at
        InstEval's size, where their triplets took 8 MB), beside the dense part's column
        sums by level."""
        if not self.groups and self.q_a * self.m <= _DENSE_CROSS_ELEMENTS:
            return self._a_level_sums(w)
        if not self.groups:  # no level-structured part: the dense part's sums alone
            return sparse.csr_matrix(self._a_level_sums(w))
        if self.a_size == 1:
            wa = times_values(w, self.A.value_rows[0])
            dense = self._a_level_sums(w) if self.m > self.dense_start else None
            products = [times_values(wa, v) for _, v, _ in self.entries]
            return self._cross_pattern.cross(products, dense)
        entries = self.entries
        k = len(entries)
        index_type = np.int32 if max(self.m, k * self.n) < 2**31 else np.int64
        cols = np.empty((self.n, k), dtype=index_type)
        vals = np.empty((self.n, k))
        for e, (ce, ve, se) in enumerate(entries):
            np.add(ce, se.start, out=cols[:, e])
            np.multiply(w, ve, out=vals[:, e])
        rows = sparse.csr_matrix(
            (vals.ravel(), cols.ravel(), np.arange(0, k * self.n + 1, k, dtype=index_type)),
            shape=(self.n, self.dense_start))
        del cols, vals
        E = (self._a_transposed @ rows).tocsr()
        del rows  # before E's dense columns are written beside it
        E.sort_indices()
        if self.m == self.dense_start:
            return E
        return _beside(E, self._a_level_sums(w))

    def _a_level_sums(self, w: Array) -> Array:
        """Z_A' diag(w) [dense part of R] (q_a x columns): by column when narrow."""
        if not self._narrow_dense:
            return np.asarray(self._a_transposed @ (w[:, None] * self.dense))
        return _level_sums(self.A, w, self._dense_rows)

    @cached_property
    def _cross_pattern(self) -> CrossPattern:
        """Where E's entries are, for an A of one column per level."""
        terms = [([c for c, _ in g.entries], g.span.start) for g in self.groups]
        return CrossPattern(self.A.index, self.q_a, terms, self.dense_start, self.m)

    @property
    def _narrow_dense(self) -> bool:
        """Whether R's dense columns are few enough (NARROW_DENSE) for products formed a
        column at a time, with n-vector temporaries instead of an n x columns one."""
        return self.dense.shape[1] <= NARROW_DENSE

    @cached_property
    def _dense_rows(self) -> Array:
        """The (narrow) dense columns of R as contiguous rows, for products by column."""
        return np.ascontiguousarray(self.dense.T)

    @cached_property
    def _a_transposed(self) -> sparse.csr_matrix:
        """Z_A' as a CSR matrix (q_a x n)."""
        return block_csr(self.A, self.n).T.tocsr()

    # --- row quadratic forms -----------------------------------------------------------

    def rows_quadform(self, M: Array) -> Array:
        """r_i' M r_i for every row r_i of R (M symmetric m x m)."""
        ds = slice(self.dense_start, self.m)
        out = _dense_quadform(self.dense, M[ds, ds])
        entries = self.entries
        for e, (ce, ve, se) in enumerate(entries):
            out += ve**2 * _entries(M, ce, ce, se.start, se.start)
            for ch, vh, sh in entries[e + 1 :]:
                out += 2.0 * ve * vh * _entries(M, ce, ch, se.start, sh.start)
            out += 2.0 * ve * self._dense_dot(M, ce, start=se.start)
        return out

    def rows_dot(self, Y: Array, index: Array, rows: Array | None = None) -> Array:
        """r_i' Y[index[i]] for every row r_i of R, or for the rows ``rows`` of R (then
        ``index`` is aligned with them); Y has m columns."""
        out = self._dense_dot(Y, index, rows)
        for ce, ve, se in self.entries:
            if rows is not None:
                ce, ve = ce[rows], ve[rows]
            out += ve * _entries(Y, index, ce, 0, se.start)
        return out

    def _dense_dot(self, Y: Array, index: Array, rows: Array | None = None,
                   start: int = 0) -> Array:
        """d_i' Y[start + index[i], dense columns] for the dense part d_i of every row (or
        of the rows ``rows``)."""
        first, k = self.dense_start, self.m - self.dense_start
        dense = self.dense if rows is None else self.dense[rows]
        if k > NARROW_DENSE:
            return np.einsum("ij,ij->i", Y[index + start, first:], dense)
        out = np.zeros(dense.shape[0])
        for j in range(k):
            out += _entries(Y, index, first + j, start) * dense[:, j]
        return out

    def rows_dot_sparse(self, M: Array, cols: Array, vals: Array, index: Array) -> Array:
        """r_i' M e_{index[i]} for every row r_i of R, where e_a is the sparse vector with
        entries vals[a] at columns cols[a] (padded rows; M symmetric m x m).

        Computed in chunks of rows from the few entries of M it needs."""
        ds = np.arange(self.dense_start, self.m)
        if self.m == 0:
            return np.zeros(self.n)
        out = np.empty(self.n)
        entries = self.entries
        width = cols.shape[1] * (ds.shape[0] + len(entries))
        for rows in row_chunks(self.n, width):
            c, v = cols[index[rows]], vals[index[rows]]
            acc = np.einsum("ik,ikj,ij->i", v, M[c[:, :, None], ds[None, None, :]],
                            self.dense[rows])
            for ce, ve, se in entries:
                acc += ve[rows] * np.einsum("ik,ik->i", v, M[c, se.start + ce[rows][:, None]])
            out[rows] = acc
        return out


_CHUNK_ELEMENTS = 4_000_000  # temporaries of at most ~32 MB
_DENSE_CROSS_ELEMENTS = 2_000_000  # a dense E of at most 16 MB
NARROW_DENSE = 8  # dense columns of R formed into products one at a time up to this many


def row_chunks(count: int, width: int) -> list[slice]:
    """Row slices whose gathered temporaries (rows x width) stay below _CHUNK_ELEMENTS."""
    step = max(1, _CHUNK_ELEMENTS // max(width, 1))
    return [slice(s, min(s + step, count)) for s in range(0, count, step)]


def _column(values: Array, j: int) -> Array:
    """Column j of ``values``: a view when its entries are contiguous or all one (stride
    0), else a contiguous copy."""
    col = values[:, j]
    return col if col.strides[0] in (0, col.itemsize) else np.ascontiguousarray(col)


def _column_gram(dense_rows: Array, w: Array) -> Array:
    """D' diag(w) D for D given by its columns as contiguous rows, a column at a time."""
    return np.array([dense_rows @ (w * column) for column in dense_rows])


def _level_sums(block: Grouped, w: Array, dense_rows: Array) -> Array:
    """Z_g' diag(w) D for a level-structured block (its width x D's columns), D given by
    its columns as contiguous rows ``dense_rows``, column by column: no transposed copy
    of Z_g."""
    q = block.size
    out = np.empty((block.width, dense_rows.shape[0]))
    if not out.size:  # no dense columns (a system of Z alone)
        return out
    for j in range(q):
        wa = times_values(w, block.value_rows[j])
        for c, col in enumerate(dense_rows):
            out[j::q, c] = np.bincount(block.index, wa * col, minlength=block.n_levels)
    return out


def _beside(E: sparse.csr_matrix, L: Array) -> sparse.csr_matrix:
    """[E, L] as a CSR matrix with sorted indices, for a CSR E with sorted indices and a
    dense L of few columns (its zeros not stored), written once into its arrays (scipy's
    hstack held more copies of E's)."""
    keep = L != 0
    counts = keep.sum(axis=1)
    indptr = np.empty(E.shape[0] + 1, dtype=np.int64)
    indptr[0] = 0
    np.cumsum(counts, out=indptr[1:])
    indptr += E.indptr
    tail = np.flatnonzero(keep)  # L's stored entries, by row
    rows = tail // L.shape[1]
    position = indptr[rows + 1] - counts[rows] + (np.cumsum(keep, axis=1).ravel()[tail] - 1)
    data = np.empty(indptr[-1])
    index_type = np.int32 if max(E.shape[1] + L.shape[1], indptr[-1]) < 2**31 else np.int64
    indices = np.empty(indptr[-1], dtype=index_type)
    head = np.ones(indptr[-1], dtype=bool)
    head[position] = False
    data[head], indices[head] = E.data, E.indices
    data[position], indices[position] = L.ravel()[tail], E.shape[1] + tail % L.shape[1]
    return sparse.csr_matrix((data, indices, indptr.astype(index_type)),
                             shape=(E.shape[0], E.shape[1] + L.shape[1]))


def _entries(M: Array, rows: Array, cols: Array | int, row_start: int = 0,
             col_start: int = 0) -> Array:
    """M[row_start + rows, col_start + cols] elementwise, by one gather from the
    flattened M (positions formed in one array)."""
    if M.flags.f_contiguous and not M.flags.c_contiguous:
        flat, step, first, second = M.ravel(order="F"), M.shape[0], cols, rows
        offset = col_start * step + row_start
    else:
        M = np.ascontiguousarray(M)
        flat, step, first, second = M.ravel(), M.shape[1], rows, cols
        offset = row_start * step + col_start
    position = np.multiply(first, step, dtype=np.int64)
    position += second
    if offset:
        position += offset
    return np.take(flat, position)


def _dense_quadform(R: Array, M: Array) -> Array:
    """x_i' M x_i for the rows x_i of R: column pairs when R is narrow (as X usually
    is), where a matrix product with a tiny inner dimension would be slow."""
    k = R.shape[1]
    if k > NARROW_DENSE:
        return np.einsum("ij,ij->i", R @ M, R)
    out = np.zeros(R.shape[0])
    for a in range(k):
        out += M[a, a] * R[:, a] ** 2
        for b in range(a + 1, k):
            out += 2.0 * M[a, b] * R[:, a] * R[:, b]
    return out
