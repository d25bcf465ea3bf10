"""The selected inverse: C^{-1} on the pattern of its sparse factor L + L'
(Takahashi recurrences).

Leverages and standard errors need C^{-1} only on the pattern of L + L' (Takahashi,
Fagan & Chen 1973; Erisman & Tinney 1975).  With Sigma = C^{-1} = D^{-1} L^{-1} +
(I - L') Sigma, for column j with off-diagonal structure s(j) (rows i > j, L_ij != 0),

    Sigma_ij = - sum_{k in s(j)} Sigma_ik L_kj      (i in s(j)),
    Sigma_jj = 1/D_j - sum_{k in s(j)} L_kj Sigma_kj,

and every pair (i, k) of s(j) lies in the pattern of L (s(j) is a clique of the filled
graph).  Column j needs only columns of its ancestors in the elimination tree, so all
columns at the same depth of the tree are computed at once: one vectorized gather,
product and segmented sum per level of the tree, never a dense inverse.  Supernodes
(runs of columns with one structure below them) whose columns would gather many pairs
are done with dense BLAS instead.

The plan of the recurrences depends on the pattern of L only: the general sparse solver
(:mod:`.sparse`) builds it once per system and runs it at each factorization.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, sparse

from ._blas import lapack_threads

Array = np.ndarray

# a selected-inverse plan with more (source, coefficient) pairs than this is rebuilt at
# each use instead of kept (16 bytes per pair)
PLAN_CACHE_PAIRS = 40_000_000
# supernodes whose columns would gather at least this many pairs use dense BLAS
DENSE_SUPERNODE_PAIRS = 4096


class InversePlan:
    """Index arrays of the Takahashi recurrences on one pattern of L, by tree level."""

    def __init__(self, L: sparse.csc_matrix) -> None:
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

    def values(self, L: sparse.csc_matrix) -> Array:
        """The strictly lower entries of a numeric factor L on the symbolic pattern."""
        cols = np.repeat(np.arange(self.N, dtype=np.int64), np.diff(L.indptr))
        strict = L.indices > cols
        keys = cols[strict] * self.N + L.indices[strict]
        pos = np.searchsorted(self.keys, keys)
        if keys.size and (pos.max() >= self.nnz or np.any(self.keys[pos] != keys)):
            raise RuntimeError("engine.sparse: the factor left its symbolic pattern")
        out = np.zeros(self.nnz)
        out[pos] = L.data[strict]
        return out

    def slot(self, a: Array, b: Array) -> Array:
        """Index into sigma = [off-diagonal entries (L's strict pattern), diagonal] of the
        entries (a, b) of the symmetric inverse (internal order)."""
        slots, found = self.find(a, b)
        if not np.all(found):
            raise RuntimeError("engine.sparse: an entry outside the pattern of the factor")
        return slots

    def find(self, a: Array, b: Array) -> tuple[Array, Array]:
        """The slots of :meth:`slot` and whether each entry is on the pattern (the slot
        of an entry off it is meaningless)."""
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
        return np.where(off, pos, self.nnz + lo), found

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


class _Supernode:
    """Columns first..last of L with one structure S below them, done with dense BLAS:
    with Y = L_SJ L_JJ^{-1},  Sigma_SJ = -Sigma_SS Y  and
    Sigma_JJ = L_JJ^{-T} D_J^{-1} L_JJ^{-1} - Y' Sigma_SJ."""

    def __init__(self, first: int, last: int, plan: InversePlan) -> None:
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
