"""The augmented GLM of an HGLM and its structured Cholesky solver.

For T = [[X, Z], [0, I_q]] and weights W = diag(W1, W2) the IWLS step solves
C delta = T' W z with C = T' W T (DESIGN.md, EQL step 2).  C is never formed as one
matrix.  Its unknowns are ordered as [A | B]:

* A: the random term with the most levels whose block of Z has at most one non-zero per
  row (an indicator block, possibly with slope values).  Its block of C is diagonal
  (D), so it is eliminated first, as MixedModels.jl does.
* B: everything else (other random terms, then X).  The Schur complement
  S = F - E' D^{-1} E is small and dense and is factored by LAPACK's Cholesky.

Here E = Z_A' W1 R and F = R' W1 R + diag(W2_B, 0), with R = [Z_B, X] the rows' B part.
Rows of R are stored by pattern: each remaining indicator block contributes one
(column, value) pair per row, and general (dense) blocks plus X form a dense part.
Leverages and standard errors need only diag(C^{-1}) and the quadratic forms
t_i' C^{-1} t_i, which come from the factor by the block-inverse formulas; no n x n or
(n+q) x (n+q) matrix is ever formed.

E' D^{-1} E is a sparse product when E is sparse (crossed factors).  For a Gaussian
response the weights change by a common factor only, so E is fixed up to a scale: the
products E_aj E_ak of the pairs of non-zeros in each row of E are then stored once
(:class:`PairProducts`, while they take at most 48 MB or 96 bytes per row of data), and
each round forms E' D^{-1} E and the Gram matrix of the leverage trace,
E' diag(c / D^2) E, in one pass over the pairs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy import linalg, sparse

from ._blas import lapack_threads

Array = np.ndarray


class NotPositiveDefiniteError(np.linalg.LinAlgError):
    """The augmented system T'WT is not numerically positive definite."""


@dataclass
class Indicator:
    """A block of Z with at most one non-zero per row: Z[i, index[i]] = values[i].

    Attributes
    ----------
    index : ndarray of int
        Column (level) of each row; rows without a non-zero have value 0.
    values : ndarray of float
        The non-zero of each row (1 for a plain random intercept).
    n_levels : int
        Number of columns of the block.
    """

    index: Array
    values: Array
    n_levels: int

    def matvec(self, x: Array) -> Array:
        return self.values * x[self.index]

    def rmatvec(self, y: Array) -> Array:
        return np.bincount(self.index, self.values * y, minlength=self.n_levels)

    @cached_property
    def incidence(self) -> sparse.csr_matrix:
        """The n_levels x n 0/1 matrix of row membership."""
        n = self.index.shape[0]
        return sparse.csr_matrix(
            (np.ones(n), (self.index, np.arange(n))), shape=(self.n_levels, n)
        )

    def toarray(self) -> Array:
        out = np.zeros((self.index.shape[0], self.n_levels))
        out[np.arange(self.index.shape[0]), self.index] = self.values
        return out


Block = Indicator | Array


def as_block(Zk: Array | sparse.spmatrix) -> Block:
    """Represent one random term's columns of Z as an :class:`Indicator` when each row has
    at most one non-zero, else as a dense array."""
    if sparse.issparse(Zk):
        csr = sparse.csr_matrix(Zk)
        csr.eliminate_zeros()
        counts = np.diff(csr.indptr)
        if counts.max(initial=0) <= 1:
            index = np.zeros(csr.shape[0], dtype=np.int64)
            values = np.zeros(csr.shape[0])
            has = counts == 1
            index[has] = csr.indices
            values[has] = csr.data
            return Indicator(index, values, csr.shape[1])
        return csr.toarray()
    Zk = np.asarray(Zk, dtype=float)
    if Zk.shape[0] and np.count_nonzero(Zk[0]) > 1:
        return Zk  # a row with two non-zeros: not an indicator (no n x q temporary)
    nonzero = Zk != 0
    if nonzero.sum(axis=1).max(initial=0) <= 1:
        index = np.argmax(nonzero, axis=1).astype(np.int64)
        values = Zk[np.arange(Zk.shape[0]), index]
        return Indicator(index, values, Zk.shape[1])
    return Zk


def block_width(block: Block) -> int:
    return block.n_levels if isinstance(block, Indicator) else block.shape[1]


