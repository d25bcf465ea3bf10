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
the plan of the selected inverse on the factor's pattern (:mod:`.selected_inverse`).
Each IWLS step then assembles C's values on that fixed pattern and factors it by
SuperLU's LDL' (:mod:`.ldl`).

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
from scipy import sparse

from .blocks import Block, block_csr, block_width
from .factor import NotPositiveDefiniteError
from .ldl import fill_reducing_order, spd_logdet, symmetric_lu
from .selected_inverse import InversePlan

Array = np.ndarray


class SparseSystem:
    """The fixed structure of T'WT for a design X, random blocks of Z and, per block,
    an optional known sparse precision Q_k (see the module docstring).

    It offers the interface of :class:`.augmented.AugmentedSystem` used by the EQL
    driver; vectors are in user order (beta, v), v in term order.

    Parameters
    ----------
    X : ndarray (n, p)
    blocks : list of Indicator, Grouped, ndarray or sparse matrix
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
            sparse.hstack([block_csr(b, self.n) for b in blocks], format="csr")
            if blocks else sparse.csr_matrix((self.n, 0))
        )
        self.T1 = sparse.hstack([sparse.csr_matrix(self.X), self.Z], format="csr")
        self.T1.eliminate_zeros()
        self._prior_entries()
        self._symbolic()
        self._plan: InversePlan | None = None

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
            raise RuntimeError("engine.sparse: an entry outside the symbolic pattern of C")
        return pos

    # --- products with T1 = [X, Z] ----------------------------------------------------

    def z_matvec(self, v: Array) -> Array:
        return self.Z @ v

    def z_rmatvec(self, y: Array) -> Array:
        return self.Z.T @ y

    def linear_predictor(self, delta: Array) -> Array:
        return self.X @ delta[: self.p] + self.Z @ delta[self.p :]

    def t1_rmatvec(self, y: Array) -> Array:
        return np.concatenate([self.X.T @ y, self.z_rmatvec(y)])

    def rhs(self, w1: Array, z1: Array, w2: Array, z2: Array) -> Array:
        """T'Wz in user order.  The random rows keep the elementwise w2 z2 for a
        precision term too: for a Gaussian term with identity link z2 is 0 (plus the
        EQL1 shift W2^{-1} Z'W1 c, whose product with W2 is the same on either scale)."""
        out = self.t1_rmatvec(w1 * z1)
        out[self.p :] += w2 * z2
        return out

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
        :meth:`.augmented.AugmentedSystem.factorize` and not needed here."""
        return SparseFactor(self, self.assemble(w1, w2), w2)

    @property
    def inverse_plan(self) -> InversePlan:
        """The selected-inverse plan on the symbolic pattern of L (built once).

        SuperLU's L omits entries that are numerically zero (a pedigree's A^{-1} has
        exact cancellations in its fill), so the pattern is taken from the factor of a
        matrix with C's pattern and generic values (diagonally dominant, random
        off-diagonal entries): the full symbolic fill, on which the recurrences close."""
        if self._plan is None:
            self._plan = InversePlan(self._symbolic_factor)
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
        L = symmetric_lu(G, "NATURAL").L
        L.sort_indices()
        return L

    @cached_property
    def row_plan(self) -> sparse.csr_matrix:
        """The n x len(sigma) matrix M with (M sigma)_i = t_i' C^{-1} t_i, for the
        selected inverse sigma of :meth:`InversePlan.run`."""
        plan = self.inverse_plan
        T = self.T1.tocsr()
        counts = np.diff(T.indptr)
        per_row = counts.astype(np.int64) ** 2
        row_start = np.concatenate([[0], np.cumsum(per_row)[:-1]])
        total = int(per_row.sum())
        t = np.arange(total, dtype=np.int64) - np.repeat(row_start, per_row)
        c_rep = np.repeat(counts, per_row)
        base = np.repeat(T.indptr[:-1], per_row)
        ia, ib = base + t // c_rep, base + t % c_rep
        slots = plan.slot(self.position[T.indices[ia]], self.position[T.indices[ib]])
        rows = np.repeat(np.arange(self.n), per_row)
        return sparse.csr_matrix(
            (T.data[ia] * T.data[ib], (rows, slots)), shape=(self.n, plan.nnz + self.N)
        )

    @cached_property
    def prior_slots(self) -> Array:
        """Slots in the selected inverse sigma of the precision terms' entries."""
        return self.inverse_plan.slot(
            self.position[self._prior_rows], self.position[self._prior_cols]
        )


class SparseFactor:
    """C = L D L' (SuperLU, no pivoting) in the system's internal order."""

    def __init__(self, system: SparseSystem, C: sparse.csc_matrix, w2: Array) -> None:
        self.system = system
        self.w2 = np.asarray(w2, dtype=float)
        self._lu = symmetric_lu(C, "NATURAL")
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
    def _inverse(self) -> tuple[InversePlan, Array]:
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
        _, sigma = self._inverse
        return self.system.row_plan @ sigma

    def precision_traces(self, weights: Array) -> list[float | None]:
        """tr(C_kk^{-1} P_k) per term (None for an ordinary term), with
        P_k = W^{1/2} Q_k W^{1/2} for the random-row weights ``weights``."""
        sysm = self.system
        out: list[float | None] = [None] * len(sysm.precisions)
        if not sysm._prior_rows.size:
            return out
        _, sigma = self._inverse
        s = np.sqrt(weights)
        terms = np.searchsorted([sl.start for sl in sysm.term_slices],
                                sysm._prior_rows - sysm.p, side="right") - 1
        contrib = sysm._prior_vals * s[sysm._prior_rows - sysm.p] * \
            s[sysm._prior_cols - sysm.p] * sigma[sysm.prior_slots]
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

    def inverse_diag_blocks(self, start: int, size: int, count: int) -> Array:
        """The ``count`` diagonal blocks of C^{-1} of order ``size`` from the unknown
        ``start`` on (user order), as :func:`.factor.inverse_diag_blocks`: read from the
        selected inverse where they lie on the pattern of the factor (a level's effects
        share its rows), by solves for the other blocks."""
        plan, sigma = self._inverse
        index = start + np.arange(count * size).reshape(count, size)
        pos = self.system.position[index]
        slots, found = plan.find(pos[:, :, None], pos[:, None, :])
        out = sigma[slots]
        for level in np.flatnonzero(~found.all(axis=(1, 2))):
            out[level] = self.inverse_block(index[level])
        return out

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
