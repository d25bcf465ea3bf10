"""A general sparse solver for the augmented system T'WT, with known precisions.

The structured solver (``augmented``) eliminates one indicator term as a diagonal
block and keeps a dense Schur complement for everything else: ideal for a few crossed
factors, O(m^2) memory and O(m^3) time in the size m of that complement.  Patterns
such as a pedigree's relationship matrix, CAR neighbourhoods or deeply nested designs
need a general sparse Cholesky instead, which is what this module provides.

The system
----------
With T1 = [X, Z] (n x (p + q)) and weights W1 (n), W2 (q),

    C = T'WT = [[X'W1X, X'W1Z], [Z'W1X, Z'W1Z + P]],  P = blockdiag_k P_k,

where P_k = diag(W2_k) for an ordinary term and, for a term with a known sparse
precision Q_k = A_k^{-1} (effects u_k ~ N(0, lambda_k A_k)),
P_k = W2_k^{1/2} Q_k W2_k^{1/2} = Q_k / lambda_k (W2_k = 1/lambda_k for a Gaussian term).
The unknowns of a precision term are the effects u_k themselves (original, correlated
scale): nothing is dense, and no Cholesky factor of A_k is ever formed.

Symbolic analysis is done once per system: the pattern of C (structural, including the
entries of every Q_k), a fill-reducing ordering of the random block (SuperLU's minimum
degree on Z'Z + P) with the p fixed effects last, and, after the first factorization,
the plan of the selected inverse on the factor's pattern.  Each IWLS step then assembles
C's values on that fixed pattern and runs SuperLU's numeric LU without pivoting
(symmetric mode, diagonal pivots), which for a symmetric positive-definite C is
C = L D L' with L unit lower triangular (U = D L').

Selected inverse (Takahashi recurrences)
----------------------------------------
Leverages and standard errors need C^{-1} only on the pattern of L + L' (Takahashi,
Fagan & Chen 1973; Erisman & Tinney 1975).  With Sigma = C^{-1} = D^{-1} L^{-1} +
(I - L') Sigma, for column j with off-diagonal structure s(j) (rows i > j, L_ij != 0),

    Sigma_ij = - sum_{k in s(j)} Sigma_ik L_kj      (i in s(j)),
    Sigma_jj = 1/D_j - sum_{k in s(j)} L_kj Sigma_kj,

and every pair (i, k) of s(j) lies in the pattern of L (s(j) is a clique of the filled
graph).  Column j needs only columns of its ancestors in the elimination tree, so all
columns at the same depth of the tree are computed at once: one vectorized gather,
product and segmented sum per level of the tree, never a dense inverse.

What the EQL driver gets for a precision term
--------------------------------------------
DESIGN.md's EQL works with independent effects v (the "known covariance" paragraph:
u = L v with A = L L').  Any R with R'R = Q_k maps u to such effects, v = R u (the
dense path uses R = L^{-1}), and T'WT in (beta, v) is J' C J with J = diag(I, R^{-1}).
The quantities the dispersion GLM of the term needs are then (DESIGN.md, steps 3 and 5)

* deviances d_j = v_j^2 = (R u)_j^2, whose sum is u' Q_k u, and
* leverages h_j = (R C_uu^{-1} R')_jj / lambda_k, whose sum is tr(C_uu^{-1} Q_k) / lambda_k,

where C_uu^{-1} is the u block of C^{-1}.  The per-effect values depend on the choice of
R (any rotation of v is as good), their sums do not.  A precision term's dispersion is
therefore intercept-only (log link) and its gamma GLM, which needs only the two sums,
gives the estimate of the dense path exactly: lambda = sum d / sum (1 - h).  The engine
reports for every effect of such a term the term's means, u'Q_k u / q_k and
tr(C_uu^{-1} Q_k) / (lambda_k q_k) (R-independent; the sums are those of any R).
tr(C_uu^{-1} Q_k) = sum over the entries of Q_k of Q_ab Sigma_ab, all on the pattern of
C.  The observation leverages t_i' C^{-1} t_i are invariant under the change of
variables, and log det is reported on the v scale, log det C - sum_k log det Q_k, so the
likelihoods (pvh, pbvh) equal the dense path's.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from scipy import linalg, sparse
from scipy.sparse import linalg as splinalg

from ._blas import lapack_threads
from .augmented import AugmentedSystem
from .blocks import Block, Indicator, block_width
from .factor import NotPositiveDefiniteError

Array = np.ndarray

# a selected-inverse plan with more (source, coefficient) pairs than this is rebuilt at
# each use instead of kept (16 bytes per pair)
PLAN_CACHE_PAIRS = 40_000_000
# supernodes whose columns would gather at least this many pairs use dense BLAS
DENSE_SUPERNODE_PAIRS = 4096


def _block_csr(block: Block, n: int) -> sparse.csr_matrix:
    if isinstance(block, Indicator):
        m = sparse.csr_matrix(
            (block.values, (np.arange(n), block.index)), shape=(n, block.n_levels)
        )
    elif sparse.issparse(block):
        m = sparse.csr_matrix(block, dtype=float)
    else:
        m = sparse.csr_matrix(np.asarray(block, dtype=float))
    m.eliminate_zeros()
    return m


def _lu(matrix: sparse.csc_matrix, permc_spec: str) -> splinalg.SuperLU:
    """SuperLU without pivoting (diagonal pivots, symmetric mode)."""
    try:
        return splinalg.splu(
            matrix, permc_spec=permc_spec, diag_pivot_thresh=0.0,
            options={"SymmetricMode": True},
        )
    except RuntimeError as exc:  # "Factor is exactly singular"
        raise NotPositiveDefiniteError(f"T'WT is not positive definite ({exc})") from None


def spd_logdet(Q: sparse.spmatrix) -> float:
    """log det of a sparse symmetric positive-definite matrix (sparse LDL').

    Raises NotPositiveDefiniteError when a pivot is not positive."""
    Q = sparse.csc_matrix(Q, dtype=float)
    Q.sort_indices()
    lu = _lu(Q, "MMD_AT_PLUS_A")
    d = lu.U.diagonal()
    if not np.array_equal(lu.perm_r, lu.perm_c) or not np.all(d > 0) or not np.all(
        np.isfinite(d)
    ):
        raise NotPositiveDefiniteError("not positive definite")
    return float(np.sum(np.log(d)))


def fill_reducing_order(pattern: sparse.spmatrix) -> Array:
    """A fill-reducing symmetric ordering (minimum degree on the pattern), as the list of
    original indices in their new order."""
    m = sparse.csc_matrix(pattern, dtype=float, copy=True)
    m.data[:] = -1.0
    m.setdiag(0.0)
    m.eliminate_zeros()
    degree = np.asarray(-m.sum(axis=0)).ravel()
    m = (m + sparse.diags(degree + 1.0)).tocsc()  # diagonally dominant: SPD
    m.sort_indices()
    lu = _lu(m, "MMD_AT_PLUS_A")
    order = np.empty(m.shape[0], dtype=np.int64)
    order[lu.perm_c] = np.arange(m.shape[0])
    return order


class SparseSystem:
    """The fixed structure of T'WT for a design X, random blocks of Z and, per block,
    an optional known sparse precision Q_k (see the module docstring).

    It offers the interface of :class:`hglm.augmented.AugmentedSystem` used by the EQL
    driver; vectors are in user order (beta, v), v in term order.

    Parameters
    ----------
    X : ndarray (n, p)
    blocks : list of Indicator, ndarray or sparse matrix
    precisions : list of sparse matrices or None, optional
        One entry per block: None, or the q_k x q_k precision Q_k of the term.
    """

    def __init__(self, X: Array, blocks: list[Block], precisions: list | None = None) -> None:
        self.X = np.asarray(X, dtype=float)
        self.blocks = blocks
        self.n, self.p = self.X.shape
        widths = [block_width(b) if not sparse.issparse(b) else b.shape[1] for b in blocks]
        self.q = int(sum(widths))
        self.N = self.p + self.q
        starts = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(int)
        self.term_slices = [slice(int(s), int(s + w)) for s, w in zip(starts, widths,
                                                                       strict=True)]
        precisions = precisions or [None] * len(blocks)
        self.precisions = [
            None if Q is None else sparse.csc_matrix(Q, dtype=float) for Q in precisions
        ]
        self.Z = (
            sparse.hstack([_block_csr(b, self.n) for b in blocks], format="csr")
            if blocks else sparse.csr_matrix((self.n, 0))
        )
        self.T1 = sparse.hstack([sparse.csr_matrix(self.X), self.Z], format="csr")
        self.T1.eliminate_zeros()
        self._prior_entries()
        self._symbolic()
        self._plan: _InversePlan | None = None

    @cached_property
    def logdet_precision(self) -> float:
        """sum_k log det Q_k (for the likelihoods only)."""
        return float(sum(spd_logdet(Q) for Q in self.precisions if Q is not None))

    # --- symbolic analysis ----------------------------------------------------------

    def _prior_entries(self) -> None:
        """Rows and columns (user order) of the precision terms' entries."""
        rows, cols, vals = [], [], []
        is_plain = np.ones(self.q, dtype=bool)
        for sl, Q in zip(self.term_slices, self.precisions, strict=True):
            if Q is None:
                continue
            coo = Q.tocoo()
            rows.append(self.p + sl.start + coo.row)
            cols.append(self.p + sl.start + coo.col)
            vals.append(coo.data)
            is_plain[sl] = False
        cat = (lambda a, dt: np.concatenate(a).astype(dt)) if rows else (
            lambda a, dt: np.zeros(0, dtype=dt))
        self._prior_rows = cat(rows, np.int64)
        self._prior_cols = cat(cols, np.int64)
        self._prior_vals = cat(vals, float)
        self._plain = np.flatnonzero(is_plain)  # random effects with a diagonal prior

    def _symbolic(self) -> None:
        """Pattern of C, ordering (random block by minimum degree, X last), and the
        positions of the diagonal and of the precision entries in C's storage."""
        ones = self.T1.copy()
        ones.data[:] = 1.0
        G = (ones.T @ ones).tocsc() + sparse.identity(self.N, format="csc")
        if self._prior_rows.size:
            G = G + sparse.csc_matrix(
                (np.ones(self._prior_rows.size), (self._prior_rows, self._prior_cols)),
                shape=(self.N, self.N),
            )
        p = self.p
        order_z = fill_reducing_order(G[p:, p:]) if self.q else np.zeros(0, dtype=np.int64)
        self.order = np.concatenate([p + order_z, np.arange(p)]).astype(np.int64)
        self.position = np.empty(self.N, dtype=np.int64)
        self.position[self.order] = np.arange(self.N)
        Gp = sparse.csc_matrix(G[self.order][:, self.order])
        Gp.sort_indices()
        Gp.sum_duplicates()
        self._indptr, self._indices = Gp.indptr.copy(), Gp.indices.copy()
        counts = np.diff(self._indptr)
        cols = np.repeat(np.arange(self.N, dtype=np.int64), counts)
        self._keys = cols * self.N + self._indices
        self._diag_pos = self._locate(np.arange(self.N), np.arange(self.N))
        self._prior_pos = self._locate(
            self.position[self._prior_rows], self.position[self._prior_cols]
        )

    def _locate(self, rows: Array, cols: Array) -> Array:
        """Storage positions in C (internal order) of entries (rows, cols)."""
        keys = np.asarray(cols, dtype=np.int64) * self.N + rows
        pos = np.searchsorted(self._keys, keys)
        if keys.size and (pos.max() >= self._keys.size or np.any(self._keys[pos] != keys)):
            raise RuntimeError("sparse_solver: an entry outside the symbolic pattern of C")
        return pos

    # --- products with T1 = [X, Z] ----------------------------------------------------

    def z_matvec(self, v: Array) -> Array:
        return self.Z @ v

    def z_rmatvec(self, y: Array) -> Array:
        return self.Z.T @ y

    def linear_predictor(self, delta: Array) -> Array:
        return self.X @ delta[: self.p] + self.Z @ delta[self.p :]

    def rhs(self, w1: Array, z1: Array, w2: Array, z2: Array) -> Array:
        """T'Wz in user order.  The random rows keep the elementwise w2 z2 for a
        precision term too: for a Gaussian term with identity link z2 is 0 (plus the
        EQL1 shift W2^{-1} Z'W1 c, whose product with W2 is the same on either scale)."""
        wz = w1 * z1
        return np.concatenate([self.X.T @ wz, self.Z.T @ wz + w2 * z2])

    # --- numeric factorization --------------------------------------------------------

    def assemble(self, w1: Array, w2: Array) -> sparse.csc_matrix:
        """C = T'WT in internal order, on the symbolic pattern (explicit zeros kept)."""
        prod = (self.T1.T @ sparse.diags(w1) @ self.T1).tocoo()
        pos = self._locate(self.position[prod.row], self.position[prod.col])
        data = np.bincount(pos, prod.data, minlength=self._keys.size)
        if self._plain.size:
            data[self._diag_pos[self.position[self.p + self._plain]]] += w2[self._plain]
        if self._prior_pos.size:
            s = np.sqrt(w2)
            scale = s[self._prior_rows - self.p] * s[self._prior_cols - self.p]
            data += np.bincount(self._prior_pos, self._prior_vals * scale,
                                minlength=self._keys.size)
        return sparse.csc_matrix((data, self._indices, self._indptr), shape=(self.N, self.N))

    def factorize(
        self, w1: Array, w2: Array, trace_weights: Array | None = None
    ) -> SparseFactor:
        """Factor C = T'WT for observation weights w1 (n) and random-row weights w2 (q).

        ``trace_weights`` is accepted for the interface of
        :meth:`hglm.augmented.AugmentedSystem.factorize` and not needed here."""
        return SparseFactor(self, self.assemble(w1, w2), w2)

    @property
    def inverse_plan(self) -> _InversePlan:
        """The selected-inverse plan on the symbolic pattern of L (built once).

        SuperLU's L omits entries that are numerically zero (a pedigree's A^{-1} has
        exact cancellations in its fill), so the pattern is taken from the factor of a
        matrix with C's pattern and generic values (diagonally dominant, random
        off-diagonal entries): the full symbolic fill, on which the recurrences close."""
        if self._plan is None:
            self._plan = _InversePlan(self._symbolic_factor, self)
        return self._plan

    @cached_property
    def _symbolic_factor(self) -> sparse.csc_matrix:
        """L of a matrix with C's pattern and generic values: the symbolic fill."""
        rng = np.random.default_rng(0)
        data = rng.uniform(0.5, 1.0, self._keys.size)
        data[self._diag_pos] = 0.0
        G = sparse.csc_matrix((data, self._indices, self._indptr), shape=(self.N, self.N))
        G = (G + G.T).tocsc()
        G = G + sparse.diags(np.asarray(abs(G).sum(axis=0)).ravel() + 1.0)
        G = sparse.csc_matrix(G)
        G.sort_indices()
        L = _lu(G, "NATURAL").L
        L.sort_indices()
        return L


class _InversePlan:
    """Index arrays of the Takahashi recurrences on one pattern of L, by tree level."""

    def __init__(self, L: sparse.csc_matrix, system: SparseSystem) -> None:
        self.system = system
        N = L.shape[0]
        self.N = N
        cols = np.repeat(np.arange(N, dtype=np.int64), np.diff(L.indptr))
        strict = L.indices > cols
        self.rows = L.indices[strict].astype(np.int64)
        self.cols = cols[strict]
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(self.cols, minlength=N))])
        self.nnz = self.rows.size
        self.keys = self.cols * N + self.rows
        counts = np.diff(self.indptr)
        parent = np.full(N, -1, dtype=np.int64)
        has = counts > 0
        parent[has] = self.rows[self.indptr[:-1][has]]
        depth = np.zeros(N, dtype=np.int64)
        for j in range(N - 1, -1, -1):  # parents come later: one pass from the root
            if parent[j] >= 0:
                depth[j] = depth[parent[j]] + 1
        # supernodes: column j continues the one of j - 1 when it is j - 1's parent and
        # has the same structure below (one entry fewer)
        cont = np.zeros(N, dtype=bool)
        cont[1:] = (parent[:-1] == np.arange(1, N)) & (counts[:-1] == counts[1:] + 1)
        first = np.flatnonzero(~cont)
        last = np.append(first[1:], N) - 1
        of_col = np.repeat(np.arange(first.size), last - first + 1)
        cost = np.bincount(of_col, counts.astype(np.float64) ** 2, minlength=first.size)
        big = np.flatnonzero(cost >= DENSE_SUPERNODE_PAIRS)
        in_big = np.isin(of_col, big)
        self.supernodes = [_Supernode(int(first[k]), int(last[k]), self) for k in big]
        self.total_pairs = int(np.sum(counts[~in_big].astype(np.int64) ** 2))
        n_depth = int(depth.max(initial=0)) + 1
        small = np.flatnonzero(~in_big & (counts > 0))
        by_depth = small[np.argsort(depth[small], kind="stable")]
        bounds = np.searchsorted(depth[by_depth], np.arange(n_depth + 1))
        self.levels = [by_depth[bounds[d] : bounds[d + 1]] for d in range(n_depth)]
        self.dense_at = [[] for _ in range(n_depth)]
        for sn in self.supernodes:
            self.dense_at[int(depth[sn.last])].append(sn)
        self._cache = [] if self.total_pairs <= PLAN_CACHE_PAIRS else None
        if self._cache is not None:
            self._cache = [self._level(lv) if lv.size else None for lv in self.levels]
        self._row_plan: sparse.csr_matrix | None = None
        self._prior_slots: Array | None = None

    def values(self, L: sparse.csc_matrix) -> Array:
        """The strictly lower entries of a numeric factor L on the symbolic pattern."""
        cols = np.repeat(np.arange(self.N, dtype=np.int64), np.diff(L.indptr))
        strict = L.indices > cols
        keys = cols[strict] * self.N + L.indices[strict]
        pos = np.searchsorted(self.keys, keys)
        if keys.size and (pos.max() >= self.nnz or np.any(self.keys[pos] != keys)):
            raise RuntimeError("sparse_solver: the factor left its symbolic pattern")
        out = np.zeros(self.nnz)
        out[pos] = L.data[strict]
        return out

    def slot(self, a: Array, b: Array) -> Array:
        """Index into sigma = [off-diagonal entries (L's strict pattern), diagonal] of the
        entries (a, b) of the symmetric inverse (internal order)."""
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        keys = lo * self.N + hi
        pos = np.searchsorted(self.keys, keys)
        pos = np.minimum(pos, max(self.nnz - 1, 0))
        off = lo != hi
        if self.nnz == 0:
            found = ~off
        else:
            found = ~off | (self.keys[pos] == keys)
        if not np.all(found):
            raise RuntimeError("sparse_solver: an entry outside the pattern of the factor")
        return np.where(off, pos, self.nnz + lo)

    def _level(self, cols: Array) -> tuple[Array, Array, Array, Array, Array]:
        """(source slots, coefficient positions, segment starts, targets, column starts)
        of one tree level."""
        m = np.diff(self.indptr)[cols]
        base = self.indptr[cols]
        per_col = m * m
        total = int(per_col.sum())
        col_start = np.concatenate([[0], np.cumsum(per_col)[:-1]])
        t = np.arange(total, dtype=np.int64) - np.repeat(col_start, per_col)
        m_rep = np.repeat(m, per_col)
        pos_a = np.repeat(base, per_col) + t // m_rep
        pos_b = np.repeat(base, per_col) + t % m_rep
        source = self.slot(self.rows[pos_a], self.rows[pos_b])
        starts = np.flatnonzero(np.concatenate([[True], pos_a[1:] != pos_a[:-1]]))
        targets = pos_a[starts]
        col_starts = np.concatenate([[0], np.cumsum(m)[:-1]])
        return source, pos_b, starts, targets, col_starts

    def run(self, off_values: Array, d: Array) -> Array:
        """sigma: C^{-1} on the pattern of L (off-diagonal, then the diagonal)."""
        sigma = np.empty(self.nnz + self.N)
        sigma[self.nnz :] = 1.0 / d
        for k, cols in enumerate(self.levels):
            for sn in self.dense_at[k]:
                sn.run(off_values, d, sigma)
            if not cols.size:
                continue
            source, coef, starts, targets, col_starts = (
                self._cache[k] if self._cache is not None else self._level(cols)
            )
            sigma[targets] = -np.add.reduceat(off_values[coef] * sigma[source], starts)
            sigma[self.nnz + cols] -= np.add.reduceat(
                off_values[targets] * sigma[targets], col_starts
            )
        return sigma

    @property
    def row_plan(self) -> sparse.csr_matrix:
        """The n x len(sigma) matrix M with (M sigma)_i = t_i' C^{-1} t_i."""
        if self._row_plan is None:
            sysm = self.system
            T = sysm.T1.tocsr()
            counts = np.diff(T.indptr)
            per_row = counts.astype(np.int64) ** 2
            row_start = np.concatenate([[0], np.cumsum(per_row)[:-1]])
            total = int(per_row.sum())
            t = np.arange(total, dtype=np.int64) - np.repeat(row_start, per_row)
            c_rep = np.repeat(counts, per_row)
            base = np.repeat(T.indptr[:-1], per_row)
            ia, ib = base + t // c_rep, base + t % c_rep
            slots = self.slot(sysm.position[T.indices[ia]], sysm.position[T.indices[ib]])
            rows = np.repeat(np.arange(sysm.n), per_row)
            self._row_plan = sparse.csr_matrix(
                (T.data[ia] * T.data[ib], (rows, slots)), shape=(sysm.n, self.nnz + self.N)
            )
        return self._row_plan

    @property
    def prior_slots(self) -> Array:
        """Slots of the precision terms' entries."""
        if self._prior_slots is None:
            sysm = self.system
            self._prior_slots = self.slot(
                sysm.position[sysm._prior_rows], sysm.position[sysm._prior_cols]
            )
        return self._prior_slots


