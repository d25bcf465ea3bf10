"""The factor of T'WT from the structured Cholesky of :mod:`.augmented`: solves,
log-determinants, and the parts of C^{-1} that leverages and standard errors need, by the
block-inverse formulas

    C^{-1}_AA = D^{-1} + D^{-1} E S^{-1} E' D^{-1},  C^{-1}_AB = -D^{-1} E S^{-1},
    C^{-1}_BB = S^{-1}.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy import linalg, sparse

from ._blas import cholesky_solve, inverse_threads, lapack_threads
from .augmented_structure import AugmentedStructure, row_chunks
from .factor import NotPositiveDefiniteError
from .grouped_gram import GroupedGram
from .level_blocks import LevelBlocks
from .pair_products import Cross, Gram, PairProducts, frobenius
from .schur_products import level_forms_and_cross, row_forms, symmetrize_lower

Array = np.ndarray


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


@dataclass
class AugmentedFactor:
    """The Cholesky factorization of C = T'WT in [A | B] order.

    ``D_inv`` is D^{-1} (None without an eliminated term) and ``logdet_d`` log det D.
    ``S``, the Schur complement of the A block (symmetric, C-ordered, the factor's
    alone: formed in the systems' shared memory, :mod:`.schur_buffer`, which a later
    factorization takes again only once nothing refers to this one), is factored in
    place: afterwards its memory holds the Cholesky factor, and once :attr:`s_inverse`
    is asked for, S^{-1} in place of the factor (one m x m array per factorization; the
    factor's diagonal is kept for the log-determinants, and solves then multiply by
    S^{-1})."""

    system: AugmentedStructure
    D_inv: LevelBlocks | None
    E: Cross | None
    S: Array
    logdet_d: float = 0.0
    trace_gram: tuple[Array, Gram] | None = None
    pairs: PairProducts | None = None
    grouped: GroupedGram | None = None
    _chol: Array | None = field(init=False, repr=False)
    _chol_diagonal: Array = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.S.size == 0:
            self._chol, self._chol_diagonal = self.S, np.zeros(0)
            return
        with lapack_threads(self.S.shape[0]):
            # S' is S, F-ordered: LAPACK overwrites it with the factor, without a copy
            chol, info = linalg.lapack.dpotrf(self.S.T, lower=1, clean=1, overwrite_a=1)
        if info != 0:
            raise NotPositiveDefiniteError("T'WT is not positive definite")
        self._chol, self._chol_diagonal = chol, np.diag(chol).copy()

    def _solve_b(self, b: Array) -> Array:
        """S^{-1} b: by the Cholesky factor, or by S^{-1} once it replaced the factor."""
        if self._chol is None:
            return self.s_inverse @ b
        return cholesky_solve(self._chol, b)

    def solve(self, b: Array) -> Array:
        """C^{-1} b for b in user order."""
        sysm = self.system
        b_b = b[sysm.perm_b]
        x = np.empty_like(b)
        if self.E is None:
            x[sysm.perm_b] = self._solve_b(b_b)
            return x
        b_a = b[sysm.perm_a]
        x_b = self._solve_b(b_b - self.E.T @ self.D_inv.matvec(b_a))
        x[sysm.perm_b] = x_b
        x[sysm.perm_a] = self.D_inv.matvec(b_a - self.E @ x_b)
        return x

    @cached_property
    def s_inverse(self) -> Array:
        """S^{-1} from the Cholesky factor (LAPACK potri, a third of the work of solving
        for the identity), in the factor's memory: the factor is gone afterwards."""
        if self.S.size == 0:
            return self.S
        with inverse_threads(self.S.shape[0]):
            inv, info = linalg.lapack.dpotri(self._chol, lower=1, overwrite_c=1)
        if info != 0:
            raise NotPositiveDefiniteError("T'WT is not positive definite")
        self._chol = None
        # potri fills the lower triangle; the upper one is the cleaned factor's zeros
        return symmetrize_lower(inv)

    @cached_property
    def _e_padded(self) -> tuple[Array, Array]:
        """The rows of E as (columns, values), padded to the largest row."""
        return _padded_rows(self.E)

    @cached_property
    def _multiplies(self) -> bool:
        """Whether forming E S^{-1} (by bands of levels) beats gathering S^{-1} on the
        pattern of E's rows.

        The sparse product costs nnz(E) m; the gathers cost about w^2 per row of E and
        w (m_dense + entries) per observation and effect of A (w: the widest row of E)
        but run ~8x slower per element in numpy.  Narrow rows (few observations per
        level) gather; wide ones multiply."""
        sysm = self.system
        if not sparse.issparse(self.E):
            return True
        width = max(int(np.diff(self.E.indptr).max(initial=0)), 1)
        per_row = sysm.m - sysm.dense_start + len(sysm.entries)
        gather = width + sysm.n * sysm.a_size / max(sysm.q_a, 1) * per_row
        return 8.0 * gather >= sysm.m

    @cached_property
    def _e_sinv_products(self) -> tuple[Array, list[Array]]:
        """The per-level forms of E S^{-1} E' and the observations' cross terms
        (:func:`.schur_products.level_forms_and_cross`)."""
        return level_forms_and_cross(self.E, self.s_inverse, self.system)

    @cached_property
    def _e_sinv_e(self) -> LevelBlocks:
        """The per-level blocks E_l S^{-1} E_l' (E_l: level l's q rows of E)."""
        q = self.system.a_size
        if self.pairs is not None:
            return LevelBlocks(self.pairs.row_forms(self.s_inverse)[:, None, None])
        if self.grouped is not None:  # an indicator A
            cols, vals = self._e_padded
            return LevelBlocks(row_forms(cols, vals, self.s_inverse)[:, None, None])
        if self._multiplies:
            if "_e_sinv_products" in self.__dict__:  # formed with the cross terms
                return LevelBlocks(self._e_sinv_products[0])
            return LevelBlocks(level_forms_and_cross(self.E, self.s_inverse, self.system,
                                                     with_cross=False)[0])
        out = np.empty((self.E.shape[0] // q, q, q))
        for j in range(q):
            for k in range(j, q):
                out[:, j, k] = self._row_pair_forms(j, k)
                out[:, k, j] = out[:, j, k]
        return LevelBlocks(out)

    def _row_pair_forms(self, j: int, k: int) -> Array:
        """e_{lj}' S^{-1} e_{lk} for every level l (e_{lj}: row l q + j of E), gathered."""
        q = self.system.a_size
        cols, vals = self._e_padded
        M = self.s_inverse
        cj, vj, ck, vk = cols[j::q], vals[j::q], cols[k::q], vals[k::q]
        out = np.zeros(cj.shape[0])
        if M.size == 0:
            return out
        for rows in row_chunks(cj.shape[0], cj.shape[1] * ck.shape[1]):
            gathered = M[cj[rows][:, :, None], ck[rows][:, None, :]]
            out[rows] = np.einsum("ik,ikl,il->i", vj[rows], gathered, vk[rows])
        return out

    @cached_property
    def _a_inverse_blocks(self) -> LevelBlocks:
        """The per-level blocks of C^{-1}_AA = D^{-1} + D^{-1} E S^{-1} E' D^{-1}."""
        return self.D_inv.plus(self.D_inv.sandwich(self._e_sinv_e))

    def diag_inverse(self) -> Array:
        """diag(C^{-1}) in user order."""
        sysm = self.system
        out = np.empty(sysm.p + sysm.q)
        out[sysm.perm_b] = np.diag(self.s_inverse)
        if self.E is not None:
            out[sysm.perm_a] = self._a_inverse_blocks.diagonal()
        return out

    def inverse_diag_blocks(self, start: int, size: int, count: int) -> Array:
        """The ``count`` diagonal blocks of C^{-1} of order ``size`` from the unknown
        ``start`` on (user order), as :func:`.factor.inverse_diag_blocks`: those of the
        eliminated term from its per-level blocks, those in B gathered from S^{-1}."""
        sysm = self.system
        index = start + np.arange(count * size).reshape(count, size)
        offset = start - (int(sysm.perm_a[0]) if sysm.q_a else 0)
        if (sysm.q_a and size == sysm.a_size and offset >= 0 and offset % size == 0
                and offset + count * size <= sysm.q_a):
            first = offset // size
            return self._a_inverse_blocks.blocks[first : first + count].copy()
        position = np.full(sysm.p + sysm.q, -1)
        position[sysm.perm_b] = np.arange(sysm.m)
        pos = position[index]
        if np.all(pos >= 0):
            return self.s_inverse[pos[:, :, None], pos[:, None, :]]
        return np.stack([self.inverse_block(level) for level in index])

    def random_leverages(self, weights: Array) -> Array:
        """Leverages of the q random rows, weights_j (C^{-1})_jj."""
        return weights * self.diag_inverse()[self.system.p :]

    def weighted_diag_sums(self, weights: Array, slices: list[slice]) -> Array:
        """sum_j weights_j (C^{-1})_jj over each slice of the random effects v.

        Without diag(C^{-1}) on the eliminated block: there, with B = D^{-1},
        sum_a c_a (C^{-1})_aa = sum_a c_a B_aa + tr(S^{-1} E' B diag(c) B E),
        which costs one more product like E' D^{-1} E instead of E S^{-1}."""
        sysm = self.system
        diag_b = np.zeros(sysm.p + sysm.q)
        diag_b[sysm.perm_b] = np.diag(self.s_inverse)
        weighted = weights * diag_b[sysm.p :]
        sums = np.array([float(np.sum(weighted[sl])) for sl in slices])
        if self.E is not None:
            first = sysm.perm_a[0] - sysm.p
            c = weights[sysm.perm_a - sysm.p]
            extra = float(np.sum(c * self.D_inv.diagonal()))
            if self.S.size:
                extra += self._trace_term(c)
            sums[[k for k, sl in enumerate(slices) if sl.start <= first < sl.stop]] += extra
        return sums

    def _trace_term(self, c: Array) -> float:
        """tr(S^{-1} E' B diag(c) B E) with B = D^{-1}: from the product formed with S when
        it was for these weights (``trace_gram``, any symmetric split of its off-diagonal
        entries), from the grouped Gram matrices when the weights are constant within their
        groups, from the per-level blocks of E S^{-1} E' with the pair products or once the
        leverages formed them, or by its own product."""
        if self.trace_gram is not None and np.array_equal(self.trace_gram[0], c):
            return frobenius(self.s_inverse, self.trace_gram[1])
        weights = self.D_inv.scale_diagonal(c)
        if self.grouped is not None:
            values = self.grouped.group_values(weights.diagonal())
            if values is not None:
                return self.grouped.frobenius(self.s_inverse, values)
        if self.pairs is not None or "_e_sinv_e" in self.__dict__:
            return float(np.sum(weights.blocks * self._e_sinv_e.blocks))
        return weights.gram_frobenius(self.s_inverse, self.E)

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
        """t_i' C^{-1} t_i for the n observation rows t_i = (z_Ai, r_i) of T1 = [X, Z]:
        with u_i = D_l^{-1} z_Ai (l: row i's level of A),
        z_Ai'u_i + u_i' E_l S^{-1} E_l' u_i - 2 u_i' E_l S^{-1} r_i + r_i' S^{-1} r_i."""
        sysm = self.system
        out = sysm.rows_quadform(self.s_inverse)
        if self.E is None:
            return out
        # the values by contiguous columns (an F-ordered view)
        level, za = sysm.A.index, sysm.A.value_rows.T
        if self.S.size == 0:  # A alone: z_Ai' D_l^{-1} z_Ai
            return out + self.D_inv.row_forms(level, za)
        if self._multiplies:  # the level forms with the cross terms, in one pass
            _ = self._e_sinv_products
        u = self.D_inv.row_apply(level, za)
        out += np.einsum("ij,ij->i", za, u)
        out += self._e_sinv_e.row_forms(level, u)
        for j in range(sysm.a_size):
            if self._multiplies:
                cross = self._e_sinv_products[1][j]
            else:
                rows = sysm.a_columns[:, j]
                cols, vals = self._e_padded
                cross = sysm.rows_dot_sparse(self.s_inverse, cols, vals, rows)
            out -= 2.0 * u[:, j] * cross
        return out

    def logdet(self) -> float:
        """log det C."""
        return self.logdet_d + 2.0 * float(np.sum(np.log(self._chol_diagonal)))

    def logdet_random_block(self) -> float:
        """log det(Z'W1Z + W2), the random-effect block of C: the random effects come
        first in the B block, so the leading m_z x m_z block of S's Cholesky factor is the
        factor of their Schur complement."""
        m_z = self.system.m_z
        diag_z = self._chol_diagonal[:m_z]
        return self.logdet_d + 2.0 * float(np.sum(np.log(diag_z)))