@dataclass
class _Group:
    """An indicator block placed in B at columns [offset, offset + n_levels)."""

    block: Indicator
    offset: int

    @property
    def columns(self) -> Array:
        return self.offset + self.block.index


@dataclass
class _Products:
    """The weighted products of :meth:`AugmentedSystem._weighted_products` at weights w;
    ``pairs``: their E's :class:`PairProducts` (False: too many pairs)."""

    w: Array
    F0: Array
    D0: Array
    E: Cross | None
    pairs: PairProducts | None | bool = None


def _proportion(w: Array, w_old: Array) -> float | None:
    """c when w = c w_old to 1e-14 (relative, elementwise), else None."""
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


class AugmentedSystem:
    """The fixed structure of T'WT for a design X and random blocks of Z.

    Parameters
    ----------
    X : ndarray (n, p)
        Fixed-effect design.
    blocks : list of Indicator or ndarray
        The columns of Z of each random term, in term order.
    scaled_weights : bool
        The observation weights w1 of successive factorizations differ only by a
        common factor (a Gaussian identity-link response with one dispersion): the
        products that depend on w1 are then prepared for reuse from the first one.

    Notes
    -----
    Vectors in "user order" are (beta, v) with v in term order; internally unknowns are
    permuted to [A | B] (see the module docstring).
    """

    def __init__(self, X: Array, blocks: list[Block], scaled_weights: bool = False) -> None:
        self.X = np.asarray(X, dtype=float)
        self.blocks = blocks
        self.scaled_weights = scaled_weights
        self.n, self.p = self.X.shape
        widths = [block_width(b) for b in blocks]
        self.q = int(sum(widths))
        user_offsets = self.p + np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(int)

        indicator_terms = [k for k, b in enumerate(blocks) if isinstance(b, Indicator)]
        self.a_term = max(indicator_terms, key=lambda k: widths[k], default=None)
        self.A: Indicator | None = None if self.a_term is None else blocks[self.a_term]
        self.q_a = 0 if self.A is None else self.A.n_levels

        groups, dense_parts, perm_b = [], [], []
        offset = 0
        for k, b in enumerate(blocks):
            if k == self.a_term or not isinstance(b, Indicator):
                continue
            groups.append(_Group(b, offset))
            perm_b.append(user_offsets[k] + np.arange(widths[k]))
            offset += widths[k]
        self.dense_start = offset
        for k, b in enumerate(blocks):
            if not isinstance(b, Indicator):
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
        self._products: _Products | None = None

    @cached_property
    def dense(self) -> Array:
        """[dense random blocks, X], built on first use: bigRR's n-space solver never
        needs this copy of Z."""
        parts = self._dense_parts
        return np.hstack(parts) if len(parts) > 1 else self.X

    # --- products with T1 = [X, Z] -------------------------------------------------

    def z_matvec(self, v: Array) -> Array:
        """Z v for v in term order."""
        out = np.zeros(self.n)
        start = 0
        for b in self.blocks:
            w = block_width(b)
            vk = v[start : start + w]
            out += b.matvec(vk) if isinstance(b, Indicator) else b @ vk
            start += w
        return out

    def z_rmatvec(self, y: Array) -> Array:
        """Z' y in term order."""
        return np.concatenate(
            [b.rmatvec(y) if isinstance(b, Indicator) else b.T @ y for b in self.blocks]
        )

    def linear_predictor(self, delta: Array) -> Array:
        """X beta + Z v for delta = (beta, v) in user order."""
        return self.X @ delta[: self.p] + self.z_matvec(delta[self.p :])

    def rhs(self, w1: Array, z1: Array, w2: Array, z2: Array) -> Array:
        """T' W z in user order."""
        wz = w1 * z1
        return np.concatenate([self.X.T @ wz, self.z_rmatvec(wz) + w2 * z2])

    # --- factorization ---------------------------------------------------------------

    def factorize(
        self, w1: Array, w2: Array, trace_weights: Array | None = None
    ) -> AugmentedFactor:
        """Factor C = T'WT for observation weights w1 (n) and random-row weights w2 (q).

        ``trace_weights`` (q), when given, are the weights of a later
        :meth:`AugmentedFactor.weighted_diag_sums`: for a sparse E its product
        E' diag(c / D^2) E is then formed in the same pass as the Schur complement."""
        w2_user = np.concatenate([np.zeros(self.p), w2])
        F0, D0, E, scale = self._weighted_products(w1)
        F = F0.copy() if scale is None else F0  # a scaled F0 is already a new array
        F[np.diag_indices(self.m)] += w2_user[self.perm_b]
        if self.A is None:
            return AugmentedFactor(self, np.zeros(0), None, F)
        D = D0 + w2_user[self.perm_a]
        pairs = self._pair_products(scale)
        c = None if trace_weights is None else trace_weights[self.perm_a - self.p]
        G = None  # E' diag(c / D^2) E, when formed in the same pass as the Schur complement
        if pairs is not None:
            G = pairs.subtract_gram(F, 1.0 / D, None if c is None else c / D**2)
        elif c is None or not sparse.issparse(E):
            F -= scaled_gram(E, 1.0 / D)
        else:
            H, G = scaled_gram_pair(E, 1.0 / D, c / D**2)
            F -= H
        trace_gram = None if G is None else (c, G)
        return AugmentedFactor(self, D, E, F, trace_gram=trace_gram, pairs=pairs)

    def _pair_products(self, scale: float | None) -> PairProducts | None:
        """The pair products of E = scale times the stored sparse E (scale None: the
        stored one) under ``scaled_weights``, where every factorization reuses E (built
        at the first); None otherwise, when E is dense or when it has more than
        the larger of PAIR_PRODUCTS_MAX and PAIRS_PER_ROW n pairs (memory O(n))."""
        if not self.scaled_weights:
            return None
        prod = self._products
        if prod.pairs is None and sparse.issparse(prod.E):
            fits = PairProducts.count(prod.E) <= max(PAIR_PRODUCTS_MAX, PAIRS_PER_ROW * self.n)
            prod.pairs = PairProducts(prod.E) if fits else False
        if not prod.pairs:
            return None
        return prod.pairs if scale is None else prod.pairs.scaled(scale)

    def _weighted_products(self, w1: Array) -> tuple[Array, Array, Cross | None, float | None]:
        """F0 = R'W1R, D0 = diag(Z_A'W1Z_A), E = Z_A'W1R and their scale.

        They are linear in w1, so when w1 is a multiple c of the previous weights (a
        Gaussian response whose dispersion changed) the previous products are scaled and
        c is returned as the scale; None when they were computed afresh.
        """
        if self._products is not None:
            prod = self._products
            c = _proportion(w1, prod.w)
            if c is not None:
                E = None if prod.E is None else c * prod.E
                return c * prod.F0, c * prod.D0, E, c
        F0 = self._gram_b(w1)
        D0, E = np.zeros(0), None
        if self.A is not None:
            wa = w1 * self.A.values
            D0 = np.bincount(self.A.index, wa * self.A.values, minlength=self.q_a)
            E = self._cross_a(wa)
        self._products = _Products(w1.copy(), F0, D0, E)
        return F0, D0, E, None

    def _gram_b(self, w: Array) -> Array:
        """F without W2: R' diag(w) R as a dense m x m matrix."""
        F = np.zeros((self.m, self.m))
        ds = slice(self.dense_start, self.m)
        for gi, g in enumerate(self.groups):
            b, sl = g.block, slice(g.offset, g.offset + g.block.n_levels)
            wv = w * b.values
            F[sl, sl] += np.diag(np.bincount(b.index, wv * b.values, minlength=b.n_levels))
            for h in self.groups[gi + 1 :]:
                hs = slice(h.offset, h.offset + h.block.n_levels)
                cross = sparse.coo_matrix(
                    (wv * h.block.values, (b.index, h.block.index)),
                    shape=(b.n_levels, h.block.n_levels),
                ).toarray()
                F[sl, hs] = cross
                F[hs, sl] = cross.T
            cross = b.incidence @ (wv[:, None] * self.dense)
            F[sl, ds] = cross
            F[ds, sl] = cross.T
        F[ds, ds] = self.dense.T @ (w[:, None] * self.dense)
        return F


    def _cross_a(self, wa: Array) -> Cross:
        """E = Z_A' W1 R (q_a x m): dense when R has no indicator blocks and E is small
        (column sums by level), else sparse."""
        a = self.A.index
        if not self.groups and self.q_a * self.m <= _DENSE_CROSS_ELEMENTS:
            return self._level_sums(wa)
        rows = [a for _ in self.groups]
        cols = [g.columns for g in self.groups]
        vals = [wa * g.block.values for g in self.groups]
        if self.m > self.dense_start:
            block = self._level_sums(wa)
            r, c = np.nonzero(block)
            rows.append(r)
            cols.append(c + self.dense_start)
            vals.append(block[r, c])
        entries = (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols)))
        return sparse.coo_matrix(entries, shape=(self.q_a, self.m)).tocsr()

    def _level_sums(self, wa: Array) -> Array:
        """Z_A' diag(wa) [dense part of R] (q_a x columns): by column when narrow."""
        if self.dense.shape[1] > 8:
            return np.asarray(self.A.incidence @ (wa[:, None] * self.dense))
        out = np.empty((self.q_a, self.dense.shape[1]))
        for j, col in enumerate(self.dense.T):
            out[:, j] = np.bincount(self.A.index, wa * col, minlength=self.q_a)
        return out

    # --- row quadratic forms -----------------------------------------------------------

    def rows_quadform(self, M: Array) -> Array:
        """r_i' M r_i for every row r_i of R (M symmetric m x m)."""
        ds = slice(self.dense_start, self.m)
        out = _dense_quadform(self.dense, M[ds, ds])
        for gi, g in enumerate(self.groups):
            cg, vg = g.columns, g.block.values
            out += vg**2 * _entries(M, cg, cg)
            for h in self.groups[gi + 1 :]:
                out += 2.0 * vg * h.block.values * _entries(M, cg, h.columns)
            out += 2.0 * vg * self._dense_dot(M, cg)
        return out

    def rows_dot(self, Y: Array, index: Array) -> Array:
        """r_i' Y[index[i]] for every row r_i of R (Y has m columns)."""
        out = self._dense_dot(Y, index)
        for g in self.groups:
            out += g.block.values * _entries(Y, index, g.columns)
        return out

    def _dense_dot(self, Y: Array, index: Array) -> Array:
        """d_i' Y[index[i], dense columns] for the dense part d_i of every row."""
        start, k = self.dense_start, self.m - self.dense_start
        if k > 8:
            return np.einsum("ij,ij->i", Y[index, start:], self.dense)
        out = np.zeros(self.n)
        for j in range(k):
            out += _entries(Y, index, start + j) * self.dense[:, j]
        return out

    def rows_dot_sparse(self, M: Array, cols: Array, vals: Array, index: Array) -> Array:
        """r_i' M e_{index[i]} for every row r_i of R, where e_a is the sparse vector with
        entries vals[a] at columns cols[a] (padded rows; M symmetric m x m).

        Computed in chunks of rows from the few entries of M it needs."""
        ds = np.arange(self.dense_start, self.m)
        if self.m == 0:
            return np.zeros(self.n)
        out = np.empty(self.n)
        width = cols.shape[1] * (ds.shape[0] + len(self.groups))
        for rows in _chunks(self.n, width):
            c, v = cols[index[rows]], vals[index[rows]]
            acc = np.einsum("ik,ikj,ij->i", v, M[c[:, :, None], ds[None, None, :]],
                            self.dense[rows])
            for g in self.groups:
                gc = g.columns[rows]
                acc += g.block.values[rows] * np.einsum("ik,ik->i", v, M[c, gc[:, None]])
            out[rows] = acc
        return out