class _Supernode:
    """Columns first..last of L with one structure S below them, done with dense BLAS:
    with Y = L_SJ L_JJ^{-1},  Sigma_SJ = -Sigma_SS Y  and
    Sigma_JJ = L_JJ^{-T} D_J^{-1} L_JJ^{-1} - Y' Sigma_SJ."""

    def __init__(self, first: int, last: int, plan: _InversePlan) -> None:
        self.first, self.last = first, last
        w = last - first + 1
        self.cols = np.arange(first, last + 1)
        m = int(plan.indptr[last + 1] - plan.indptr[last])
        start = plan.indptr[self.cols]
        # column first + c holds rows first + c + 1 .. last, then S
        self.pos_sj = (start + (last - self.cols))[None, :] + np.arange(m)[:, None]
        r, c = np.tril_indices(w, -1)
        self.r, self.c = r, c
        self.pos_jj = start[c] + (r - c - 1)
        S = plan.rows[plan.indptr[last] : plan.indptr[last + 1]]
        self.slots_ss = plan.slot(np.repeat(S, m), np.tile(S, m)).reshape(m, m)
        self.w, self.m = w, m

    def run(self, off_values: Array, d: Array, sigma: Array) -> None:
        w = self.w
        Ljj = np.eye(w)
        Ljj[self.r, self.c] = off_values[self.pos_jj]
        with lapack_threads(max(w, self.m)):
            inv_l, info = linalg.lapack.dtrtri(Ljj, lower=1, unitdiag=1)
            s_jj = inv_l.T @ (inv_l / d[self.cols][:, None])
            if self.m:
                Yt = inv_l.T @ off_values[self.pos_sj].T  # (L_SJ L_JJ^{-1})'
                s_sj = -(sigma[self.slots_ss] @ Yt.T)
                s_jj -= Yt @ s_sj
                sigma[self.pos_sj] = s_sj
        sigma[self.pos_jj] = s_jj[self.r, self.c]
        sigma[self.cols + off_values.size] = np.diag(s_jj)


class SparseFactor:
    """C = L D L' (SuperLU, no pivoting) in the system's internal order."""

    def __init__(self, system: SparseSystem, C: sparse.csc_matrix, w2: Array) -> None:
        self.system = system
        self.w2 = np.asarray(w2, dtype=float)
        self._lu = _lu(C, "NATURAL")
        N = system.N
        if not (np.array_equal(self._lu.perm_r, np.arange(N))
                and np.array_equal(self._lu.perm_c, np.arange(N))):
            raise NotPositiveDefiniteError("T'WT is not positive definite (pivoting)")
        U = self._lu.U
        self.d = U.diagonal()
        if not (np.all(np.isfinite(self.d)) and np.all(self.d > 0)):
            raise NotPositiveDefiniteError("T'WT is not positive definite")

    def solve(self, b: Array) -> Array:
        """C^{-1} b for b in user order."""
        sysm = self.system
        x = np.empty_like(b, dtype=float)
        x[sysm.order] = self._lu.solve(np.asarray(b, dtype=float)[sysm.order])
        return x

    @cached_property
    def _inverse(self) -> tuple[_InversePlan, Array]:
        plan = self.system.inverse_plan
        return plan, plan.run(plan.values(self._lu.L), self.d)

    def diag_inverse(self) -> Array:
        """diag(C^{-1}) in user order."""
        plan, sigma = self._inverse
        out = np.empty(self.system.N)
        out[self.system.order] = sigma[plan.nnz :]
        return out

    def rows_quadform(self) -> Array:
        """t_i' C^{-1} t_i for the n observation rows t_i of T1 = [X, Z]."""
        plan, sigma = self._inverse
        return plan.row_plan @ sigma

    def precision_traces(self, weights: Array) -> list[float | None]:
        """tr(C_kk^{-1} P_k) per term (None for an ordinary term), with
        P_k = W^{1/2} Q_k W^{1/2} for the random-row weights ``weights``."""
        sysm = self.system
        out: list[float | None] = [None] * len(sysm.precisions)
        if not sysm._prior_rows.size:
            return out
        plan, sigma = self._inverse
        s = np.sqrt(weights)
        terms = np.searchsorted([sl.start for sl in sysm.term_slices],
                                sysm._prior_rows - sysm.p, side="right") - 1
        contrib = sysm._prior_vals * s[sysm._prior_rows - sysm.p] * \
            s[sysm._prior_cols - sysm.p] * sigma[plan.prior_slots]
        sums = np.bincount(terms, contrib, minlength=len(sysm.precisions))
        for k, Q in enumerate(sysm.precisions):
            if Q is not None:
                out[k] = float(sums[k])
        return out

    def weighted_diag_sums(self, weights: Array, slices: list[slice]) -> Array:
        """Per slice: sum_j weights_j (C^{-1})_jj, or, for a slice that is a precision
        term, tr(C^{-1}_kk W^{1/2} Q_k W^{1/2}) (its leverage sum, module docstring)."""
        sysm = self.system
        diag = self.diag_inverse()[sysm.p :]
        traces = self.precision_traces(weights)
        out = np.empty(len(slices))
        for j, sl in enumerate(slices):
            k = next((k for k, t in enumerate(sysm.term_slices) if t == sl), None)
            if k is not None and traces[k] is not None:
                out[j] = traces[k]
            else:
                out[j] = float(np.sum(weights[sl] * diag[sl]))
        return out

    def random_leverages(self, weights: Array) -> Array:
        """Leverages of the q random rows: weights_j (C^{-1})_jj, and for a precision term
        its mean leverage tr(C^{-1}_kk P_k) / q_k on every effect (module docstring)."""
        sysm = self.system
        hat = weights * self.diag_inverse()[sysm.p :]
        for sl, tr in zip(sysm.term_slices, self.precision_traces(weights), strict=True):
            if tr is not None:
                hat[sl] = tr / (sl.stop - sl.start)
        return hat

    def inverse_block(self, index: Array) -> Array:
        """The block of C^{-1} on the unknowns ``index`` (user order), by solves."""
        index = np.asarray(index)
        unit = np.zeros((self.system.N, index.shape[0]))
        unit[index, np.arange(index.shape[0])] = 1.0
        sysm = self.system
        x = np.empty_like(unit)
        x[sysm.order] = self._lu.solve(unit[sysm.order])
        return x[index]

    def logdet(self) -> float:
        """log det of T'WT on the scale of independent effects: log det C minus
        sum_k log det Q_k (module docstring)."""
        return float(np.sum(np.log(self.d))) - self.system.logdet_precision

    def logdet_random_block(self) -> float:
        """log det(Z'W1Z + P) minus sum_k log det Q_k: the random block comes first in
        the internal order, so its pivots are the first q."""
        q = self.system.q
        return float(np.sum(np.log(self.d[:q]))) - self.system.logdet_precision