_CHUNK_ELEMENTS = 4_000_000  # temporaries of at most ~32 MB
_DENSE_CROSS_ELEMENTS = 2_000_000  # a dense E of at most 16 MB

Cross = Array | sparse.csr_matrix


def scaled_gram(E: Cross, d: Array) -> Array:
    """E' diag(d) E as a dense array, for a dense or sparse E."""
    if sparse.issparse(E):
        return (E.T @ _scale_rows(E, d)).toarray()
    return E.T @ (d[:, None] * E)


def scaled_gram_pair(E: sparse.csr_matrix, d1: Array, d2: Array) -> tuple[Array, Array]:
    """E' diag(d1) E and E' diag(d2) E for a sparse E, in one sparse product.

    For a real E, E' diag(d1 + i d2) E has real part E' diag(d1) E and imaginary part
    E' diag(d2) E: one symbolic pass and one complex numeric pass cost about 60% of
    two real products.  The two are strided views of the complex product."""
    G = (E.T @ _scale_rows(E, d1 + 1j * d2)).toarray()
    return G.real, G.imag


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

    def scaled(self, c: float) -> PairProducts:
        """The pair products of c E (sharing K)."""
        out = copy.copy(self)
        out.scale = self.scale * c
        return out

    def _upper(self, d: Array) -> Array | tuple[Array, Array]:
        """K' d as an m x m matrix (or K' [d1 d2] as two, for d of shape (q_a, 2)):
        E' diag(d) E on the upper triangle, off-diagonal entries doubled."""
        m = self.shape[1]
        products = np.asarray(self.K.T @ (self.scale**2 * d[self.rows]))
        if d.ndim == 1:
            return products.reshape(m, m)
        # strided views of one buffer; the second is kept by the factor (trace_gram), so
        # it is copied and the buffer goes with the first
        return products[:, 0].reshape(m, m), products[:, 1].reshape(m, m).copy()

    def subtract_gram(self, S: Array, d: Array, d_trace: Array | None = None) -> Array | None:
        """S -= E' diag(d) E in place, without an m x m temporary.

        With ``d_trace``, also returns E' diag(d_trace) E in the same pass over the pairs,
        as its upper triangle with the off-diagonal entries doubled (so that
        sum(M * G) = tr(M E' diag(d_trace) E) for a symmetric M)."""
        if d_trace is None:
            T, G = self._upper(d), None
        else:
            T, G = self._upper(np.column_stack([d, d_trace]))
        diagonal = np.diag(T).copy()
        T *= 0.5
        np.einsum("ii->i", T)[:] = 0.0
        S -= T
        S -= T.T
        np.einsum("ii->i", S)[:] -= diagonal
        return G

    def row_forms(self, M: Array) -> Array:
        """e_a' M e_a for every row e_a of E (M symmetric and contiguous, m x m)."""
        if not (M.flags.c_contiguous or M.flags.f_contiguous):
            M = np.ascontiguousarray(M)
        out = np.zeros(self.shape[0])
        out[self.rows] = self.scale**2 * (self.K @ M.ravel(order="K"))  # M symmetric
        return out