def precision_deviance(Q: sparse.spmatrix, u: Array) -> Array:
    """The deviance components of a precision term: its total u'Qu spread evenly over
    the effects (module docstring)."""
    total = float(u @ (Q @ u))
    return np.full(u.shape[0], total / max(u.shape[0], 1))


# the structured solver's dense Schur complement from which the sparse one is considered
SPARSE_FROM_SCHUR = 2000


def nested_terms(blocks: list[Block]) -> bool:
    """Whether the random terms are indicator blocks nested in one another: for every
    two terms, each level of the one with more levels meets a single level of the other.
    Then Z'Z is a forest of cliques and its sparse Cholesky factor has no fill beyond
    the fixed effects' columns."""
    if not all(isinstance(b, Indicator) for b in blocks):
        return False
    for j, a in enumerate(blocks):
        for b in blocks[j + 1 :]:
            fine, coarse = (a, b) if a.n_levels >= b.n_levels else (b, a)
            rows = (fine.values != 0) & (coarse.values != 0)
            keys = fine.index[rows].astype(np.int64) * coarse.n_levels + coarse.index[rows]
            if np.unique(keys).size != np.unique(fine.index[rows]).size:
                return False
    return True


def make_system(
    X: Array, blocks: list[Block], precisions: list | None = None,
    scaled_weights: bool = False,
) -> AugmentedSystem | SparseSystem:
    """The solver for a problem: the general sparse one when a term has a known
    precision, or when the terms are nested (``nested_terms``) and the structured
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