def _symmetric(T: Array) -> Array:
    """The symmetric matrix whose entries are spread over both triangles of T (each
    off-diagonal pair of positions holding at most one non-zero)."""
    full = T + T.T
    np.einsum("ii->i", full)[:] = np.diag(T)
    return full


def _chunks(count: int, width: int) -> list[slice]:
    """Row slices whose gathered temporaries (rows x width) stay below _CHUNK_ELEMENTS."""
    step = max(1, _CHUNK_ELEMENTS // max(width, 1))
    return [slice(s, min(s + step, count)) for s in range(0, count, step)]


def _padded_rows(E: sparse.csr_matrix) -> tuple[Array, Array]:
    """(columns, values) of each row of a CSR matrix, padded with (0, 0.0)."""
    counts = np.diff(E.indptr)
    width = max(int(counts.max(initial=0)), 1)
    rows = np.repeat(np.arange(E.shape[0]), counts)
    position = np.arange(E.nnz) - E.indptr[rows]
    cols = np.zeros((E.shape[0], width), dtype=np.int64)
    vals = np.zeros((E.shape[0], width))
    cols[rows, position] = E.indices
    vals[rows, position] = E.data
    return cols, vals


def _entries(M: Array, rows: Array, cols: Array | int) -> Array:
    """M[rows, cols] elementwise, by one gather from the flattened M."""
    if M.flags.f_contiguous and not M.flags.c_contiguous:
        return np.take(M.ravel(order="F"), rows + cols * M.shape[0])
    M = np.ascontiguousarray(M)
    return np.take(M.ravel(), rows * M.shape[1] + cols)


def _dense_quadform(R: Array, M: Array) -> Array:
    """x_i' M x_i for the rows x_i of R: column pairs when R is narrow (as X usually
    is), where a matrix product with a tiny inner dimension would be slow."""
    k = R.shape[1]
    if k > 8:
        return np.einsum("ij,ij->i", R @ M, R)
    out = np.zeros(R.shape[0])
    for a in range(k):
        out += M[a, a] * R[:, a] ** 2
        for b in range(a + 1, k):
            out += 2.0 * M[a, b] * R[:, a] * R[:, b]
    return out


@dataclass
class AugmentedFactor:
    """The Cholesky factorization of C = T'WT in [A | B] order.

    ``S``, the Schur complement of the A block (symmetric, C-ordered, owned by the
    factor), is factored in place: afterwards its memory holds the Cholesky factor."""

    system: AugmentedSystem
    D: Array
    E: Cross | None
    S: Array
    trace_gram: tuple[Array, Array] | None = None
    pairs: PairProducts | None = None
    _chol: Array = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.D.size and not np.all(self.D > 0):
            raise NotPositiveDefiniteError("T'WT is not positive definite (random-effect block)")
        if self.S.size == 0:
            self._chol = self.S
            return
        with lapack_threads(self.S.shape[0]):
            # S' is S, F-ordered: LAPACK overwrites it with the factor, without a copy
            chol, info = linalg.lapack.dpotrf(self.S.T, lower=1, clean=1, overwrite_a=1)
        if info != 0:
            raise NotPositiveDefiniteError("T'WT is not positive definite")
        self._chol = chol

    def solve(self, b: Array) -> Array:
        """C^{-1} b for b in user order."""
        sysm = self.system
        b_b = b[sysm.perm_b]
        x = np.empty_like(b)
        if self.E is None:
            x[sysm.perm_b] = linalg.cho_solve((self._chol, True), b_b)
            return x
        b_a = b[sysm.perm_a]
        x_b = linalg.cho_solve((self._chol, True), b_b - self.E.T @ (b_a / self.D))
        x[sysm.perm_b] = x_b
        x[sysm.perm_a] = (b_a - self.E @ x_b) / self.D
        return x

    @cached_property
    def s_inverse(self) -> Array:
        """S^{-1} from the Cholesky factor (LAPACK potri, a third of the work of solving
        for the identity)."""
        if self.S.size == 0:
            return self.S
        with lapack_threads(self.S.shape[0]):
            inv, info = linalg.lapack.dpotri(self._chol, lower=1)
        if info != 0:
            raise NotPositiveDefiniteError("T'WT is not positive definite")
        # potri fills the lower triangle; the upper one is the cleaned factor's zeros
        return _symmetric(inv)

    @cached_property
    def _e_padded(self) -> tuple[Array, Array]:
        """The rows of E as (columns, values), padded to the largest row."""
        return _padded_rows(self.E)

    @cached_property
    def _e_sinv(self) -> Array | None:
        """E S^{-1} (q_a x m, dense) when forming it beats gathering S^{-1} on the pattern
        of E's rows, else None.

        The sparse product costs nnz(E) m; the gathers cost about w^2 per level and
        w (m_dense + groups) per observation (w: the widest row of E) but run ~8x slower
        per element in numpy.  Narrow rows (few observations per level) gather; wide
        ones multiply, unless E S^{-1} would take more than 400 MB."""
        sysm = self.system
        if not sparse.issparse(self.E):
            return self.E @ self.s_inverse
        width = max(int(np.diff(self.E.indptr).max(initial=0)), 1)
        per_row = sysm.m - sysm.dense_start + len(sysm.groups)
        gather = width + sysm.n / max(sysm.q_a, 1) * per_row
        if 8.0 * gather < sysm.m or sysm.q_a * sysm.m > 5e7:
            return None
        return np.asarray(self.E @ self.s_inverse)

    @cached_property
    def _e_sinv_e(self) -> Array:
        """E_a S^{-1} E_a' for every level a of the A block."""
        if self.pairs is not None:
            return self.pairs.row_forms(self.s_inverse)
        if self._e_sinv is not None:
            if not sparse.issparse(self.E):
                return np.einsum("ij,ij->i", self.E, self._e_sinv)
            return np.asarray(self.E.multiply(self._e_sinv).sum(axis=1)).ravel()
        cols, vals = self._e_padded
        M = self.s_inverse
        if M.size == 0:
            return np.zeros(cols.shape[0])
        out = np.empty(cols.shape[0])
        for rows in _chunks(cols.shape[0], cols.shape[1] ** 2):
            c, v = cols[rows], vals[rows]
            out[rows] = np.einsum("ik,ikl,il->i", v, M[c[:, :, None], c[:, None, :]], v)
        return out

    def diag_inverse(self) -> Array:
        """diag(C^{-1}) in user order."""
        sysm = self.system
        out = np.empty(sysm.p + sysm.q)
        out[sysm.perm_b] = np.diag(self.s_inverse)
        if self.E is not None:
            out[sysm.perm_a] = 1.0 / self.D + self._e_sinv_e / self.D**2
        return out

    def random_leverages(self, weights: Array) -> Array:
        """Leverages of the q random rows, weights_j (C^{-1})_jj."""
        return weights * self.diag_inverse()[self.system.p :]

    def weighted_diag_sums(self, weights: Array, slices: list[slice]) -> Array:
        """sum_j weights_j (C^{-1})_jj over each slice of the random effects v.

        Without diag(C^{-1}) on the eliminated block: there
        sum_a c_a (C^{-1})_aa = sum_a c_a / D_a + tr(S^{-1} E' diag(c / D^2) E),
        which costs one more product like E' D^{-1} E instead of E S^{-1}."""
        sysm = self.system
        diag_b = np.zeros(sysm.p + sysm.q)
        diag_b[sysm.perm_b] = np.diag(self.s_inverse)
        weighted = weights * diag_b[sysm.p :]
        sums = np.array([float(np.sum(weighted[sl])) for sl in slices])
        if self.E is not None:
            first = sysm.perm_a[0] - sysm.p
            c = weights[sysm.perm_a - sysm.p]
            extra = float(np.sum(c / self.D))
            if self.S.size:
                extra += self._trace_term(c)
            sums[[k for k, sl in enumerate(slices) if sl.start <= first < sl.stop]] += extra
        return sums

    def _trace_term(self, c: Array) -> float:
        """tr(S^{-1} E' diag(c / D^2) E): from the product formed with S when it was for
        these weights (``trace_gram``, any symmetric split of its off-diagonal entries),
        from the pair products' row forms, or by its own product."""
        if self.trace_gram is not None and np.array_equal(self.trace_gram[0], c):
            return float(np.sum(self.s_inverse * self.trace_gram[1]))
        if self.pairs is not None:
            return float(np.sum(c / self.D**2 * self._e_sinv_e))
        return float(np.sum(self.s_inverse * scaled_gram(self.E, c / self.D**2)))

    def inverse_block(self, index: Array) -> Array:
        """The block of C^{-1} on the unknowns ``index`` (user order)."""
        sysm = self.system
        position = np.full(sysm.p + sysm.q, -1)
        position[sysm.perm_b] = np.arange(sysm.m)
        pos = position[index]
        if np.all(pos >= 0):
            return self.s_inverse[np.ix_(pos, pos)]
        unit = np.zeros((sysm.p + sysm.q, index.shape[0]))
        unit[index, np.arange(index.shape[0])] = 1.0
        return np.column_stack([self.solve(unit[:, j]) for j in range(index.shape[0])])[index]

    def rows_quadform(self) -> Array:
        """t_i' C^{-1} t_i for the n observation rows t_i of T1 = [X, Z]."""
        sysm = self.system
        out = sysm.rows_quadform(self.s_inverse)
        if self.E is None:
            return out
        a, za = sysm.A.index, sysm.A.values
        c = za / self.D[a]
        if self._e_sinv is not None:
            cross = sysm.rows_dot(self._e_sinv, a)
        else:
            cols, vals = self._e_padded
            cross = sysm.rows_dot_sparse(self.s_inverse, cols, vals, a)
        out += za * c - 2.0 * c * cross + c**2 * self._e_sinv_e[a]
        return out

    def logdet(self) -> float:
        """log det C."""
        return float(np.sum(np.log(self.D)) + 2.0 * np.sum(np.log(np.diag(self._chol))))

    def logdet_random_block(self) -> float:
        """log det(Z'W1Z + W2), the random-effect block of C: the random effects come
        first in the B block, so the leading m_z x m_z block of S's Cholesky factor is the
        factor of their Schur complement."""
        m_z = self.system.m_z
        diag_z = np.diag(self._chol)[:m_z]
        return float(np.sum(np.log(self.D)) + 2.0 * np.sum(np.log(diag_z)))
